"""`make golden`: rewrite snippet outputs, figures and notebook outputs on purpose.

`make golden ONLY="snippets/shipping docs/adapting/fine_tuning_lab.ipynb"` rewrites only the snippets and
notebooks under (or at) the paths given.

Review the diff before committing: a golden file is a claim the page makes to its readers.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat

from bookkit import ROOT, glossary_corpus
from bookkit.figures import same_figure
from bookkit.notebooks import NOTEBOOKS, execute


def keep_or_replace(made: Path, shown: Path) -> None:
    """A figure that shows the same picture keeps its committed bytes (no diff of SVG float noise)."""
    if shown.is_file() and same_figure(made, shown):
        return
    shutil.copyfile(made, shown)
    print(f"wrote {shown.relative_to(ROOT)}")


def chosen(path: Path, only: list[str]) -> bool:
    """Whether `path` is one of `only` or lies under one (every path when `only` is empty)."""
    return not only or any(path == (ROOT / o).resolve() or (ROOT / o).resolve() in path.parents for o in only)


def main(only: list[str]) -> int:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONHASHSEED": "0", "MPLBACKEND": "Agg"}
    for snippet in sorted((ROOT / "snippets").rglob("*.py")):
        if snippet.name.startswith("_") or not chosen(snippet, only):
            continue
        figures = ROOT / "docs" / snippet.parent.name / "figures"
        with tempfile.TemporaryDirectory() as tmp:  # started in an empty folder, as the tests run it
            work, made = Path(tmp) / "work", Path(tmp) / "figures"
            work.mkdir()
            made.mkdir()
            result = subprocess.run([sys.executable, str(snippet)], cwd=work, capture_output=True,
                                    text=True, env={**env, "GENAI_GUIDE_FIGURES": str(made)})
            if result.returncode:
                print(f"FAILED {snippet.relative_to(ROOT)}\n{result.stderr}", file=sys.stderr)
                return 1
            for figure in sorted(made.iterdir()):
                figures.mkdir(parents=True, exist_ok=True)
                keep_or_replace(figure, figures / figure.name)
        snippet.with_suffix(".out").write_text(result.stdout, encoding="utf-8")
        print(f"wrote {snippet.with_suffix('.out').relative_to(ROOT)}")
    if any(chosen(notebook, only) for notebook in NOTEBOOKS):
        glossary_corpus.main()  # the "ask the book" lab reads the glossary as package data: refresh it first
    for notebook in NOTEBOOKS:
        if not chosen(notebook, only):
            continue
        nbformat.write(execute(notebook), notebook)
        print(f"executed {notebook.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
