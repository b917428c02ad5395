"""Execute the book's notebooks and compare their printed outputs with the stored ones.

`make golden` stores outputs from a real Jupyter kernel (`execute`), started in an empty folder as a
reader's download would be. The tests run the same cells in the warm test worker (`run_cells`, an
in-process IPython shell; see tests/run_notebook.py), which skips a kernel's start and its imports.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import nbformat

from bookkit import ROOT

NOTEBOOKS = sorted((ROOT / "docs").rglob("*.ipynb"))


def execute(path: Path, timeout: int = 300) -> nbformat.NotebookNode:
    """Run a notebook top to bottom in a fresh kernel (errors raise), in an empty folder, and return it
    with its outputs."""
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory() as folder:
        NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=False,
                       resources={"metadata": {"path": folder}}).execute()
    for cell in nb.cells:  # keep the stored file stable: counts as run (1, 2, ...), no timing metadata
        if cell.cell_type == "code":
            cell.metadata = {}
            for out in cell.outputs:
                out["metadata"] = {} if "metadata" in out else out.get("metadata")
                if out.get("metadata") is None:
                    out.pop("metadata", None)
    return nb


def printed(nb: nbformat.NotebookNode) -> list[str]:
    """The text each code cell shows: streams and plain-text results, in order."""
    shown = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        parts = []
        for out in cell.outputs:
            if out.output_type == "stream":
                parts.append(out.text)
            elif out.output_type in ("execute_result", "display_data"):
                parts.append(out.get("data", {}).get("text/plain", ""))
        shown.append("".join(parts))
    return shown


def run_cells(path: Path) -> list[str]:
    """Run a notebook's code cells in this process, in an IPython shell, and return what each cell
    shows in the same form as `printed`: its streams, then its displays and its result as plain text.
    A cell that raises raises here."""
    from IPython.core.displayhook import DisplayHook
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output
    from traitlets.config import Config

    results: list[str] = []

    class Result(DisplayHook):
        """The value of a cell's last expression, kept as a kernel's execute_result (no `Out[n]:`)."""

        def write_output_prompt(self):
            pass

        def write_format_data(self, format_dict, md_dict=None):
            results.append(format_dict.get("text/plain", ""))

        def finish_displayhook(self):
            pass

    config = Config()
    config.HistoryManager.enabled = False
    shell = InteractiveShell.instance(config=config, displayhook_class=Result)
    shown = []
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type != "code":
            continue
        results.clear()
        with capture_output(stdout=True, stderr=True, display=True) as captured:
            outcome = shell.run_cell(cell.source, store_history=True)
        outcome.raise_error()
        displays = [out.data.get("text/plain", "") for out in captured.outputs]
        shown.append(captured.stdout + captured.stderr + "".join(displays) + "".join(results))
    return shown
