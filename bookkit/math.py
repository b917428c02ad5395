"""Render the math of a page to HTML at build time with the local KaTeX (Node).

Pages then show typeset math without running any script: no flash of raw TeX, no layout shift, and
math that reads the same with JavaScript off. A TeX error fails the build and names the formula.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess

from bookkit import ROOT

MATH = re.compile(r'<(?P<tag>span|div) class="arithmatex">(?:\\\((?P<inline>.*?)\\\)|\\\[(?P<display>.*?)\\\])</(?P=tag)>', re.S)
SCRIPT = ROOT / "bookkit" / "katex_render.cjs"


class MathError(ValueError):
    pass


_node: subprocess.Popen | None = None


def _katex(items: list[dict]) -> list[dict]:
    """Send one batch to the KaTeX process, started once and reused for every page of every build."""
    global _node
    if _node is None or _node.poll() is not None:
        node = shutil.which("node")
        if node is None:
            raise MathError("node is needed to typeset math at build time (install Node.js)")
        _node = subprocess.Popen([node, str(SCRIPT)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 text=True, encoding="utf-8", cwd=ROOT)
    _node.stdin.write(json.dumps(items) + "\n")
    _node.stdin.flush()
    line = _node.stdout.readline()
    if not line:
        raise MathError("the KaTeX process stopped (is node_modules/katex installed? run `make setup`)")
    return json.loads(line)


# Typeset formulas by (TeX, display mode): `mkdocs serve` rebuilds every page on each save, and most
# formulas have not changed since the last build.
_typeset: dict[tuple[str, bool], dict] = {}

SLOT = re.compile(r'<(span|div) class="arithmatex" data-math-slot="(\d+)"(?: data-search-exclude)?>[^<]*</\1>')


def render_math(page_html: str, slots: list[str] | None = None) -> tuple[str, bool]:
    """Return the page with every arithmatex formula typeset, and whether it had any.

    With `slots`, each typeset formula is appended to it and the page gets a placeholder instead;
    `restore_math` puts the formulas back into the final HTML. Between the two, the search plugin and
    the term linker parse a page without KaTeX's thousands of nested spans, and the search index gets
    an inline formula's TeX (`y_c`) rather than KaTeX's glyphs; display formulas stay out of it.
    """
    matches = list(MATH.finditer(page_html))
    if not matches:
        return page_html, False
    items = [{"tex": html.unescape(m["inline"] if m["inline"] is not None else m["display"]).strip(),
              "display": m["display"] is not None} for m in matches]
    todo = list({(i["tex"], i["display"]): i for i in items if (i["tex"], i["display"]) not in _typeset}.values())
    if todo:
        for item, out in zip(todo, _katex(todo), strict=True):
            _typeset[(item["tex"], item["display"])] = out
    rendered = [_typeset[(i["tex"], i["display"])] for i in items]
    errors = [f"{item['tex']!r}: {out['error']}" for item, out in zip(items, rendered) if "error" in out]
    if errors:
        for item in items:  # an error must fail every build until the formula is fixed
            _typeset.pop((item["tex"], item["display"]), None)
        raise MathError("invalid TeX:\n  " + "\n  ".join(errors))
    out, pos = [], 0
    for m, r in zip(matches, rendered):
        # data-search-exclude: keep KaTeX's markup (and its TeX annotation) out of the search index
        tag = m["tag"]
        if slots is None:
            element = f'<{tag} class="arithmatex" data-math-rendered data-search-exclude>{r["html"]}</{tag}>'
        else:
            inline = m["inline"] is not None
            element = (f'<{tag} class="arithmatex" data-math-slot="{len(slots)}"'
                       f'{"" if inline else " data-search-exclude"}>{m["inline"].strip() if inline else ""}</{tag}>')
            slots.append(r["html"])
        out += [page_html[pos:m.start()], element]
        pos = m.end()
    out.append(page_html[pos:])
    return "".join(out), True


def restore_math(page_html: str, slots: list[str]) -> str:
    """Put the formulas that `render_math` set aside back into their placeholders."""
    def fill(m: re.Match) -> str:
        return (f'<{m[1]} class="arithmatex" data-math-rendered data-search-exclude>'
                f"{slots[int(m[2])]}</{m[1]}>")

    restored, count = SLOT.subn(fill, page_html)
    if count != len(slots):
        raise MathError(f"{len(slots)} formulas were set aside but {count} placeholders came back")
    return restored
