"""Find glossary terms in rendered HTML and give them hover tooltips and links.

Works on the HTML string without re-serialising it: the text between tags is searched, and text
inside code, math, headings, links, diagrams and other protected elements is left alone. In each
top-level section (between two `<h2>`) the first mention of a term becomes
`<a class="gl-term" href="...glossary.html#slug" title="tooltip">`; Material renders the title as a
tooltip. Every mention, linked or not, counts as a use of the term on that page.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable

from bookkit.data import Term, is_case_sensitive

TAG = re.compile(r"<!--.*?-->|<[^>]+>", re.S)
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
SKIP_TAGS = {"a", "abbr", "button", "code", "h1", "h2", "h3", "h4", "h5", "h6", "kbd", "label", "math",
             "pre", "script", "style", "summary", "svg", "textarea", "title"}
SKIP_CLASSES = {"arithmatex", "mermaid", "highlight", "admonition-title", "md-annotation", "tabbed-labels",
                "katex", "gl-skip", "clipboard-copy-txt"}  # the last: a notebook cell's source for its copy button


TAG_NAME = re.compile(r"</?\s*([a-zA-Z0-9-]+)")
CLASS_ATTR = re.compile(r'class\s*=\s*"([^"]*)"')
_SAME_NAME: dict[str, re.Pattern] = {}


def _closing_tag_end(page_html: str, name: str, pos: int) -> int:
    """Where the element whose start tag ends at `pos` ends (past its closing tag); the end of the
    text if it is never closed. Counts nested elements of the same name."""
    same = _SAME_NAME.get(name)
    if same is None:
        same = _SAME_NAME[name] = re.compile(rf"<!--.*?-->|<(/?){re.escape(name)}(?=[\s/>])[^>]*>", re.S | re.I)
    depth = 1
    for m in same.finditer(page_html, pos):
        if m.group(0).startswith("<!--"):
            continue
        if m.group(1):
            depth -= 1
            if depth == 0:
                return m.end()
        elif not m.group(0).endswith("/>"):
            depth += 1
    return len(page_html)


class TermLinker:
    """Match every form of every term (longest first) in running text."""

    def __init__(self, terms: Iterable[Term]) -> None:
        self.by_form: dict[str, Term] = {}
        ci_forms, cs_forms = [], []
        for t in terms:
            for form in t.forms:
                if is_case_sensitive(form):
                    cs_forms.append(form)
                    self.by_form[form] = t
                else:
                    ci_forms.append(form)
                    self.by_form[form.lower()] = t

        def alternation(forms: list[str]) -> str:
            return "|".join(re.escape(f) for f in sorted(set(forms), key=len, reverse=True))

        edge_l, edge_r = r"(?<![\w-])", r"(?:e?s)?(?![\w-])"
        parts = []
        if ci_forms:
            parts.append(f"(?i:{edge_l}(?P<ci>{alternation(ci_forms)}){edge_r})")
        if cs_forms:
            parts.append(f"{edge_l}(?P<cs>{alternation(cs_forms)}){edge_r}")
        self.pattern = re.compile("|".join(parts)) if parts else None

    def _term(self, m: re.Match) -> Term:
        return self.by_form[m["cs"]] if m["cs"] else self.by_form[m["ci"].lower()]

    def link(self, page_html: str, glossary_href: str, skip: set[str] = frozenset()) -> tuple[str, set[str]]:
        """Return the HTML with first mentions linked, and the slugs of every term used.

        Args:
            page_html: the page's rendered content.
            glossary_href: URL of the glossary page relative to this page.
            skip: slugs not to link (e.g. on the glossary page itself).
        """
        if self.pattern is None:
            return page_html, set()
        out: list[str] = []
        stack: list[str] = []  # open unprotected tags
        used: set[str] = set()
        linked: set[str] = set()
        pos = 0
        while (m := TAG.search(page_html, pos)) is not None:
            text = page_html[pos:m.start()]
            if text:
                out.append(self._link_text(text, glossary_href, used, linked, skip))
            tag = m.group(0)
            out.append(tag)
            pos = m.end()
            if tag.startswith("<!"):
                continue
            name = TAG_NAME.match(tag)
            if not name:
                continue
            name = name.group(1).lower()
            if tag.startswith("</"):
                # pop to the matching open tag (tolerates unclosed <p>, <li>)
                for i in range(len(stack) - 1, -1, -1):
                    if stack[i] == name:
                        del stack[i:]
                        break
                continue
            if name == "h2":
                linked.clear()  # a new section: link first mentions again
            if name in VOID or tag.endswith("/>"):
                continue
            classes = CLASS_ATTR.search(tag)
            if name in SKIP_TAGS or (classes and SKIP_CLASSES & set(classes.group(1).split())):
                # A protected element (code, math, a diagram...): copy it whole, up to its closing tag,
                # without looking at the (often thousands of) tags inside.
                end = _closing_tag_end(page_html, name, pos)
                out.append(page_html[pos:end])
                pos = end
                continue
            stack.append(name)
        tail = page_html[pos:]
        out.append(self._link_text(tail, glossary_href, used, linked, skip))
        return "".join(out), used

    def _link_text(self, text: str, href: str, used: set[str], linked: set[str], skip: set[str]) -> str:
        if len(text) < 2 or text.isspace():  # most text between tags: no term can match, skip the regex
            return text
        def repl(m: re.Match) -> str:
            t = self._term(m)
            used.add(t.slug)
            if t.slug in linked or t.slug in skip:
                return m.group(0)
            linked.add(t.slug)
            return (f'<a class="gl-term" href="{href}#{t.slug}" title="{html.escape(t.tooltip, quote=True)}">'
                    f"{m.group(0)}</a>")

        return self.pattern.sub(repl, text)
