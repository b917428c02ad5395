"""Exact search, IVF and product quantization in FAISS, each proved equal to the book's NumPy version
(genai_guide.vector_search): flat = brute force, IVF with nprobe = nlist = exact, PQ codes and
asymmetric distances = ours with the same codebooks."""

# --8<-- [start:data]
import faiss
import numpy as np

from genai_guide.vector_search import (
    exact_search,
    ivf_assign,
    ivf_search,
    knn_recall,
    pq_decode,
    pq_encode,
    pq_search,
)

faiss.omp_set_num_threads(1)  # small data: one thread is faster than two that wait for each other
rng = np.random.default_rng(0)
n, d, nq, k = 10_000, 32, 200, 10
centers = rng.normal(0, 0.5, (200, d))  # 200 topics; each vector is a topic plus noise


def sample(count: int) -> np.ndarray:
    x = centers[rng.integers(0, len(centers), count)] + rng.normal(0, 0.5, (count, d))
    return (np.clip(np.round(x * 64), -127, 127) / 64).astype(np.float32)  # int8 codes / 64: exact in float32


database, queries = sample(n), sample(nq)
print(f"{n} vectors of dimension {d}, {nq} queries, k = {k}")
# --8<-- [end:data]

# --8<-- [start:flat]
flat = faiss.IndexFlatL2(d)  # stores the vectors as they are; search compares with all of them
flat.add(database)
D, I = flat.search(queries, k)  # squared L2 distances and ids, nearest first
true_d, true_i = exact_search(queries, database, k)  # the same in NumPy float64
assert np.array_equal(D, true_d)  # equal to the last bit: every distance is exact on this 1/64 grid
assert (I == true_i).mean() > 0.999 and knn_recall(I, true_i) > 0.999  # ids may swap only on exact ties
print("IndexFlatL2 = brute force:", I[0].tolist())

flat_ip = faiss.IndexFlatIP(d)  # inner product, larger is nearer (cosine on normalised vectors)
flat_ip.add(database)
D_ip, I_ip = flat_ip.search(queries, k)
ip_d, ip_i = exact_search(queries, database, k, metric="ip")
assert np.array_equal(D_ip, ip_d) and knn_recall(I_ip, ip_i) > 0.999
print("IndexFlatIP = brute force:", I_ip[0].tolist())
# --8<-- [end:flat]

# --8<-- [start:ivf]
nlist = 64
quantizer = faiss.IndexFlatL2(d)  # the coarse quantizer: finds the nearest centroids
ivf = faiss.IndexIVFFlat(quantizer, d, nlist)
ivf.cp.seed = 1234  # k-means initialisation (a random sample of the training set) is seeded
ivf.train(database[:5000])  # k-means: nlist centroids
ivf.add(database)  # each vector goes into the inverted list of its nearest centroid
centroids = quantizer.reconstruct_n(0, nlist)
invlists = ivf.invlists
lists = np.zeros(n, dtype=np.int64)
for j in range(nlist):
    lists[faiss.rev_swig_ptr(invlists.get_ids(j), invlists.list_size(j))] = j
print(f"IVF: {nlist} lists of {np.bincount(lists).min()} to {np.bincount(lists).max()} vectors")
assert (lists == ivf_assign(database, centroids)).mean() > 0.999  # we file vectors as FAISS does

for nprobe in (1, 4, 16, nlist):
    ivf.nprobe = nprobe
    _, I_ivf = ivf.search(queries, k)
    _, ours, cost = ivf_search(queries, database, centroids, k, nprobe, assignments=lists)
    assert knn_recall(I_ivf, ours) > 0.999  # our IVF visits the same lists and finds the same vectors
    print(f"  nprobe {nprobe:>2}: recall@{k} {knn_recall(I_ivf, I):.3f}, "
          f"{cost.mean():>7.0f} distances per query ({cost.mean() / n:.0%} of flat)")
assert knn_recall(I_ivf, I) == 1.0  # nprobe = nlist visits every list: exact search
# --8<-- [end:ivf]

# --8<-- [start:pq]
M, nbits = 8, 8  # 8 sub-vectors of 4 dimensions, 2^8 = 256 codewords each: 8 bytes a vector
pq = faiss.ProductQuantizer(d, M, nbits)
pq.cp.seed = 1234
pq.cp.niter = 10  # k-means iterations (default 25)
pq.train(database)  # k-means in each 4-dimensional sub-space (FAISS asks for >= 39 points a centroid)
codebooks = faiss.vector_to_array(pq.centroids).reshape(M, 2**nbits, d // M)
codes = pq.compute_codes(database)  # (n, 8) uint8
assert (codes == pq_encode(database, codebooks)).mean() > 0.999  # our encoder, same codebooks
decoded = pq.decode(codes)
assert np.allclose(decoded, pq_decode(codes, codebooks), atol=1e-6)
error = ((database - decoded) ** 2).sum(1).mean() / (database**2).sum(1).mean()
print(f"PQ: {database.nbytes // n} bytes -> {codes.shape[1]} bytes a vector, "
      f"relative squared error {error:.2f}")

index_pq = faiss.IndexPQ(d, M, nbits)  # exhaustive search over the codes, asymmetric distance
index_pq.pq = pq
index_pq.is_trained = True
index_pq.add(database)
_, I_pq = index_pq.search(queries, k)
_, ours_pq = pq_search(queries, codes, codebooks, k)
assert knn_recall(I_pq, ours_pq) > 0.99  # our asymmetric distance ranks as FAISS's does
print(f"IndexPQ: recall@{k} {knn_recall(I_pq, I):.2f}")

_, shortlist = index_pq.search(queries, 100)  # 100 candidates by compressed distance ...
reranked = np.array([c[np.argsort(((database[c] - q) ** 2).sum(1), kind="stable")[:k]]
                     for q, c in zip(queries, shortlist)])  # ... re-ranked with the full vectors
print(f"top 100 by PQ, re-ranked exactly: recall@{k} {knn_recall(reranked, I):.2f}")
# --8<-- [end:pq]
