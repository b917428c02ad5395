"""Every snippet runs offline in a fresh interpreter, started in an empty folder, and prints its golden
output; the figures it draws are the ones the pages show.

Snippets run here on the native numeric path; the page tests run the same code again on the
perturbed path (conftest.NUMERIC_PATHS), so each golden output is proved on two numeric paths. No
test times anything: `make bench` reports each snippet's time against its budget.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bookkit.blocks import INCLUDE
from bookkit.figures import check_figures
from conftest import HANG_GUARD_S, ROOT, run_program

SNIPPETS = sorted(p for p in (ROOT / "snippets").rglob("*.py") if not p.name.startswith("_"))


def rel(p: Path) -> str:
    return p.relative_to(ROOT).as_posix()


@pytest.mark.parametrize("snippet", SNIPPETS, ids=rel)
def test_snippet_matches_golden_output(snippet: Path, tmp_path: Path):
    golden = snippet.with_suffix(".out")
    assert golden.is_file(), f"{rel(snippet)} has no golden output: run `make golden` and review it"
    work, figures = tmp_path / "work", tmp_path / "figures"  # an empty folder: no path into the repository
    work.mkdir()
    figures.mkdir()
    result = run_program(snippet, timeout=HANG_GUARD_S, cwd=work, GENAI_GUIDE_FIGURES=str(figures))
    assert result.returncode == 0, f"{rel(snippet)} failed:\n{result.stderr[-4000:]}"
    assert result.stdout == golden.read_text(encoding="utf-8"), (
        f"{rel(snippet)} printed something else than {rel(golden)}; if the change is intended, run `make golden`"
    )
    check_figures(figures, snippet.parent.name, rel(snippet))


def test_every_golden_output_has_its_snippet():
    orphans = [rel(o) for o in (ROOT / "snippets").rglob("*.out") if not o.with_suffix(".py").is_file()]
    assert not orphans, f"golden outputs without a snippet: {orphans}"


def test_every_snippet_is_shown_on_a_page():
    included = set()
    for page in (ROOT / "docs").rglob("*.md"):
        included |= {m["path"].split(":")[0] for m in INCLUDE.finditer(page.read_text(encoding="utf-8"))}
    missing = [rel(s) for s in SNIPPETS if s.relative_to(ROOT / "snippets").as_posix() not in included]
    assert not missing, f"snippets no page includes (pages include, never copy): {missing}"
    unshown = [rel(s) for s in SNIPPETS if s.relative_to(ROOT / "snippets").with_suffix(".out").as_posix() not in included]
    assert not unshown, f"snippets whose output no page shows: {unshown}"
