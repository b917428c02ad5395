"""Reranking and answering: from a candidate list to a prompt with numbered sources, and its citations checked.

The Reranking and answering chapter takes the candidates a fast first-stage retriever returns (BM25,
vector search) and turns them into a prompt a language model can answer from:

- `rerank`: score each (query, candidate) pair with a slower, sharper model, typically a
  cross-encoder (Nogueira and Cho 2019), and sort; the same order as sentence-transformers'
  `CrossEncoder.rank` on the same scores;
- `pack_context`: fill a token budget greedily, best passage first, and cut the passage that
  overflows at a word boundary, so the sources never exceed the budget;
- `lost_in_the_middle_order`: put the best passages at the start and the end of the context and the
  weakest in the middle, where models use information worst (Liu et al. 2023);
- `assemble_prompt`: instructions, numbered sources `[1]`, `[2]`, ..., the question;
- `parse_citations` and `check_citations`: read the `[n]` citations back from an answer, and flag
  citations of sources that were not in the prompt and answers that cite nothing.

Nothing here depends on a particular model: a scorer is any function from pairs to numbers, and a
token counter any function from a text to an int (for example `len(tokenizer.encode(text))`).

Example:
    >>> from genai_guide.reranking import assemble_prompt, check_citations, lost_in_the_middle_order
    >>> lost_in_the_middle_order(["best", "2nd", "3rd", "4th", "5th"])
    ['best', '3rd', '5th', '4th', '2nd']
    >>> assemble_prompt("Who lit the lamp?", ["The keeper lit the lamp."], instructions="Cite.").splitlines()
    ['Cite.', '', 'Sources:', '[1] The keeper lit the lamp.', '', 'Question: Who lit the lamp?', 'Answer:']
    >>> check_citations("The keeper lit it [1], at dusk [3].", n_sources=2).unknown
    (3,)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from genai_guide._checks import check_int

__all__ = [
    "DEFAULT_INSTRUCTIONS",
    "CitationCheck",
    "assemble_prompt",
    "check_citations",
    "lost_in_the_middle_order",
    "pack_context",
    "parse_citations",
    "rerank",
]

T = TypeVar("T")

DEFAULT_INSTRUCTIONS = (
    "Answer the question using only the numbered sources. Cite every claim with the number of its "
    "source in brackets, as [1] or [2][3]. If the sources do not contain the answer, say that you do not know."
)
"""The instructions `assemble_prompt` puts first unless given others."""


def _check_texts(name: str, texts: object) -> list[str]:
    """A non-empty sequence of str."""
    if isinstance(texts, str) or not isinstance(texts, Sequence):
        raise TypeError(f"{name} must be a sequence of str, got {type(texts).__name__}")
    if len(texts) == 0:
        raise ValueError(f"{name} must not be empty")
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise TypeError(f"{name}[{i}] must be a str, got {type(t).__name__}")
    return list(texts)


def _check_str(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {type(value).__name__}")
    return value


def rerank(query: str, candidates: Sequence[str], score_pairs: Callable[[list[tuple[str, str]]], Sequence[float]],
           k: int | None = None) -> list[tuple[int, float]]:
    """Score every (query, candidate) pair and return the candidates best first.

    A first-stage retriever scores the query and each document separately (a bi-encoder's two
    vectors, BM25's term statistics), which is fast over millions of documents but coarse. A
    cross-encoder reads the query and one candidate together, `[CLS] query [SEP] passage [SEP]`,
    so every query word can attend to every passage word; it outputs one relevance score
    $s(q, d)$, and costs a full forward pass per pair, so it only sees the top candidates
    (Nogueira and Cho 2019, "Passage Re-ranking with BERT", arXiv 1901.04085).

    The order is that of sentence-transformers' `CrossEncoder.rank(query, candidates, top_k=k)` given
    the same scores: descending score, equal scores in candidate order (a stable sort).

    Args:
        query: the question.
        candidates: the first stage's candidates, non-empty.
        score_pairs: maps a list of `(query, candidate)` pairs to one score per pair (higher is more
            relevant), for example a cross-encoder's logits.
        k: how many to return (None: all), in `[1, len(candidates)]`.

    Returns:
        `(index into candidates, score)` pairs, best first.

    Raises:
        TypeError: if an argument has the wrong type or a score is not a real number.
        ValueError: if `candidates` is empty, `k` is out of range or `score_pairs` returns the wrong
            number of scores.
    """
    _check_str("query", query)
    docs = _check_texts("candidates", candidates)
    if not callable(score_pairs):
        raise TypeError(f"score_pairs must be callable, got {type(score_pairs).__name__}")
    if k is not None:
        check_int("k", k, 1)
        if k > len(docs):
            raise ValueError(f"k must be <= len(candidates) ({len(docs)}), got {k}")
    raw = score_pairs([(query, d) for d in docs])
    scores = [float(s) for s in raw]  # accepts lists, numpy arrays and 1-D tensors
    if len(scores) != len(docs):
        raise ValueError(f"score_pairs must return one score per candidate ({len(docs)}), got {len(scores)}")
    order = sorted(range(len(docs)), key=lambda i: scores[i], reverse=True)  # stable: ties keep their order
    return [(i, scores[i]) for i in order[:k]]


def _prefix_ends(text: str) -> list[int]:
    """The end offsets of the word-boundary prefixes of `text`: after each run of non-space characters."""
    return [m.end() for m in re.finditer(r"\S+", text)]


def pack_context(passages: Sequence[str], budget: int, count_tokens: Callable[[str], int], *,
                 truncate: bool = True) -> list[str]:
    """Fill a token budget with passages in rank order, cutting the one that overflows.

    Greedy packing: passages are taken best first while their token counts fit,

    $$\\sum_{i \\le m} \\text{tokens}(p_i) \\le B,$$

    and the first passage that does not fit is cut to its longest word-boundary prefix that does
    (`truncate=True`), or dropped (`truncate=False`); packing stops there, so a lower-ranked
    passage never displaces a higher one. The sum of `count_tokens` over the returned texts is at most
    `budget`, by construction: every kept text is counted. Count with the tokenizer of the model
    that reads the prompt, and keep room in the context window for the instructions, the question,
    the source numbers and the answer.

    Args:
        passages: the passages, best first, non-empty.
        budget: the most tokens the passages may use together, at least 1.
        count_tokens: a text -> its number of tokens, for example `lambda t: len(tok.encode(t).ids)`.
        truncate: cut the overflowing passage (True) or leave it out (False).

    Returns:
        The packed passages, best first: a prefix of `passages`, the last one possibly cut. Empty if
        not even the first word of the best passage fits.

    Raises:
        TypeError: if an argument has the wrong type.
        ValueError: if `passages` is empty, `budget < 1` or `count_tokens` returns a negative count.
    """
    texts = _check_texts("passages", passages)
    check_int("budget", budget, 1)
    if not callable(count_tokens):
        raise TypeError(f"count_tokens must be callable, got {type(count_tokens).__name__}")

    def count(text: str) -> int:
        n = count_tokens(text)
        if not isinstance(n, int) or isinstance(n, bool):
            raise TypeError(f"count_tokens must return an int, got {type(n).__name__}")
        if n < 0:
            raise ValueError(f"count_tokens must return a count >= 0, got {n}")
        return n

    packed: list[str] = []
    left = budget
    for text in texts:
        n = count(text)
        if n <= left:
            packed.append(text)
            left -= n
            continue
        if truncate:
            ends = _prefix_ends(text)
            lo, hi = 0, len(ends)  # the longest prefix of `lo` words that fits: binary search, then check
            while lo < hi:
                mid = (lo + hi + 1) // 2
                if count(text[: ends[mid - 1]]) <= left:
                    lo = mid
                else:
                    hi = mid - 1
            while lo > 0 and count(text[: ends[lo - 1]]) > left:  # a tokenizer need not be monotone
                lo -= 1
            if lo > 0:
                packed.append(text[: ends[lo - 1]])
        break
    return packed


def lost_in_the_middle_order(ranked: Sequence[T]) -> list[T]:
    """Reorder items given best first so that the best are at both ends and the weakest in the middle.

    Liu et al. (2023, "Lost in the Middle: How Language Models Use Long Contexts", arXiv 2307.03172)
    found that models use relevant information best at the beginning or the end of their input and
    worst in its middle. With ranks $1, 2, \\dots, n$ (1 best) the order is

    $$1, 3, 5, \\dots, \\dots, 6, 4, 2:$$

    odd ranks from the front, even ranks from the back, so rank 1 opens the context, rank 2 closes
    it, and the lowest ranks meet in the middle.

    Args:
        ranked: the items, best first (any type).

    Returns:
        A new list with the same items.

    Raises:
        TypeError: if `ranked` is not a sequence.
    """
    if isinstance(ranked, str) or not isinstance(ranked, Sequence):
        raise TypeError(f"ranked must be a sequence, got {type(ranked).__name__}")
    items = list(ranked)
    return items[0::2] + items[1::2][::-1]


def assemble_prompt(question: str, passages: Sequence[str], instructions: str = DEFAULT_INSTRUCTIONS) -> str:
    """A grounded prompt: instructions, the passages numbered `[1]`, `[2]`, ..., then the question.

    The layout is

        {instructions}

        Sources:
        [1] {passages[0]}
        [2] {passages[1]}
        ...

        Question: {question}
        Answer:

    Number `n` is the n-th passage as given, so reorder (`lost_in_the_middle_order`) before
    assembling, and read citations back with `check_citations(answer, n_sources=len(passages))`.

    Args:
        question: the user's question.
        passages: the passages to cite, non-empty, in the order the model should read them.
        instructions: what the model must do; the default asks for `[n]` citations.

    Raises:
        TypeError: if an argument has the wrong type.
        ValueError: if `passages` is empty, or a passage or the question is blank.
    """
    _check_str("question", question)
    _check_str("instructions", instructions)
    texts = _check_texts("passages", passages)
    if not question.strip():
        raise ValueError("question must not be blank")
    for i, t in enumerate(texts):
        if not t.strip():
            raise ValueError(f"passages[{i}] must not be blank")
    sources = "\n".join(f"[{n}] {' '.join(t.split())}" for n, t in enumerate(texts, start=1))
    return f"{instructions}\n\nSources:\n{sources}\n\nQuestion: {question.strip()}\nAnswer:"


_BRACKETS = re.compile(r"\[([^\[\]]*)\]")
_NUMBERS = re.compile(r"\s*\d+(\s*,\s*\d+)*\s*")


def parse_citations(answer: str) -> list[int]:
    """The source numbers an answer cites, in order of first appearance, each once.

    A citation is a bracket with one number or a comma-separated list: `[2]`, `[1, 3]`; adjacent
    brackets `[1][3]` cite both. Brackets that do not start with a digit (`[sic]`, `[note]`) are not
    citations and are ignored. A bracket that starts with a digit but is not a list of numbers
    (`[1-3]`, `[2a]`, `[1,]`) or cites source 0 is a format error: the answer does not follow the
    `[n]` convention the prompt asked for, and guessing what it meant would hide that.

    Args:
        answer: the model's answer.

    Returns:
        The cited source numbers (1-based).

    Raises:
        TypeError: if `answer` is not a str.
        ValueError: on a malformed citation or a citation of source 0, quoting it.
    """
    _check_str("answer", answer)
    cited: list[int] = []
    for m in _BRACKETS.finditer(answer):
        body = m.group(1)
        if not body.strip()[:1].isdigit():
            continue
        if not _NUMBERS.fullmatch(body):
            raise ValueError(f"answer has a malformed citation {m.group(0)!r} at offset {m.start()}: "
                             f"expected [n] or [n, m] with source numbers")
        for number in (int(x) for x in body.split(",")):
            if number < 1:
                raise ValueError(f"answer cites source {number} in {m.group(0)!r}: sources are numbered from 1")
            if number not in cited:
                cited.append(number)
    return cited


@dataclass(frozen=True)
class CitationCheck:
    """What `check_citations` found in one answer.

    Attributes:
        cited: the source numbers cited, in order of first appearance.
        unknown: cited numbers with no source in the prompt (greater than `n_sources`).
        uncited: source numbers in the prompt that the answer never cites.
    """

    cited: tuple[int, ...]
    unknown: tuple[int, ...]
    uncited: tuple[int, ...]

    @property
    def has_citation(self) -> bool:
        """True if the answer cites at least one source."""
        return bool(self.cited)

    @property
    def ok(self) -> bool:
        """True if the answer cites something and every citation names a source of the prompt."""
        return self.has_citation and not self.unknown


def check_citations(answer: str, n_sources: int) -> CitationCheck:
    """Check an answer's `[n]` citations against the `n_sources` numbered sources of its prompt.

    Two failures are flagged: a citation of a source that was not in the prompt (a made-up source, a
    hallucinated citation) and an answer with no citation at all (nothing a reader could check).
    This checks the form of grounding, not its truth: whether source `[2]` really supports the
    sentence that cites it needs a reader, or a second model, to compare them.

    Args:
        answer: the model's answer.
        n_sources: how many sources the prompt numbered, at least 1.

    Returns:
        A `CitationCheck`; `.ok` is True when the answer cites only sources of the prompt, and at
        least one.

    Raises:
        TypeError: if an argument has the wrong type.
        ValueError: if `n_sources < 1`, or on a malformed citation (see `parse_citations`).
    """
    check_int("n_sources", n_sources, 1)
    cited = parse_citations(answer)
    unknown = tuple(n for n in cited if n > n_sources)
    uncited = tuple(n for n in range(1, n_sources + 1) if n not in cited)
    return CitationCheck(tuple(cited), unknown, uncited)
