"""`python -m bookkit.glossary_corpus`: write the glossary as package data for the "ask the book" lab.

`data/glossary.yml` is the single source of the glossary, but it is not part of the package: a reader
who installs `genai_guide` and opens the lab in an empty folder has no `data/`. This writes the fields a
retriever needs (slug, term, tooltip, definition, the section that teaches it) to
`src/genai_guide/texts/glossary.json`, read by `genai_guide.knowledge_base.load_glossary`.
tests/test_glossary_corpus.py fails when the shipped file is stale: run this module to refresh it, or
`make golden ONLY=docs/retrieval/ask_the_book_lab.ipynb`, which refreshes it before it runs the lab (every
glossary edit changes the lab's outputs).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from bookkit import ROOT
from bookkit.data import DATA, load_glossary

TARGET = ROOT / "src" / "genai_guide" / "texts" / "glossary.json"
DESCRIPTION = ("The book's glossary (generated from data/glossary.yml by bookkit.glossary_corpus): one entry "
               "a term, with its one-sentence tooltip, its definition and the chapter section that teaches it.")


def unwrap(markdown: str) -> str:
    """Join the hard-wrapped lines of each paragraph (as Markdown renders them); code fences stay as they are."""
    if "```" in markdown:
        return markdown
    return "\n\n".join(" ".join(paragraph.split()) for paragraph in markdown.split("\n\n"))


def build(source: Path = DATA / "glossary.yml") -> str:
    """The file's text for the glossary at `source`: entries sorted by slug, one JSON object a line, so
    that a diff shows which entries changed."""
    terms = load_glossary(source)
    lines = []
    for slug in sorted(terms):
        t = terms[slug]
        entry = {"slug": t.slug, "term": t.term, "tooltip": t.tooltip, "definition": unwrap(t.definition),
                 "taught_in": t.taught_in}
        lines.append("  " + json.dumps(entry, ensure_ascii=False))
    head = json.dumps({"name": "glossary", "description": DESCRIPTION}, ensure_ascii=False)[:-1]
    return head + ', "entries": [\n' + ",\n".join(lines) + "\n]}\n"


def main() -> int:
    text = build()
    if TARGET.is_file() and TARGET.read_text(encoding="utf-8") == text:
        print(f"{TARGET.relative_to(ROOT)} is up to date")
        return 0
    TARGET.write_text(text, encoding="utf-8")
    print(f"wrote {TARGET.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
