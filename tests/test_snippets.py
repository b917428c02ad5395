"""Every snippet runs offline in a fresh interpreter, within budget, and prints its golden output."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import pytest

from bookkit.blocks import INCLUDE
from conftest import ROOT, run_program

SNIPPETS = sorted(p for p in (ROOT / "snippets").rglob("*.py") if not p.name.startswith("_"))
BUDGET_S = 10.0  # CPU seconds (user + system) of the snippet's process: robust to a busy machine


def rel(p: Path) -> str:
    return p.relative_to(ROOT).as_posix()


@pytest.mark.parametrize("snippet", SNIPPETS, ids=rel)
def test_snippet_matches_golden_output(snippet: Path, tmp_path: Path, record_property):
    golden = snippet.with_suffix(".out")
    assert golden.is_file(), f"{rel(snippet)} has no golden output: run `make golden` and review it"
    start = time.perf_counter()
    result = run_program(rel(snippet), timeout=BUDGET_S * 6, GENAI_GUIDE_FIGURES=str(tmp_path))
    wall = time.perf_counter() - start
    seconds = result.cpu
    if seconds >= BUDGET_S:  # charged every preloaded import: measure what a cold interpreter really uses
        with tempfile.TemporaryDirectory() as cold_figures:  # not tmp_path: its figures are compared below
            seconds = run_program(rel(snippet), timeout=BUDGET_S * 6, cold=True,
                                  GENAI_GUIDE_FIGURES=cold_figures).cpu
    record_property("snippet_seconds", seconds)
    record_property("snippet_wall_seconds", wall)
    assert result.returncode == 0, f"{rel(snippet)} failed:\n{result.stderr[-4000:]}"
    assert result.stdout == golden.read_text(encoding="utf-8"), (
        f"{rel(snippet)} printed something else than {rel(golden)}; if the change is intended, run `make golden`"
    )
    assert seconds < BUDGET_S, f"{rel(snippet)} used {seconds:.1f} CPU s, over its {BUDGET_S:.0f} s budget"
    # Figures the snippet draws must be the ones the pages show.
    figures = ROOT / "docs" / snippet.parent.name / "figures"
    for made in sorted(tmp_path.iterdir()):
        shown = figures / made.name
        assert shown.is_file(), f"{rel(snippet)} drew {made.name}, which is not in {rel(figures)}: run `make golden`"
        assert made.read_bytes() == shown.read_bytes(), f"{rel(shown)} is stale: run `make golden`"


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
