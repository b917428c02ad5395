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


def render_math(page_html: str) -> tuple[str, bool]:
    """Return the page with every arithmatex formula typeset, and whether it had any."""
    matches = list(MATH.finditer(page_html))
    if not matches:
        return page_html, False
    items = [{"tex": html.unescape(m["inline"] if m["inline"] is not None else m["display"]).strip(),
              "display": m["display"] is not None} for m in matches]
    rendered = _katex(items)
    errors = [f"{item['tex']!r}: {out['error']}" for item, out in zip(items, rendered) if "error" in out]
    if errors:
        raise MathError("invalid TeX:\n  " + "\n  ".join(errors))
    out, pos = [], 0
    for m, r in zip(matches, rendered):
        # data-search-exclude: keep KaTeX's markup (and its TeX annotation) out of the search index
        out += [page_html[pos:m.start()],
                f'<{m["tag"]} class="arithmatex" data-math-rendered data-search-exclude>{r["html"]}</{m["tag"]}>']
        pos = m.end()
    out.append(page_html[pos:])
    return "".join(out), True
