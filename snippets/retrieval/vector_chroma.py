"""Chroma as an embedded vector database: a persistent collection on disk with our own embeddings (no
model download), queries equal to brute force, metadata and document filters, and the data read back
by a second, fresh Python process."""

# --8<-- [start:store]
import json
import re
import shutil
import subprocess
import sys
import tempfile
import zlib

import chromadb
import numpy as np
from chromadb.config import Settings

from genai_guide.texts import read_text
from genai_guide.vector_search import exact_search

STOP = {"the", "a", "and", "of", "to", "in", "was", "it", "they", "she", "her", "them", "than", "at", "on"}


def embed(texts: list[str], dim: int = 256) -> np.ndarray:
    """A stand-in embedding model: hashed bag of words, normalised (any model's vectors go in the same way)."""
    out = np.zeros((len(texts), dim))
    for row, text in zip(out, texts, strict=True):
        for word in re.findall(r"[a-z]+", text.lower()):
            if word not in STOP:
                row[zlib.crc32(word.encode()) % dim] += 1.0  # crc32: the same bucket in every process
    return out / np.linalg.norm(out, axis=1, keepdims=True)


lines = read_text("harbour").splitlines()  # 20 lines: one chunk each
vectors = embed(lines)
path = tempfile.mkdtemp(prefix="chroma-")  # the database is a folder: SQLite plus index files
client = chromadb.PersistentClient(path=path, settings=Settings(anonymized_telemetry=False))
collection = client.create_collection(
    "harbour",
    embedding_function=None,  # we pass vectors ourselves: Chroma never loads its default ONNX model
    configuration={"hnsw": {"space": "cosine"}},  # distance = 1 - cosine similarity
)
collection.add(
    ids=[f"line-{i:02d}" for i in range(len(lines))],
    embeddings=vectors,
    documents=lines,
    metadatas=[{"line": i, "half": "first" if i < 10 else "second"} for i in range(len(lines))],
)
print(f"{collection.count()} chunks stored in {collection.name!r}")
# --8<-- [end:store]

# --8<-- [start:query]
question = "the keeper climbed the tower to light the lamp"
q = embed([question])
result = collection.query(query_embeddings=q, n_results=4, include=["distances", "documents"])
ids, distances = result["ids"][0], result["distances"][0]
for chunk_id, text in zip(ids, result["documents"][0], strict=True):
    print(f"  {chunk_id}: {text[:60]}...")

similarity, best = exact_search(q, vectors, k=4, metric="ip")  # brute force: cosine of unit vectors
assert ids == [f"line-{i:02d}" for i in best[0]]  # Chroma's HNSW returns the exact top 4 here
assert np.allclose(distances, 1 - similarity[0], atol=1e-6)  # float32 inside Chroma
# --8<-- [end:query]

# --8<-- [start:filter]
later = collection.query(query_embeddings=q, n_results=3, where={"half": "second"})  # metadata filter
print("where half = second:", later["ids"][0])
late = collection.query(query_embeddings=q, n_results=2, where={"line": {"$gte": 15}},
                        where_document={"$contains": "paint"})  # and a filter on the text itself
print("where line >= 15 and text contains 'paint':", late["ids"][0])

allowed = np.array([i for i in range(len(lines)) if i >= 10])  # the same filter by hand: search the subset
_, sub = exact_search(q, vectors[allowed], k=3, metric="ip")
assert later["ids"][0] == [f"line-{allowed[j]:02d}" for j in sub[0]]
assert late["ids"][0] == ["line-16", "line-18"]  # lines 15-18 mention painting; 16 and 18 share words
# --8<-- [end:filter]

# --8<-- [start:restart]
del collection, client  # this process is done with the database; a new one opens the folder
reader = f"""
import json, chromadb
from chromadb.config import Settings
client = chromadb.PersistentClient(path={path!r}, settings=Settings(anonymized_telemetry=False))
collection = client.get_collection("harbour")
hits = collection.query(query_embeddings={json.dumps(q.tolist())}, n_results=4)
print(json.dumps({{"count": collection.count(), "ids": hits["ids"][0]}}))
"""
child = subprocess.run([sys.executable, "-c", reader], capture_output=True, text=True, check=True)
reopened = json.loads(child.stdout.strip().splitlines()[-1])
print(f"a fresh process finds {reopened['count']} chunks and the same top 4: {reopened['ids'] == ids}")
assert reopened == {"count": len(lines), "ids": ids}
shutil.rmtree(path)  # delete the database
# --8<-- [end:restart]
