"""Every notebook runs top to bottom in a fresh kernel and shows the outputs stored in it."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from bookkit.notebooks import NOTEBOOKS, execute, printed
from conftest import ROOT, subprocess_env


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_notebook_runs_and_matches_stored_outputs(notebook: Path, monkeypatch):
    for key, value in subprocess_env().items():  # the kernel inherits the hermetic environment
        monkeypatch.setenv(key, value)
    ran = execute(notebook)
    stored = nbformat.read(notebook, as_version=4)
    assert printed(ran) == printed(stored), f"{notebook.name}: stored outputs are stale; run `make golden`"
    assert any(printed(stored)), f"{notebook.name}: stored without outputs; run `make golden`"
