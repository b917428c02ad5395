"""Execute the book's notebooks and compare their printed outputs with the stored ones."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient

from bookkit import ROOT

NOTEBOOKS = sorted((ROOT / "docs").rglob("*.ipynb"))


def execute(path: Path, timeout: int = 120) -> nbformat.NotebookNode:
    """Run a notebook top to bottom in a fresh kernel (errors raise) and return it with outputs."""
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=False,
                   resources={"metadata": {"path": str(ROOT)}}).execute()
    for cell in nb.cells:  # keep the stored file stable: no counts, no timing metadata
        if cell.cell_type == "code":
            cell.execution_count = None
            cell.metadata = {}
            for out in cell.outputs:
                out.pop("execution_count", None)
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
