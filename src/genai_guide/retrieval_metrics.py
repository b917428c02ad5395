"""Retrieval metrics from scratch: recall@k, precision@k, reciprocal rank and nDCG@k.

A retriever is measured on questions whose relevant documents are known (relevance judgements).
For one question with ranking $d_1, d_2, \\dots$ (best first) and relevant set $R$:

- `recall_at_k`: $|\\{d_1..d_k\\} \\cap R| / |R|$, the share of the relevant documents found in the
  top $k$; what a RAG pipeline needs, since the model only sees the top $k$;
- `precision_at_k`: $|\\{d_1..d_k\\} \\cap R| / k$, the share of the top $k$ that is relevant;
- `reciprocal_rank`: $1/\\text{rank}$ of the first relevant document (0 if none); its mean over
  questions is the MRR;
- `ndcg_at_k`: normalised discounted cumulative gain (Järvelin and Kekäläinen 2002), equal to
  scikit-learn's `ndcg_score`, tie handling included;
- `evaluate`: all of them averaged over a set of questions.

The Sparse and hybrid retrieval chapter uses them on `genai_guide.knowledge_base`'s labelled set.

Example:
    >>> from genai_guide.retrieval_metrics import recall_at_k, reciprocal_rank
    >>> recall_at_k(["p3", "p1", "p7"], {"p1", "p9"}, k=2), reciprocal_rank(["p3", "p1", "p7"], {"p1", "p9"})
    (0.5, 0.5)
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Mapping, Sequence

import numpy as np

from genai_guide._checks import check_int

__all__ = [
    "dcg_at_k",
    "evaluate",
    "ndcg_at_k",
    "precision_at_k",
    "recall_at_k",
    "reciprocal_rank",
]


def _check_ranking(ranking: object, relevant: object, k: int | None) -> tuple[list, set]:
    if isinstance(ranking, str) or not isinstance(ranking, Sequence):
        raise TypeError(f"ranking must be a sequence of document ids, got {type(ranking).__name__}")
    if len(set(ranking)) != len(ranking):
        raise ValueError("ranking must not repeat a document id")
    if isinstance(relevant, str) or not isinstance(relevant, Collection):
        raise TypeError(f"relevant must be a collection of document ids, got {type(relevant).__name__}")
    if len(relevant) == 0:
        raise ValueError("relevant must name at least one document")
    if k is not None:
        check_int("k", k, 1)
        if k > len(ranking):
            raise ValueError(f"k must be <= len(ranking) ({len(ranking)}), got {k}")
    return list(ranking), set(relevant)


def recall_at_k(ranking: Sequence[Hashable], relevant: Collection[Hashable], k: int) -> float:
    """The share of the relevant documents among the first `k` of `ranking`.

    Args:
        ranking: document ids, best first, no repeats.
        relevant: the ids judged relevant (at least one).
        k: the cut-off, in `[1, len(ranking)]`.

    Raises:
        TypeError: if an argument has the wrong type.
        ValueError: if `ranking` repeats an id, `relevant` is empty or `k` is out of range.
    """
    ranked, rel = _check_ranking(ranking, relevant, k)
    return len(rel.intersection(ranked[:k])) / len(rel)


def precision_at_k(ranking: Sequence[Hashable], relevant: Collection[Hashable], k: int) -> float:
    """The share of the first `k` documents of `ranking` that are relevant (arguments as `recall_at_k`)."""
    ranked, rel = _check_ranking(ranking, relevant, k)
    return len(rel.intersection(ranked[:k])) / k


def reciprocal_rank(ranking: Sequence[Hashable], relevant: Collection[Hashable], k: int | None = None) -> float:
    """$1/r$ for the 1-based position $r$ of the first relevant document, 0 if none (within `k` if given).

    Its mean over questions is the mean reciprocal rank, MRR.
    """
    ranked, rel = _check_ranking(ranking, relevant, k)
    for position, doc in enumerate(ranked[:k] if k else ranked, start=1):
        if doc in rel:
            return 1.0 / position
    return 0.0


def _check_gains(y_true: object, y_score: object, k: int | None) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(y_true, dtype=np.float64)
    s = np.asarray(y_score, dtype=np.float64)
    if t.ndim not in (1, 2) or t.shape != s.shape:
        raise ValueError(f"y_true and y_score must have the same 1-D or 2-D shape, got {t.shape} and {s.shape}")
    if t.shape[-1] < 2:
        raise ValueError(f"nDCG needs at least 2 documents a query, got {t.shape[-1]}")
    if (t < 0).any():
        raise ValueError("y_true must not be negative")
    if k is not None:
        check_int("k", k, 1)
        if k > t.shape[-1]:
            raise ValueError(f"k must be <= the number of documents ({t.shape[-1]}), got {k}")
    return t, s


def _dcg(gains: np.ndarray, scores: np.ndarray, k: int | None, ignore_ties: bool) -> float:
    n = len(gains)
    discount = 1.0 / np.log2(np.arange(n) + 2)  # position i (0-based) is discounted by 1 / log2(i + 2)
    if k is not None:
        discount[k:] = 0.0
    if ignore_ties:
        return float(gains[np.argsort(-scores, kind="stable")] @ discount)
    # Ties (McSherry and Najork 2008): documents with equal scores share their positions, each taking
    # the mean gain of its group, which is the expected DCG over every order of the tied documents.
    dcg = 0.0
    start = 0
    for score in np.unique(scores)[::-1]:  # groups of equal scores, best first
        group = scores == score
        size = int(group.sum())
        dcg += gains[group].mean() * discount[start : start + size].sum()
        start += size
    return dcg


def dcg_at_k(y_true: Sequence[float] | np.ndarray, y_score: Sequence[float] | np.ndarray,
             k: int | None = None, ignore_ties: bool = False) -> float:
    """Discounted cumulative gain of one query (Järvelin and Kekäläinen 2002), with linear gain.

    $$\\text{DCG@}k = \\sum_{i=1}^{k} \\frac{g_{(i)}}{\\log_2(i + 1)}$$

    where $g_{(i)}$ is the gain (graded relevance) of the document at position $i$ when documents
    are sorted by `y_score`. Equal scores are averaged as `ndcg_at_k` explains.

    Args:
        y_true: shape (n_documents,), the gain of each document (0 = not relevant), not negative.
        y_score: shape (n_documents,), the retriever's score of each document.
        k: the cut-off (None: all documents), in `[1, n_documents]`.
        ignore_ties: sort by score and break ties by index instead of averaging them.
    """
    t, s = _check_gains(y_true, y_score, k)
    if t.ndim != 1:
        raise ValueError(f"y_true must be 1-D (one query), got shape {t.shape}")
    return _dcg(t, s, k, ignore_ties)


def ndcg_at_k(y_true: Sequence | np.ndarray, y_score: Sequence | np.ndarray,
              k: int | None = None, ignore_ties: bool = False) -> float:
    """Normalised DCG, equal to `sklearn.metrics.ndcg_score(y_true, y_score, k=k, ignore_ties=...)`.

    $$\\text{nDCG@}k = \\frac{\\text{DCG@}k}{\\text{IDCG@}k}$$

    where the ideal DCG sorts the documents by their true gains; a query with no relevant document
    scores 0. With 2-D inputs (one row a query) the result is the mean over queries. Gains are linear
    ($g$, as scikit-learn uses; some toolkits use $2^g - 1$), the same for binary judgements.

    Ties: documents with equal scores have no defined order, so each tied group shares its
    positions and each of its documents counts with the group's mean gain, the expected DCG over all
    orders of the tie (McSherry and Najork 2008), as scikit-learn does by default. A retriever that
    gives many documents the same score (BM25 gives 0 to every document without a query term) then
    cannot win by the accident of index order. `ignore_ties=True` breaks ties by index instead
    (scikit-learn's then follows `np.argsort`, whose order among ties is not defined).

    Args:
        y_true: shape (n_documents,) or (n_queries, n_documents), gains, not negative.
        y_score: the same shape, the retriever's scores.
        k: the cut-off (None: all documents), in `[1, n_documents]`.
        ignore_ties: as above.

    Raises:
        ValueError: if the shapes differ, a query has fewer than 2 documents, a gain is negative or
            `k` is out of range.
    """
    t, s = _check_gains(y_true, y_score, k)
    t2, s2 = np.atleast_2d(t), np.atleast_2d(s)
    values = []
    for gains, scores in zip(t2, s2):
        ideal = _dcg(gains, gains, k, ignore_ties=True)
        values.append(0.0 if ideal == 0 else _dcg(gains, scores, k, ignore_ties) / ideal)
    return float(np.mean(values))


def evaluate(rankings: Mapping[Hashable, Sequence[Hashable]], qrels: Mapping[Hashable, Collection[Hashable]],
             k: int) -> dict[str, float]:
    """Mean recall@k, precision@k, MRR and nDCG@k of full rankings over a set of questions.

    Args:
        rankings: question id -> every document id of the corpus, best first (all rankings hold the
            same documents).
        qrels: question id -> the relevant document ids, for exactly the questions of `rankings`.
        k: the cut-off, in `[1, n_documents]`.

    Returns:
        `{"recall": ..., "precision": ..., "mrr": ..., "ndcg": ...}`, means over the questions. nDCG
        uses binary gains and the rankings' order (no ties); MRR is not cut at `k`.

    Raises:
        ValueError: if the question ids differ, the rankings hold different documents, or a judgement
            names a document that is in no ranking.
    """
    if set(rankings) != set(qrels):
        raise ValueError(f"rankings and qrels must have the same question ids; only in one: "
                         f"{sorted(map(str, set(rankings) ^ set(qrels)))}")
    if not rankings:
        raise ValueError("rankings must not be empty")
    docs = None
    totals = {"recall": 0.0, "precision": 0.0, "mrr": 0.0, "ndcg": 0.0}
    for q, ranking in rankings.items():
        if docs is None:
            docs = set(ranking)
        elif set(ranking) != docs:
            raise ValueError(f"rankings[{q!r}] must rank the same documents as the other rankings")
        unknown = set(qrels[q]) - docs
        if unknown:
            raise ValueError(f"qrels[{q!r}] names unknown document ids: {sorted(map(str, unknown))}")
        rel = set(qrels[q])
        totals["recall"] += recall_at_k(ranking, rel, k)
        totals["precision"] += precision_at_k(ranking, rel, k)
        totals["mrr"] += reciprocal_rank(ranking, rel)
        gains = [float(d in rel) for d in ranking]  # scores -position: no ties, so no tie averaging to do
        totals["ndcg"] += ndcg_at_k(gains, -np.arange(len(ranking), dtype=np.float64), k, ignore_ties=True)
    return {name: value / len(rankings) for name, value in totals.items()}
