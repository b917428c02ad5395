"""genai_guide.vector_search against FAISS (faiss-cpu) and torch, on seeded random vectors.

`exact_search` must return FAISS's `IndexFlatL2` / `IndexFlatIP` results and torch's brute force;
`ivf_search` must return `IndexIVFFlat`'s with the same quantizer and inverted lists for every nprobe
(and the exact search's at nprobe = nlist), count the distances FAISS counts, and pad as FAISS pads;
`pq_encode`, `pq_decode`, `pq_distance_tables` and `pq_search` must equal `ProductQuantizer.compute_codes`,
`decode`, `compute_distance_tables` and `IndexPQ` with the same codebooks. FAISS computes in float32 and
we in float64, so ids are compared where the distances are not tied within float32 rounding.
"""

from __future__ import annotations

import faiss
import numpy as np
import pytest
import torch

from genai_guide.vector_search import (
    exact_search,
    ivf_assign,
    ivf_search,
    knn_recall,
    pq_decode,
    pq_distance_tables,
    pq_encode,
    pq_search,
)


@pytest.fixture(autouse=True)
def _one_thread():
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    yield
    faiss.omp_set_num_threads(before)


def vectors(seed: int, n: int, d: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)


def assert_same_results(d_ref, i_ref, d_ours, i_ours, rtol=1e-5, atol=1e-4):
    """Distances equal within float32 rounding; ids equal except where the reference distances tie."""
    np.testing.assert_allclose(d_ours, d_ref, rtol=rtol, atol=atol)
    for dr, ir, io in zip(d_ref, i_ref, i_ours, strict=True):
        gaps = np.diff(dr.astype(np.float64))
        clear = np.ones(len(dr), bool)
        clear[:-1] &= np.abs(gaps) > 1e-4 * (1 + np.abs(dr[:-1]))
        clear[1:] &= np.abs(gaps) > 1e-4 * (1 + np.abs(dr[1:]))
        assert np.array_equal(ir[clear], io[clear])


@pytest.mark.parametrize("metric", ["l2", "ip"])
@pytest.mark.parametrize("seed", range(3))
def test_exact_search_equals_faiss_flat_and_torch(metric, seed):
    x, q = vectors(seed, 500, 24), vectors(seed + 100, 30, 24)
    index = faiss.IndexFlatL2(24) if metric == "l2" else faiss.IndexFlatIP(24)
    index.add(x)
    D, I = index.search(q, 7)
    d_ours, i_ours = exact_search(q, x, 7, metric=metric)
    assert d_ours.dtype == np.float64 and i_ours.dtype == np.int64 and d_ours.shape == (30, 7)
    assert_same_results(D, I, d_ours, i_ours)
    qt, xt = torch.from_numpy(q).double(), torch.from_numpy(x).double()
    scores = -torch.cdist(qt, xt) ** 2 if metric == "l2" else qt @ xt.T
    top = scores.topk(7, dim=1)
    assert_same_results((-top.values if metric == "l2" else top.values).numpy(), top.indices.numpy(), d_ours, i_ours)


def test_exact_search_on_a_grid_is_bit_exact_and_orders_ties_by_id():
    rng = np.random.default_rng(0)
    x = (rng.integers(-127, 128, (2000, 32)) / 64).astype(np.float32)  # every distance exact in float32
    q = (rng.integers(-127, 128, (50, 32)) / 64).astype(np.float32)
    index = faiss.IndexFlatL2(32)
    index.add(x)
    D, _ = index.search(q, 10)
    d_ours, _ = exact_search(q, x, 10)
    assert np.array_equal(D, d_ours)
    dup = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    _, ids = exact_search(np.array([[1.0, 0.0]]), dup, 4)
    assert ids.tolist() == [[0, 2, 1, 3]]


def ivf_index(x: np.ndarray, nlist: int, metric: str, seed: int):
    d = x.shape[1]
    if metric == "l2":
        quantizer, faiss_metric = faiss.IndexFlatL2(d), faiss.METRIC_L2
    else:
        quantizer, faiss_metric = faiss.IndexFlatIP(d), faiss.METRIC_INNER_PRODUCT
    index = faiss.IndexIVFFlat(quantizer, d, nlist, faiss_metric)
    index.cp.seed = seed
    index.train(x)
    index.add(x)
    lists = np.full(len(x), -1, dtype=np.int64)
    for j in range(nlist):
        lists[faiss.rev_swig_ptr(index.invlists.get_ids(j), index.invlists.list_size(j))] = j
    return index, quantizer.reconstruct_n(0, nlist), lists


@pytest.mark.parametrize("metric", ["l2", "ip"])
def test_ivf_search_equals_faiss_ivfflat_for_every_nprobe(metric):
    x, q = vectors(1, 2000, 16), vectors(2, 40, 16)
    nlist = 16
    index, centroids, lists = ivf_index(x, nlist, metric, seed=3)
    assert (lists >= 0).all()
    assert (ivf_assign(x, centroids, metric) == lists).mean() > 0.995  # float64 vs float32 near-ties aside
    exact_d, exact_i = exact_search(q, x, 5, metric=metric)
    for nprobe in (1, 2, 5, nlist):
        index.nprobe = nprobe
        faiss.cvar.indexIVF_stats.reset()
        D, I = index.search(q, 5)
        d_ours, i_ours, cost = ivf_search(q, x, centroids, 5, nprobe, assignments=lists, metric=metric)
        assert_same_results(D, I, d_ours, i_ours)
        assert cost.sum() == len(q) * nlist + faiss.cvar.indexIVF_stats.ndis  # centroids + vectors scanned
    assert_same_results(exact_d, exact_i, d_ours, i_ours)  # nprobe = nlist is exact search
    assert knn_recall(i_ours, exact_i) == 1.0


def test_ivf_search_computes_its_own_lists_and_pads_like_faiss():
    x, q = vectors(4, 300, 8), vectors(5, 10, 8)
    _, centroids, _ = ivf_index(x, 8, "l2", seed=1)
    d1, i1, _ = ivf_search(q, x, centroids, 3, 2)
    d2, i2, _ = ivf_search(q, x, centroids, 3, 2, assignments=ivf_assign(x, centroids))
    assert np.array_equal(i1, i2) and np.array_equal(d1, d2)
    # three vectors in one list, none in the other: a search for 5 visiting one list pads with -1
    tiny = np.array([[0.0, 0.0], [0.1, 0.0], [0.0, 0.1]], dtype=np.float32)
    cents = np.array([[0.0, 0.0], [10.0, 10.0]], dtype=np.float32)
    quantizer = faiss.IndexFlatL2(2)
    quantizer.add(cents)
    ivf = faiss.IndexIVFFlat(quantizer, 2, 2)
    ivf.is_trained = True
    ivf.add(tiny)
    ivf.nprobe = 1
    _, I = ivf.search(np.zeros((1, 2), np.float32), 3)
    _, ids, cost = ivf_search(np.zeros((1, 2)), tiny, cents, 3, 1)
    assert ids.tolist() == I.tolist() and cost.tolist() == [5]
    dist, ids, _ = ivf_search(np.full((1, 2), 9.0), tiny, cents, 2, 1)  # the nearest list is empty
    assert ids.tolist() == ivf.search(np.full((1, 2), 9.0, np.float32), 2)[1].tolist() == [[-1, -1]]
    assert np.isinf(dist).all()


def trained_pq(x: np.ndarray, m: int, nbits: int = 8):
    pq = faiss.ProductQuantizer(x.shape[1], m, nbits)
    pq.cp.seed = 7
    pq.cp.niter = 8
    pq.train(x)
    return pq, faiss.vector_to_array(pq.centroids).reshape(m, 2**nbits, x.shape[1] // m)


def test_pq_codes_decoding_and_tables_equal_faiss():
    x, q = vectors(6, 10_000, 16), vectors(7, 20, 16)
    pq, codebooks = trained_pq(x, 4)
    codes = pq.compute_codes(x)  # (n, 4) uint8
    ours = pq_encode(x, codebooks)
    assert (ours == codes).mean() > 0.999  # float64 vs float32 near-ties aside
    np.testing.assert_allclose(pq_decode(codes, codebooks), pq.decode(codes), atol=1e-6)
    tables = np.empty((len(q), 4, 256), dtype=np.float32)
    pq.compute_distance_tables(len(q), faiss.swig_ptr(q), faiss.swig_ptr(tables))
    np.testing.assert_allclose(pq_distance_tables(q, codebooks), tables, rtol=1e-5, atol=1e-5)


def test_pq_search_is_the_asymmetric_distance_and_equals_indexpq():
    x, q = vectors(8, 10_000, 16), vectors(9, 25, 16)
    pq, codebooks = trained_pq(x, 4)
    index = faiss.IndexPQ(16, 4, 8)
    index.pq = pq
    index.is_trained = True
    index.add(x)
    D, I = index.search(q, 10)
    codes = pq.compute_codes(x)
    d_ours, i_ours = pq_search(q, codes, codebooks, 10)
    assert_same_results(D, I, d_ours, i_ours, atol=1e-4)
    decoded = pq_decode(codes, codebooks)  # ADC = exact distance to the decoded vectors
    d_dec, _ = exact_search(q, decoded, 10)
    np.testing.assert_allclose(d_ours, d_dec, atol=1e-9)


def test_knn_recall():
    truth = np.array([[1, 2, 3], [4, 5, 6]])
    assert knn_recall(truth, truth) == 1.0
    assert knn_recall(np.array([[3, 9, -1], [6, 5, 4]]), truth) == pytest.approx((1 / 3 + 1) / 2)
    with pytest.raises(ValueError, match="same"):
        knn_recall(truth[:, :2], truth)


@pytest.mark.parametrize(
    "call,error,message",
    [
        (lambda: exact_search(np.zeros((1, 3)), np.zeros((0, 3)), 1), ValueError, "database is empty"),
        (lambda: exact_search(np.zeros((1, 3)), np.zeros((4, 3)), 5), ValueError, r"k must be <= .*\(4\)"),
        (lambda: exact_search(np.zeros((1, 3)), np.zeros((4, 3)), 0), ValueError, "k must be >= 1"),
        (lambda: exact_search(np.zeros((1, 3)), np.zeros((4, 3)), 1.0), TypeError, "k must be an int"),
        (lambda: exact_search(np.zeros((1, 2)), np.zeros((4, 3)), 1), ValueError, "dimension 2 but database"),
        (lambda: exact_search(np.zeros(3), np.zeros((4, 3)), 1), ValueError, "queries must be 2-D"),
        (lambda: exact_search([[0.0, 1.0]], np.zeros((4, 2)), 1), TypeError, "queries must be a numpy array"),
        (lambda: exact_search(np.zeros((1, 2)), np.array([["a", "b"]]), 1), TypeError, "database must hold"),
        (lambda: exact_search(np.full((1, 2), np.nan), np.zeros((4, 2)), 1), ValueError, "queries must be finite"),
        (lambda: exact_search(np.zeros((1, 2)), np.zeros((4, 2)), 1, metric="cos"), ValueError, "metric"),
        (lambda: ivf_search(np.zeros((1, 2)), np.zeros((4, 2)), np.zeros((2, 2)), 1, 3), ValueError,
         r"nprobe must be <= .*\(2\)"),
        (lambda: ivf_search(np.zeros((1, 2)), np.zeros((4, 2)), np.zeros((2, 3)), 1, 1), ValueError,
         "dimension 2 but centroids"),
        (lambda: ivf_search(np.zeros((1, 2)), np.zeros((4, 2)), np.zeros((2, 2)), 1, 1, assignments=np.zeros(3, int)),
         ValueError, "assignments must be 4 integers"),
        (lambda: ivf_search(np.zeros((1, 2)), np.zeros((4, 2)), np.zeros((2, 2)), 1, 1, assignments=np.full(4, 2)),
         ValueError, r"assignments must be list numbers in \[0, 2\)"),
        (lambda: pq_encode(np.zeros((3, 10)), np.zeros((4, 8, 2))), ValueError, "vectors have dimension 10"),
        (lambda: pq_encode(np.zeros((3, 8)), np.zeros((4, 8))), ValueError, "codebooks must be 3-D"),
        (lambda: pq_decode(np.full((2, 4), 8), np.zeros((4, 8, 2))), ValueError, r"codes must lie in \[0, 8\)"),
        (lambda: pq_decode(np.zeros((2, 3), int), np.zeros((4, 8, 2))), ValueError, r"codes must be integers of shape"),
        (lambda: pq_search(np.zeros((1, 8)), np.zeros((0, 4), int), np.zeros((4, 8, 2)), 1), ValueError,
         "codes is empty"),
        (lambda: pq_search(np.zeros((1, 8)), np.zeros((3, 4), int), np.zeros((4, 8, 2)), 4), ValueError,
         r"k must be <= the number of vectors in the codes \(3\)"),
        (lambda: pq_distance_tables(np.zeros((1, 6)), np.zeros((4, 8, 2))), ValueError, "queries have dimension 6"),
    ],
)
def test_bad_input_is_rejected_by_name(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_chroma_with_our_embeddings_equals_brute_force_offline(tmp_path):
    """Chroma with explicit embeddings needs no model and no network (sockets are blocked here), and its
    answers, filtered or not, are the exact search's over the vectors that pass the filter."""
    import chromadb
    from chromadb.config import Settings

    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 16))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    q = rng.normal(size=(3, 16))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    client = chromadb.PersistentClient(path=str(tmp_path), settings=Settings(anonymized_telemetry=False))
    collection = client.create_collection("vectors", embedding_function=None, configuration={"hnsw": {"space": "cosine"}})
    collection.add(ids=[f"v{i}" for i in range(60)], embeddings=x, metadatas=[{"i": i, "even": i % 2 == 0} for i in range(60)])
    result = collection.query(query_embeddings=q, n_results=5)
    sims, ids = exact_search(q, x, 5, metric="ip")
    assert result["ids"] == [[f"v{i}" for i in row] for row in ids]
    np.testing.assert_allclose(result["distances"], 1 - sims, atol=1e-5)
    filtered = collection.query(query_embeddings=q, n_results=5, where={"$and": [{"even": True}, {"i": {"$lt": 40}}]})
    allowed = np.array([i for i in range(60) if i % 2 == 0 and i < 40])
    _, sub = exact_search(q, x[allowed], 5, metric="ip")
    assert filtered["ids"] == [[f"v{allowed[j]}" for j in row] for row in sub]
