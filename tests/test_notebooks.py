"""Every notebook runs top to bottom, started in an empty folder, and shows the outputs stored in it.

`make golden` stores the outputs of a real kernel on the native numeric path; the test runs the cells
in the warm worker on the perturbed path (conftest.NUMERIC_PATHS), so each stored output is proved on
two numeric paths."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from bookkit.notebooks import NOTEBOOKS, printed
from conftest import HANG_GUARD_S, ROOT, run_program

RUNNER = ROOT / "tests" / "run_notebook.py"


def run_notebook(notebook: Path, work: Path, numeric: str = "perturbed") -> list[str]:
    result = run_program(RUNNER, timeout=HANG_GUARD_S, cwd=work, numeric=numeric, args=(str(notebook),))
    assert result.returncode == 0, f"{notebook.name} failed:\n{result.stderr[-4000:]}"
    return json.loads(result.stdout.splitlines()[-1])


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_notebook_runs_and_matches_stored_outputs(notebook: Path, tmp_path: Path):
    stored = nbformat.read(notebook, as_version=4)
    assert any(printed(stored)), f"{notebook.name}: stored without outputs; run `make golden`"
    counts = [cell.execution_count for cell in stored.cells if cell.cell_type == "code"]
    assert counts == list(range(1, len(counts) + 1)), f"{notebook.name}: cells are not numbered as run: {counts}"
    assert run_notebook(notebook, tmp_path) == printed(stored), \
        f"{notebook.name}: stored outputs are stale; run `make golden`"


def test_the_warm_runner_shows_what_a_kernel_shows(tmp_path: Path):
    """The test's runner and `make golden`'s Jupyter kernel agree on streams, results and displays."""
    from bookkit.notebooks import execute

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in (
        "import sys\nprint('out')\nprint('err', file=sys.stderr)",
        "x = 2\nx * 21",
        "print('before'); {'a': [1, 2]}",
        "from IPython.display import display, SVG\ndisplay(SVG('<svg xmlns=\"http://www.w3.org/2000/svg\"/>'))",
        "None",
    )])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "probe.ipynb"
    nbformat.write(nb, path)
    kernel = printed(execute(path))
    assert kernel == ["out\nerr\n", "42", "before\n{'a': [1, 2]}", "<IPython.core.display.SVG object>", ""]
    work = tmp_path / "work"
    work.mkdir()
    assert run_notebook(path, work) == kernel
