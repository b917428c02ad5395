"""Checks of a built site: nothing loaded from another host, every internal link and anchor resolves.

Static checks, run by the tests after `mkdocs build --strict`. The browser tests watch real network
traffic on top of this; the static scan also catches loads that only happen on some code path.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from bs4 import BeautifulSoup

LOCAL_HOSTS = {"localhost", "127.0.0.1", "[::1]", "::1"}
# Known hosts of CDNs, font services and trackers: any mention in a shipped asset is a defect.
CDN_HOSTS = re.compile(
    r"(?:https?:)?//(?:unpkg\.com|cdn\.jsdelivr\.net|cdnjs\.cloudflare\.com|fonts\.googleapis\.com|"
    r"fonts\.gstatic\.com|esm\.sh|cdn\.skypack\.dev|ajax\.googleapis\.com|code\.jquery\.com|polyfill\.io|"
    r"www\.googletagmanager\.com|www\.google-analytics\.com|cdn\.mathjax\.org|use\.fontawesome\.com)\b")
# A URL literal used by code that loads it: import(), importScripts(), new Worker(), fetch(), src/href.
JS_LOAD = re.compile(
    r"""(?:import\s*\(|importScripts\s*\(|Worker\s*\(|fetch\s*\(|\.src\s*=|\bsrc\s*:|\.href\s*=|"""
    r"""setAttribute\(\s*["'](?:src|href)["']\s*,)\s*[`"'](?P<url>(?:https?:)?//[^`"']+)""")
CSS_URL = re.compile(r"""(?:url\(\s*["']?|@import\s+["'])(?P<url>[^"')\s]+)""")
# (tag, attribute) pairs whose URL the browser fetches without a click.
RESOURCE_ATTRS = [("script", "src"), ("img", "src"), ("img", "srcset"), ("source", "src"), ("source", "srcset"),
                  ("iframe", "src"), ("frame", "src"), ("embed", "src"), ("object", "data"), ("video", "src"),
                  ("video", "poster"), ("audio", "src"), ("track", "src"), ("input", "src"), ("image", "href"),
                  ("image", "xlink:href"), ("use", "href"), ("use", "xlink:href"), ("feImage", "href")]
LOADING_RELS = {"stylesheet", "icon", "shortcut", "apple-touch-icon", "preload", "prefetch", "modulepreload",
                "manifest", "preconnect", "dns-prefetch", "mask-icon"}


# Pages made of other pages: print.html is every chapter's article on one page (bookkit/print_page.py),
# 12 MB of HTML. Parsing it here would cost more than the rest of the site together, for text the
# checks already read on the chapters' own pages; tests/test_site.py checks what is its own (its ids,
# its rewritten links, what it loads) with lxml.
COMBINED_PAGES = {"print.html"}


def site_pages(site: Path) -> list[Path]:
    """The built site's HTML pages, sorted, without COMBINED_PAGES."""
    return [p for p in sorted(site.rglob("*.html")) if p.relative_to(site).as_posix() not in COMBINED_PAGES]


@dataclass(frozen=True)
class Problem:
    file: str
    detail: str

    def __str__(self) -> str:
        return f"{self.file}: {self.detail}"


def is_external(url: str) -> bool:
    url = url.strip()
    if url.startswith("//"):
        url = "https:" + url
    parts = urlsplit(url)
    return parts.scheme in ("http", "https", "ws", "wss", "ftp") and parts.hostname not in LOCAL_HOSTS


def _urls(value: str, attr: str) -> list[str]:
    if attr == "srcset":
        return [c.strip().split()[0] for c in value.split(",") if c.strip()]
    return [value]


def parse(page: Path) -> BeautifulSoup:
    """The parsed page, shared by every check that reads it (do not modify it): parsing the whole
    site costs seconds, and several checks read the same pages. A rewritten file is parsed again."""
    stat = page.stat()
    return _parse(str(page), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=512)
def _parse(path: str, mtime_ns: int, size: int) -> BeautifulSoup:
    return BeautifulSoup(Path(path).read_text(encoding="utf-8"), "html.parser")


def external_resources(site: Path) -> list[Problem]:
    """Every resource the built site would load from a host other than this machine."""
    problems: list[Problem] = []
    for file in sorted(site.rglob("*")):
        if not file.is_file():
            continue
        name = file.relative_to(site).as_posix()
        if file.suffix == ".html":
            if name in COMBINED_PAGES:
                continue
            soup = parse(file)
            for tag, attr in RESOURCE_ATTRS:
                for el in soup.find_all(tag):
                    for url in _urls(el.get(attr) or "", attr):
                        if url and is_external(url):
                            problems.append(Problem(name, f"<{tag} {attr}={url}>"))
            for el in soup.find_all("link"):
                rels = set(el.get("rel") or [])
                if rels & LOADING_RELS and is_external(el.get("href") or ""):
                    problems.append(Problem(name, f"<link rel={' '.join(rels)} href={el['href']}>"))
            for el in soup.find_all("meta", attrs={"http-equiv": re.compile("refresh", re.I)}):
                url = (el.get("content") or "").partition("url=")[2]
                if url and is_external(url):
                    problems.append(Problem(name, f"meta refresh to {url}"))
            for css in [s.get_text() for s in soup.find_all("style")] + [el["style"] for el in soup.find_all(style=True)]:
                problems += [Problem(name, f"CSS url({m['url']})") for m in CSS_URL.finditer(css) if is_external(m["url"])]
            for script in soup.find_all("script", src=False):
                code = script.get_text()
                problems += [Problem(name, f"inline script loads {m['url']}") for m in JS_LOAD.finditer(code)
                             if is_external(m["url"])]
                problems += [Problem(name, f"inline script names CDN {m.group(0)}") for m in CDN_HOSTS.finditer(code)]
        elif file.suffix == ".css":
            css = file.read_text(encoding="utf-8", errors="replace")
            problems += [Problem(name, f"url({m['url']})") for m in CSS_URL.finditer(css) if is_external(m["url"])]
        elif file.suffix in (".js", ".mjs"):
            code = file.read_text(encoding="utf-8", errors="replace")
            problems += [Problem(name, f"loads {m['url']}") for m in JS_LOAD.finditer(code) if is_external(m["url"])]
            problems += [Problem(name, f"names CDN {m.group(0)}") for m in CDN_HOSTS.finditer(code)]
    return problems


def _ids(page: Path, cache: dict[Path, set[str]]) -> set[str]:
    if page not in cache:
        soup = parse(page)
        cache[page] = {el["id"] for el in soup.find_all(id=True)} | {el["name"] for el in soup.find_all("a", attrs={"name": True})}
    return cache[page]


def broken_links(site: Path, base_path: str = "/") -> list[Problem]:
    """Internal links, resources and anchors of every page that do not resolve inside the site.

    Args:
        site: the built site folder.
        base_path: the path of `site_url` (404.html links from it, e.g. `/book/`).
    """
    problems: list[Problem] = []
    ids: dict[Path, set[str]] = {}
    for page in site_pages(site):
        name = page.relative_to(site).as_posix()
        soup = parse(page)
        refs = [(el.name, el.get("href")) for el in soup.find_all(["a", "link"], href=True)]
        refs += [(el.name, el.get("src")) for el in soup.find_all(["script", "img", "iframe", "source"], src=True)]
        for tag, url in refs:
            parts = urlsplit(url)
            if parts.scheme or url.startswith("//") or not (parts.path or parts.fragment):
                continue  # external (reading links are fine), mailto:, javascript:, data:, or "#"
            path = unquote(parts.path)
            if path.startswith("/"):
                if not path.startswith(base_path):
                    problems.append(Problem(name, f"<{tag}> {url}: outside the site's base path {base_path}"))
                    continue
                target = (site / path[len(base_path):]).resolve()
            else:
                target = (page.parent / path).resolve() if path else page.resolve()
            if target.is_dir():
                target = target / "index.html"
            if not target.is_file():
                problems.append(Problem(name, f"<{tag}> {url}: no such file"))
            elif parts.fragment and target.suffix == ".html" and unquote(parts.fragment) not in _ids(target, ids):
                problems.append(Problem(name, f"<{tag}> {url}: no anchor #{parts.fragment}"))
    return problems


# What a reader reads: text outside code, scripts, typeset math and hidden copy buffers.
NOT_READ = ["script", "style", "code", "pre", "textarea", "template", "svg", "math", "annotation", "noscript"]
NOT_READ_CLASSES = ["katex", "clipboard-copy-txt", "mermaid"]
# TeX source a reader would see raw: a control word (\frac, \operatorname, \ln...) or $...$ around TeX syntax.
VISIBLE_TEX = re.compile(r"\\(?:[a-zA-Z]{2,}|[()\[\]])|\$[^$\n]*?[\\^_{}][^$\n]*?\$")


def _read_text(el, out: list[str], problems: list[str]) -> None:
    """Append the text a reader reads under `el` (skipping NOT_READ elements) to `out`; note glossary
    links found inside a skipped element."""
    for child in el.children:
        if isinstance(child, str):
            if type(child).__name__ == "NavigableString":  # not a comment, doctype or CDATA
                out.append(child)
            continue
        classes = child.get("class") or []
        if child.name in NOT_READ or any(c in NOT_READ_CLASSES for c in classes):
            if child.find("a", class_="gl-term"):
                problems.append(f"glossary link inside <{child.name} class={' '.join(classes)}>")
            out.append(" ")
            continue
        _read_text(child, out, problems)


def visible_tex(site: Path) -> list[Problem]:
    """TeX source left in the visible text of any page (untypeset math), and glossary links placed
    inside text that is not read as prose (a notebook cell's copy buffer, code)."""
    problems: list[Problem] = []
    for page in site_pages(site):
        name = page.relative_to(site).as_posix()
        parts: list[str] = []
        found: list[str] = []
        _read_text(parse(page), parts, found)  # the shared parsed page, read without changing it
        problems += [Problem(name, f) for f in found]
        text = " ".join(parts)
        problems += [Problem(name, f"TeX in the text: ...{text[max(0, m.start() - 30):m.end() + 30]!r}...")
                     for m in VISIBLE_TEX.finditer(text)]
    return problems
