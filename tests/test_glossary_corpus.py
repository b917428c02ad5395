"""The glossary ships as package data for the "ask the book" lab: generated from data/glossary.yml,
up to date with it, and readable from any folder through genai_guide.knowledge_base.load_glossary."""

from __future__ import annotations

import json

import pytest
import yaml

from bookkit.data import load_glossary as load_source
from bookkit.glossary_corpus import TARGET, build, unwrap
from conftest import ROOT, run_python
from genai_guide import knowledge_base
from genai_guide.knowledge_base import GlossaryEntry, labelled_set_names, load_glossary


def test_the_shipped_glossary_is_up_to_date_with_its_source():
    assert TARGET.read_text(encoding="utf-8") == build(), \
        "src/genai_guide/texts/glossary.json is stale: run `make golden ONLY=docs/retrieval/ask_the_book_lab.ipynb`, " \
        "which refreshes it and then the lab's outputs"


def test_an_edited_glossary_makes_the_shipped_file_stale(tmp_path):
    """The check above can fail: a changed tooltip changes what build() writes."""
    entries = yaml.safe_load((ROOT / "data" / "glossary.yml").read_text(encoding="utf-8"))
    entries[0]["tooltip"] = "A tooltip changed by a test."
    edited = tmp_path / "glossary.yml"
    edited.write_text(yaml.safe_dump(entries, allow_unicode=True), encoding="utf-8")
    text = build(edited)
    assert text != TARGET.read_text(encoding="utf-8")
    assert json.loads(text)["entries"][0]["tooltip"] == "A tooltip changed by a test."


def test_load_glossary_holds_every_entry_of_the_source():
    source = load_source()
    entries = load_glossary()
    assert [e.slug for e in entries] == sorted(source)
    for e in entries:
        t = source[e.slug]
        assert (e.term, e.tooltip, e.taught_in) == (t.term, t.tooltip, t.taught_in)
        assert " ".join(e.definition.split()) == " ".join(t.definition.split())  # only line wrapping differs
        assert e.document == f"{e.term}. {e.definition}"
        if e.taught_in:
            assert (ROOT / "docs" / e.taught_in.split("#")[0]).is_file()
    assert "glossary" not in labelled_set_names()  # not a labelled set: no passages or questions


def test_unwrap_joins_wrapped_lines_and_keeps_paragraphs_and_code():
    assert unwrap("one\ntwo\n\nthree  four\nfive") == "one two\n\nthree four five"
    fenced = "text\n```python\nx = 1\n```"
    assert unwrap(fenced) == fenced


def test_the_glossary_reads_from_any_folder(tmp_path):
    code = "from genai_guide.knowledge_base import load_glossary; g = load_glossary(); print(len(g), g[0].slug)"
    result = run_python(["-c", code], timeout=60, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    first = min(load_source())
    assert result.stdout == f"{len(load_source())} {first}\n"


@pytest.mark.parametrize("entries,message", [
    ([{"slug": "b", "term": "B", "tooltip": "t", "definition": "d"},
      {"slug": "a", "term": "A", "tooltip": "t", "definition": "d"}], "sorted"),
    ([{"slug": "a", "term": "A", "tooltip": "t", "definition": "d"},
      {"slug": "a", "term": "A", "tooltip": "t", "definition": "d"}], "unique"),
    ([{"slug": "a", "term": "A", "tooltip": " ", "definition": "d"}], "empty tooltip"),
])
def test_load_glossary_rejects_a_broken_file(tmp_path, monkeypatch, entries, message):
    (tmp_path / "glossary.json").write_text(json.dumps({"name": "glossary", "entries": entries}), encoding="utf-8")
    monkeypatch.setattr(knowledge_base.resources, "files", lambda package: tmp_path)
    with pytest.raises(ValueError, match=message):
        load_glossary()


def test_a_glossary_entry_is_a_frozen_record():
    e = GlossaryEntry("bm25", "BM25", "A ranking function.", "Okapi BM25.", None)
    assert e.document == "BM25. Okapi BM25."
    with pytest.raises(AttributeError):
        e.term = "TF-IDF"  # type: ignore[misc]
