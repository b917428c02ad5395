"""Split a Markdown document at its headings, keeping the headings as metadata, equal to LangChain's
MarkdownHeaderTextSplitter; then cut long sections with the recursive splitter, metadata carried along."""

# --8<-- [start:headings]
from langchain_text_splitters import MarkdownHeaderTextSplitter

from genai_guide.chunking import recursive_split, split_by_headings

manual = """# Harbour lamp manual

The lamp turns once every ten seconds.

## Cleaning

Wipe the lens every morning.
Use a dry cloth, never water.

Check the brass for salt.

## Repairs

### Replacing the bulb

Switch the lamp off. Wait until the glass is cool, then unscrew the old bulb and fit the new one.

### Winter

In a hard winter the harbour can freeze: keep a spare bulb in the tower.
"""

sections = split_by_headings(manual)  # headings "#", "##", "###" -> "Header 1", "Header 2", "Header 3"
for s in sections:
    print(s.metadata, repr(s.text))
reference = MarkdownHeaderTextSplitter([("#", "Header 1"), ("##", "Header 2"), ("###", "Header 3")])
assert [(s.text, s.metadata) for s in sections] == [(d.page_content, d.metadata)
                                                    for d in reference.split_text(manual)]
# --8<-- [end:headings]

# --8<-- [start:two_stage]
chunks = [(piece, s.metadata) for s in sections for piece in recursive_split(s.text, 60, 20)]
for piece, metadata in chunks[-4:]:
    print(" > ".join(metadata.values()), "|", piece)
assert all(len(piece) <= 60 for piece, _ in chunks)
# --8<-- [end:two_stage]
