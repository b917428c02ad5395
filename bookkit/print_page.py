"""The whole book on one page (print.html), to print or save as PDF.

`print.md` is a page of the site (generated in bookkit/hooks.py, on no nav): Material renders it with
its template, and it holds a placeholder. Once every page is built, `build_print_page` puts the
`<article>` of each page of the nav there, in reading order, each in a `<section>` that starts a new
printed page. Ids must be unique in one page, so every id of page P gets P's prefix
(`architectures-attention--scores`), and every link is rewritten for its new place:

- to an anchor of an included page, or to the page itself: the prefixed anchor (or the chapter's
  section) on this page, so links work inside the PDF;
- to anything else of the site (an API page, a figure, a notebook): the same file, addressed from
  print.html's folder;
- to another host: unchanged.

Rewriting is done on the tags of the built HTML with regular expressions, not by parsing and
serializing it again: every byte outside the rewritten attributes stays as the theme, KaTeX and
Pygments wrote it, and the whole book takes a fraction of a second.
"""

from __future__ import annotations

import html
import posixpath
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

PRINT_SOURCE = "print.md"
PRINT_URL = "print.html"
PLACEHOLDER = "<!-- gl-print-book -->"
# Pages of the nav left out of the print page: the API reference is generated from the code's
# docstrings (4.9 MB of HTML, half as much again as the chapters); its pages stay linked.
EXCLUDED_PREFIXES = ("reference/api/",)

# The page as written: Material renders it like any page, then build_print_page fills the placeholder.
PRINT_MARKDOWN = f"""---
title: The whole book on one page
description: Every chapter, lab and the glossary of the Generative AI Guidebook on one page, to print or save as PDF.
hide: [navigation, toc]
search:
  exclude: true
---

# The whole book on one page {{ .gl-print-intro }}

Every chapter and lab, in reading order, then the glossary and the reference lists, on one page.
Print it, or choose **Save as PDF** in the print dialog (<kbd>Ctrl</kbd>+<kbd>P</kbd>, or <kbd>Cmd</kbd>+<kbd>P</kbd> on a Mac): each
chapter starts a new page, the header, menus and buttons are left out, and the links between
chapters lead to their place in the PDF. The API reference is not included; it stays on the site.
{{ .gl-print-intro }}

{PLACEHOLDER}
"""

ARTICLE_START = re.compile(r'<article class="md-content__inner md-typeset">')
ARTICLE_END = "</article>"
UPDATED = re.compile(r'\s*<p class="gl-updated">.*?</p>', re.S)
# A tag, or an element whose content is raw text (left as it is), or a comment.
_ATTR = r"""(?:\s+[^\s"'>/=]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'>]+))?)"""
TOKEN = re.compile(r"<!--.*?-->|<(script|style|textarea)\b" + _ATTR + r"*\s*>.*?</\1\s*>|<([a-zA-Z][\w:-]*)(" + _ATTR + r"*)(\s*/?)>",
                   re.S | re.I)
ATTR = re.compile(r"""(\s+)([^\s"'>/=]+)(?:(\s*=\s*)("[^"]*"|'[^']*'|[^\s"'>]+))?""")
ID_REFS = {"for", "headers", "list", "form", "aria-labelledby", "aria-describedby", "aria-controls",
           "aria-owns", "aria-flowto", "aria-activedescendant", "aria-details", "aria-errormessage"}
URL_ATTRS = {"href", "src", "poster", "data", "xlink:href", "action", "cite"}
URL_REF = re.compile(r"url\(\s*(['\"]?)#([^'\")\s]+)\1\s*\)")
SCRIPT = re.compile(r"<script\b[^>]*>.*?</script\s*>", re.S | re.I)
HEAD_ASSET = re.compile(r'<link\b[^>]*\brel="stylesheet"[^>]*>|<style\b[^>]*>.*?</style\s*>', re.S | re.I)
HREF = re.compile(r'\bhref="([^"]*)"')


@dataclass
class Chapter:
    """One page of the book, as built: `url` relative to the site root (architectures/attention.html)."""

    url: str
    title: str
    article: str  # the inner HTML of its <article>
    head: str = ""  # its <head>, for the stylesheets only some pages load (KaTeX's, a notebook's)
    part: str | None = None  # the title of the nav section it belongs to


@dataclass
class Book:
    body: str
    head_assets: list[str]
    problems: list[str] = field(default_factory=list)


def slug(url: str) -> str:
    """The id of a page's section on the print page: architectures/attention.html -> architectures-attention."""
    return re.sub(r"\.html$", "", url).replace("/", "-")


def prefixed(url: str, anchor: str) -> str:
    return f"{slug(url)}--{anchor}"


def article_of(page_html: str) -> str:
    """The inner HTML of a built page's <article>, without its "Last updated · Edit this page" line."""
    start = ARTICLE_START.search(page_html)
    end = page_html.rfind(ARTICLE_END)
    if start is None or end < start.end():
        raise ValueError("no <article> in the page")
    return UPDATED.sub("", page_html[start.end():end]).strip()


def _quote(value: str) -> str:
    return '"' + html.escape(value, quote=True) + '"'


class _Rewriter:
    def __init__(self, included: set[str], print_url: str):
        self.included = included
        self.print_dir = posixpath.dirname(print_url)
        self.fragment_refs: list[tuple[str, str, str]] = []  # (page, original href, anchor it must reach)
        self.ids: list[str] = []  # every id written (and <a name>)

    def url(self, value: str, page: str, attr: str) -> str:
        raw = value.strip()
        parts = urlsplit(raw)
        if not raw or parts.scheme or raw.startswith("//"):
            return value  # another host, mailto:, data:, javascript:
        if not parts.path:
            if not parts.fragment:
                return value  # "#" or "?query"
            anchor = prefixed(page, parts.fragment)
            if attr != "src":
                self.fragment_refs.append((page, raw, anchor))
            return "#" + anchor
        target = posixpath.normpath(posixpath.join(posixpath.dirname(page), parts.path))
        if parts.path.endswith("/") and posixpath.join(target, "index.html") in self.included:
            target = posixpath.join(target, "index.html")
        if target in self.included:
            anchor = prefixed(target, parts.fragment) if parts.fragment else slug(target)
            self.fragment_refs.append((page, raw, anchor))
            return "#" + anchor
        new = posixpath.relpath(target, self.print_dir or ".")
        if parts.query:
            new += "?" + parts.query
        if parts.fragment:
            new += "#" + parts.fragment
        return new

    def tag(self, m: re.Match, page: str) -> str:
        if m.group(2) is None:
            return m[0]  # comment, script, style, textarea: as written
        name = m.group(2).lower()

        def attr(a: re.Match) -> str:
            key = a[2].lower()
            if a[4] is None:
                return a[0]
            quoted = a[4][0] in "\"'"
            value = html.unescape(a[4][1:-1] if quoted else a[4])
            if key == "id" or (key == "name" and name in ("input", "a")):
                new = prefixed(page, value)
                if key == "id" or name == "a":
                    self.ids.append(new)
            elif key in ID_REFS:
                new = " ".join(prefixed(page, v) for v in value.split())
            elif key in URL_ATTRS:
                new = self.url(value, page, key)
            elif key == "srcset":
                new = ", ".join(" ".join([self.url(c.split()[0], page, "src"), *c.split()[1:]])
                                for c in value.split(",") if c.strip())
            elif key == "data-clipboard-target" and value.startswith("#"):
                new = "#" + prefixed(page, value[1:].split()[0]) + value[1:][len(value[1:].split()[0]):]
            elif "url(#" in value.replace(" ", ""):
                new = URL_REF.sub(lambda u: f"url({u[1]}#{prefixed(page, u[2])}{u[1]})", value)
            else:
                return a[0]
            return f"{a[1]}{a[2]}{a[3]}{_quote(new)}" if new != value else a[0]

        return f"<{m.group(2)}{ATTR.sub(attr, m.group(3))}{m.group(4)}>"

    def rewrite(self, article: str, page: str) -> str:
        return TOKEN.sub(lambda m: self.tag(m, page), article)


def combine(chapters: list[Chapter], print_url: str = PRINT_URL, site_dir: str = "") -> Book:
    """The chapters in one body, ids prefixed and links rewritten, with the contents list first.

    Returns the body, the stylesheets the chapters' heads load (relative to print_url) and the
    problems found: an in-page link with no target, an id given twice."""
    included = {c.url for c in chapters}
    rewriter = _Rewriter(included, print_url)
    sections, assets, seen_scripts = [], [], set()
    for chapter in chapters:
        body = rewriter.rewrite(chapter.article, chapter.url)

        def once(m: re.Match) -> str:  # a notebook's inline scripts, the same in every lab: run them once
            if m[0] in seen_scripts:
                return ""
            seen_scripts.add(m[0])
            return m[0]

        body = SCRIPT.sub(once, body)
        part = f' data-part="{html.escape(chapter.part)}"' if chapter.part else ""
        sections.append(f'<section class="gl-print-chapter" id="{slug(chapter.url)}" data-page="{html.escape(chapter.url)}"'
                        f"{part}>\n{body}\n</section>")
        for asset in HEAD_ASSET.findall(chapter.head):
            if asset.lower().startswith("<link"):
                asset = HREF.sub(lambda m, url=chapter.url: f'href="{rewriter.url(html.unescape(m[1]), url, "src")}"',
                               asset, count=1)
            if asset not in assets:
                assets.append(asset)
    body = contents(chapters) + "\n" + "\n".join(sections)
    problems = []
    counts: dict[str, int] = {}
    for i in ["gl-print-contents", *(slug(c.url) for c in chapters), *rewriter.ids]:
        counts[i] = counts.get(i, 0) + 1
    problems += [f"id {i!r} is given {n} times" for i, n in counts.items() if n > 1]
    problems += [f"{page}: link {href} has no target on {print_url} (#{anchor})"
                 for page, href, anchor in rewriter.fragment_refs if anchor not in counts]
    return Book(body, assets, problems)


def contents(chapters: list[Chapter]) -> str:
    """The contents list: each part's chapters under the part's title."""
    lines = ['<nav class="gl-print-toc" aria-labelledby="gl-print-contents">',
             '<h2 id="gl-print-contents">Contents</h2>', "<ol>"]
    part = None
    for chapter in chapters:
        if chapter.part != part:
            if part is not None:
                lines.append("</ol></li>")
            if chapter.part is not None:
                lines.append(f"<li>{html.escape(chapter.part)}<ol>")
            part = chapter.part
        lines.append(f'<li><a href="#{slug(chapter.url)}">{html.escape(chapter.title)}</a></li>')
    if part is not None:
        lines.append("</ol></li>")
    lines += ["</ol>", "</nav>"]
    return "\n".join(lines)


def chapters_of(nav, read) -> list[Chapter]:
    """The pages of the nav in reading order, except EXCLUDED_PREFIXES; `read(url)` gives a built page."""
    out: list[Chapter] = []

    def walk(items, part):
        for item in items:
            if item.is_section:
                walk(item.children, part if part is not None else item.title)
            elif item.is_page:
                url = item.file.url
                if url.startswith(EXCLUDED_PREFIXES):
                    continue
                page = read(url)
                head = page[:page.find("<body")]
                out.append(Chapter(url, item.title or url, article_of(page), head, part))

    walk(nav.items, None)
    return out


def build_print_page(site, nav) -> list[str]:
    """Fill site/print.html with the book; returns the problems found (an empty list when there are none)."""
    page_file = site / PRINT_URL
    shell = page_file.read_text(encoding="utf-8")
    if PLACEHOLDER not in shell:
        return [f"{PRINT_URL}: the placeholder {PLACEHOLDER} is missing"]
    chapters = chapters_of(nav, lambda url: (site / url).read_text(encoding="utf-8"))
    book = combine(chapters)
    head_end = shell.index("</head>")
    head = shell[:head_end]
    extra = [a for a in book.head_assets if a not in head]
    shell = head + "".join(a + "\n" for a in extra) + shell[head_end:]
    page_file.write_text(shell.replace(PLACEHOLDER, book.body, 1), encoding="utf-8")
    return book.problems
