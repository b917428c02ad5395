"""Three ways to cut a document into chunks, each equal to LangChain's splitter of the same kind:
fixed-size windows with overlap, recursive splitting on a separator hierarchy, and sentence-aware
recursive splitting."""

# --8<-- [start:fixed]
from langchain_text_splitters import CharacterTextSplitter, RecursiveCharacterTextSplitter

from genai_guide.chunking import fixed_size_chunks, recursive_split
from genai_guide.texts import read_text

text = read_text("harbour")  # a short story the book ships: 20 lines, 2,238 characters
print(f"{len(text)} characters, {text.count(chr(10))} line breaks")

windows = fixed_size_chunks(text, chunk_size=200, overlap=40)  # each window starts 160 after the last
print(f"fixed-size: {len(windows)} chunks of <= 200 characters, 40 shared with the previous one")
for w in windows[:2]:
    print(f"  {w!r}")
assert windows[1][:40] == windows[0][-40:]  # the overlap
assert "".join([windows[0], *(w[40:] for w in windows[1:])]) == text  # nothing lost, nothing added
reference = CharacterTextSplitter(separator="", chunk_size=200, chunk_overlap=40, strip_whitespace=False)
assert windows == reference.split_text(text)
# --8<-- [end:fixed]

# --8<-- [start:recursive]
chunks = recursive_split(text, chunk_size=300, overlap=120)  # separators "\n\n", "\n", " ", ""
print(f"recursive: {len(chunks)} chunks, lengths {[len(c) for c in chunks[:6]]} ...")
for c in chunks[:2]:
    print(f"  {c!r}")
splitter = RecursiveCharacterTextSplitter(chunk_size=300, chunk_overlap=120)  # length_function=len
assert chunks == splitter.split_text(text)
assert all(len(c) <= 300 for c in chunks)
assert chunks[1].startswith(text.splitlines()[1])  # the overlap is a whole line, not 120 characters
# --8<-- [end:recursive]

# --8<-- [start:sentences]
sentence_seps = ["\n\n", "\n", ". ", " ", ""]  # paragraph, line, sentence, word, character
start = recursive_split(text, 80, 0, sentence_seps)  # ". " goes to the start of the next piece
end = recursive_split(text, 80, 0, sentence_seps, keep_separator="end")  # ... or stays with its sentence
print("keep_separator start:", [c[:40] for c in start[:2]])
print("keep_separator end:  ", [c[:40] for c in end[:2]])
for keep, ours in (("start", start), ("end", end)):
    lc = RecursiveCharacterTextSplitter(chunk_size=80, chunk_overlap=0, separators=sentence_seps,
                                        keep_separator=keep)
    assert ours == lc.split_text(text)
assert start[1].startswith(". ") and not any(c.startswith(".") for c in end)
# --8<-- [end:sentences]
