"""The site as a reader sees it: headless Chromium against the served site and the site opened from disk.

Skipped, with the reason shown, where Debian's Chromium is not installed (`.ci/run` installs it).
Every request to a host other than this machine is aborted and recorded, so a page that tries one
fails here even though the machine has no internet to notice. Screenshots go to `screenshots/`.
"""

from __future__ import annotations

import functools
import http.server
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from conftest import ROOT, subprocess_env

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.xdist_group("browser"),  # one worker, one browser; the site tests run beside it
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)"),
]
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync", "--disable-quic"]
SCREENSHOTS = ROOT / "screenshots"
DESKTOP, PHONE = {"width": 1280, "height": 900}, {"width": 390, "height": 844}
TABS = 4  # pages loaded side by side when every page is visited
LOCAL = ("127.0.0.1", "localhost", "[::1]")


class Page:
    """A Playwright page that records console errors, records every request, and aborts (and records)
    non-local ones."""

    def __init__(self, browser, viewport=DESKTOP, color_scheme="light"):
        self.context = browser.new_context(viewport=viewport, color_scheme=color_scheme)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.external: list[str] = []
        self.requested: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))
        self.context.route("**/*", self._route)

    def _route(self, route):
        url = route.request.url
        self.requested.append(url)
        parts = urlsplit(url)
        if parts.scheme in ("file", "data", "blob", "about") or parts.hostname in ("127.0.0.1", "localhost", "::1"):
            route.continue_()
        else:
            self.external.append(url)
            route.abort()

    def open(self, url: str, idle: bool = True):
        self.page.goto(url, wait_until="load")
        return self.settle(idle)

    def start(self, url: str) -> None:
        """Begin loading `url` and return at once (see `settle`): several tabs can load side by side."""
        self.page.goto(url, wait_until="commit")

    def settle(self, idle: bool = True):
        self.page.wait_for_load_state("load")
        if idle:  # live reload keeps a request open for good: never idle
            self.page.wait_for_load_state("networkidle")
        # math and diagrams load lazily after the page: wait for them to settle
        self.page.wait_for_function(
            "() => [...document.querySelectorAll('.arithmatex')].every(e => e.querySelector('.katex'))"
            " && !document.querySelector('pre.mermaid')", timeout=15_000)
        return self.page

    def close(self):
        self.context.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture(scope="module")
def server(built_site):
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(built_site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()


@pytest.fixture(params=["served", "from-disk"])
def base(request, built_site, server):
    return server if request.param == "served" else built_site.as_uri() + "/"


def all_pages(site: Path) -> list[str]:
    """Every page but the 404 page and print.html (every other page's article again, on one page)."""
    from bookkit.sitecheck import COMBINED_PAGES

    return sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html")
                  if p.name != "404.html" and p.relative_to(site).as_posix() not in COMBINED_PAGES)


# One page of each template and widget: home, a chapter (math, diagram, tabs, figure, tooltips), the
# glossary, a lab (notebook), an API page and a reference table. These load on both transports and
# wait for the network to go idle; every page is loaded once more, served, in the pass below.
TEMPLATES = ["index.html", "architectures/attention.html", "glossary.html", "architectures/gpt_lab.html",
             "reference/api/attention.html", "reference/papers.html"]
WIDE_FORMULAS = ("() => [...document.querySelectorAll('.katex-display')]"
                 ".filter(e => e.scrollWidth > e.clientWidth + 1)"
                 ".map(e => (e.querySelector('annotation') || e).textContent.trim().slice(0, 80))")


def visit(browser, base: str, pages: list[str], idle: bool) -> tuple[list[str], list[str], list[str]]:
    """Load `pages`, TABS at a time (their waits overlap); return (external requests, console errors,
    display formulas wider than the text column at desktop width)."""
    tabs = [Page(browser) for _ in range(TABS)]
    wide = []
    try:
        for first in range(0, len(pages), TABS):
            batch = list(zip(tabs, pages[first:first + TABS]))
            for tab, page in batch:
                tab.start(base + page)
            for tab, page in batch:
                tab.settle(idle)
                wide += [f"{page}: {tex}" for tex in tab.page.evaluate(WIDE_FORMULAS)]
        return [u for t in tabs for u in t.external], [e for t in tabs for e in t.errors], wide
    finally:
        for tab in tabs:
            tab.close()


# Every display formula and every diagram of the site, gathered into one page that has the site's own
# chrome and column (a chapter page with its article replaced): one page load instead of one for each
# of the eighty pages with math or a diagram, and the same two layout facts checked for each of them.
# A formula keeps the chain of elements around it (admonitions, lists, glossary entries, tabs shown
# open), so it is measured in the column it has on its page.
WIDGETS_HOST = "architectures/attention.html"
WIDGETS_PAGE = "architectures/__every_formula_and_diagram.html"
WIDGETS_STYLE = "<style>.tabbed-block{display:block!important}</style>"
WIDGET_REPORT = """() => ({
    wide: [...document.querySelectorAll('[data-from] .katex-display')].filter(e => e.scrollWidth > e.clientWidth + 1)
        .map(e => e.closest('[data-from]').dataset.from + ': '
                  + (e.querySelector('annotation') || e).textContent.trim().slice(0, 80)),
    undrawn: [...document.querySelectorAll('[data-from] .mermaid')]
        .filter(h => !(h.shadowRoot && h.shadowRoot.querySelector('svg g')) || /Syntax error/i.test(h.shadowRoot.textContent))
        .map(h => h.closest('[data-from]').dataset.from),
    formulas: document.querySelectorAll('[data-from] .katex-display').length,
    diagrams: document.querySelectorAll('[data-from] .mermaid').length,
})"""


def widget_items(site: Path, pages: list[str]) -> tuple[list[str], int, int]:
    """The display formulas (each inside shallow copies of its ancestors up to the article) and the
    diagrams of `pages`, each tagged with its page; and how many of each."""
    import lxml.html

    items, formulas, diagrams = [], 0, 0
    for name in pages:
        tree = lxml.html.fromstring((site / name).read_bytes())
        for el in tree.xpath("//article//*[contains(@class, 'katex-display')]/parent::*"
                             " | //article//pre[contains(@class, 'mermaid')]"):
            html = lxml.html.tostring(el, encoding="unicode")
            for parent in el.iterancestors():
                if parent.tag == "article":
                    break
                attrs = "".join(f' {k}="{v}"' for k, v in parent.attrib.items() if k in ("class", "style"))
                html = f"<{parent.tag}{attrs}{' open' if parent.tag == 'details' else ''}>{html}</{parent.tag}>"
            items.append(f'<div data-from="{name}">{html}</div>')
            is_diagram = el.tag == "pre"
            diagrams += is_diagram
            formulas += not is_diagram
    return items, formulas, diagrams


def widget_page(site: Path, items: list[str]) -> str:
    """The host chapter page with its article's content replaced by `items`."""
    import re

    host = (site / WIDGETS_HOST).read_text(encoding="utf-8")
    article = re.search(r'(<article class="md-content__inner md-typeset">)(.*?)(</article>)', host, re.DOTALL)
    return host[:article.start(2)] + WIDGETS_STYLE + "\n".join(items) + host[article.end(2):]


def load_widgets(browser, base: str, html: str) -> tuple[Page, dict]:
    """Open `html` as the page WIDGETS_PAGE under `base`; the page and its WIDGET_REPORT. A diagram that
    does not parse stays undrawn (and throws): the report names it once the wait for drawing gives up."""
    p = Page(browser)
    p.page.route(base + WIDGETS_PAGE, lambda route: route.fulfill(body=html, content_type="text/html; charset=utf-8"))
    p.page.goto(base + WIDGETS_PAGE, wait_until="load")
    deadline = time.monotonic() + 30
    while not p.errors and not p.page.evaluate("() => !document.querySelector('pre.mermaid')"):
        assert time.monotonic() < deadline, "the diagrams were neither drawn nor failed within 30 s"
        p.page.wait_for_timeout(100)
    p.page.evaluate("() => document.fonts.ready.then(() => true)")  # widths are measured in KaTeX's fonts
    return p, p.page.evaluate(WIDGET_REPORT)


def test_every_formula_fits_and_every_diagram_draws(browser, built_site, server):
    """Every display formula of the site fits the text column at desktop width (a layout fact, so only a
    browser can check it; split a wide one with aligned), and every Mermaid diagram is drawn, with no
    console error and no request to another host. The labs, whose math is typeset in the browser, are
    loaded themselves. What else each page loads is the templates' test (below) and the static checks'."""
    pages = [p for p in all_pages(built_site)
             if any(mark in (built_site / p).read_text(encoding="utf-8") for mark in ('katex-display', 'class="mermaid"'))]
    items, formulas, diagrams = widget_items(built_site, pages)
    assert formulas > 200 and diagrams > 40, (formulas, diagrams)
    p, report = load_widgets(browser, server, widget_page(built_site, items))
    try:
        assert (report["formulas"], report["diagrams"]) == (formulas, diagrams), report
        assert not report["undrawn"], f"diagrams not drawn: {report['undrawn']}"
        assert not p.external, f"requests to other hosts: {p.external}"
        assert not p.errors, f"console errors: {p.errors}"
        wide = report["wide"]
    finally:
        p.close()
    labs = [p for p in all_pages(built_site) if 'class="jp-Notebook' in (built_site / p).read_text(encoding="utf-8")]
    assert len(labs) >= 4
    external, errors, lab_wide = visit(browser, server, labs, idle=False)
    assert not external, f"requests to other hosts: {external}"
    assert not errors, f"console errors: {errors}"
    wide += lab_wide
    assert not wide, "display formulas wider than the column at desktop width (split them with aligned):\n" + \
        "\n".join(wide)


def test_the_formula_and_diagram_check_can_fail(browser, built_site, server):
    """A formula wider than the column and a diagram that does not parse are both reported."""
    wide = '<div data-from="x.html"><div class="arithmatex"><span class="katex-display"><span class="katex">' + \
        "W" * 400 + "</span></span></div></div>"
    broken = '<div data-from="y.html"><pre class="mermaid"><code>flowchart LR\n  A --&gt;&gt;&gt; [</code></pre></div>'
    p, report = load_widgets(browser, server, widget_page(built_site, [wide, broken]))
    p.close()
    assert report["wide"] == ["x.html: " + "W" * 80] and report["undrawn"] == ["y.html"], report


def test_each_page_template_loads_cleanly(browser, base):
    """One page of each template, served and from disk, until the network is idle: nothing loaded late
    fails or reaches another host."""
    external, errors, _ = visit(browser, base, TEMPLATES, idle=True)
    assert not external, f"requests to other hosts: {external}"
    assert not errors, f"console errors: {errors}"


AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
# The glossary's few thousand entries are one template repeated; axe checks the first ones (its full
# run takes 20 s here) and the HTML validator checks every entry (test_site).
GLOSSARY_SAMPLE = "() => [...document.querySelector('article').children].slice(300).forEach(e => e.remove())"


# The axe rules whose outcome depends on colours; every other rule reads the document's structure,
# which is the same in both colour schemes.
COLOUR_RULES = ["color-contrast", "link-in-text-block"]


def serious_violations(page, only: list[str] | None = None) -> list[str]:
    """axe-core's serious and critical accessibility violations on the loaded page (`only`: these rules)."""
    page.evaluate(AXE.read_text(encoding="utf-8"))
    found = page.evaluate("""async (only) => (await axe.run(document, only ? {resultTypes: ['violations'], runOnly: only}
                                                                     : {resultTypes: ['violations']})).violations
        .filter(v => v.impact === 'serious' || v.impact === 'critical')
        .map(v => v.id + ': ' + v.help + ' at ' + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(', '))""", only)
    return found


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_each_page_template_is_accessible(browser, server, scheme):
    """axe-core on one page of each template: no serious or critical violation (contrast, names of links
    and controls, keyboard access to scrolling regions, ...); in the dark scheme, the rules about colour."""
    p = Page(browser, color_scheme=scheme)
    try:
        problems = []
        for name in TEMPLATES:
            page = p.open(server + name, idle=False)
            if name == "glossary.html":
                page.evaluate(GLOSSARY_SAMPLE)
            problems += [f"{name}: {v}" for v in serious_violations(page, COLOUR_RULES if scheme == "dark" else None)]
        assert not problems, "\n".join(problems)
    finally:
        p.close()


def test_the_accessibility_check_can_fail(browser):
    p = Page(browser)
    try:
        p.page.set_content('<!DOCTYPE html><html lang="en"><head><title>t</title></head><body><main>'
                           '<a href="#x"><span></span></a><p style="color:#aaa;background:#fff">faint</p></main></body></html>')
        found = serious_violations(p.page)
        assert any(v.startswith("link-name") for v in found) and any(v.startswith("color-contrast") for v in found), found
        colour = serious_violations(p.page, COLOUR_RULES)  # the dark scheme's run: colour rules only
        assert any(v.startswith("color-contrast") for v in colour) and not any(v.startswith("link-name") for v in colour), colour
    finally:
        p.close()


def test_math_diagrams_and_copy_buttons_render(browser, base):
    p = Page(browser)
    try:
        page = p.open(base + "architectures/attention.html")
        state = page.evaluate("""() => ({
            math: document.querySelectorAll('.arithmatex').length,
            rendered: document.querySelectorAll('.arithmatex .katex-html').length,
            rawTex: [...document.querySelectorAll('.arithmatex')].filter(e => /\\\\\\(|\\\\\\[/.test(e.textContent) && !e.querySelector('.katex')).length,
            blocks: document.querySelectorAll('.highlight pre > code').length,
            copy: document.querySelectorAll('.highlight button.md-code__button[data-md-type=copy]').length,
            diagrams: document.querySelectorAll('div.mermaid').length,
        })""")
        assert state["math"] > 10 and state["rendered"] == state["math"] and state["rawTex"] == 0, state
        assert state["blocks"] > 5 and state["copy"] == state["blocks"], state
        assert state["diagrams"] == 1, state
        # Material draws Mermaid into a closed shadow root: look through it with the DevTools protocol.
        cdp = p.context.new_cdp_session(page)
        tree = cdp.send("DOM.getDocument", {"depth": -1, "pierce": True})
        assert _svgs_under(tree["root"], "mermaid") >= 1, "the Mermaid diagram was not rendered to SVG"
        assert page.locator("img[src='figures/attention_pattern.svg']").evaluate("i => i.naturalWidth") > 100
        assert not p.errors and not p.external
    finally:
        p.close()


def _svgs_under(node: dict, css_class: str, inside: bool = False) -> int:
    attrs = node.get("attributes", [])
    classes = dict(zip(attrs[::2], attrs[1::2])).get("class", "").split()
    inside = inside or css_class in classes
    count = int(inside and node.get("nodeName", "").lower() == "svg" and bool(node.get("children")))
    for child in node.get("children", []) + node.get("shadowRoots", []):
        count += _svgs_under(child, css_class, inside)
    return count


def wait_for_search(page) -> None:
    """The search index is fetched when the search box takes focus and built in a worker; wait for it."""
    page.wait_for_function(
        "() => !/Initializing/i.test(document.querySelector('.md-search-result__meta').textContent)",
        timeout=30_000)


# Hyphenated terms a reader types as written (docs/javascripts/search.js makes each a phrase).
HYPHENATED = {"top-p": "top-p-sampling", "top-k": "top-k-sampling", "few-shot": "few-shot-prompting",
              "LLM-as-judge": "llm-as-a-judge"}
# The addresses of the first result: its head (the page), then the sections shown under it, without
# the ?h= highlight query Material adds.
FIRST_RESULT = """() => {
    const item = document.querySelector('.md-search-result__item');
    return item ? [...item.querySelectorAll(':scope > a.md-search-result__link')]
        .map(a => { const u = new URL(a.href); u.search = ''; return u.href; }) : [];
}"""


def first_result(page, base: str, query: str, wanted: set[str]) -> list[str]:
    """Type `query`; the first result's addresses relative to `base`, once one is in `wanted` or after 5 s."""
    search = page.locator("input.md-search__input")
    search.fill(query)
    search.press("End")  # a key event: Material searches on keyup
    try:
        page.wait_for_function(f"wanted => ({FIRST_RESULT})().some(h => wanted.includes(h))",
                               arg=[base + w for w in wanted], timeout=5_000)
    except Exception:
        pass
    return [h.removeprefix(base) for h in page.evaluate(FIRST_RESULT)]


def test_search_finds_terms_as_readers_type_them(browser, base, built_site):
    """The index loads only when the reader goes to search. An abbreviation (MHA) lists its glossary
    entry, and a click opens it; a hyphenated term (top-p, few-shot, LLM-as-judge) puts its glossary
    entry or the section that teaches it first, and a glossary result's head opens the entry, not the
    top of the glossary."""
    import json

    entries = {e["slug"]: e for e in json.loads((built_site / "glossary.json").read_text(encoding="utf-8"))}
    p = Page(browser)
    try:
        page = p.open(base + "index.html")  # until the network is idle
        index = [u for u in p.requested if "/search/search_index." in u]
        assert not index, f"the search index loaded before the reader went to search: {index}"
        search = page.locator("input.md-search__input")
        search.click()
        wait_for_search(page)
        assert any("/search/search_index." in u for u in p.requested)
        wrong = []
        for query, slug in HYPHENATED.items():
            wanted = {f"glossary.html#{slug}", entries[slug]["taught_in"].replace(".md#", ".html#")}
            links = first_result(page, base, query, wanted)
            if not wanted & set(links) or links[0] == "glossary.html":
                wrong.append(f"{query}: {links[:4]}")
        assert not wrong, "hyphenated terms whose first result is not their entry or section:\n" + "\n".join(wrong)
        search.fill("")
        search.press_sequentially("MHA", delay=50)  # real key events, as a reader types
        result = page.locator(".md-search-result__item a[href*='glossary.html'][href$='#multi-head-attention']").first
        try:
            result.wait_for(timeout=15_000)
        except Exception as err:
            hrefs = page.evaluate("() => [...document.querySelectorAll('.md-search-result__item a')].map(a => a.href)")
            meta = page.locator(".md-search-result__meta").inner_text()
            raise AssertionError(f"no glossary result for MHA; results: {meta!r} {hrefs}") from err
        result.click()
        page.wait_for_url("**/glossary.html*#multi-head-attention", timeout=30_000)
        assert page.locator("#multi-head-attention").is_visible()
        assert not p.errors and not p.external
    finally:
        p.close()


def test_a_term_shows_its_tooltip_on_hover(browser, base):
    p = Page(browser)
    try:
        page = p.open(base + "architectures/attention.html")
        term = page.locator("a.gl-term[href$='#softmax']").first
        term.scroll_into_view_if_needed()
        term.hover()
        tooltip = page.locator(".md-tooltip2--active")
        tooltip.wait_for(timeout=5_000)
        assert "probabilities" in tooltip.inner_text()
    finally:
        p.close()


def test_an_old_address_forwards_to_the_moved_page(browser, built_site):
    """From disk, the hardest case: the old address of a moved page lands on the new page, anchor kept."""
    p = Page(browser)
    try:
        p.page.goto(built_site.as_uri() + "/transformers/attention.html#multi-head-attention")
        p.page.wait_for_url("**/architectures/attention.html#multi-head-attention", timeout=10_000)
        assert p.page.locator("h1").first.inner_text().rstrip("¶") == "Attention"
    finally:
        p.close()


@pytest.mark.parametrize("root", ["/", "/some/where/"])
def test_the_404_page_works_under_any_root(browser, built_site, root):
    """Served under any root, a missing address at any depth shows the styled 404 page, whose links
    reach the site."""
    class NotFound(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def translate_path(self, path):
            inside = path.split("?")[0].removeprefix(root) if path.startswith(root) else "\0"
            return str(built_site / inside.lstrip("/"))

        def send_error(self, code, message=None, explain=None):
            if code != 404:
                return super().send_error(code, message, explain)
            body = (built_site / "404.html").read_bytes()
            self.send_response(404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), NotFound)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    p = Page(browser)
    failed = []
    p.page.on("response", lambda r: r.status >= 400 and failed.append(r.url))
    try:
        origin = f"http://127.0.0.1:{httpd.server_address[1]}"
        missing = f"{origin}{root}architectures/no/such/page.html"
        page = p.open(missing)
        assert page.locator("h1").first.inner_text() == "404: page not found"
        assert page.evaluate("() => getComputedStyle(document.querySelector('.md-header')).position") == "sticky"
        home = page.locator("article a", has_text="the home page")
        assert home.evaluate("a => a.href") == f"{origin}{root}index.html"
        # What fails: the missing page itself, the probes for a root below the real one, and what the
        # browser's preload scanner fetched relative to the missing page before the script set the base.
        folder = missing.rsplit("/", 1)[0] + "/"
        assert failed[0] == missing and all(u.startswith(folder) or u.endswith("/llms.txt") for u in failed), failed
        assert not [e for e in p.errors if not e.startswith("Failed to load resource")] and not p.external, p.errors
    finally:
        p.close()
        httpd.shutdown()


def test_dark_and_light_toggle(browser, server):
    base = server
    p = Page(browser)
    try:
        page = p.open(base + "index.html")
        scheme = lambda: page.evaluate("() => document.body.getAttribute('data-md-color-scheme')")
        assert scheme() == "default"
        page.locator("form[data-md-component=palette] label:visible").first.click()
        page.wait_for_function("() => document.body.getAttribute('data-md-color-scheme') === 'slate'")
        background = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
        page.locator("form[data-md-component=palette] label:visible").first.click()
        page.wait_for_function("() => document.body.getAttribute('data-md-color-scheme') === 'default'")
        assert background != page.evaluate("() => getComputedStyle(document.body).backgroundColor")
    finally:
        p.close()


def test_navigation_on_a_phone(browser, server):
    base = server
    p = Page(browser, viewport=PHONE)
    try:
        page = p.open(base + "index.html")
        assert not page.locator(".md-sidebar--primary").is_visible() or page.evaluate(
            "() => !document.getElementById('__drawer').checked")
        page.locator("label.md-header__button[for=__drawer]").click()
        link = page.locator(".md-nav--primary a[href$='glossary.html']").first
        link.wait_for(state="visible", timeout=5_000)
        link.click()
        page.wait_for_url("**/glossary.html*")
        assert page.locator("h1").first.inner_text().rstrip("¶") == "Glossary"
    finally:
        p.close()


DIAGRAM_SCALES = """() => [...document.querySelectorAll('div.mermaid')].map(host => {
    const svg = host.shadowRoot && host.shadowRoot.querySelector('svg');
    return svg ? {scale: svg.getBoundingClientRect().width / svg.viewBox.baseVal.width,
                  wide: host.classList.contains('gl-wide'), focusable: host.tabIndex === 0} : null;
})"""


def test_diagrams_stay_readable_on_a_phone(browser, server):
    """On a phone, a Mermaid diagram is drawn at 0.75 of its size or more (javascripts/diagrams.js); one
    wider than the column scrolls sideways in its own box, reachable by keyboard, and the page does not."""
    p = Page(browser, viewport=PHONE)
    try:
        diagrams = []
        for name in ("retrieval/chunking.html", "architectures/transformer_block.html"):
            page = p.open(server + name, idle=False)
            diagrams += [(name, d) for d in page.evaluate(DIAGRAM_SCALES)]
            assert page.evaluate("() => document.documentElement.scrollWidth <= innerWidth"), f"{name} scrolls sideways"
        assert diagrams and all(d is not None for _, d in diagrams), f"diagrams not drawn or not reachable: {diagrams}"
        small = [(name, round(d["scale"], 2)) for name, d in diagrams if d["scale"] < 0.749]
        assert not small, f"diagrams shrunk below 0.75 of their size on a phone: {small}"
        assert any(d["wide"] for _, d in diagrams), "no diagram wider than a phone: the test proves nothing"
        assert all(d["focusable"] for _, d in diagrams if d["wide"]), diagrams
    finally:
        p.close()


def test_a_lab_uses_the_whole_text_column(browser, server):
    """The Download notebook button floats at the top right; the notebook starts below it at the
    column's full width instead of narrowing beside it for its whole length."""
    p = Page(browser)
    try:
        page = p.open(server + "architectures/gpt_lab.html", idle=False)
        notebook, column = page.evaluate("""() => [document.querySelector('.jp-Notebook').getBoundingClientRect().width,
                                                   document.querySelector('article').clientWidth]""")
        assert notebook >= 0.95 * column, f"the notebook is {notebook:.0f} px wide in a {column} px column"
    finally:
        p.close()


@pytest.mark.parametrize("name,page", [("home", "index.html"), ("attention", "architectures/attention.html"),
                                       ("glossary", "glossary.html")])
def test_screenshots(browser, server, name, page):
    """Screenshots to look at (`screenshots/<name>-desktop.png`, `-phone.png`): one load, two widths."""
    p = Page(browser)
    try:
        p.open(server + page)
        SCREENSHOTS.mkdir(exist_ok=True)
        for device, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
            p.page.set_viewport_size(viewport)
            path = SCREENSHOTS / f"{name}-{device}.png"
            p.page.screenshot(path=str(path), full_page=False)
            assert path.stat().st_size > 10_000
    finally:
        p.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_make_serve_serves_the_book_offline(browser):
    """`make serve` runs `mkdocs serve` with SITE_URL at the root: pages load, live reload, no other host."""
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "mkdocs", "serve", "--dev-addr", f"127.0.0.1:{port}", "--livereload"],
                            cwd=ROOT, env=subprocess_env(SITE_URL=f"http://127.0.0.1:{port}/"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None, f"mkdocs serve exited: {proc.stderr.read()[-3000:]}"
                time.sleep(0.5)
        p = Page(browser)
        try:
            p.open(f"http://127.0.0.1:{port}/architectures/attention.html", idle=False)
            assert p.page.locator("h1").first.inner_text().rstrip("¶") == "Attention"
            assert p.page.evaluate("() => !!document.querySelector('script[src*=livereload]') || 'livereload' in window"
                                   " || document.documentElement.outerHTML.includes('livereload')")
            assert not p.external and not p.errors, (p.external, p.errors)
        finally:
            p.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_search_finds_glossary_terms(browser, built_site):
    """Terms and abbreviations, typed into the search box, list their glossary entry. A sample of them:
    test_site.test_every_glossary_term_is_in_the_search_index proves that the index holds every term
    under its entry, and this test proves that the search box finds entries in that index. From disk,
    the transport where search needs the most machinery; test_search_finds_terms_as_readers_type_them
    searches on both."""
    import json

    base = built_site.as_uri() + "/"
    entries = json.loads((built_site / "glossary.json").read_text(encoding="utf-8"))
    queries = [(e["term"], e["slug"]) for e in entries] + [(e["abbr"], e["slug"]) for e in entries if e["abbr"]]
    queries = queries[::7]
    p = Page(browser)
    try:
        page = p.open(base + "glossary.html")
        search = page.locator("input.md-search__input")
        search.click()
        wait_for_search(page)
        missed = []
        for query, slug in queries:
            search.fill(query)
            search.press("End")  # a key event: Material searches on keyup
            hit = page.locator(f".md-search-result__item a[href*='glossary.html'][href$='#{slug}']").first
            try:
                hit.wait_for(state="attached", timeout=3_000)
            except Exception:
                missed.append(query)
        assert not missed, f"search does not list the glossary entry for: {missed}"
        assert not p.errors and not p.external
    finally:
        p.close()
