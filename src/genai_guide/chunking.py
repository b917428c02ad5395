"""Splitting documents into chunks for retrieval: fixed-size windows, recursive splitting, headings.

A retriever embeds and ranks pieces of documents, not whole documents: an embedding model reads a
bounded number of tokens, and a short chunk about one thing is found more precisely than a long one
about many. This module builds the three splitters that the Chunking chapter explains:

- `fixed_size_chunks`: windows of `chunk_size` characters, each starting `chunk_size - overlap`
  after the previous one (equal to LangChain's `CharacterTextSplitter(separator="",
  strip_whitespace=False)`);
- `recursive_split`: split on the first separator of a hierarchy (paragraph, line, word, character)
  that occurs, recurse into pieces still too long, then merge neighbours back up to `chunk_size`,
  carrying up to `overlap` characters from one chunk into the next (equal to LangChain's
  `RecursiveCharacterTextSplitter` with `length_function=len` and its defaults
  `keep_separator=True`, `strip_whitespace=True`);
- `split_by_headings`: one section per Markdown heading, with the headings above it as metadata
  (equal to LangChain's `MarkdownHeaderTextSplitter` with its defaults).

Lengths are counted in characters (`len`); a token-counting `length_function` changes the sizes, not
the algorithm.

Example:
    >>> recursive_split("The keeper climbed the tower and cleaned the lamp.", chunk_size=20, overlap=8)
    ['The keeper climbed', 'climbed the tower', 'tower and cleaned', 'cleaned the lamp.']
"""

from __future__ import annotations

from typing import NamedTuple

from genai_guide._checks import check_int

__all__ = [
    "DEFAULT_HEADINGS",
    "DEFAULT_SEPARATORS",
    "Section",
    "fixed_size_chunks",
    "recursive_split",
    "split_by_headings",
]

DEFAULT_SEPARATORS: tuple[str, ...] = ("\n\n", "\n", " ", "")
"""Paragraph, line, word, character: LangChain's default hierarchy (`""` splits into characters)."""

DEFAULT_HEADINGS: tuple[tuple[str, str], ...] = (("#", "Header 1"), ("##", "Header 2"), ("###", "Header 3"))
"""Markdown heading markers to split on, each with the metadata key its title is stored under."""


def _check_text(text: object) -> str:
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    return text


def _check_sizes(chunk_size: object, overlap: object) -> None:
    check_int("chunk_size", chunk_size, 1)
    check_int("overlap", overlap, 0)
    if overlap >= chunk_size:  # type: ignore[operator]
        raise ValueError(f"overlap must be < chunk_size ({chunk_size}), got {overlap}")


def fixed_size_chunks(text: str, chunk_size: int, overlap: int = 0) -> list[str]:
    """Windows of `chunk_size` characters; window $i$ starts at $i\\,(\\text{chunk\\_size} - \\text{overlap})$.

    The last window may be shorter; no window starts once one has reached the end of `text`. Nothing
    is stripped, so the chunks, with the overlaps removed, concatenate back to `text`.

    Args:
        text: the document.
        chunk_size: characters per window, at least 1.
        overlap: characters each window shares with the previous one, in `[0, chunk_size)`.

    Returns:
        The windows in order (`[]` for an empty text).

    Raises:
        TypeError: if `text` is not a str or a size is not an int.
        ValueError: if `chunk_size < 1`, `overlap < 0` or `overlap >= chunk_size`.
    """
    _check_text(text)
    _check_sizes(chunk_size, overlap)
    step = chunk_size - overlap
    chunks = []
    start = 0
    while start < len(text):
        chunks.append(text[start : start + chunk_size])
        if start + chunk_size >= len(text):
            break
        start += step
    return chunks


def _split_keeping_separator(text: str, separator: str, keep: str) -> list[str]:
    """Split `text` on `separator`, which stays at the start (`keep="start"`) of the piece it preceded
    or at the end (`keep="end"`) of the piece it followed; drop empty pieces."""
    if separator == "":
        return list(text)
    parts = text.split(separator)
    if keep == "start":
        pieces = [parts[0], *(separator + p for p in parts[1:])]
    else:
        pieces = [*(p + separator for p in parts[:-1]), parts[-1]]
    return [piece for piece in pieces if piece]


def _merge(pieces: list[str], chunk_size: int, overlap: int) -> list[str]:
    """Greedily join consecutive pieces into chunks of at most `chunk_size` characters.

    When the next piece would not fit, the current window becomes a chunk (stripped of surrounding
    whitespace), then pieces leave the window from the front until at most `overlap` characters remain
    and the next piece fits: what remains starts the next chunk, which is the overlap.
    """
    chunks: list[str] = []
    window: list[str] = []
    total = 0  # characters in the window
    for piece in pieces:
        if window and total + len(piece) > chunk_size:
            chunk = "".join(window).strip()
            if chunk:
                chunks.append(chunk)
            while window and (total > overlap or total + len(piece) > chunk_size):
                total -= len(window.pop(0))
        window.append(piece)
        total += len(piece)
    chunk = "".join(window).strip()
    if chunk:
        chunks.append(chunk)
    return chunks


def _recursive(text: str, separators: list[str], chunk_size: int, overlap: int, keep: str) -> list[str]:
    # the first separator that occurs in the text ("" always does: it splits into characters)
    separator, finer = separators[-1], []
    for i, candidate in enumerate(separators):
        if candidate == "" or candidate in text:
            separator, finer = candidate, separators[i + 1 :] if candidate else []
            break
    chunks: list[str] = []
    short: list[str] = []  # consecutive pieces shorter than chunk_size, waiting to be merged
    for piece in _split_keeping_separator(text, separator, keep):
        if len(piece) < chunk_size:
            short.append(piece)
            continue
        if short:
            chunks += _merge(short, chunk_size, overlap)
            short = []
        if finer:
            chunks += _recursive(piece, finer, chunk_size, overlap, keep)
        else:
            chunks.append(piece)  # no finer separator left: kept whole, even if too long
    if short:
        chunks += _merge(short, chunk_size, overlap)
    return chunks


def recursive_split(text: str, chunk_size: int, overlap: int = 0,
                    separators: tuple[str, ...] | list[str] = DEFAULT_SEPARATORS,
                    keep_separator: str = "start") -> list[str]:
    """Recursive character splitting, equal to LangChain's `RecursiveCharacterTextSplitter`.

    Split `text` on the first separator in `separators` that occurs in it, keeping each separator at
    the start of the piece that follows it (or at the end of the piece before it). Pieces shorter than `chunk_size` are merged greedily
    (`_merge`: at most `chunk_size` characters a chunk, up to `overlap` characters carried into the
    next, surrounding whitespace stripped); a piece of `chunk_size` or more is split again with the
    separators after the one used. With the default hierarchy a chunk breaks at a paragraph if it
    can, else at a line, else between words, and splits a word only when the word alone is too long.

    Args:
        text: the document.
        chunk_size: the largest chunk, in characters, at least 1.
        overlap: the most characters a chunk repeats from the end of the previous one, in
            `[0, chunk_size)`; the overlap is made of whole pieces, so it can be shorter.
        separators: literal strings, coarsest first; `""` (characters) should come last, or a
            piece with none of the separators is kept whole even when longer than `chunk_size`.
        keep_separator: `"start"` (LangChain's default, `keep_separator=True`) or `"end"`, where a
            separator goes; `"end"` keeps a sentence's `". "` with its sentence.

    Returns:
        The chunks in order.

    Raises:
        TypeError: if `text` is not a str, a size is not an int, or `separators` holds a non-str.
        ValueError: if `chunk_size < 1`, `overlap < 0`, `overlap >= chunk_size`, `separators` is empty
            or `keep_separator` is neither `"start"` nor `"end"`.
    """
    _check_text(text)
    _check_sizes(chunk_size, overlap)
    if isinstance(separators, str) or not isinstance(separators, (list, tuple)):
        raise TypeError(f"separators must be a list or tuple of str, got {type(separators).__name__}")
    if not separators:
        raise ValueError("separators must not be empty")
    if not all(isinstance(s, str) for s in separators):
        raise TypeError("separators must hold only str")
    if keep_separator not in ("start", "end"):
        raise ValueError(f"keep_separator must be 'start' or 'end', got {keep_separator!r}")
    return _recursive(text, list(separators), chunk_size, overlap, keep_separator)


class Section(NamedTuple):
    """A piece of a Markdown document and the headings it sits under, as `{key: title}`."""

    text: str
    metadata: dict[str, str]


def split_by_headings(markdown: str,
                      headings: tuple[tuple[str, str], ...] | list[tuple[str, str]] = DEFAULT_HEADINGS,
                      ) -> list[Section]:
    """Split Markdown at its headings, equal to LangChain's `MarkdownHeaderTextSplitter` (defaults).

    Each line is stripped. A line is a heading if it starts with one of the markers in `headings`
    followed by a space (or nothing); a heading of level $\\ell$ (its number of `#`) closes the
    headings of level $\\ge \\ell$ above it and opens its own, and is itself dropped from the text.
    The lines under the same open headings form one section: lines of a paragraph join with `"\\n"`,
    paragraphs with `"  \\n"` (a Markdown line break). Lines inside a fenced code block (```` ``` ````
    or `~~~`) are never headings.

    Args:
        markdown: the document.
        headings: `(marker, key)` pairs such as `("##", "Header 2")`; a heading's title is stored
            under its key in every section beneath it.

    Returns:
        The sections in order; a section whose lines are all blank does not appear.

    Raises:
        TypeError: if `markdown` is not a str or `headings` is not a sequence of (str, str) pairs.
        ValueError: if a marker is empty.
    """
    if not isinstance(markdown, str):
        raise TypeError(f"markdown must be a str, got {type(markdown).__name__}")
    if not all(isinstance(h, (tuple, list)) and len(h) == 2 and all(isinstance(x, str) for x in h)
               for h in headings):
        raise TypeError("headings must be (marker, key) pairs of str, such as ('##', 'Header 2')")
    if any(marker == "" for marker, _ in headings):
        raise ValueError("headings: a marker must not be empty")
    markers = sorted(headings, key=lambda h: len(h[0]), reverse=True)  # "###" is tried before "#"

    sections: list[Section] = []
    open_headings: list[tuple[int, str, str]] = []  # (level, key, title), outermost first
    paragraph: list[str] = []
    fence = ""  # the fence of the code block we are in, if any

    def end_paragraph() -> None:
        if not paragraph:
            return
        metadata = {key: title for _, key, title in open_headings}
        text = "\n".join(paragraph)
        if sections and sections[-1].metadata == metadata:
            sections[-1] = Section(sections[-1].text + "  \n" + text, metadata)
        else:
            sections.append(Section(text, metadata))
        paragraph.clear()

    for raw in markdown.split("\n"):
        line = "".join(ch for ch in raw.strip() if ch.isprintable())
        if not fence:
            if line.startswith("```") and line.count("```") == 1:
                fence = "```"
            elif line.startswith("~~~"):
                fence = "~~~"
        elif line.startswith(fence):
            fence = ""
        if fence:
            paragraph.append(line)
            continue
        marker = next(((m, key) for m, key in markers
                       if line.startswith(m) and (len(line) == len(m) or line[len(m)] == " ")), None)
        if marker is not None:
            end_paragraph()
            level = marker[0].count("#")
            while open_headings and open_headings[-1][0] >= level:
                open_headings.pop()
            open_headings.append((level, marker[1], line[len(marker[0]):].strip()))
        elif line:
            paragraph.append(line)
        else:
            end_paragraph()
    end_paragraph()
    return sections
