"""The copy-paste promise: each page's Python blocks, run in order in one fresh interpreter started in
an empty folder, succeed and print exactly the outputs the page shows, on the perturbed numeric path
(conftest.NUMERIC_PATHS): the snippet tests prove the same outputs on the native path."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from bookkit.blocks import expand_includes, fence_language, page_program, untested_blocks
from bookkit.figures import check_figures
from conftest import HANG_GUARD_S, ROOT, run_program, run_python

PAGES = sorted((ROOT / "docs").rglob("*.md"))
PAGES_WITH_CODE = [p for p in PAGES if page_program(p).strip()]


def rel(p: Path) -> str:
    return p.relative_to(ROOT).as_posix()


def shown_outputs(page: Path) -> str:
    """The text of the page's `Output` blocks, in order."""
    tokens = MarkdownIt("commonmark").parse(expand_includes(page.read_text(encoding="utf-8")))
    return "".join(t.content for t in tokens
                   if t.type == "fence" and fence_language(t.info) == "text" and 'title="Output"' in t.info)


@pytest.mark.parametrize("page", PAGES_WITH_CODE, ids=rel)
def test_page_blocks_run_in_order(page: Path, tmp_path: Path):
    program, work, figures = tmp_path / "program" / "page.py", tmp_path / "work", tmp_path / "figures"
    for folder in (program.parent, work, figures):
        folder.mkdir()
    program.write_text(page_program(page), encoding="utf-8")
    result = run_program(program, timeout=HANG_GUARD_S, cwd=work, numeric="perturbed",
                         GENAI_GUIDE_FIGURES=str(figures))
    assert result.returncode == 0, f"{rel(page)}: its Python blocks, run in order, fail:\n{result.stderr[-4000:]}"
    assert result.stdout == shown_outputs(page), (
        f"{rel(page)}: the printed output differs from its Output blocks on the perturbed numeric path "
        "(float32 results that belong to one CPU? see BOOK.md section 4)")
    check_figures(figures, page.parent.name, rel(page))


@pytest.mark.parametrize("page", PAGES, ids=rel)
def test_python_fences_are_collectable(page: Path):
    """pytest-markdown-docs skips fences indented inside admonitions or `===` tabs; use `/// tab`."""
    indented = re.findall(r"^[ \t]+(?:```|~~~)\s*\{?\.?(?:python|py)\b", page.read_text(encoding="utf-8"), re.M)
    assert not indented, f"{rel(page)}: indented Python fences would escape the page tests"


@pytest.mark.parametrize("page", PAGES, ids=rel)
def test_untested_code_is_titled_as_needing_network(page: Path):
    """Code that cannot run offline is rare, and says so in its title (BOOK.md, section 4)."""
    for info in untested_blocks(page.read_text(encoding="utf-8")):
        assert 'title="Needs network' in info, f"{rel(page)}: a `notest` block must be titled 'Needs network: ...'"


def test_the_copy_paste_check_can_fail(tmp_path: Path):
    broken = tmp_path / "broken.md"
    broken.write_text('```python\nx = 1\n```\n\n```python\nassert x == 2\n```\n', encoding="utf-8")
    result = run_python(["-c", page_program(broken)], timeout=30)
    assert result.returncode != 0 and "AssertionError" in result.stderr
