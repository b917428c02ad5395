"""genai_guide.chunking against LangChain's text splitters (langchain-text-splitters), on many texts.

`recursive_split` must return exactly `RecursiveCharacterTextSplitter(...).split_text` (length_function=len,
keep_separator True/"start" and "end", strip_whitespace=True) on seeded random texts built from words,
spaces, line and paragraph breaks and sentence ends, over random sizes, overlaps and separator lists;
`fixed_size_chunks` exactly `CharacterTextSplitter(separator="", strip_whitespace=False)`;
`split_by_headings` exactly `MarkdownHeaderTextSplitter` (default options) on random Markdown with
headings of several levels, fenced code, blank lines and non-printable characters.
"""

from __future__ import annotations

import logging
import random

import pytest
from langchain_text_splitters import (
    CharacterTextSplitter,
    MarkdownHeaderTextSplitter,
    RecursiveCharacterTextSplitter,
)

from genai_guide.chunking import (
    DEFAULT_HEADINGS,
    Section,
    fixed_size_chunks,
    recursive_split,
    split_by_headings,
)
from genai_guide.texts import read_text

PIECES = ["a", "bc", "word", "harbour", "x" * 23, " ", "  ", "\n", "\n\n", "\n\n\n", ". ", ".", "\t", "é", "!"]
SEPARATOR_LISTS = [
    ["\n\n", "\n", " ", ""],
    ["\n\n", "\n", ". ", " ", ""],
    ["\n", " "],  # no "" at the end: a long word is kept whole
    [" "],
    ["x", "\n", ""],
    ["\n\n\n", ". ", ""],
]


@pytest.fixture(autouse=True)
def _quiet_langchain(caplog):
    caplog.set_level(logging.ERROR, logger="langchain_text_splitters")  # "Created a chunk of size ..."


def random_text(rng: random.Random) -> str:
    return "".join(rng.choice(PIECES) for _ in range(rng.randint(0, 80)))


def test_recursive_split_equals_langchain_on_random_texts():
    rng = random.Random(0)
    for _ in range(1500):
        text = random_text(rng)
        chunk_size = rng.randint(1, 40)
        overlap = rng.randint(0, chunk_size - 1)
        separators = rng.choice(SEPARATOR_LISTS)
        keep = rng.choice(["start", "end"])
        reference = RecursiveCharacterTextSplitter(chunk_size=chunk_size, chunk_overlap=overlap, separators=separators,
                                                   keep_separator=True if keep == "start" else "end")
        assert recursive_split(text, chunk_size, overlap, separators, keep) == reference.split_text(text), (
            text, chunk_size, overlap, separators, keep)


@pytest.mark.parametrize(("chunk_size", "overlap"), [(50, 0), (100, 20), (200, 40), (300, 120), (1000, 999)])
def test_recursive_split_equals_langchain_defaults_on_the_story(chunk_size, overlap):
    text = read_text("harbour")
    reference = RecursiveCharacterTextSplitter(chunk_size=chunk_size, chunk_overlap=overlap)
    chunks = recursive_split(text, chunk_size, overlap)
    assert chunks == reference.split_text(text)
    assert all(len(c) <= chunk_size for c in chunks)


def test_recursive_split_keeps_a_word_longer_than_the_chunk_when_no_finer_separator():
    text = "ab " + "x" * 12 + " cd"  # the long piece is kept as split, its separator included, unstripped
    assert recursive_split(text, 5, 0, [" "]) == ["ab", " " + "x" * 12, "cd"]
    assert recursive_split(text, 5, 0, [" "]) == RecursiveCharacterTextSplitter(
        chunk_size=5, chunk_overlap=0, separators=[" "]).split_text(text)


def test_fixed_size_chunks_equal_langchain_character_splitter():
    rng = random.Random(1)
    for _ in range(1500):
        text = random_text(rng)
        chunk_size = rng.randint(1, 40)
        overlap = rng.randint(0, chunk_size - 1)
        reference = CharacterTextSplitter(separator="", chunk_size=chunk_size, chunk_overlap=overlap,
                                          strip_whitespace=False)
        chunks = fixed_size_chunks(text, chunk_size, overlap)
        assert chunks == reference.split_text(text), (text, chunk_size, overlap)
        if chunks:  # the windows, overlaps removed, give back the text
            assert "".join([chunks[0], *(c[overlap:] for c in chunks[1:])]) == text


def test_fixed_size_chunks_by_hand():
    assert fixed_size_chunks("abcdefghij", 5, 2) == ["abcde", "defgh", "ghij"]
    assert fixed_size_chunks("abcdefgh", 5, 2) == ["abcde", "defgh"]
    assert fixed_size_chunks("", 5) == []


MARKDOWN_LINES = ["# Intro", "## Setup", "### Step", "#### Deep", "#NoSpace", "  ## Indented", "#", "##",
                  "Some text.", "More text here", "", "   ", "```python", "# a comment in code", "```", "~~~",
                  "x = 1", "\tTabbed", "ok\x07bell", "``` inline ``` code"]
HEADING_SETS = [list(DEFAULT_HEADINGS), [("#", "h1"), ("##", "h2")], [("##", "B"), ("#", "A"), ("####", "D")]]


def test_split_by_headings_equals_langchain_on_random_markdown():
    rng = random.Random(2)
    for _ in range(1500):
        markdown = "\n".join(rng.choice(MARKDOWN_LINES) for _ in range(rng.randint(0, 25)))
        headings = rng.choice(HEADING_SETS)
        ours = [(s.text, s.metadata) for s in split_by_headings(markdown, headings)]
        theirs = [(d.page_content, d.metadata) for d in MarkdownHeaderTextSplitter(headings).split_text(markdown)]
        assert ours == theirs, (markdown, headings)
        assert [list(m) for _, m in ours] == [list(m) for _, m in theirs]  # same key order


def test_split_by_headings_by_hand():
    markdown = "# A\n\nintro\n\n## B\n\none\ntwo\n\nthree\n\n# C\n\n```\n# not a heading\n```\n"
    assert split_by_headings(markdown) == [
        Section("intro", {"Header 1": "A"}),
        Section("one\ntwo  \nthree", {"Header 1": "A", "Header 2": "B"}),
        Section("```\n# not a heading\n```", {"Header 1": "C"}),
    ]


@pytest.mark.parametrize(("call", "error", "match"), [
    (lambda: recursive_split(b"bytes", 10), TypeError, "text must be a str"),
    (lambda: recursive_split("t", 0), ValueError, "chunk_size must be >= 1"),
    (lambda: recursive_split("t", 10.0), TypeError, "chunk_size must be an int"),
    (lambda: recursive_split("t", 10, -1), ValueError, "overlap must be >= 0"),
    (lambda: recursive_split("t", 10, 10), ValueError, r"overlap must be < chunk_size \(10\)"),
    (lambda: recursive_split("t", 10, True), TypeError, "overlap must be an int"),
    (lambda: recursive_split("t", 10, 0, []), ValueError, "separators must not be empty"),
    (lambda: recursive_split("t", 10, 0, "\n"), TypeError, "separators must be a list or tuple"),
    (lambda: recursive_split("t", 10, 0, ["\n", 1]), TypeError, "separators must hold only str"),
    (lambda: recursive_split("t", 10, 0, keep_separator=True), ValueError, "keep_separator must be"),
    (lambda: fixed_size_chunks(None, 10), TypeError, "text must be a str"),
    (lambda: fixed_size_chunks("t", -3), ValueError, "chunk_size must be >= 1"),
    (lambda: fixed_size_chunks("t", 5, 7), ValueError, "overlap must be < chunk_size"),
    (lambda: split_by_headings(["# A"]), TypeError, "markdown must be a str"),
    (lambda: split_by_headings("# A", [("#",)]), TypeError, "headings must be"),
    (lambda: split_by_headings("# A", [("", "H")]), ValueError, "marker must not be empty"),
])
def test_bad_input_is_rejected_with_the_argument_named(call, error, match):
    with pytest.raises(error, match=match):
        call()
