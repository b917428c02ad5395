"""Recall@10 against the number of distances computed per query, for IVF (over nprobe) and HNSW (over
efSearch) in FAISS, on the same 10,000 vectors as vector_faiss.py. Work is counted in distance
computations, not seconds, so the figure is the same on every machine."""

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # draw to a file, no window
import faiss
import matplotlib.pyplot as plt
import numpy as np

from genai_guide.vector_search import exact_search, knn_recall

# --8<-- [start:sweep]
rng = np.random.default_rng(0)
n, d, nq, k = 10_000, 32, 200, 10
centers = rng.normal(0, 0.5, (200, d))


def sample(count: int) -> np.ndarray:
    x = centers[rng.integers(0, len(centers), count)] + rng.normal(0, 0.5, (count, d))
    return (np.clip(np.round(x * 64), -127, 127) / 64).astype(np.float32)


database, queries = sample(n), sample(nq)
_, truth = exact_search(queries, database, k)

faiss.omp_set_num_threads(1)  # HNSW inserts in parallel otherwise, and the graph depends on the order
hnsw = faiss.IndexHNSWFlat(d, 16)  # M = 16 links a node (32 on the bottom layer)
hnsw.hnsw.efConstruction = 40  # candidate list while inserting
hnsw.add(database)
levels = np.bincount(faiss.vector_to_array(hnsw.hnsw.levels) - 1)
print("HNSW: vectors per top layer:", levels.tolist())

curves = {"HNSW (efSearch)": [], "IVF, 64 lists (nprobe)": []}
for ef in (10, 16, 32, 64, 128, 256):
    hnsw.hnsw.efSearch = ef  # candidate list while searching, >= k
    faiss.cvar.hnsw_stats.reset()
    _, found = hnsw.search(queries, k)
    curves["HNSW (efSearch)"].append((ef, faiss.cvar.hnsw_stats.ndis / nq, knn_recall(found, truth)))

quantizer = faiss.IndexFlatL2(d)
ivf = faiss.IndexIVFFlat(quantizer, d, 64)
ivf.cp.seed = 1234
ivf.train(database[:5000])
ivf.add(database)
for nprobe in (1, 2, 4, 8, 16, 32, 64):
    ivf.nprobe = nprobe
    faiss.cvar.indexIVF_stats.reset()
    _, found = ivf.search(queries, k)
    cost = 64 + faiss.cvar.indexIVF_stats.ndis / nq  # centroids + vectors in the visited lists
    curves["IVF, 64 lists (nprobe)"].append((nprobe, cost, knn_recall(found, truth)))

print(f"{'index':<24}{'setting':>8}{'distances':>10}{'recall@10':>10}")
for name, points in curves.items():
    for setting, cost, recall in points:
        print(f"{name.split(' (')[0]:<24}{setting:>8}{cost:>10.0f}{recall:>10.3f}")
print(f"{'flat (exact)':<24}{'':>8}{n:>10}{1:>10.3f}")
hnsw_95 = min(c for _, c, r in curves["HNSW (efSearch)"] if r >= 0.95)
ivf_95 = min(c for _, c, r in curves["IVF, 64 lists (nprobe)"] if r >= 0.95)
print(f"distances for recall >= 0.95: HNSW {hnsw_95:.0f}, IVF {ivf_95:.0f}, flat {n}")
assert hnsw_95 < ivf_95 < n  # on these vectors the graph needs the fewest comparisons
# --8<-- [end:sweep]

# --8<-- [start:figure]
fig, ax = plt.subplots(figsize=(6.4, 3.8))
for (name, points), marker in zip(curves.items(), "os", strict=True):
    cost = [round(c, 1) for _, c, _ in points]  # rounded: the same coordinates on every CPU
    recall = [r for _, _, r in points]
    ax.plot(cost, recall, marker=marker, label=name)
    for setting, c, r in points:
        ax.annotate(str(setting), (round(c, 1), r), textcoords="offset points", xytext=(4, -10), fontsize=7)
ax.plot([n], [1.0], marker="*", markersize=10, linestyle="none", color="black", label="flat (exact)")
ax.set_xscale("log")
ax.set_xlabel("distance computations per query (log scale)")
ax.set_ylabel("recall@10")
ax.set_title(f"Recall against work: {n:,} vectors, d = {d}")
ax.grid(True, which="both", alpha=0.3)
ax.legend(loc="lower right")
fig.tight_layout()

plt.rcParams["svg.hashsalt"] = "genai-guide"  # stable ids: the same figure gives the same file
out_dir = Path(os.environ.get("GENAI_GUIDE_FIGURES", "."))
out_dir.mkdir(parents=True, exist_ok=True)
fig.savefig(out_dir / "vector_tradeoff.svg", metadata={"Date": None})
print("saved vector_tradeoff.svg")
# --8<-- [end:figure]
