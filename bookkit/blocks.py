"""Read a page the way a reader copies it: includes expanded, Python blocks in order.

Mirrors what `pymdownx.snippets` does for the site (base path `snippets/`, named sections with
`# --8<-- [start:name]` / `[end:name]`, sections dedented), so the tests run exactly the code a
reader sees.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

from markdown_it import MarkdownIt

from bookkit import ROOT

SNIPPETS = ROOT / "snippets"
INCLUDE = re.compile(r'^(?P<indent>[ \t]*)-{1,}8<-{1,}[ \t]+"(?P<path>[^"]+)"[ \t]*$', re.M)
MARKER = re.compile(r"^\s*#?\s*-{1,}8<-{1,}\s*\[(start|end):([\w-]+)\]\s*$")
PYTHON = {"python", "py", "python3"}


def read_snippet(spec: str) -> str:
    """Text of `path` or of the named section `path:name`, as pymdownx.snippets includes it."""
    path, _, section = spec.partition(":")
    file = SNIPPETS / path
    if not file.is_file():
        raise FileNotFoundError(f"included snippet {spec!r} not found under snippets/")
    lines = file.read_text(encoding="utf-8").splitlines()
    if not section:
        return "\n".join(line for line in lines if not MARKER.match(line))
    out, inside, found = [], False, False
    for line in lines:
        m = MARKER.match(line)
        if m and m.group(2) == section:
            inside, found = m.group(1) == "start", True
            continue
        if inside and not m:
            out.append(line)
    if not found:
        raise ValueError(f"snippet {path!r} has no section {section!r}")
    return textwrap.dedent("\n".join(out))


def expand_includes(markdown: str) -> str:
    def repl(m: re.Match) -> str:
        return textwrap.indent(read_snippet(m["path"]), m["indent"])

    return INCLUDE.sub(repl, markdown)


def fence_language(info: str) -> str:
    """Language of a fence in default (`python title=...`) or brace (`{.python ...}`) syntax."""
    info = info.strip()
    if info.startswith("{"):
        classes = [w[1:] for w in info.strip("{}").split() if w.startswith(".")]
        return classes[0] if classes else ""
    return info.split()[0] if info else ""


def is_notest(info: str) -> bool:
    """A fence marked `notest` (brace syntax: {.python notest title="Needs network: ..."})."""
    return "notest" in info.strip().strip("{}").split()


def python_blocks(markdown: str) -> list[str]:
    """Every tested Python fence of a page, after includes are expanded, in page order."""
    tokens = MarkdownIt("commonmark").parse(expand_includes(markdown))
    return [t.content for t in tokens
            if t.type == "fence" and fence_language(t.info) in PYTHON and not is_notest(t.info)]


def untested_blocks(markdown: str) -> list[str]:
    """The info strings of Python fences marked `notest`."""
    tokens = MarkdownIt("commonmark").parse(markdown)
    return [t.info for t in tokens if t.type == "fence" and fence_language(t.info) in PYTHON and is_notest(t.info)]


def page_program(page: Path) -> str:
    """The page's Python blocks joined into the one program a reader gets by copying them in order."""
    return "\n\n".join(python_blocks(page.read_text(encoding="utf-8")))


TAB_START = re.compile(r"^/// tab \| (?P<title>.+?)\s*$")


def tab_groups(markdown: str) -> list[list[tuple[int, str, str | None]]]:
    """The groups of content tabs (`/// tab | Title` ... `///`, one right after another) of a page:
    for each tab its line number, title and the snippet file its first include shows (None if none)."""
    lines = markdown.splitlines()
    groups: list[list[tuple[int, str, str | None]]] = []
    i, last_end = 0, None
    while i < len(lines):
        start = TAB_START.match(lines[i])
        if not start:
            i += 1
            continue
        j = i + 1
        while j < len(lines) and lines[j].strip() != "///":
            j += 1
        body = "\n".join(lines[i + 1:j])
        include = INCLUDE.search(body)
        path = include["path"].split(":")[0] if include else ""
        snippet = path if path.endswith(".py") else None
        adjacent = last_end is not None and all(not line.strip() for line in lines[last_end + 1:i])
        if adjacent:
            groups[-1].append((i, start["title"], snippet))
        else:
            groups.append([(i, start["title"], snippet)])
        last_end, i = j, j + 1
    return groups


def mark_continued_tabs(markdown: str) -> str:
    """A tab that shows the next part of the snippet of the tab before it says so at its top."""
    lines = markdown.splitlines()
    notes = {}
    for group in tab_groups(markdown):
        for (_, before, before_snippet), (line, _, snippet) in zip(group, group[1:]):
            if snippet is not None and snippet == before_snippet:
                notes[line] = f'*Continues the "{before}" tab: run its code first.*'
    for line in sorted(notes, reverse=True):
        lines[line + 1:line + 1] = ["", notes[line]]
    return "\n".join(lines) + ("\n" if markdown.endswith("\n") else "")
