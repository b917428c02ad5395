"""Sparse retrieval from scratch: an inverted index, TF-IDF, BM25 and reciprocal rank fusion.

A sparse retriever represents a text by the words it contains: a vector as long as the vocabulary,
almost all zeros. An inverted index maps each term to the documents that contain it (its postings),
so a query only touches the documents that share one of its terms. The Sparse and hybrid retrieval
chapter builds, on that index:

- `TfidfIndex`: TF-IDF vectors and cosine scores, equal to scikit-learn's `TfidfVectorizer` (its
  default tokenizer, smoothed IDF $\\ln\\frac{1+N}{1+n_t} + 1$, optional sublinear tf, L2 rows);
- `BM25`: Okapi BM25 (Robertson and Zaragoza 2009) with saturation $k_1$ and length normalisation
  $b$, in two published variants: `idf="okapi"` equal to `rank_bm25.BM25Okapi` (its IDF
  $\\ln\\frac{N-n_t+0.5}{n_t+0.5}$ with negative values floored at $\\epsilon$ times the mean IDF) and
  `idf="lucene"` equal to `bm25s.BM25(method="lucene")` (IDF $\\ln(1+\\frac{N-n_t+0.5}{n_t+0.5})$,
  always positive, and no $k_1+1$ factor);
- `reciprocal_rank_fusion`: RRF (Cormack, Clarke and Büttcher 2009), which merges rankings from
  different retrievers, for example BM25 and a dense embedding, by $\\sum_r 1/(k + \\text{rank}_r)$.

The retrieval metrics that measure them are in `genai_guide.retrieval_metrics`.

Example:
    >>> from genai_guide.sparse import BM25, tokenize
    >>> docs = ["the keeper lit the lamp", "the baker baked bread", "the lamp failed in winter"]
    >>> bm25 = BM25([tokenize(d) for d in docs])
    >>> bm25.search(tokenize("Who lit the lamp?"), k=2)
    [(0, 0.5912...), (2, 0.0789...)]
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Hashable, Sequence

import numpy as np

from genai_guide._checks import check_int

__all__ = [
    "BM25",
    "TOKEN_PATTERN",
    "TfidfIndex",
    "inverted_index",
    "reciprocal_rank_fusion",
    "tokenize",
    "top_k",
]

TOKEN_PATTERN = r"(?u)\b\w\w+\b"
"""scikit-learn's default token pattern: runs of two or more word characters."""


def tokenize(text: str) -> list[str]:
    """Lowercase `text` and keep the runs of two or more word characters (`TOKEN_PATTERN`).

    This is scikit-learn's default analyzer for `CountVectorizer` and `TfidfVectorizer`, so the
    TF-IDF and BM25 indexes of this module see the same terms.

    Raises:
        TypeError: if `text` is not a str.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    return re.findall(TOKEN_PATTERN, text.lower())


def _check_corpus(corpus: object) -> list[list[str]]:
    """A non-empty sequence of token lists, with at least one token in all."""
    if isinstance(corpus, str) or not isinstance(corpus, Sequence):
        raise TypeError(f"corpus must be a sequence of token lists, got {type(corpus).__name__}")
    if len(corpus) == 0:
        raise ValueError("corpus must not be empty")
    docs = []
    for i, doc in enumerate(corpus):
        if isinstance(doc, str) or not isinstance(doc, Sequence) or not all(isinstance(t, str) for t in doc):
            raise TypeError(f"corpus[{i}] must be a list of str tokens (use tokenize), got {doc!r:.60}")
        docs.append(list(doc))
    if not any(docs):
        raise ValueError("corpus must contain at least one token")
    return docs


def _check_query(query: object) -> list[str]:
    if isinstance(query, str) or not isinstance(query, Sequence) or not all(isinstance(t, str) for t in query):
        raise TypeError(f"query must be a list of str tokens (use tokenize), got {query!r:.60}")
    return list(query)


def inverted_index(corpus: Sequence[Sequence[str]]) -> dict[str, dict[int, int]]:
    """The postings of each term: `{term: {document index: count of the term in it}}`.

    Terms appear in sorted order and each posting list in document order. A query scores only the
    documents in the postings of its terms, which is what makes sparse retrieval fast: a rare term's
    list is short.

    Args:
        corpus: the documents, each a list of tokens.

    Raises:
        TypeError: if `corpus` is not a sequence of token lists.
        ValueError: if `corpus` is empty or has no token at all.
    """
    docs = _check_corpus(corpus)
    index: dict[str, dict[int, int]] = {}
    for d, doc in enumerate(docs):
        for term, count in Counter(doc).items():
            index.setdefault(term, {})[d] = count
    return {term: index[term] for term in sorted(index)}


def top_k(scores: Sequence[float] | np.ndarray, k: int) -> list[int]:
    """The indices of the `k` highest scores, best first; equal scores keep index order.

    Args:
        scores: one score a document.
        k: how many to return, in `[1, len(scores)]`.

    Raises:
        TypeError: if `k` is not an int.
        ValueError: if `scores` is not 1-D or `k` is outside `[1, len(scores)]`.
    """
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 1:
        raise ValueError(f"scores must be 1-D, got shape {s.shape}")
    check_int("k", k, 1)
    if k > len(s):
        raise ValueError(f"k must be <= the number of documents ({len(s)}), got {k}")
    return [int(i) for i in np.argsort(-s, kind="stable")[:k]]


class TfidfIndex:
    """TF-IDF document vectors and cosine scores, equal to scikit-learn's `TfidfVectorizer`.

    For a term $t$ in a document $d$ of a corpus of $N$ documents, $n_t$ of which contain $t$:

    $$w_{t,d} = \\text{tf}(t, d)\\cdot\\text{idf}(t),\\qquad
      \\text{idf}(t) = \\ln\\frac{1 + N}{1 + n_t} + 1 \\ \\text{(smooth)}\\quad\\text{or}\\quad
      \\ln\\frac{N}{n_t} + 1,$$

    with $\\text{tf}$ the raw count, or $1 + \\ln \\text{count}$ when `sublinear_tf`, and each row
    then divided by its L2 (or L1) norm. The smoothing adds one document that contains every term,
    so no IDF divides by zero; the $+1$ keeps terms found in every document. A query is weighted with
    the corpus' IDF (unknown terms are dropped) and scored by the dot product, the cosine similarity
    when rows are L2-normalised.

    Args:
        documents: the texts to index; tokenized with `tokenize`.
        smooth_idf: add one to the document counts, as above (scikit-learn's default).
        sublinear_tf: use $1 + \\ln \\text{count}$ instead of the count.
        norm: `"l2"`, `"l1"` or `None` (no normalisation).

    Attributes:
        vocabulary: term -> column, terms in sorted order (scikit-learn's `vocabulary_`).
        idf: shape (n_terms,), the IDF of each column (scikit-learn's `idf_`).
        matrix: shape (n_documents, n_terms), the document vectors, float64.

    Raises:
        TypeError: if `documents` is not a sequence of str.
        ValueError: if `documents` is empty, has no token, or `norm` is unknown.
    """

    def __init__(self, documents: Sequence[str], *, smooth_idf: bool = True, sublinear_tf: bool = False,
                 norm: str | None = "l2") -> None:
        if isinstance(documents, str) or not isinstance(documents, Sequence):
            raise TypeError(f"documents must be a sequence of str, got {type(documents).__name__}")
        if not all(isinstance(d, str) for d in documents):
            raise TypeError("documents must be a sequence of str")
        if norm not in ("l2", "l1", None):
            raise ValueError(f"norm must be 'l2', 'l1' or None, got {norm!r}")
        corpus = [tokenize(d) for d in documents]
        if len(corpus) == 0:
            raise ValueError("documents must not be empty")
        if not any(corpus):
            raise ValueError("documents must contain at least one token (empty vocabulary)")
        self.smooth_idf, self.sublinear_tf, self.norm = smooth_idf, sublinear_tf, norm
        postings = inverted_index(corpus)
        self.vocabulary: dict[str, int] = {term: j for j, term in enumerate(postings)}
        n = len(corpus) + int(smooth_idf)
        df = np.array([len(p) for p in postings.values()], dtype=np.float64) + int(smooth_idf)
        self.idf: np.ndarray = np.log(n / df) + 1.0  # (n_terms,)
        self.matrix: np.ndarray = self._weigh(corpus)  # (n_documents, n_terms)

    def _weigh(self, token_lists: list[list[str]]) -> np.ndarray:
        tf = np.zeros((len(token_lists), len(self.vocabulary)))
        for i, tokens in enumerate(token_lists):
            for term, count in Counter(tokens).items():
                if term in self.vocabulary:
                    tf[i, self.vocabulary[term]] = count
        if self.sublinear_tf:
            present = tf > 0
            tf[present] = np.log(tf[present]) + 1.0  # 1 + ln(count) where the term occurs
        w = tf * self.idf
        if self.norm is not None:
            lengths = np.linalg.norm(w, axis=1) if self.norm == "l2" else np.abs(w).sum(axis=1)
            w = w / np.where(lengths == 0, 1.0, lengths)[:, None]  # an all-zero row stays zero
        return w

    def transform(self, texts: Sequence[str]) -> np.ndarray:
        """The TF-IDF vectors of `texts` with this corpus' vocabulary and IDF, shape (len(texts), n_terms).

        Raises:
            TypeError: if `texts` is not a sequence of str.
        """
        if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
            raise TypeError("texts must be a sequence of str (wrap a single text in a list)")
        return self._weigh([tokenize(t) for t in texts])

    def scores(self, query: str) -> np.ndarray:
        """The score of every document for `query`, shape (n_documents,): the cosine similarity with L2 norm."""
        return self.matrix @ self.transform([query])[0]

    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        """The `k` best documents for `query` as `(index, score)`, best first (ties in index order)."""
        s = self.scores(query)
        return [(i, float(s[i])) for i in top_k(s, k)]


class BM25:
    """Okapi BM25 over an inverted index, in rank_bm25's or bm25s' (Lucene) variant.

    The score of document $d$ (length $|d|$ tokens, average length $\\overline{|d|}$) for a query
    $q$ is a sum over the query's tokens, repeated tokens counted each time:

    $$\\text{BM25}(d, q) = \\sum_{t \\in q} \\text{idf}(t)\\,
      \\frac{\\text{tf}(t,d)\\,(k_1 + 1)}{\\text{tf}(t,d) + k_1\\left(1 - b + b\\,\\frac{|d|}{\\overline{|d|}}\\right)}$$

    (Robertson and Zaragoza 2009). $k_1$ saturates the term
    frequency: as tf grows the fraction tends to $k_1 + 1$, so the tenth occurrence adds little.
    $b \\in [0, 1]$ normalises for length: at $b = 1$ a document twice the average length needs twice
    the occurrences for the same score; at $b = 0$ length is ignored. With $N$ documents, $n_t$ of
    which contain $t$:

    - `idf="okapi"` (equal to `rank_bm25.BM25Okapi`): $\\text{idf}(t) = \\ln\\frac{N - n_t + 0.5}{n_t + 0.5}$,
      negative for terms in more than half the documents; each negative IDF is replaced by
      $\\epsilon$ times the mean IDF of the vocabulary (mean taken before the replacement).
    - `idf="lucene"` (equal to `bm25s.BM25(method="lucene")`, as in Lucene 8 and later):
      $\\text{idf}(t) = \\ln\\left(1 + \\frac{N - n_t + 0.5}{n_t + 0.5}\\right) > 0$, and the factor
      $k_1 + 1$ is left out, which scales every score and changes no ranking.

    Query tokens that are not in the corpus add nothing.

    Args:
        corpus: the documents, each a list of tokens (`tokenize`).
        k1: term-frequency saturation, at least 0 (1.2 to 2 is usual; rank_bm25 and bm25s use 1.5).
        b: length normalisation, in [0, 1] (0.75 is usual).
        idf: `"okapi"` or `"lucene"`, as above.
        epsilon: the floor factor of the okapi IDF (rank_bm25's 0.25); unused by lucene.

    Attributes:
        index: the inverted index, `{term: {document: count}}`.
        doc_lengths: shape (n_documents,), tokens a document.
        avgdl: the mean document length.
        idf: `{term: idf}` for every term of the corpus.

    Raises:
        TypeError: if `corpus` is not a sequence of token lists.
        ValueError: if `corpus` is empty or tokenless, or a parameter is out of range.
    """

    def __init__(self, corpus: Sequence[Sequence[str]], *, k1: float = 1.5, b: float = 0.75,
                 idf: str = "okapi", epsilon: float = 0.25) -> None:
        docs = _check_corpus(corpus)
        if not isinstance(k1, (int, float)) or isinstance(k1, bool) or not k1 >= 0:
            raise ValueError(f"k1 must be a number >= 0, got {k1!r}")
        if not isinstance(b, (int, float)) or isinstance(b, bool) or not 0 <= b <= 1:
            raise ValueError(f"b must be a number in [0, 1], got {b!r}")
        if idf not in ("okapi", "lucene"):
            raise ValueError(f"idf must be 'okapi' or 'lucene', got {idf!r}")
        self.k1, self.b, self.variant, self.epsilon = float(k1), float(b), idf, float(epsilon)
        self.index = inverted_index(docs)
        self.doc_lengths = np.array([len(d) for d in docs], dtype=np.float64)
        self.avgdl = float(self.doc_lengths.sum() / len(docs))
        n = len(docs)
        if idf == "okapi":
            raw = {t: math.log(n - len(p) + 0.5) - math.log(len(p) + 0.5) for t, p in self.index.items()}
            floor = self.epsilon * sum(raw.values()) / len(raw)
            self.idf = {t: (floor if v < 0 else v) for t, v in raw.items()}
        else:
            self.idf = {t: math.log(1 + (n - len(p) + 0.5) / (len(p) + 0.5)) for t, p in self.index.items()}

    def scores(self, query: Sequence[str]) -> np.ndarray:
        """The BM25 score of every document for `query` (a token list), shape (n_documents,).

        Only the documents in the postings of the query's terms are touched; the others keep 0.
        """
        terms = _check_query(query)
        scores = np.zeros(len(self.doc_lengths))
        k1, b = self.k1, self.b
        gain = k1 + 1 if self.variant == "okapi" else 1.0
        for term in terms:
            for d, tf in self.index.get(term, {}).items():
                norm = k1 * (1 - b + b * self.doc_lengths[d] / self.avgdl)
                scores[d] += self.idf[term] * (tf * gain / (tf + norm))
        return scores

    def search(self, query: Sequence[str], k: int) -> list[tuple[int, float]]:
        """The `k` best documents for `query` (a token list) as `(index, score)`, best first (ties in index order)."""
        s = self.scores(query)
        return [(i, float(s[i])) for i in top_k(s, k)]


def reciprocal_rank_fusion(rankings: Sequence[Sequence[Hashable]], k: int = 60,
                           weights: Sequence[float] | None = None) -> list[tuple[Hashable, float]]:
    """Merge rankings by reciprocal rank fusion (Cormack, Clarke and Büttcher, SIGIR 2009).

    $$\\text{RRF}(d) = \\sum_{r} \\frac{w_r}{k + \\text{rank}_r(d)}$$

    with $\\text{rank}_r(d)$ the 1-based position of $d$ in ranking $r$; a document missing from a
    ranking gets nothing from it. Only positions are used, never scores, so rankings whose scores live
    on different scales (BM25 and cosine) combine without normalisation. $k = 60$ is the paper's
    constant: it damps the weight of the first few positions so that one retriever's top document
    does not decide alone. All weights $w_r = 1$ give the paper's RRF.

    Args:
        rankings: each a sequence of document ids, best first, without repeats.
        k: the constant, at least 0.
        weights: one weight a ranking (all 1 when None).

    Returns:
        `(document id, fused score)` for every document in any ranking, best first; equal scores keep
        the order in which documents first appear (ranking by ranking).

    Raises:
        TypeError: if `k` is not an int.
        ValueError: if `rankings` is empty, a ranking repeats a document, or `weights` has the wrong length.
    """
    if isinstance(rankings, str) or not isinstance(rankings, Sequence) or len(rankings) == 0:
        raise ValueError("rankings must be a non-empty sequence of rankings")
    check_int("k", k, 0)
    if weights is None:
        weights = [1.0] * len(rankings)
    if len(weights) != len(rankings):
        raise ValueError(f"weights must have one weight a ranking ({len(rankings)}), got {len(weights)}")
    fused: dict[Hashable, float] = {}
    for r, (ranking, w) in enumerate(zip(rankings, weights)):
        if isinstance(ranking, str) or not isinstance(ranking, Sequence):
            raise TypeError(f"rankings[{r}] must be a sequence of document ids, got {type(ranking).__name__}")
        if len(set(ranking)) != len(ranking):
            raise ValueError(f"rankings[{r}] repeats a document id")
        for position, doc in enumerate(ranking, start=1):
            fused[doc] = fused.get(doc, 0.0) + w / (k + position)
    return sorted(fused.items(), key=lambda item: -item[1])  # stable: ties keep first appearance
