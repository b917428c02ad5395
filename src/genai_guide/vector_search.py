"""Nearest-neighbour search over embedding vectors: exact search, IVF and product quantization.

A vector index answers "which $k$ stored vectors are nearest to this query?". This module builds, in
plain NumPy (float64), the computations that the Vector search chapter explains and that FAISS runs
in optimised float32 kernels:

- `exact_search`: compare the query with every stored vector (FAISS `IndexFlatL2` / `IndexFlatIP`);
- `ivf_assign` and `ivf_search`: an inverted file. Each stored vector goes into the list of its
  nearest centroid (the coarse quantizer, trained by k-means); a query scans only the lists of its
  `nprobe` nearest centroids (FAISS `IndexIVFFlat` with the same centroids);
- `pq_encode`, `pq_decode`, `pq_distance_tables` and `pq_search`: product quantization (Jégou, Douze
  and Schmid 2011). A vector is cut into $M$ sub-vectors, each replaced by the index of its nearest
  centroid in that sub-space's codebook, and distances from a query to the codes are summed from
  per-sub-space lookup tables, the asymmetric distance (FAISS `ProductQuantizer.compute_codes` /
  `decode` and `IndexPQ` with the same codebooks);
- `knn_recall`: the share of the true $k$ nearest neighbours an approximate search returns.

Distances are squared Euclidean distances, as FAISS reports them, or inner products (larger is
nearer) with `metric="ip"`. Results are sorted nearest first; equal distances are ordered by id.

Example:
    >>> import numpy as np
    >>> database = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]])
    >>> distances, ids = exact_search(np.array([[0.9, 0.1]]), database, k=2)
    >>> ids.tolist(), distances.round(2).tolist()
    ([[1, 0]], [[0.02, 0.82]])
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from genai_guide._checks import check_int

__all__ = [
    "exact_search",
    "ivf_assign",
    "ivf_search",
    "knn_recall",
    "pq_decode",
    "pq_distance_tables",
    "pq_encode",
    "pq_search",
]

Metric = Literal["l2", "ip"]


def _matrix(name: str, x: object) -> np.ndarray:
    """A 2-D array of real numbers as float64, or a clear error naming the argument."""
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(x).__name__}")
    if x.ndim != 2:
        raise ValueError(f"{name} must be 2-D (vectors, dim), got shape {x.shape}")
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise TypeError(f"{name} must hold real numbers, got dtype {x.dtype}")
    x = x.astype(np.float64)
    if not np.isfinite(x).all():
        raise ValueError(f"{name} must be finite (no NaN or inf)")
    return x


def _pair(queries: object, database: object, database_name: str = "database") -> tuple[np.ndarray, np.ndarray]:
    q, x = _matrix("queries", queries), _matrix(database_name, database)
    if x.shape[0] == 0:
        raise ValueError(f"{database_name} is empty: there is nothing to search")
    if q.shape[1] != x.shape[1]:
        raise ValueError(f"queries have dimension {q.shape[1]} but {database_name} has dimension {x.shape[1]}")
    return q, x


def _check_k(k: object, n: int, what: str = "database") -> int:
    check_int("k", k, 1)
    if k > n:  # type: ignore[operator]
        raise ValueError(f"k must be <= the number of vectors in the {what} ({n}), got {k}")
    return int(k)  # type: ignore[arg-type]


def _scores(q: np.ndarray, x: np.ndarray, metric: str) -> np.ndarray:
    """(nq, n) distances, smaller is nearer: squared L2, or minus the inner product for "ip"."""
    if metric == "ip":
        return -(q @ x.T)
    if metric != "l2":
        raise ValueError(f'metric must be "l2" or "ip", got {metric!r}')
    # ||q - x||^2 = ||q||^2 + ||x||^2 - 2 q.x, in float64; clipped at 0 against rounding
    d2 = (q * q).sum(1)[:, None] + (x * x).sum(1)[None, :] - 2.0 * (q @ x.T)
    return np.maximum(d2, 0.0)


def _top_k(scores: np.ndarray, ids: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k smallest scores of one row (ties by id), padded with (inf, -1) when fewer exist."""
    if len(scores) > k:  # keep every score <= the k-th smallest (ties included), then sort those
        keep = np.flatnonzero(scores <= np.partition(scores, k - 1)[k - 1])
        scores, ids = scores[keep], ids[keep]
    order = np.lexsort((ids, scores))[:k]
    out_s, out_i = np.full(k, np.inf), np.full(k, -1, dtype=np.int64)
    out_s[: len(order)], out_i[: len(order)] = scores[order], ids[order]
    return out_s, out_i


def exact_search(queries: np.ndarray, database: np.ndarray, k: int,
                 metric: Metric = "l2") -> tuple[np.ndarray, np.ndarray]:
    """Exact (flat, brute-force) $k$-nearest-neighbour search: every query against every vector.

    With `metric="l2"` the distance is $\\|q - x\\|^2$ (squared, as FAISS's `IndexFlatL2` reports it)
    and the $k$ smallest win; with `metric="ip"` the score is $q \\cdot x$ and the $k$ largest win
    (`IndexFlatIP`; the cosine similarity when the vectors are normalised). Cost: $N d$
    multiply-adds per query for $N$ vectors of dimension $d$.

    Args:
        queries: `(nq, d)` query vectors.
        database: `(N, d)` stored vectors; the id of a vector is its row.
        k: neighbours per query, `1 <= k <= N`.
        metric: `"l2"` (squared Euclidean distance) or `"ip"` (inner product).

    Returns:
        `(distances, ids)`, both `(nq, k)`, nearest first (ties ordered by id): squared distances,
        or inner products (largest first) for `"ip"`.

    Raises:
        TypeError: if an array is not a numeric numpy array or `k` is not an int.
        ValueError: if the database is empty, the dimensions differ, `k` is out of range or the
            metric is unknown.
    """
    q, x = _pair(queries, database)
    k = _check_k(k, x.shape[0])
    scores = _scores(q, x, metric)  # (nq, N)
    ids = np.arange(x.shape[0])
    out = [_top_k(row, ids, k) for row in scores]
    distances = np.array([s for s, _ in out]).reshape(len(q), k)
    found = np.array([i for _, i in out], dtype=np.int64).reshape(len(q), k)
    return (-distances if metric == "ip" else distances), found


def knn_recall(found: np.ndarray, truth: np.ndarray) -> float:
    """Recall@k of an approximate search: $\\frac{1}{n_q} \\sum_i |F_i \\cap T_i| / k$.

    `F_i` is the set of ids returned for query $i$ and `T_i` the set of its true $k$ nearest
    neighbours (from `exact_search`); padding ids (-1) never count.

    Args:
        found: `(nq, k)` ids returned by the approximate index.
        truth: `(nq, k)` ids of the exact nearest neighbours.

    Returns:
        The mean share of true neighbours found, in [0, 1].

    Raises:
        ValueError: if the shapes differ or are not 2-D with at least one column.
    """
    found, truth = np.asarray(found), np.asarray(truth)
    if found.ndim != 2 or found.shape != truth.shape or found.shape[1] == 0:
        raise ValueError(f"found and truth must have the same (nq, k) shape, got {found.shape} and {truth.shape}")
    hits = [len(set(f[f >= 0].tolist()) & set(t.tolist())) for f, t in zip(found, truth, strict=True)]
    return float(np.mean(hits) / truth.shape[1]) if len(hits) else 0.0


def ivf_assign(vectors: np.ndarray, centroids: np.ndarray, metric: Metric = "l2") -> np.ndarray:
    """The inverted list of each vector: the index of its nearest centroid.

    Args:
        vectors: `(n, d)` vectors to file.
        centroids: `(nlist, d)` centroids of the coarse quantizer (from k-means).
        metric: `"l2"` (smallest squared distance) or `"ip"` (largest inner product), the metric of
            the quantizer (FAISS: `IndexFlatL2` or `IndexFlatIP`).

    Returns:
        `(n,)` int64 list numbers in `[0, nlist)`; a tie goes to the lower-numbered centroid.

    Raises:
        TypeError, ValueError: as `exact_search`, with `centroids` as the searched set.
    """
    v, c = _pair(vectors, centroids, "centroids")
    if v.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    return np.argmin(_scores(v, c, metric), axis=1).astype(np.int64)


def ivf_search(queries: np.ndarray, database: np.ndarray, centroids: np.ndarray, k: int, nprobe: int,
               assignments: np.ndarray | None = None,
               metric: Metric = "l2") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Inverted-file search: scan only the lists of the `nprobe` centroids nearest to each query.

    Each stored vector sits in the list of its nearest centroid (`ivf_assign`). A query ranks the
    `nlist` centroids by the same metric, visits the `nprobe` nearest lists and compares itself
    with their vectors only: about $\\text{nlist} + N \\cdot \\text{nprobe} / \\text{nlist}$
    distances instead of $N$. A true neighbour filed in an unvisited list is missed; with
    `nprobe = nlist` every list is visited and the result is the exact search's. This is FAISS's
    `IndexIVFFlat` given the same centroids (its quantizer) and the same lists.

    Args:
        queries: `(nq, d)` query vectors.
        database: `(N, d)` stored vectors; the id of a vector is its row.
        centroids: `(nlist, d)` coarse centroids.
        k: neighbours per query, `1 <= k <= N`.
        nprobe: lists visited per query, `1 <= nprobe <= nlist`.
        assignments: `(N,)` list of each stored vector; `ivf_assign(database, centroids, metric)`
            if None.
        metric: `"l2"` or `"ip"`, for choosing the lists and ranking the vectors in them (FAISS:
            `IndexIVFFlat(quantizer, d, nlist, metric)` with an `IndexFlatL2` or `IndexFlatIP` quantizer).

    Returns:
        `(distances, ids, n_distances)`: `(nq, k)` results as `exact_search` returns them, padded
        with `inf` (or `-inf` for "ip") and id -1 when the visited lists hold fewer than `k`
        vectors, and `(nq,)` the number of distances computed per query (centroids plus vectors
        scanned).

    Raises:
        TypeError, ValueError: as `exact_search`; also for `nprobe` out of range or `assignments`
            of the wrong shape or range.
    """
    q, x = _pair(queries, database)
    _, c = _pair(queries, centroids, "centroids")
    k = _check_k(k, x.shape[0])
    nlist = c.shape[0]
    check_int("nprobe", nprobe, 1)
    if nprobe > nlist:
        raise ValueError(f"nprobe must be <= the number of centroids ({nlist}), got {nprobe}")
    if assignments is None:
        assignments = ivf_assign(x, c, metric)
    assignments = np.asarray(assignments)
    if assignments.shape != (x.shape[0],) or not np.issubdtype(assignments.dtype, np.integer):
        raise ValueError(f"assignments must be {x.shape[0]} integers (one list per stored vector), "
                         f"got shape {assignments.shape} and dtype {assignments.dtype}")
    if len(assignments) and (assignments.min() < 0 or assignments.max() >= nlist):
        raise ValueError(f"assignments must be list numbers in [0, {nlist}), got values outside")
    lists = [np.flatnonzero(assignments == j) for j in range(nlist)]  # the inverted lists, ids in order
    probes = np.argsort(_scores(q, c, metric), axis=1, kind="stable")[:, :nprobe]  # (nq, nprobe) nearest lists
    distances, ids = np.empty((len(q), k)), np.empty((len(q), k), dtype=np.int64)
    n_distances = np.empty(len(q), dtype=np.int64)
    for i, row in enumerate(probes):
        candidates = np.concatenate([lists[j] for j in row])
        scores = _scores(q[i : i + 1], x[candidates], metric)[0] if len(candidates) else np.zeros(0)
        distances[i], ids[i] = _top_k(scores, candidates, k)
        n_distances[i] = nlist + len(candidates)
    return (-distances if metric == "ip" else distances), ids, n_distances


def _codebooks(codebooks: object) -> np.ndarray:
    if not isinstance(codebooks, np.ndarray):
        raise TypeError(f"codebooks must be a numpy array, got {type(codebooks).__name__}")
    if codebooks.ndim != 3 or 0 in codebooks.shape:
        raise ValueError(f"codebooks must be 3-D (M, ksub, dsub) and non-empty, got shape {codebooks.shape}")
    return codebooks.astype(np.float64)


def _sub_vectors(name: str, x: object, codebooks: np.ndarray) -> np.ndarray:
    """(n, M, dsub) view of (n, d) vectors, with d = M * dsub checked."""
    v = _matrix(name, x)
    m, _, dsub = codebooks.shape
    if v.shape[1] != m * dsub:
        raise ValueError(f"{name} have dimension {v.shape[1]} but the codebooks cover {m} x {dsub} = {m * dsub}")
    return v.reshape(len(v), m, dsub)


def _sub_distances(sub: np.ndarray, codebooks: np.ndarray) -> np.ndarray:
    """(n, M, ksub) squared distances of each sub-vector to each codeword of its sub-space."""
    # ||s - c||^2 = ||s||^2 - 2 s.c + ||c||^2 in each sub-space, clipped at 0 against rounding
    cross = np.stack([sub[:, m] @ codebooks[m].T for m in range(codebooks.shape[0])], axis=1)  # (n, M, ksub)
    d2 = (sub * sub).sum(-1)[:, :, None] - 2.0 * cross + (codebooks * codebooks).sum(-1)[None, :, :]
    return np.maximum(d2, 0.0)


def pq_encode(vectors: np.ndarray, codebooks: np.ndarray) -> np.ndarray:
    """Product-quantization codes: the nearest codeword of each sub-vector.

    A vector $x \\in \\mathbb{R}^d$ is cut into $M$ sub-vectors $x^{(m)}$ of $d/M$ dimensions; code
    $m$ is $\\arg\\min_j \\|x^{(m)} - c^{(m)}_j\\|^2$ over the `ksub` codewords of sub-space $m$
    (Jégou, Douze and Schmid 2011). With `ksub = 256`, each code is one byte: $M$ bytes per vector.
    Equal to FAISS's `ProductQuantizer.compute_codes` with the same codebooks (`pq.centroids`).

    Args:
        vectors: `(n, d)` vectors, `d = M * dsub`.
        codebooks: `(M, ksub, dsub)` codewords of each sub-space.

    Returns:
        `(n, M)` int64 codes in `[0, ksub)`; a tie goes to the lower-numbered codeword.

    Raises:
        TypeError, ValueError: if the arrays are malformed or the dimensions do not match.
    """
    cb = _codebooks(codebooks)
    sub = _sub_vectors("vectors", vectors, cb)  # (n, M, dsub)
    codes = np.empty(sub.shape[:2], dtype=np.int64)
    for m in range(cb.shape[0]):  # one sub-space at a time: (n, ksub) distances, smallest wins
        codes[:, m] = np.argmin(_sub_distances(sub[:, m : m + 1], cb[m : m + 1])[:, 0], axis=1)
    return codes


def _check_codes(codes: object, codebooks: np.ndarray) -> np.ndarray:
    c = np.asarray(codes)
    m, ksub, _ = codebooks.shape
    if c.ndim != 2 or c.shape[1] != m or not np.issubdtype(c.dtype, np.integer):
        raise ValueError(f"codes must be integers of shape (n, {m}), got shape {c.shape} and dtype {c.dtype}")
    if c.size and (c.min() < 0 or c.max() >= ksub):
        raise ValueError(f"codes must lie in [0, {ksub}), got values outside")
    return c.astype(np.int64)


def pq_decode(codes: np.ndarray, codebooks: np.ndarray) -> np.ndarray:
    """The vectors that codes stand for: the chosen codewords, concatenated.

    $\\hat{x} = [c^{(1)}_{j_1}, \\dots, c^{(M)}_{j_M}]$. Equal to FAISS's `ProductQuantizer.decode`.

    Args:
        codes: `(n, M)` integer codes from `pq_encode`.
        codebooks: `(M, ksub, dsub)` codewords of each sub-space.

    Returns:
        `(n, M * dsub)` float64 reconstructions.

    Raises:
        TypeError, ValueError: if the codes do not fit the codebooks.
    """
    cb = _codebooks(codebooks)
    c = _check_codes(codes, cb)
    m = cb.shape[0]
    return cb[np.arange(m)[None, :], c].reshape(len(c), -1)  # (n, M, dsub) -> (n, d)


def pq_distance_tables(queries: np.ndarray, codebooks: np.ndarray) -> np.ndarray:
    """Lookup tables of the asymmetric distance: $T[i, m, j] = \\|q_i^{(m)} - c^{(m)}_j\\|^2$.

    Computed once per query ($M \\cdot$ `ksub` sub-distances), they turn the distance to any code
    into $M$ table lookups and additions.

    Args:
        queries: `(nq, d)` query vectors (not quantized: the distance is asymmetric).
        codebooks: `(M, ksub, dsub)` codewords of each sub-space.

    Returns:
        `(nq, M, ksub)` squared sub-distances.

    Raises:
        TypeError, ValueError: if the arrays are malformed or the dimensions do not match.
    """
    cb = _codebooks(codebooks)
    return _sub_distances(_sub_vectors("queries", queries, cb), cb)


def pq_search(queries: np.ndarray, codes: np.ndarray, codebooks: np.ndarray,
              k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exhaustive search over PQ codes with the asymmetric distance (ADC).

    $\\tilde d(q, x)^2 = \\sum_m T[m, j_m(x)] = \\|q - \\hat{x}\\|^2$: the exact squared distance from
    the query to the decoded vector, read from `pq_distance_tables`. Equal to FAISS's `IndexPQ`
    search with the same codebooks.

    Args:
        queries: `(nq, d)` query vectors.
        codes: `(N, M)` codes of the stored vectors; the id of a vector is its row.
        codebooks: `(M, ksub, dsub)` codewords of each sub-space.
        k: neighbours per query, `1 <= k <= N`.

    Returns:
        `(distances, ids)`, both `(nq, k)`, nearest first (ties by id).

    Raises:
        TypeError, ValueError: if the arrays are malformed, empty or do not fit, or `k` is out of range.
    """
    cb = _codebooks(codebooks)
    c = _check_codes(codes, cb)
    if len(c) == 0:
        raise ValueError("codes is empty: there is nothing to search")
    k = _check_k(k, len(c), "codes")
    tables = pq_distance_tables(queries, cb)  # (nq, M, ksub)
    m = cb.shape[0]
    approx = tables[:, np.arange(m)[None, :], c].sum(-1)  # (nq, N): sum over sub-spaces of T[m, code_m]
    ids = np.arange(len(c))
    out = [_top_k(row, ids, k) for row in approx]
    return (np.array([s for s, _ in out]).reshape(len(approx), k),
            np.array([i for _, i in out], dtype=np.int64).reshape(len(approx), k))
