"""How chunk size and overlap change what a retriever can return: for every sentence of the shipped
story, is there a chunk that holds the whole sentence? Fixed-size windows against recursive splitting,
no model needed, so the numbers are exact."""

# --8<-- [start:experiment]
import re

from genai_guide.chunking import fixed_size_chunks, recursive_split
from genai_guide.texts import read_text

text = read_text("harbour")
sentences = [s.strip() for s in re.findall(r"[^.\n]+\.", text)]  # the "answers" a question could need
print(f"{len(sentences)} sentences, {min(map(len, sentences))} to {max(map(len, sentences))} characters")

splitters = {
    "fixed": lambda size, overlap: fixed_size_chunks(text, size, overlap),
    "recursive": lambda size, overlap: recursive_split(text, size, overlap,
                                                       ["\n\n", "\n", ". ", " ", ""], keep_separator="end"),
}
print(f"{'splitter':<10} {'size':>4} {'overlap':>7} {'chunks':>6} {'stored':>6} {'whole sentences':>15}")
results = {}
for name, split in splitters.items():
    for size in (50, 100, 200, 400):
        for overlap in (0, size // 4):
            chunks = split(size, overlap)
            stored = sum(map(len, chunks)) / len(text)  # index size relative to the text
            whole = sum(any(s in c for c in chunks) for s in sentences) / len(sentences)
            results[name, size, overlap] = whole
            print(f"{name:<10} {size:>4} {overlap:>7} {len(chunks):>6} {stored:>6.2f} {whole:>15.0%}")
# --8<-- [end:experiment]

assert results["recursive", 200, 0] == 1.0 > results["fixed", 200, 0]  # boundaries at sentences
assert results["fixed", 200, 50] > results["fixed", 200, 0]  # overlap rescues cut sentences
