"""The texts the book ships are package data: readable from any folder, and shipped in the wheel."""

from __future__ import annotations

import re
import tomllib

import pytest

from conftest import ROOT, run_python
from genai_guide.knowledge_base import labelled_set_names
from genai_guide.texts import names, read_text

# open("snippets/..."), Path("snippets/..."), or the same with escaped quotes inside a notebook's JSON
REPOSITORY_PATH = re.compile(r"(?:open|Path)\(\\?[\"']snippets/")


def test_the_harbour_story_reads_from_any_folder(tmp_path):
    result = run_python(["-c", "from genai_guide.texts import read_text; print(len(read_text('harbour').splitlines()))"],
                        timeout=60, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "20\n"
    assert "harbour" in names() and read_text("harbour").startswith("The old harbour town")


def test_every_shipped_text_is_declared_package_data():
    """A reader's `pip install` (not editable) gets only declared package data."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert config["tool"]["setuptools"]["package-data"]["genai_guide.texts"] == ["*.txt", "*.json"]
    shipped = sorted(p.stem for p in (ROOT / "src/genai_guide/texts").glob("*.txt"))
    assert shipped == names()
    shipped_json = {p.stem for p in (ROOT / "src/genai_guide/texts").glob("*.json")}
    assert "harbour_guide" in labelled_set_names() and set(labelled_set_names()) <= shipped_json


def test_the_labelled_set_reads_from_any_folder(tmp_path):
    code = "from genai_guide.knowledge_base import load_labelled_set as f; kb = f(); print(len(kb.passages), len(kb.questions))"
    result = run_python(["-c", code], timeout=60, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "44 30\n"


def test_nothing_reads_book_data_by_a_repository_path():
    """Snippets, pages and labs read shipped text through genai_guide.texts, never a `snippets/...` path."""
    files = [p for pattern in ("snippets/**/*.py", "docs/**/*.md", "docs/**/*.ipynb") for p in ROOT.glob(pattern)]
    offenders = [p.relative_to(ROOT).as_posix() for p in files
                 if REPOSITORY_PATH.search(p.read_text(encoding="utf-8"))]
    assert not offenders, f"read shipped data with genai_guide.texts.read_text: {offenders}"


@pytest.mark.parametrize("bad,error", [(3, TypeError), ("moby-dick", ValueError)])
def test_read_text_rejects_bad_names(bad, error):
    with pytest.raises(error, match="name"):
        read_text(bad)
