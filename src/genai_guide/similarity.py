"""Comparing embeddings: cosine, dot product and L2 scores, mean pooling, top-k search, InfoNCE.

A bi-encoder turns each text into one vector, independently of the others, so a corpus is embedded
once and a query is answered by comparing its vector with every stored one. This module holds the
pieces the Embeddings chapter explains:

- `cosine_scores`, `dot_scores`, `l2_distances`: every query against every corpus vector (equal to
  sentence-transformers' `util.cos_sim`, `util.dot_score` and `-util.euclidean_sim`);
- `normalize`: rows scaled to length 1, after which the three scores rank a corpus alike;
- `mean_pooling`: one vector per text from its token vectors, padding ignored (equal to
  sentence-transformers' `Pooling(pooling_mode="mean")`);
- `top_k_search`: the `k` best corpus rows for each query (equal to `util.semantic_search`);
- `info_nce_loss`: the contrastive loss with in-batch negatives that trains such encoders (equal to
  sentence-transformers' `MultipleNegativesRankingLoss`).

Shapes: `queries` is `(q, d)`, `corpus` is `(n, d)`; scores are `(q, n)`, higher is more similar,
except `l2_distances`, where lower is closer.

Example:
    >>> import torch
    >>> corpus = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])
    >>> scores, ids = top_k_search(torch.tensor([[0.8, 0.6]]), corpus, k=2)
    >>> ids.tolist(), [round(s, 2) for s in scores[0].tolist()]
    ([[1, 0]], [0.96, 0.8])
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from genai_guide._checks import check_float_tensor, check_int

__all__ = [
    "METRICS",
    "cosine_scores",
    "dot_scores",
    "info_nce_loss",
    "l2_distances",
    "mean_pooling",
    "normalize",
    "score",
    "top_k_search",
]

Metric = Literal["cosine", "dot", "l2"]
METRICS: tuple[str, ...] = ("cosine", "dot", "l2")
"""The similarity measures `score`, `top_k_search` and `info_nce_loss` accept."""


def _check_matrix(name: str, x: object) -> Tensor:
    x = check_float_tensor(name, x)
    if x.dim() != 2:
        raise ValueError(f"{name} must be a 2-D tensor (rows, dim), got shape {tuple(x.shape)}")
    return x


def _check_pair(queries: object, corpus: object) -> tuple[Tensor, Tensor]:
    queries, corpus = _check_matrix("queries", queries), _check_matrix("corpus", corpus)
    if corpus.shape[0] == 0:
        raise ValueError("corpus must not be empty: it has 0 rows")
    if queries.shape[1] != corpus.shape[1]:
        raise ValueError(f"queries and corpus must have the same embedding size, got queries of size "
                         f"{queries.shape[1]} and corpus of size {corpus.shape[1]}")
    return queries, corpus


def _check_metric(metric: object) -> str:
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    return metric  # type: ignore[return-value]


def normalize(x: Tensor) -> Tensor:
    """Each row divided by its L2 norm: $\\hat u = u / \\max(\\lVert u \\rVert_2, 10^{-12})$.

    Args:
        x: `(rows, dim)` embeddings.

    Returns:
        `(rows, dim)` rows of length 1 (a zero row stays zero), as `torch.nn.functional.normalize`.

    Raises:
        TypeError: if `x` is not a floating-point tensor.
        ValueError: if `x` is not 2-D.
    """
    return F.normalize(_check_matrix("x", x), p=2.0, dim=-1)


def dot_scores(queries: Tensor, corpus: Tensor) -> Tensor:
    """Inner products $s_{ij} = q_i \\cdot c_j$: the score of DPR (Karpukhin et al. 2020).

    Unbounded and sensitive to length: a longer vector scores higher against everything it points
    towards.

    Args:
        queries: `(q, d)` query embeddings.
        corpus: `(n, d)` corpus embeddings, `n >= 1`.

    Returns:
        `(q, n)` scores, higher is more similar.

    Raises:
        TypeError: if an input is not a floating-point tensor.
        ValueError: if an input is not 2-D, `corpus` is empty or the embedding sizes differ.
    """
    queries, corpus = _check_pair(queries, corpus)
    return queries @ corpus.T  # (q, d) @ (d, n) -> (q, n)


def cosine_scores(queries: Tensor, corpus: Tensor) -> Tensor:
    """Cosines $s_{ij} = \\dfrac{q_i \\cdot c_j}{\\lVert q_i \\rVert\\,\\lVert c_j \\rVert}$, in $[-1, 1]$.

    The dot product of the normalised vectors: length is ignored, only direction counts. The score
    Sentence-BERT (Reimers and Gurevych 2019) compares its embeddings with.

    Args:
        queries: `(q, d)` query embeddings.
        corpus: `(n, d)` corpus embeddings, `n >= 1`.

    Returns:
        `(q, n)` cosines, higher is more similar (0 against a zero vector).

    Raises:
        TypeError: if an input is not a floating-point tensor.
        ValueError: if an input is not 2-D, `corpus` is empty or the embedding sizes differ.
    """
    queries, corpus = _check_pair(queries, corpus)
    return F.normalize(queries, dim=-1) @ F.normalize(corpus, dim=-1).T


def l2_distances(queries: Tensor, corpus: Tensor) -> Tensor:
    """Euclidean distances $d_{ij} = \\lVert q_i - c_j \\rVert_2$; lower is closer.

    For vectors of length 1, $d_{ij}^2 = 2 - 2\\cos(q_i, c_j)$, so ranking by increasing distance is
    ranking by decreasing cosine.

    Args:
        queries: `(q, d)` query embeddings.
        corpus: `(n, d)` corpus embeddings, `n >= 1`.

    Returns:
        `(q, n)` distances, at least 0.

    Raises:
        TypeError: if an input is not a floating-point tensor.
        ValueError: if an input is not 2-D, `corpus` is empty or the embedding sizes differ.
    """
    queries, corpus = _check_pair(queries, corpus)
    diff = queries[:, None, :] - corpus[None, :, :]  # (q, n, d)
    return diff.pow(2).sum(-1).sqrt()


def score(queries: Tensor, corpus: Tensor, metric: Metric = "cosine") -> Tensor:
    """Scores to rank by, higher is better: cosine, dot product, or the negative L2 distance.

    Args:
        queries: `(q, d)` query embeddings.
        corpus: `(n, d)` corpus embeddings, `n >= 1`.
        metric: `"cosine"`, `"dot"` or `"l2"` (scored as $-\\lVert q_i - c_j \\rVert_2$, as
            sentence-transformers' `util.euclidean_sim`).

    Returns:
        `(q, n)` scores.

    Raises:
        TypeError: if an input is not a floating-point tensor.
        ValueError: if `metric` is unknown, an input is not 2-D, `corpus` is empty or the sizes differ.
    """
    metric = _check_metric(metric)
    if metric == "cosine":
        return cosine_scores(queries, corpus)
    if metric == "dot":
        return dot_scores(queries, corpus)
    return -l2_distances(queries, corpus)


def top_k_search(queries: Tensor, corpus: Tensor, k: int, metric: Metric = "cosine") -> tuple[Tensor, Tensor]:
    """Exact (brute-force) search: the `k` corpus rows with the highest `score` for each query.

    Every query is compared with every corpus row, $O(q \\cdot n \\cdot d)$; approximate indexes
    (IVF, HNSW) trade some recall for speed on large corpora. Ties go to the lower corpus index.

    Args:
        queries: `(q, d)` query embeddings.
        corpus: `(n, d)` corpus embeddings, `n >= 1`.
        k: how many results per query, `1 <= k <= n`.
        metric: `"cosine"`, `"dot"` or `"l2"` (see `score`).

    Returns:
        `(scores, ids)`, both `(q, k)`, best first: `ids[i, r]` is the corpus row ranked `r` for
        query `i` and `scores[i, r]` its score.

    Raises:
        TypeError: if an input is not a floating-point tensor or `k` is not an int.
        ValueError: if `k < 1`, `k` is larger than the corpus, `metric` is unknown, an input is not
            2-D, `corpus` is empty or the embedding sizes differ.
    """
    scores = score(queries, corpus, metric)  # validates queries, corpus and metric
    check_int("k", k, 1)
    if k > corpus.shape[0]:
        raise ValueError(f"k must be <= the number of corpus rows ({corpus.shape[0]}), got {k}")
    order = torch.sort(scores, dim=1, descending=True, stable=True)
    return order.values[:, :k], order.indices[:, :k]


def mean_pooling(token_embeddings: Tensor, attention_mask: Tensor) -> Tensor:
    """One vector per text: the mean of its token vectors, padding excluded.

    $e = \\dfrac{\\sum_t m_t\\, h_t}{\\sum_t m_t}$ for token vectors $h_t$ and mask $m_t \\in \\{0, 1\\}$;
    the pooling Sentence-BERT (Reimers and Gurevych 2019) uses by default.

    Args:
        token_embeddings: `(batch, seq, dim)` the encoder's last hidden states.
        attention_mask: `(batch, seq)` 1 for a real token, 0 for padding (ints, bools or floats).

    Returns:
        `(batch, dim)` sentence embeddings.

    Raises:
        TypeError: if `token_embeddings` is not a floating-point tensor or `attention_mask` not a tensor.
        ValueError: if the shapes do not match, the mask holds values other than 0 and 1, or a row
            of the mask has no token.
    """
    token_embeddings = check_float_tensor("token_embeddings", token_embeddings)
    if token_embeddings.dim() != 3:
        raise ValueError(f"token_embeddings must be 3-D (batch, seq, dim), got shape {tuple(token_embeddings.shape)}")
    if not isinstance(attention_mask, Tensor):
        raise TypeError(f"attention_mask must be a torch.Tensor, got {type(attention_mask).__name__}")
    if attention_mask.shape != token_embeddings.shape[:2]:
        raise ValueError(f"attention_mask must have shape (batch, seq) = {tuple(token_embeddings.shape[:2])}, "
                         f"got {tuple(attention_mask.shape)}")
    mask = attention_mask.to(token_embeddings.dtype)
    if not ((mask == 0) | (mask == 1)).all():
        raise ValueError("attention_mask must hold only 0 and 1")
    counts = mask.sum(dim=1, keepdim=True)  # (batch, 1) real tokens per text
    if (counts == 0).any():
        raise ValueError(f"attention_mask has a row with no token: rows {torch.nonzero(counts[:, 0] == 0)[:, 0].tolist()}")
    return (token_embeddings * mask[:, :, None]).sum(dim=1) / counts


def info_nce_loss(queries: Tensor, documents: Tensor, scale: float = 20.0, metric: Metric = "cosine") -> Tensor:
    """InfoNCE with in-batch negatives: each query must pick its own document among the batch's.

    Query $i$ is paired with document $i$; every other document in the batch is a negative for it,
    and rows of `documents` after the first `batch` (hard negatives) are negatives for all queries:

    $$\\mathcal{L} = -\\frac{1}{B} \\sum_{i=1}^{B}
    \\log \\frac{\\exp(s \\cdot \\mathrm{sim}(q_i, d_i))}{\\sum_{j} \\exp(s \\cdot \\mathrm{sim}(q_i, d_j))}$$

    a cross-entropy over the score matrix with labels $0, 1, \\dots, B-1$, where $s$ is the scale
    (one over the temperature $\\tau$). The contrastive loss of van den Oord et al. (2018), as used with
    in-batch negatives by DPR (Karpukhin et al. 2020); sentence-transformers calls it
    `MultipleNegativesRankingLoss`.

    Args:
        queries: `(B, d)` query (anchor) embeddings, `B >= 1`.
        documents: `(B * (1 + m), d)` the `B` positives in the queries' order, then `m` blocks of `B`
            hard negatives (`m >= 0`).
        scale: the factor $s = 1 / \\tau$ applied to the similarities, > 0 (20 for cosine, as
            sentence-transformers' default; about 1 for the dot product).
        metric: `"cosine"`, `"dot"` or `"l2"` (see `score`).

    Returns:
        The mean loss, a 0-D tensor with gradients.

    Raises:
        TypeError: if an input is not a floating-point tensor.
        ValueError: if `queries` is empty, the sizes differ, `documents` is not `B * (1 + m)` rows,
            `scale <= 0` or `metric` is unknown.
    """
    queries, documents = _check_matrix("queries", queries), _check_matrix("documents", documents)
    batch = queries.shape[0]
    if batch == 0:
        raise ValueError("queries must not be empty: it has 0 rows")
    if queries.shape[1] != documents.shape[1]:
        raise ValueError(f"queries and documents must have the same embedding size, got queries of size "
                         f"{queries.shape[1]} and documents of size {documents.shape[1]}")
    if documents.shape[0] < batch or documents.shape[0] % batch:
        raise ValueError(f"documents must have B * (1 + m) rows for B = {batch} queries (positives, then hard "
                         f"negatives), got {documents.shape[0]}")
    if not isinstance(scale, (int, float)) or isinstance(scale, bool) or not scale > 0:
        raise ValueError(f"scale must be a number > 0, got {scale!r}")
    logits = scale * score(queries, documents, metric)  # (B, B * (1 + m))
    labels = torch.arange(batch, device=queries.device)  # query i's positive is document i
    return F.cross_entropy(logits, labels)
