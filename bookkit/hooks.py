"""MkDocs hooks: generated pages, glossary tooltips and backlinks, local assets, footer versions.

Registered in mkdocs.yml under `hooks:`. Every asset the theme would fetch from a CDN is served from
`node_modules` (installed by `make setup`), and the CDN fallbacks compiled into Material's bundle
are rewritten to those local copies, so the built site requests nothing from another host.
"""

from __future__ import annotations

import functools
import html
import json
import posixpath
import re
import sys
from pathlib import Path

import yaml
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files, InclusionLevel

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bookkit import ROOT  # noqa: E402
from bookkit.blocks import expand_includes, mark_continued_tabs  # noqa: E402
from bookkit.data import DataError, load_datasets, load_glossary, load_models, load_papers, load_tools  # noqa: E402
from bookkit.math import MathError, render_math, restore_math  # noqa: E402
from bookkit.print_page import PRINT_MARKDOWN, PRINT_SOURCE, build_print_page  # noqa: E402
from bookkit.render import (  # noqa: E402
    datasets_markdown,
    glossary_markdown,
    models_markdown,
    papers_markdown,
    plain_text,
    tools_markdown,
)
from bookkit.terms import TermLinker  # noqa: E402
from bookkit.versions import readme_versions  # noqa: E402

NODE = ROOT / "node_modules"
# site path -> file under node_modules
VENDOR = {
    "assets/vendor/katex/katex.min.js": "katex/dist/katex.min.js",
    "assets/vendor/katex/katex.min.css": "katex/dist/katex.min.css",
    "assets/vendor/katex/contrib/auto-render.min.js": "katex/dist/contrib/auto-render.min.js",
    "assets/vendor/mermaid/mermaid.min.js": "mermaid/dist/mermaid.min.js",
    "assets/vendor/iframe-worker/shim.js": "iframe-worker/shim/index.js",
    "assets/vendor/resize-observer-polyfill/ResizeObserver.global.js":
        "resize-observer-polyfill/dist/ResizeObserver.global.js",
}
# CDN URLs compiled into Material's bundle (used only when the library is missing) -> local copies
BUNDLE_FALLBACKS = {
    "https://unpkg.com/mermaid@11/dist/mermaid.min.js": "../vendor/mermaid/mermaid.min.js",
    "https://unpkg.com/resize-observer-polyfill": "../vendor/resize-observer-polyfill/ResizeObserver.global.js",
}
GLOSSARY, PAPERS = "glossary.md", "reference/papers.md"
# Pages that moved: old address -> new one (both relative to the site root). The old address gets a
# page that forwards there, anchor included, so that no reader's link or bookmark breaks.
MOVED = {
    "transformers/attention.html": "architectures/attention.html",
    "transformers/attention-lab.html": "architectures/attention_lab.html",
}
REDIRECT_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Moved: {title}</title>
<link rel="canonical" href="{target}">
<meta http-equiv="refresh" content="0; url={target}">
<script>location.replace("{target}" + location.hash)</script>
</head>
<body><p>This page moved to <a href="{target}">{title}</a>.</p></body>
</html>
"""

_state: dict = {}


def _cache_signature_formatting() -> None:
    """mkdocstrings formats every long signature by running `ruff format` in a subprocess, on every
    build; under `mkdocs serve` the same signatures come back on each save. Remember them."""
    try:
        from mkdocstrings_handlers.python._internal import rendering
    except ImportError:  # pragma: no cover - another mkdocstrings-python layout: no cache, same output
        return
    if not hasattr(rendering._format_signature, "cache_info"):
        rendering._format_signature = functools.lru_cache(maxsize=4096)(rendering._format_signature)


def on_config(config):
    _cache_signature_formatting()
    try:
        papers = load_papers()
        terms = load_glossary(papers=papers)
        generated = {
            "models": models_markdown(load_models(papers=papers), papers),
            "datasets": datasets_markdown(load_datasets(papers=papers), papers),
            "tools": tools_markdown(load_tools(papers=papers)),
        }
    except DataError as err:
        raise PluginError(f"invalid book data: {err}") from err
    _state.update(papers=papers, terms=terms, linker=TermLinker(terms.values()), used={}, generated=generated,
                  math={})
    config.extra["tested_with"] = readme_versions()
    if not any(str(p).startswith("assets/vendor/") for p in config.extra.get("polyfills", [])):
        raise PluginError("extra.polyfills must list the local iframe-worker shim, or the offline plugin adds a CDN one")
    return config


def on_files(files: Files, config) -> Files:
    missing = [src for src in VENDOR.values() if not (NODE / src).is_file()]
    if missing:
        raise PluginError(f"front-end assets missing ({', '.join(missing)}): run `make setup` (npm ci)")
    for dest, src in VENDOR.items():
        files.append(File.generated(config, dest, abs_src_path=str(NODE / src)))
    for font in sorted((NODE / "katex/dist/fonts").iterdir()):
        files.append(File.generated(config, f"assets/vendor/katex/fonts/{font.name}", abs_src_path=str(font)))
    try:
        generated = [File.generated(config, GLOSSARY, content=glossary_markdown(_state["terms"], _state["papers"])),
                     File.generated(config, PAPERS, content=papers_markdown(_state["papers"]))]
    except DataError as err:
        raise PluginError(f"invalid book data: {err}") from err
    # The whole book on one page (bookkit/print_page.py), linked from the home page, on no nav.
    generated.append(File.generated(config, PRINT_SOURCE, content=PRINT_MARKDOWN, inclusion=InclusionLevel.NOT_IN_NAV))
    for file in generated:
        file.edit_uri = None  # made from data/*.yml (or by the hooks): no page source to edit
        files.append(file)
    return files


# The data file a generated page is made from, for its "last updated" date.
GENERATED_FROM = {GLOSSARY: "data/glossary.yml", PAPERS: "data/papers.yml"}


@functools.lru_cache(maxsize=None)
def last_commit_date(path: str) -> str | None:
    """The date (YYYY-MM-DD) of the last commit that changed `path` (relative to the repository), or
    None outside a git checkout or for a file git does not track yet."""
    import subprocess

    try:
        out = subprocess.run(["git", "log", "-1", "--format=%cs", "--", path], cwd=ROOT, capture_output=True,
                             text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def on_page_context(context, page, config, nav):
    """Each page's "last updated" date: its source's (or its data file's) last commit."""
    source = GENERATED_FROM.get(page.file.src_uri, f"docs/{page.file.src_uri}")
    page.meta["last_updated"] = last_commit_date(source)
    return context


PLACEHOLDER = re.compile(r"^<!-- data:([\w-]+) -->$", re.M)


def on_nav(nav, config, files):
    _state["nav"] = nav
    return nav


def _description(page) -> str:
    """A page's front-matter description (read from its file: later pages are not parsed yet)."""
    if page.file.src_uri.endswith(".ipynb"):
        return "a lab (notebook) that runs offline on a CPU"
    text = Path(page.file.abs_src_path).read_text(encoding="utf-8")
    match = re.match(r"---\n(.*?)\n---\n", text, re.S)
    meta = yaml.safe_load(match[1]) if match else {}
    return " ".join(str((meta or {}).get("description", "")).split())


def part_chapters(page) -> str:
    """The chapters of the part whose landing page (its section's index) is `page`, as a list."""
    section = page.parent
    if section is None or not page.file.src_uri.endswith("index.md"):
        raise PluginError(f"{page.file.src_uri}: <!-- data:part-chapters --> belongs on a part's index.md")
    here = posixpath.dirname(page.file.src_uri)
    items = []
    for item in section.children:
        if item.is_page and item is not page:
            href = posixpath.relpath(item.file.src_uri, here)
            items.append(f"- [{item.title}]({href}): {plain_text(_description(item))}")
    return "\n".join(items)


def on_page_markdown(markdown: str, page, config, files) -> str:
    """Pages that present a data file hold `<!-- data:models -->` (etc.) where its tables go; a part's
    landing page holds `<!-- data:part-chapters -->` where the list of its chapters goes. The page, its
    snippets included, is kept as Markdown for llms.txt."""
    def fill(m: re.Match) -> str:
        if m[1] == "part-chapters":
            return part_chapters(page)
        if m[1] not in _state["generated"]:
            raise PluginError(f"{page.file.src_uri}: unknown data placeholder {m[0]}")
        return _state["generated"][m[1]]

    markdown = mark_continued_tabs(PLACEHOLDER.sub(fill, markdown))
    _state.setdefault("markdown", {})[page.file.src_uri] = expand_includes(markdown)
    return markdown


def write_llms_txt(site: Path, config) -> None:
    """llms.txt (llmstxt.org): the book's pages by part, each linked as Markdown (the page's address
    with .md), written beside its HTML with its snippets included."""
    lines = [f"# {config.site_name}", "", f"> {' '.join(config.site_description.split())}", "",
             "Every page is also Markdown: the page's address with `.md` instead of `.html`. Every Python "
             "block runs offline on a CPU with the `genai_guide` package installed, and prints what follows it.", ""]

    def pages(items, depth=0):
        for item in items:
            if item.is_section:
                lines.extend(["", f"## {item.title}", ""] if depth == 0 else [])
                pages(item.children, depth + 1)
            elif item.is_page:
                src = item.file.src_uri
                if src.endswith(".md"):
                    text = _state["markdown"].get(src)
                    if text is None:
                        raise PluginError(f"llms.txt: no Markdown kept for {src}")
                    (site / src).parent.mkdir(parents=True, exist_ok=True)
                    (site / src).write_text(text, encoding="utf-8")
                link = src  # a notebook links its .ipynb, which mkdocs-jupyter copies beside its page
                description = item.meta.get("description") or _description(item)
                lines.append(f"- [{item.title}]({link}): {' '.join(str(description).split())}")

    pages(_state["nav"].items)
    (site / "llms.txt").write_text("\n".join(lines).replace("\n\n\n", "\n\n") + "\n", encoding="utf-8")


# A notebook's Markdown cells, as mkdocs-jupyter renders them: their math is left as `$...$` for MathJax.
NOTEBOOK_MARKDOWN = re.compile(r'(<div class="jp-RenderedHTMLCommon jp-RenderedMarkdown[^"]*"[^>]*>)(.*?)(</div>)', re.S)
NOTEBOOK_MATH = re.compile(r"\$\$(?P<display>.+?)\$\$|(?<![\\$\w])\$(?P<inline>[^$\s](?:[^$]*?[^$\s])?)\$(?![\w$])", re.S)
CODE_ELEMENT = re.compile(r"(<(code|pre)\b.*?</\2>)", re.S)


def notebook_math(html_text: str) -> str:
    """Mark the `$...$` and `$$...$$` of a notebook's Markdown cells as arithmatex does for pages, so that
    render_math typesets them like any page's math (code inside the cells is left alone)."""
    def mark(m: re.Match) -> str:
        if m["display"] is not None:
            return f'<div class="arithmatex">\\[{m["display"]}\\]</div>'
        return f'<span class="arithmatex">\\({m["inline"]}\\)</span>'

    def cell(m: re.Match) -> str:
        parts = CODE_ELEMENT.split(m[2])  # [text, code, tag, text, code, tag, ...]
        body = "".join(NOTEBOOK_MATH.sub(mark, part) if i % 3 == 0 else part
                       for i, part in enumerate(parts) if i % 3 != 2)
        return m[1] + body + m[3]

    return NOTEBOOK_MARKDOWN.sub(cell, html_text)


# A chapter's figure: an <img> of an SVG under figures/.
FIGURE = re.compile(r'<img\b[^>]*\bsrc="((?:[^"/]*/)*figures/[^"]+\.svg)"[^>]*>')
OPEN_LINK = re.compile(r"<a\b[^>]*>\s*$")


def figure_links(html_text: str) -> str:
    """Wrap each figure not already inside a link in a link to its SVG: on a phone the figure is
    shrunk to the column, and the reader opens it full size and zooms, offline, with the browser alone."""
    def wrap(m: re.Match) -> str:
        if OPEN_LINK.search(html_text, 0, m.start()):
            return m[0]
        return f'<a class="gl-figure" href="{m[1]}" title="Open the figure full size">{m[0]}</a>'
    return FIGURE.sub(wrap, html_text)


def on_page_content(html_text: str, page, config, files) -> str:
    if page.file.src_uri.endswith(".ipynb"):
        html_text = notebook_math(html_text)
    html_text = figure_links(html_text)
    try:
        slots: list[str] = []
        html_text, page.meta["has_math"] = render_math(html_text, slots)
        _state["math"][page.file.src_uri] = slots
    except MathError as err:
        raise PluginError(f"{page.file.src_uri}: {err}") from err
    if page.file.src_uri in (GLOSSARY, PRINT_SOURCE):  # no term links on the glossary or the print page's intro
        return html_text
    href = posixpath.relpath(files.get_file_from_path(GLOSSARY).url, posixpath.dirname(page.file.url) or ".")
    linked, used = _state["linker"].link(html_text, href)
    _state["used"][page.file.url] = (page.title or page.file.url, used)
    return linked


def _backlinks(slug: str) -> str:
    pages = sorted((title, url) for url, (title, used) in _state["used"].items() if slug in used)
    if not pages:
        return '<p class="gl-backlinks"><strong>Used on:</strong> no page yet.</p>'
    links = ", ".join(f'<a href="{html.escape(url)}">{html.escape(str(title))}</a>' for title, url in pages)
    return f'<p class="gl-backlinks"><strong>Used on:</strong> {links}</p>'


def on_post_build(config) -> None:
    site = Path(config.site_dir)
    # 1. Backlinks on the glossary page, computed from every page's rendered content.
    glossary = site / "glossary.html"
    text = glossary.read_text(encoding="utf-8")
    text = re.sub(r'<div class="gl-backlinks" data-term="([a-z0-9-]+)"></div>', lambda m: _backlinks(m[1]), text)
    glossary.write_text(text, encoding="utf-8")
    # 2. Machine-readable export.
    export = [
        {"term": t.term, "slug": t.slug, "abbr": t.abbr, "aliases": list(t.aliases), "tooltip": t.tooltip,
         "definition": t.definition, "relations": {k: list(v) for k, v in t.relations.items() if v},
         "taught_in": t.taught_in, "papers": list(t.papers), "url": f"glossary.html#{t.slug}",
         "used_on": sorted(url for url, (_, used) in _state["used"].items() if t.slug in used)}
        for t in sorted(_state["terms"].values(), key=lambda t: t.term.lower())
    ]
    (site / "glossary.json").write_text(json.dumps(export, indent=1, ensure_ascii=False), encoding="utf-8")
    # 3. Point the bundle's CDN fallbacks at the local copies (relative to the bundle script itself).
    for bundle in (site / "assets/javascripts").glob("bundle.*.min.js"):
        code = bundle.read_text(encoding="utf-8")
        for url, local in BUNDLE_FALLBACKS.items():
            expr = (f'new URL("{local}",document.querySelector(\'script[src*="assets/javascripts/bundle."]\')'
                    f'.src).href')
            code = code.replace(f'"{url}"', expr)
        bundle.write_text(code, encoding="utf-8")
    # 4. llms.txt and each page as Markdown.
    write_llms_txt(site, config)
    # 5. Forwarding pages at the old addresses of pages that moved.
    for old, new in MOVED.items():
        if (site / old).exists():
            raise PluginError(f"MOVED: {old} is a page of the site again; drop it from MOVED")
        if not (site / new).is_file():
            raise PluginError(f"MOVED: {old} forwards to {new}, which the site does not have")
        target = posixpath.relpath(new, posixpath.dirname(old))
        (site / old).parent.mkdir(parents=True, exist_ok=True)
        (site / old).write_text(REDIRECT_PAGE.format(target=html.escape(target), title=html.escape(new)), encoding="utf-8")
    # 6. The whole book on one page, from the pages just built (after the glossary got its backlinks).
    problems = build_print_page(site, _state["nav"])
    if problems:
        raise PluginError("print.html: " + "; ".join(problems[:20]))


NOTEBOOK_CDN_SCRIPT = re.compile(r'<script type="module">(?:(?!</script>).)*?cdnjs\.cloudflare\.com.*?</script>', re.S)


def _theme_markup_fixed(output: str) -> str:
    """Material writes tabindex="" (an invalid value, which browsers ignore) on nav section labels."""
    return output.replace(' tabindex=""', "")


def on_template_context(context, template_name: str, config):
    """The 404 page is served at whatever address was missing, under whatever root the site has: its
    links and assets are written relative to the site's root, and a script finds that root (below)."""
    if template_name == "404.html":
        from mkdocs.utils import normalize_url

        context["base_url"] = "."
        context["extra_css"] = [normalize_url(str(path), None, ".") for path in config.extra_css]
        context["extra_javascript"] = [normalize_url(str(path), None, ".") for path in config.extra_javascript]
    return context


# First in the 404 page's <head>: walk up from the missing address to the first folder that holds the
# site's llms.txt, and make it the base of every relative link and asset.
FIND_SITE_ROOT = """<script>(function () {
  var parts = location.pathname.replace(/[^/]*$/, "").split("/").filter(Boolean);
  for (var i = parts.length; i >= 0; i--) {
    var root = "/" + parts.slice(0, i).join("/") + (i ? "/" : "");
    var probe = new XMLHttpRequest();
    try {
      probe.open("HEAD", root + "llms.txt", false);
      probe.send();
      if (probe.status === 200) { window.__siteRoot = root; document.write('<base href="' + root + '">'); return; }
    } catch (e) {}
  }
})();</script>"""


SET_CONFIG_BASE = """<script>(function () {
  var config = document.getElementById("__config");
  if (window.__siteRoot) {
    var value = JSON.parse(config.textContent);
    value.base = window.__siteRoot;
    config.textContent = JSON.stringify(value);
  }
})();</script>"""


def on_post_template(output_content: str, template_name: str, config) -> str:
    """Static templates (the 404 page) get the same fixes as pages."""
    if template_name == "404.html":
        output_content = output_content.replace("<head>", "<head>\n" + FIND_SITE_ROOT, 1)
        # Material's scripts resolve its config's "base" against the address, not <base>: point it at the root.
        config_end = output_content.index("</script>", output_content.index('<script id="__config"')) + len("</script>")
        output_content = (output_content[:config_end] + SET_CONFIG_BASE + output_content[config_end:])
    return _theme_markup_fixed(output_content)


STYLE_ELEMENT = re.compile(r"<style\b[^>]*>.*?</style>", re.S)


def on_post_page(output: str, page, config) -> str:
    """mkdocs-jupyter's template loads MathJax and Mermaid from CDNs (the book typesets notebook math
    at build time and its notebooks have no Mermaid cells), and puts its stylesheets inside the
    article, where HTML allows no <style>: they move to the end of <head>, in the same order."""
    if page.file.src_uri.endswith(".ipynb"):
        output = output.replace('<script src=""> </script>', "")  # MathJax with an empty URL
        output = NOTEBOOK_CDN_SCRIPT.sub("", output)
        head, body_start, body = output.partition("<body")
        styles = STYLE_ELEMENT.findall(body)
        output = head.replace("</head>", "\n".join(styles) + "\n</head>", 1) + body_start + STYLE_ELEMENT.sub("", body)
        # Code cells scroll sideways: focusable, so that a keyboard can scroll them too.
        output = output.replace('<div class="highlight-ipynb hl-python">', '<div class="highlight-ipynb hl-python" tabindex="0">')
    output = _theme_markup_fixed(output)
    slots = _state["math"].pop(page.file.src_uri, None)
    if slots:
        try:
            output = restore_math(output, slots)
        except MathError as err:
            raise PluginError(f"{page.file.src_uri}: {err}") from err
    if page.meta.get("has_math"):  # typeset at build time: only KaTeX's stylesheet (and fonts) are needed
        css = posixpath.relpath("assets/vendor/katex/katex.min.css", posixpath.dirname(page.file.url) or ".")
        output = output.replace("</head>", f'<link rel="stylesheet" href="{css}">\n</head>', 1)
    return output
