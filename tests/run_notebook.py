"""`python tests/run_notebook.py book.ipynb`: run a notebook's cells in this interpreter and print, as
JSON, what each code cell shows (bookkit.notebooks.run_cells). The notebook tests run it in the warm
test worker (tests/zygote.py)."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository root, for bookkit

from bookkit.notebooks import run_cells  # noqa: E402

if __name__ == "__main__":
    shown = run_cells(Path(sys.argv[1]))
    print("\n" + json.dumps(shown))  # the last line: anything a library wrote past the capture comes before
