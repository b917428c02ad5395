"""The built site: strict build, nothing from another host, links and anchors, search, glossary, footer."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from bs4 import BeautifulSoup, Tag

from bookkit.data import load_glossary
from bookkit.render import plain_text
from bookkit.sitecheck import broken_links, external_resources, parse, site_pages, visible_tex
from bookkit.versions import readme_versions
from conftest import ROOT

pytestmark = [pytest.mark.site, pytest.mark.xdist_group("site")]


def soup(site: Path, page: str) -> BeautifulSoup:
    """Parsed page, cached: many checks read the same pages (do not modify the result)."""
    return parse(site / page)


def site_base_path() -> str:
    from mkdocs.config import load_config

    return urlsplit(load_config(str(ROOT / "mkdocs.yml"))["site_url"]).path or "/"


def test_no_resource_from_another_host(built_site: Path):
    problems = external_resources(built_site)
    assert not problems, "the site loads from other hosts:\n" + "\n".join(map(str, problems))


def test_scanner_catches_external_loads(tmp_path: Path):
    """The scan is not vacuous: each kind of remote load is reported."""
    (tmp_path / "a.html").write_text(
        '<script src="https://cdn.example.org/x.js"></script><link rel="stylesheet" href="//fonts.googleapis.com/css">'
        '<img srcset="a.png 1x, https://img.example.org/b.png 2x"><iframe src="https://example.org"></iframe>'
        '<style>@import "https://example.org/a.css";</style><a href="https://arxiv.org/abs/1706.03762">fine</a>',
        encoding="utf-8")
    (tmp_path / "b.css").write_text("@font-face{src:url(https://fonts.gstatic.com/x.woff2)}", encoding="utf-8")
    (tmp_path / "c.js").write_text('new Worker("https://example.org/w.js");x=import("https://esm.sh/y")',
                                   encoding="utf-8")
    found = {str(p) for p in external_resources(tmp_path)}
    assert found == {
        "a.html: <script src=https://cdn.example.org/x.js>",
        "a.html: <img srcset=https://img.example.org/b.png>",
        "a.html: <iframe src=https://example.org>",
        "a.html: <link rel=stylesheet href=//fonts.googleapis.com/css>",
        "a.html: CSS url(https://example.org/a.css)",
        "b.css: url(https://fonts.gstatic.com/x.woff2)",
        "c.js: loads https://example.org/w.js",
        "c.js: loads https://esm.sh/y",
        "c.js: names CDN https://esm.sh",
    }  # and the reading link to arXiv is not reported


def test_every_internal_link_and_anchor_resolves(built_site: Path):
    problems = broken_links(built_site, base_path=site_base_path())
    assert not problems, "broken links:\n" + "\n".join(map(str, problems))


def test_link_checker_catches_a_broken_anchor(tmp_path: Path):
    (tmp_path / "a.html").write_text('<h2 id="here">x</h2><a href="#here">ok</a><a href="#gone">bad</a>'
                                     '<a href="b.html">missing</a>', encoding="utf-8")
    assert [p.detail for p in broken_links(tmp_path)] == ["<a> #gone: no anchor #gone", "<a> b.html: no such file"]


def test_search_index_is_present_and_works_offline(built_site: Path):
    index = json.loads((built_site / "search/search_index.json").read_text(encoding="utf-8"))
    locations = {doc["location"].split("#")[0] for doc in index["docs"]}
    assert {"architectures/attention.html", "glossary.html"} <= locations
    assert (built_site / "search/search_index.js").read_text(encoding="utf-8").startswith("var __index =")


def test_every_glossary_term_resolves(built_site: Path):
    terms = load_glossary()
    ids = {el["id"] for el in soup(built_site, "glossary.html").find_all(id=True)}
    assert set(terms) <= ids
    export = json.loads((built_site / "glossary.json").read_text(encoding="utf-8"))
    assert {e["slug"] for e in export} == set(terms)
    attention = next(e for e in export if e["slug"] == "attention")
    assert "architectures/attention.html" in attention["used_on"]


def test_every_glossary_term_is_in_the_search_index(built_site: Path):
    """Search finds what its index holds: each entry is a document of its own, titled with the term and
    its abbreviation, "Term (ABBR)" (the browser test types a sample of them into the search box)."""
    index = json.loads((built_site / "search/search_index.json").read_text(encoding="utf-8"))
    docs = {doc["location"]: doc for doc in index["docs"]}
    export = json.loads((built_site / "glossary.json").read_text(encoding="utf-8"))
    missing = []
    for entry in export:
        doc = docs.get(f"glossary.html#{entry['slug']}")
        title = f"{entry['term']} ({entry['abbr']})" if entry["abbr"] else entry["term"]
        if doc is None or doc["title"] != title:
            missing.append(entry["term"])
    assert not missing, f"glossary entries missing from the search index (or without their abbreviation): {missing}"


def test_every_figure_opens_full_size(built_site: Path):
    """A figure is shrunk to the column on a phone; each one is a link to its SVG, to open and zoom."""
    figures, bare = 0, []
    for page in site_pages(built_site):
        for img in parse(page).find_all("img", src=re.compile(r"(^|/)figures/[^/]+\.svg$")):
            figures += 1
            if img.parent.name != "a" or img.parent.get("href") != img["src"]:
                bare.append(f"{page.relative_to(built_site).as_posix()}: {img['src']}")
    assert figures >= 10 and not bare, f"figures without a link to open them: {bare}"


def test_the_search_rewrite_knows_lunrs_stop_words(built_site: Path):
    """docs/javascripts/search.js leaves stop words out of the phrase it makes of a hyphenated term
    ("LLM-as-judge" -> "llm judge"): lunr drops them from the index, so a required one matches nothing.
    Its list must be the one in the search worker Material ships."""
    import material

    worker = next((Path(material.__file__).parent / "templates/assets/javascripts/workers").glob("search.*.min.js"))
    lunr = re.search(r"generateStopWordFilter\((\[[^\]]*\])\)", worker.read_text(encoding="utf-8"))
    ours = re.search(r"const STOP = new Set\((\[[^\]]*\])\)", (built_site / "javascripts/search.js").read_text(encoding="utf-8"))
    assert lunr and ours, "the stop-word lists moved: update this test and docs/javascripts/search.js"
    assert json.loads(ours[1]) == json.loads(lunr[1])


def test_no_page_shows_an_element_its_text_did_not_ask_for(built_site: Path):
    """Text from the data files is text: an alias such as `<s>` once opened a strike-through that
    crossed out 214 glossary entries. The book writes no strike-through, deletion or underline tag."""
    unasked = [f"{page.relative_to(built_site).as_posix()}: <{el.name}>" for page in site_pages(built_site)
               for el in parse(page).find_all(["s", "del", "strike", "u"])]
    assert not unasked, f"elements no page asked for: {unasked[:20]}"
    bos = soup(built_site, "glossary.html").find(id="bos-token").find_next("p")
    assert "<s>" in bos.get_text(), bos


def validate_html(pages: list[Path]) -> list[dict]:
    """html-validate (bookkit/validate_html.mjs: its standard rules) on built pages."""
    import shutil
    import subprocess

    node = shutil.which("node")
    assert node, "node is needed (it also typesets the math at build time)"
    result = subprocess.run([node, str(ROOT / "bookkit" / "validate_html.mjs"), *map(str, pages)], cwd=ROOT,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def test_every_page_is_valid_html(built_site: Path):
    """A real validator on every page: unescaped data text, an unclosed element or a misplaced one fails.
    (Not print.html, the other pages' articles on one page: 12 MB that html-validate takes over a minute
    on; its own structure is checked below, in test_print_page_*.)"""
    problems = validate_html(site_pages(built_site))
    assert not problems, "\n".join(f"{Path(p['file']).relative_to(built_site)}:{p['line']}: {p['rule']}: {p['message']}"
                                   for p in problems[:30])


def test_the_html_validator_can_fail(tmp_path: Path):
    page = tmp_path / "a.html"
    page.write_text('<!DOCTYPE html><html lang="en"><head><title>t</title></head><body><main>'
                    "<p>rare words become <unk>, and</p></main></body></html>", encoding="utf-8")
    assert {p["rule"] for p in validate_html([page])} >= {"element-name", "close-order"}


def test_no_page_shows_tex_source(built_site: Path):
    """Every formula is typeset wherever it comes from (pages, data files, docstrings, notebooks), and
    glossary links stay out of code and of a notebook cell's copy buffer."""
    problems = visible_tex(built_site)
    assert not problems, "\n".join(map(str, problems[:20]))


def test_the_tex_check_can_fail(tmp_path: Path):
    (tmp_path / "a.html").write_text(
        '<p>raw $\\ln 40$ and \\operatorname{MultiHead} here; costs $5 and $6</p><code>$x_1$ \\frac</code>'
        '<span class="katex">\\frac{a}{b}</span><div class="clipboard-copy-txt">ax.set_ylabel("'
        '<a class="gl-term" href="g.html#x">loss</a>")</div>', encoding="utf-8")
    found = [p.detail for p in visible_tex(tmp_path)]
    assert len(found) == 3, found
    assert "glossary link inside <div class=clipboard-copy-txt>" in found[0]
    assert "ln 40" in found[1] and "operatorname" in found[2]


def test_data_text_is_escaped_outside_code_and_math():
    assert plain_text("such as <s> in Llama") == "such as &lt;s&gt; in Llama"
    assert plain_text("`<s>` and $a < b$ & <i>") == "`<s>` and $a < b$ &amp; &lt;i&gt;"


def test_terms_are_linked_once_a_section_and_never_in_headings_titles_or_links(built_site: Path):
    """The convention readers are promised: a dotted link on a term's first mention in each section,
    none in headings, admonition titles, summaries or inside another link (a citation)."""
    problems = []
    for page in site_pages(built_site):
        name = page.relative_to(built_site).as_posix()
        if name == "glossary.html":
            continue
        article = parse(page).find("article")
        if article is None:
            continue
        seen: set[str] = set()
        for el in article.find_all(True):
            if el.name == "h2":
                seen = set()
            if el.name != "a" or "gl-term" not in (el.get("class") or []):
                continue
            slug = el["href"].rsplit("#", 1)[-1]
            inside = el.find_parent(["h1", "h2", "h3", "h4", "h5", "h6", "summary", "a", "title"])
            if inside is not None or el.find_parent(class_="admonition-title"):
                problems.append(f"{name}: {slug} linked inside <{inside.name if inside else 'p class=admonition-title'}>")
            elif slug in seen:
                problems.append(f"{name}: {slug} linked twice in one section")
            seen.add(slug)
    assert not problems, "\n".join(problems[:20])


def test_glossary_backlinks_list_the_pages_using_a_term(built_site: Path):
    entry = soup(built_site, "glossary.html").find(id="causal-mask").find_next("p", class_="gl-backlinks")
    assert "architectures/attention.html" in [a["href"] for a in entry.find_all("a")]
    assert not (built_site / "glossary.html").read_text(encoding="utf-8").count('data-term="')


def test_attention_page_has_tooltips_math_diagram_code_and_figure(built_site: Path):
    page = soup(built_site, "architectures/attention.html")
    tooltips = {a["href"].split("#")[1]: a["title"] for a in page.select("a.gl-term")}
    for slug in ("attention", "softmax", "self-attention", "cross-attention", "causal-mask", "multi-head-attention"):
        assert tooltips.get(slug), f"no tooltip for {slug} on the attention page"
    assert page.select(".arithmatex") and page.select("pre.mermaid")
    assert page.select("div.language-python code") and page.select("div.language-text code")
    assert page.find("img", src="figures/attention_pattern.svg")
    assert (built_site / "architectures/figures/attention_pattern.svg").is_file()
    # the output shown under the code is the golden output
    golden = (ROOT / "snippets/architectures/attention_why_sqrt_dk.out").read_text(encoding="utf-8")
    assert any(block.get_text() == golden for block in page.select("div.language-text code"))


def test_api_page_is_generated_from_docstrings(built_site: Path):
    page = soup(built_site, "reference/api/attention.html")
    assert page.find(id="genai_guide.attention.scaled_dot_product_attention")
    assert page.find(id="genai_guide.attention.MultiHeadAttention")


def test_notebook_is_rendered_with_outputs(built_site: Path):
    text = (built_site / "architectures/attention_lab.html").read_text(encoding="utf-8")
    assert "jupyter-wrapper" in text and "output of &#x27;sat&#x27;" in text or "output of 'sat'" in text


def test_moved_pages_forward_to_their_new_address(built_site: Path):
    """A page that moved (bookkit.hooks.MOVED) leaves a page at its old address that forwards to the new one."""
    import posixpath

    from bookkit.hooks import MOVED

    assert MOVED
    for old, new in MOVED.items():
        page = soup(built_site, old)
        target = page.find("meta", attrs={"http-equiv": "refresh"})["content"].partition("url=")[2]
        assert posixpath.normpath(posixpath.join(posixpath.dirname(old), target)) == new
        assert page.find("a")["href"] == target and (built_site / new).is_file()


def test_every_lab_offers_its_notebook(built_site: Path):
    """A "Download notebook" button on each lab fetches the very notebook the tests ran."""
    from bookkit.notebooks import NOTEBOOKS

    assert NOTEBOOKS
    for notebook in NOTEBOOKS:
        page = notebook.relative_to(ROOT / "docs").with_suffix(".html").as_posix()
        button = soup(built_site, page).find("a", class_="gl-download")
        assert button is not None and button.get_text(strip=True) == "Download notebook", page
        assert button["href"] == notebook.name and button.has_attr("download"), page
        assert (built_site / page).parent.joinpath(button["href"]).read_bytes() == notebook.read_bytes(), page


def test_the_repository_link_fetches_nothing(built_site: Path):
    """The header links the repository, without Material's source component (it would ask GitHub's API
    for star counts on every page)."""
    from mkdocs.config import load_config

    link = soup(built_site, "index.html").find("a", class_="md-source")
    assert link is not None and link["href"] == load_config(str(ROOT / "mkdocs.yml"))["repo_url"]
    assert not soup(built_site, "index.html").find(attrs={"data-md-component": "source"})


def test_each_part_has_a_landing_page_listing_its_chapters(built_site: Path):
    """Every part of the nav opens with an index page that links each of its chapters in order."""
    from mkdocs.config import load_config

    parts = [item for item in load_config(str(ROOT / "mkdocs.yml"))["nav"] if isinstance(item, dict)
             and isinstance(next(iter(item.values())), list) and next(iter(item)) != "Reference"]
    assert len(parts) >= 3
    for part in parts:
        (title, entries), = part.items()
        pages = [e if isinstance(e, str) else next(iter(e.values())) for e in entries]
        assert pages[0].endswith("/index.md"), f"{title}: the part's first entry must be its landing page"
        landing = soup(built_site, pages[0].replace(".md", ".html"))
        base = pages[0].rsplit("/", 1)[0] + "/"
        linked = [a["href"] for a in landing.select("article li > a:first-child") if not a.get("class")]
        expected = [p.removeprefix(base).replace(".md", ".html").replace(".ipynb", ".html") for p in pages[1:]]
        assert linked == expected, f"{title}: the landing page lists {linked}, the nav has {expected}"


def test_start_here_is_the_first_next(built_site: Path):
    """Home's "Start here" link and its Next link (the reading order) point at the same page."""
    home = soup(built_site, "index.html")
    start = next(s for s in home.find_all("strong") if "Start here" in s.get_text()).find_next("a")["href"]
    assert start == home.select_one("a.md-footer__link--next")["href"]


def test_llms_txt_lists_every_page_as_markdown(built_site: Path):
    """llms.txt links every page of the nav; each .md beside its page holds the page with its snippets."""
    from mkdocs.config import load_config

    def walk(items):
        for item in items:
            value = next(iter(item.values())) if isinstance(item, dict) else item
            yield from walk(value) if isinstance(value, list) else [value]

    text = (built_site / "llms.txt").read_text(encoding="utf-8")
    assert text.startswith("# The Generative AI Guidebook\n\n> ")
    links = re.findall(r"^- \[[^]]+\]\(([^)]+)\): \S", text, re.MULTILINE)
    assert links == list(walk(load_config(str(ROOT / "mkdocs.yml"))["nav"]))
    for link in links:
        assert (built_site / link).is_file(), link
    attention = (built_site / "architectures/attention.md").read_text(encoding="utf-8")
    assert attention.startswith("# Attention\n") and "--8<--" not in attention
    assert (ROOT / "snippets/architectures/attention_masks.out").read_text(encoding="utf-8") in attention


def test_citation_file_is_valid():
    import yaml

    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    assert cff["cff-version"] == "1.2.0" and cff["title"] and cff["authors"] and cff["message"]
    from mkdocs.config import load_config

    assert cff["repository-code"] == load_config(str(ROOT / "mkdocs.yml"))["repo_url"]


def test_a_tab_that_continues_the_one_before_says_so(built_site: Path):
    """Content tabs that show consecutive parts of one snippet: each later tab says which tab to run first."""
    from bookkit.blocks import mark_continued_tabs

    md = ('/// tab | One\n\n```python\n--8<-- "p/a.py:first"\n```\n\n///\n/// tab | Two\n\n```python\n'
          '--8<-- "p/a.py:second"\n```\n\n///\n/// tab | Other\n\n```python\n--8<-- "p/b.py"\n```\n\n///\n\n'
          'Text.\n\n/// tab | Three\n\n```python\n--8<-- "p/b.py:more"\n```\n\n///\n')
    out = mark_continued_tabs(md)
    assert out.count("Continues the") == 1 and '/// tab | Two\n\n*Continues the "One" tab: run its code first.*' in out
    tabs = soup(built_site, "architectures/attention.html").select(".tabbed-block")
    notes = [t.get_text(" ", strip=True) for t in tabs if "Continues the" in t.get_text()]
    assert any(n.startswith('Continues the "By hand" tab') for n in notes), notes


def test_pages_say_when_they_were_last_updated_and_where_to_edit_them(built_site: Path):
    """"Last updated" is the last commit of the page's source (of its data file for generated pages);
    pages written by hand link their source for editing, generated ones do not."""
    import subprocess

    from mkdocs.config import load_config

    def committed(path: str) -> str:
        return subprocess.run(["git", "log", "-1", "--format=%cs", "--", path], cwd=ROOT, capture_output=True,
                              text=True, check=True).stdout.strip()

    if not committed("docs/architectures/attention.md"):
        pytest.skip("not a git checkout with history")
    chapter = soup(built_site, "architectures/attention.html").find("p", class_="gl-updated")
    assert chapter.find("time")["datetime"] == committed("docs/architectures/attention.md")
    assert chapter.find("a", string="Edit this page")["href"] == (
        load_config(str(ROOT / "mkdocs.yml"))["repo_url"].rstrip("/") + "/edit/main/docs/architectures/attention.md")
    glossary = soup(built_site, "glossary.html").find("p", class_="gl-updated")
    assert glossary.find("time")["datetime"] == committed("data/glossary.yml")
    assert glossary.find("a") is None


def test_footer_states_the_tested_versions(built_site: Path):
    footer = soup(built_site, "index.html").find(attrs={"data-tested-with": True}).get_text(" ", strip=True)
    for name, version in readme_versions().items():
        assert f"{name} {version}" in footer


def test_404_page_sitemap_and_metadata(built_site: Path):
    assert "404" in (built_site / "404.html").read_text(encoding="utf-8")
    assert "https://genai-guidebook.github.io/book/architectures/attention.html" in (
        built_site / "sitemap.xml").read_text(encoding="utf-8")
    page = soup(built_site, "architectures/attention.html")
    assert page.find("link", rel="canonical")["href"].endswith("architectures/attention.html")
    assert page.find("meta", attrs={"name": "description"})["content"].startswith("Scaled dot-product")
    assert page.find("meta", property="og:title")["content"].startswith("Attention")


def test_math_is_typeset_at_build_time(built_site: Path):
    for page in site_pages(built_site):
        text = page.read_text(encoding="utf-8")
        untypeset = re.findall(r'class="arithmatex">\s*\\[\(\[]', text)
        assert not untypeset, f"{page.relative_to(built_site)}: raw TeX left untypeset"
        assert "data-math-slot" not in text, f"{page.relative_to(built_site)}: a formula was not put back"
    assert soup(built_site, "architectures/attention.html").select(".arithmatex .katex-mathml math")


def test_invalid_tex_fails_with_the_formula_named():
    from bookkit.math import MathError, render_math

    with pytest.raises(MathError, match=r"\\frac\{1\}"):
        render_math('<span class="arithmatex">\\(\\frac{1}\\)</span>')
    assert render_math("<p>no math</p>") == ("<p>no math</p>", False)
    with pytest.raises(MathError, match=r"\\frac\{1\}"):  # a cached formula never hides an error
        render_math('<span class="arithmatex">\\(\\frac{1}\\)</span>')


def test_formulas_set_aside_for_the_search_index_come_back_unchanged():
    from bookkit.math import MathError, render_math, restore_math

    page = ('<p>Take <span class="arithmatex">\\(y_c &lt; 1\\)</span>.</p>'
            '<div class="arithmatex">\\[\\sum_i x_i\\]</div>')
    direct, _ = render_math(page)
    slots: list[str] = []
    stashed, has_math = render_math(page, slots)
    assert has_math and len(slots) == 2 and "katex" not in stashed
    assert "y_c &lt; 1" in stashed, "inline TeX stays searchable"
    assert 'data-math-slot="1" data-search-exclude></div>' in stashed, "display math stays out of the index"
    assert restore_math(stashed, slots) == direct
    with pytest.raises(MathError, match="2 formulas"):
        restore_math(stashed.replace('data-math-slot="1"', 'data-gone="1"'), slots)


def _glossary_export(built_site: Path) -> list[dict]:
    return json.loads((built_site / "glossary.json").read_text(encoding="utf-8"))


def test_glossary_has_at_least_150_terms(built_site: Path):
    assert len(_glossary_export(built_site)) >= 150


def _term_links(built_site: Path, url: str) -> dict[str, set[str]]:
    """slug -> the tooltips of the page's term links to it (each page is scanned once)."""
    key = (built_site, url)
    if key not in _TERM_LINKS:
        links: dict[str, set[str]] = {}
        for a in soup(built_site, url).select("a.gl-term"):
            links.setdefault(a["href"].rpartition("#")[2], set()).add(a.get("title"))
        _TERM_LINKS[key] = links
    return _TERM_LINKS[key]


_TERM_LINKS: dict[tuple[Path, str], dict[str, set[str]]] = {}


def test_each_tooltip_appears_on_the_pages_that_use_the_term(built_site: Path):
    missing = []
    for entry in _glossary_export(built_site):
        for url in entry["used_on"]:
            if entry["tooltip"] not in _term_links(built_site, url).get(entry["slug"], set()):
                missing.append(f"{entry['slug']} on {url}")
    assert not missing, f"terms used without their tooltip: {missing[:20]}"


def _backlinks_after(page: BeautifulSoup, ids: set[str]) -> dict[str, Tag]:
    """For each of `ids`, the first `p.gl-backlinks` after the element with that id, in one pass over the
    page (what `page.find(id=i).find_next("p", class_="gl-backlinks")` gives, without a scan per entry)."""
    found: dict[str, Tag] = {}
    waiting: list[str] = []
    for el in page.find_all(True):
        if el.get("id") in ids and el["id"] not in found and el["id"] not in waiting:
            waiting.append(el["id"])
        if el.name == "p" and "gl-backlinks" in (el.get("class") or []):
            found.update((i, el) for i in waiting)
            waiting.clear()
    return found


def test_each_backlink_points_at_a_page_using_the_term(built_site: Path):
    entries = _glossary_export(built_site)
    after = _backlinks_after(soup(built_site, "glossary.html"), {e["slug"] for e in entries})
    checked = 0
    for entry in entries:
        backlinks = after.get(entry["slug"])
        assert backlinks is not None, f"the glossary entry {entry['slug']} has no 'Used on' line"
        for a in backlinks.find_all("a"):
            assert entry["slug"] in _term_links(built_site, a["href"]), f"{a['href']} does not use {entry['slug']}"
            checked += 1
        assert sorted(a["href"] for a in backlinks.find_all("a")) == sorted(entry["used_on"])
    assert checked > 0


def test_models_datasets_and_tools_pages_come_from_the_data(built_site: Path):
    from bookkit.data import load_datasets, load_models, load_tools

    for page, records in (("reference/models.html", load_models()), ("reference/datasets.html", load_datasets()),
                          ("reference/tools.html", load_tools())):
        ids = {el["id"] for el in soup(built_site, page).find_all(id=True)}
        missing = [key for key in records if key not in ids]
        assert not missing, f"{page} lacks entries {missing}"


# The whole book on one page (bookkit/print_page.py): parsed once, with lxml (bs4 takes seconds on 12 MB).
_PRINT: dict[Path, object] = {}


def _print_page(built_site: Path):
    import lxml.html

    if built_site not in _PRINT:
        _PRINT[built_site] = lxml.html.parse(str(built_site / "print.html")).getroot()
    return _PRINT[built_site]


def test_print_page_holds_every_chapter_in_reading_order(built_site: Path):
    """print.html: Home, each part's pages (labs too), then the glossary and reference lists, in nav order,
    each in a section that starts a printed page with the page's h1; the API reference is left out."""
    from mkdocs.config import load_config

    from bookkit.print_page import EXCLUDED_PREFIXES, slug

    def walk(items):
        for item in items:
            value = next(iter(item.values())) if isinstance(item, dict) else item
            yield from walk(value) if isinstance(value, list) else [value]

    expected = [re.sub(r"\.(md|ipynb)$", ".html", src) for src in walk(load_config(str(ROOT / "mkdocs.yml"))["nav"])]
    expected = [url for url in expected if not url.startswith(EXCLUDED_PREFIXES)]
    doc = _print_page(built_site)
    sections = doc.xpath('//article//section[@class="gl-print-chapter"]')
    assert [s.get("data-page") for s in sections] == expected
    assert [s.get("id") for s in sections] == [slug(url) for url in expected]
    assert [a.get("href") for a in doc.xpath('//nav[@class="gl-print-toc"]//a')] == ["#" + slug(u) for u in expected]
    for section in sections:
        h1 = section.xpath(".//h1")
        assert h1 and h1[0].text_content().strip(), f"{section.get('data-page')}: no h1"
    assert sections[0].xpath(".//h1")[0].text_content().strip("¶ ") == "The Generative AI Guidebook"
    assert "glossary.html" in expected and "architectures/attention_lab.html" in expected
    css = (built_site / "stylesheets/book.css").read_text(encoding="utf-8")
    assert re.search(r"\.gl-print-chapter\s*\{[^}]*break-before:\s*page", css)
    home = soup(built_site, "index.html").find("a", href="print.html")
    assert home is not None, "the home page links the print page"


def test_print_page_ids_are_unique_and_every_link_resolves(built_site: Path):
    """Ids are prefixed per page, so they are unique; every link and resource of the print page resolves:
    in-page anchors on the page itself, other files (API pages, figures, notebooks) in the site, from
    print.html's folder; nothing is loaded from another host."""
    from urllib.parse import unquote

    import lxml.html

    from bookkit.sitecheck import LOADING_RELS, is_external

    doc = _print_page(built_site)
    ids = doc.xpath("//@id")
    assert len(ids) == len(set(ids)), f"ids given twice: {sorted({i for i in ids if ids.count(i) > 1})[:10]}"
    anchors = set(ids) | set(doc.xpath("//a/@name"))
    other: dict[Path, set[str]] = {}
    problems, internal = [], 0
    for el, attr in [*((e, "href") for e in doc.xpath("//a[@href] | //link[@href]")),
                     *((e, "src") for e in doc.xpath("//img[@src] | //script[@src] | //iframe[@src] | //source[@src]"))]:
        url = el.get(attr)
        parts = urlsplit(url)
        if is_external(url):
            if el.tag != "a" and (el.tag != "link" or set((el.get("rel") or "").split()) & LOADING_RELS):
                problems.append(f"<{el.tag}> loads {url} from another host")
            continue
        if parts.scheme or not (parts.path or parts.fragment):
            continue
        internal += 1
        if not parts.path:
            if unquote(parts.fragment) not in anchors:
                problems.append(f"<{el.tag}> {url}: no anchor on the print page")
            continue
        target = (built_site / unquote(parts.path)).resolve()
        if not target.is_file():
            problems.append(f"<{el.tag}> {url}: no such file")
        elif parts.fragment and target.suffix == ".html":
            if target not in other:
                page = lxml.html.parse(str(target)).getroot()
                other[target] = set(page.xpath("//@id")) | set(page.xpath("//a/@name"))
            if unquote(parts.fragment) not in other[target]:
                problems.append(f"<{el.tag}> {url}: no anchor #{parts.fragment} there")
    assert internal > 5000 and not problems, "\n".join(problems[:30])


def test_print_page_rewrites_ids_and_links_for_one_page():
    """Two tiny pages: ids get their page's prefix, links to an included page (or its anchor) become in-page
    anchors, other site files are addressed from print.html's folder, other hosts stay as they are, and
    a link to an anchor that does not exist is reported."""
    from bookkit.print_page import Chapter, combine

    one = ('<h1 id="one">One</h1><a class="headerlink" href="#one">¶</a><p id="x">'
           '<a href="two.html#y">two</a> <a href="two.html">page</a> <a href="../reference/api/a.html#f">api</a> '
           '<a href="https://arxiv.org/abs/1706.03762">paper</a> <a href="#gone">bad</a></p>'
           '<a class="gl-figure" href="figures/f.svg"><img alt="f" src="figures/f.svg"></a>'
           '<div class="tabbed-set"><input checked id="__tabbed_1_1" name="__tabbed_1" type="radio">'
           '<label for="__tabbed_1_1">A</label></div><pre id="__code_0"><button data-clipboard-target="#__code_0 > code">'
           '</button><code>x = "&lt;a href=#x&gt;"</code></pre><script>var s = \'<a id="raw">\';</script>')
    two = '<h1 id="two">Two</h1><p id="y"><a href="one.html#x" title="a &amp; b">back</a> <a href="../index.html">home</a></p>'
    book = combine([Chapter("a/one.html", "One", one, part="Part"), Chapter("a/two.html", "Two", two, part="Part")],
                   print_url="print.html")
    body = book.body
    assert '<section class="gl-print-chapter" id="a-one" data-page="a/one.html" data-part="Part">' in body
    for fragment in ('<h1 id="a-one--one">', 'href="#a-one--one"', '<p id="a-one--x">', '<a href="#a-two--y">two</a>',
                     '<a href="#a-two">page</a>', '<a href="reference/api/a.html#f">api</a>',
                     '<a href="https://arxiv.org/abs/1706.03762">paper</a>', 'href="a/figures/f.svg"',
                     'src="a/figures/f.svg"', 'id="a-one--__tabbed_1_1" name="a-one--__tabbed_1"',
                     '<label for="a-one--__tabbed_1_1">', 'data-clipboard-target="#a-one--__code_0 &gt; code"',
                     '<code>x = "&lt;a href=#x&gt;"</code>', "var s = '<a id=\"raw\">';", '<p id="a-two--y">',
                     '<a href="#a-one--x" title="a &amp; b">back</a>', '<a href="index.html">home</a>',
                     '<a href="#a-one">One</a>'):
        assert fragment in body, fragment
    assert book.problems == ["a/one.html: link #gone has no target on print.html (#a-one--gone)"]
