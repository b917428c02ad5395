"""The glossary and bibliography data: valid, and the validator rejects bad entries by name."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bookkit.data import DataError, load_glossary, load_papers
from bookkit.render import glossary_markdown

ATTENTION_TERMS = {"attention", "self-attention", "query-key-value", "scaled-dot-product-attention",
                   "multi-head-attention", "cross-attention", "causal-mask", "softmax"}


def test_data_loads_and_has_the_attention_terms():
    papers = load_papers()
    terms = load_glossary(papers=papers)
    assert ATTENTION_TERMS <= set(terms)
    assert "vaswani2017" in papers and papers["vaswani2017"].arxiv == "1706.03762"
    assert all(t.tooltip and t.definition for t in terms.values())


def _write(tmp_path: Path, entries) -> Path:
    path = tmp_path / "glossary.yml"
    path.write_text(yaml.safe_dump(entries), encoding="utf-8")
    return path


GOOD = {"term": "Alpha", "slug": "alpha", "tooltip": "A first letter.", "definition": "The first letter."}


@pytest.mark.parametrize(
    "entries,message",
    [
        ([GOOD, {**GOOD, "term": "Beta"}], "'Beta': duplicate slug"),
        ([GOOD, {**GOOD, "term": "Beta", "slug": "beta", "aliases": ["alpha"]}], "'Beta': alias 'alpha'"),
        ([{**GOOD, "tooltip": "  "}], "'Alpha': empty tooltip"),
        ([{**GOOD, "see_also": ["gamma"]}], "'Alpha': see_also names unknown term 'gamma'"),
        ([{**GOOD, "papers": ["nobody2030"]}], "'Alpha': unknown paper 'nobody2030'"),
        ([{**GOOD, "taught_in": "nowhere.md#x"}], "'Alpha': taught_in page"),
        ([{**GOOD, "slug": "Not A Slug"}], "'Alpha': slug"),
        ([{**GOOD, "colour": "red"}], "'Alpha': unknown fields"),
    ],
)
def test_bad_glossary_entries_fail_by_name(tmp_path, entries, message):
    with pytest.raises(DataError, match=message):
        load_glossary(_write(tmp_path, entries), papers=load_papers())


def test_bad_anchor_in_taught_in_fails_by_name(tmp_path):
    path = _write(tmp_path, [{**GOOD, "taught_in": "architectures/attention.md#no-such-heading"}])
    with pytest.raises(DataError, match="'Alpha': taught_in anchor #no-such-heading"):
        glossary_markdown(load_glossary(path, papers=load_papers()), load_papers())


def test_malformed_arxiv_id_fails_by_name(tmp_path):
    path = tmp_path / "papers.yml"
    path.write_text(yaml.safe_dump([{"key": "x2020", "title": "T", "authors": ["A B"], "year": 2020,
                                     "venue": "V", "arxiv": "17.06", "contribution": "C"}]), encoding="utf-8")
    with pytest.raises(DataError, match="'x2020': malformed arXiv id"):
        load_papers(path)
