"""Cosine, dot product and L2 distance rank the same four vectors three different ways; after
normalising every vector to length 1, they rank them alike, because |u - v|^2 = 2 - 2 cos(u, v)."""

# --8<-- [start:three]
import torch
import torch.nn.functional as F

from genai_guide.similarity import cosine_scores, dot_scores, l2_distances, normalize, top_k_search

torch.set_default_dtype(torch.float64)
query = torch.tensor([[1.0, 1.0]])
corpus = torch.tensor([[1.0, 0.8],    # 0: close to the query, similar length
                       [4.0, 1.0],    # 1: long, 31 degrees off
                       [0.3, 0.3],    # 2: short, exactly the query's direction
                       [-1.0, 0.5]])  # 3: pointing elsewhere

table = {"dot": dot_scores(query, corpus)[0], "cosine": cosine_scores(query, corpus)[0],
         "L2 distance": l2_distances(query, corpus)[0]}
for name, values in table.items():
    ranking = values.argsort(descending=name != "L2 distance", stable=True).tolist()  # L2: smaller is closer
    print(f"{name:>11}: {[round(v, 3) for v in values.tolist()]}  ranking {ranking}")

torch.testing.assert_close(table["cosine"], F.cosine_similarity(query, corpus))
torch.testing.assert_close(table["L2 distance"], torch.cdist(query, corpus)[0])
# --8<-- [end:three]

# --8<-- [start:normalised]
q, c = normalize(query), normalize(corpus)  # every row now has length 1
rankings = {m: top_k_search(q, c, k=4, metric=m)[1][0].tolist() for m in ("cosine", "dot", "l2")}
print("normalised, rankings:", rankings)
assert rankings["cosine"] == rankings["dot"] == rankings["l2"]
torch.testing.assert_close(dot_scores(q, c), cosine_scores(query, corpus))  # dot of unit vectors = cosine
torch.testing.assert_close(l2_distances(q, c) ** 2, 2 - 2 * cosine_scores(query, corpus))  # the identity
# --8<-- [end:normalised]
