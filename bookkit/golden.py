"""`make golden`: rewrite snippet outputs, figures and notebook outputs on purpose.

Review the diff before committing: a golden file is a claim the page makes to its readers.
"""

from __future__ import annotations

import os
import subprocess
import sys

import nbformat

from bookkit import ROOT
from bookkit.notebooks import NOTEBOOKS, execute


def main() -> int:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONHASHSEED": "0", "MPLBACKEND": "Agg"}
    for snippet in sorted((ROOT / "snippets").rglob("*.py")):
        if snippet.name.startswith("_"):
            continue
        figures = ROOT / "docs" / snippet.parent.name / "figures"
        result = subprocess.run([sys.executable, str(snippet.relative_to(ROOT))], cwd=ROOT, capture_output=True,
                                text=True, env={**env, "GENAI_GUIDE_FIGURES": str(figures)})
        if result.returncode:
            print(f"FAILED {snippet.relative_to(ROOT)}\n{result.stderr}", file=sys.stderr)
            return 1
        snippet.with_suffix(".out").write_text(result.stdout, encoding="utf-8")
        print(f"wrote {snippet.with_suffix('.out').relative_to(ROOT)}")
    for notebook in NOTEBOOKS:
        nbformat.write(execute(notebook), notebook)
        print(f"executed {notebook.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
