"""Sparse retrieval on the book's labelled set: an inverted index, TF-IDF equal to scikit-learn's
TfidfVectorizer, BM25 equal to rank_bm25's BM25Okapi and to bm25s' Lucene variant, and how k1 and b
shape a BM25 term score."""

# --8<-- [start:index]
from genai_guide.knowledge_base import load_labelled_set
from genai_guide.sparse import BM25, TfidfIndex, inverted_index, tokenize

kb = load_labelled_set()  # 44 passages about the story's harbour town, 30 labelled questions
corpus = [tokenize(doc) for doc in kb.documents]  # "The bakery. The bakery on Quay Street ..." -> tokens
index = inverted_index(corpus)  # term -> {passage index: count}
print(f"{len(corpus)} passages, {sum(map(len, corpus))} tokens, {len(index)} terms")
for term in ("tidewheel", "lamp", "the"):
    postings = index[term]
    print(f"{term!r:11} in {len(postings):2} passages: {[kb.passage_ids[d] for d in postings][:6]}")
assert index["lamp"] == {d: doc.count("lamp") for d, doc in enumerate(corpus) if "lamp" in doc}
# --8<-- [end:index]

# --8<-- [start:tfidf]
import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

question = kb.questions[0]  # a keyword question: one rare name among common words
tfidf = TfidfIndex(kb.documents)  # smoothed idf, raw counts, L2-normalised rows
top = tfidf.search(question.text, k=3)
print(f"\n{question.text}  (relevant: {question.relevant})")
print("TF-IDF:", [(kb.passage_ids[i], round(s, 3)) for i, s in top])

reference = TfidfVectorizer()  # scikit-learn's defaults: smooth_idf=True, sublinear_tf=False, norm="l2"
matrix = reference.fit_transform(kb.documents)
assert tfidf.vocabulary == reference.vocabulary_
np.testing.assert_allclose(tfidf.matrix, matrix.toarray(), rtol=1e-12, atol=1e-15)
np.testing.assert_allclose(tfidf.scores(question.text), (matrix @ reference.transform([question.text]).T).toarray()[:, 0],
                           rtol=1e-12, atol=1e-15)
# --8<-- [end:tfidf]

# --8<-- [start:saturation]


def term_score(tf: int, length: float, k1: float, b: float, avgdl: float = 20.0) -> float:
    """The BM25 term-frequency factor of one term (okapi form), without the idf."""
    return tf * (k1 + 1) / (tf + k1 * (1 - b + b * length / avgdl))


print("\nsaturation (document of average length): tf ->", " ".join(f"{tf:>5}" for tf in (1, 2, 3, 5, 10, 50)))
for k1 in (0.0, 0.5, 1.2, 2.0):
    print(f"  k1 = {k1:<3}  ", " ".join(f"{term_score(tf, 20, k1, 0.75):5.2f}" for tf in (1, 2, 3, 5, 10, 50)),
          f" (limit {k1 + 1:.1f})")
print("length normalisation (tf = 3, k1 = 1.2): length / average ->", " ".join(f"{r:>5}" for r in (0.5, 1, 2, 4)))
for b in (0.0, 0.5, 0.75, 1.0):
    print(f"  b = {b:<4}  ", " ".join(f"{term_score(3, 20 * r, 1.2, b):5.2f}" for r in (0.5, 1, 2, 4)))

# the closed form agrees with the index: one term, one document of each length
docs = [["lamp"] * 3 + ["pad"] * (n - 3) for n in (10, 20, 40, 80)] + [["other"] * 20] * 8
bm = BM25(docs, k1=1.2, b=0.75)
np.testing.assert_allclose(bm.scores(["lamp"])[:4] / bm.idf["lamp"],
                           [term_score(3, n, 1.2, 0.75, avgdl=bm.avgdl) for n in (10, 20, 40, 80)], rtol=1e-12)
# --8<-- [end:saturation]

# --8<-- [start:bm25]
import bm25s
from rank_bm25 import BM25Okapi

query = tokenize(question.text)
okapi = BM25(corpus, k1=1.5, b=0.75)  # rank_bm25's variant and defaults
lucene = BM25(corpus, k1=1.5, b=0.75, idf="lucene")  # bm25s' default variant
print("\nBM25 okapi: ", [(kb.passage_ids[i], round(s, 3)) for i, s in okapi.search(query, k=3)])
print("BM25 lucene:", [(kb.passage_ids[i], round(s, 3)) for i, s in lucene.search(query, k=3)])
print(f"idf okapi:  tidewheel {okapi.idf['tidewheel']:.3f}, harbour {okapi.idf['harbour']:.3f}, "
      f"the {okapi.idf['the']:.3f} (floored: {okapi.epsilon} x mean idf)")
print(f"idf lucene: tidewheel {lucene.idf['tidewheel']:.3f}, harbour {lucene.idf['harbour']:.3f}, "
      f"the {lucene.idf['the']:.3f}")

np.testing.assert_allclose(okapi.scores(query), BM25Okapi(corpus).get_scores(query), rtol=1e-12)
reference = bm25s.BM25(method="lucene", dtype="float64")  # float32 by default
reference.index(corpus, show_progress=False)
np.testing.assert_allclose(lucene.scores(query), reference.get_scores(query), rtol=1e-12)
# the floor lifts "the" (in all 44 passages) above "harbour" (in 18): a common word outweighs a rarer one
assert okapi.idf["the"] > okapi.idf["harbour"] and lucene.idf["the"] < lucene.idf["harbour"]
assert okapi.search(query, k=1)[0][0] == lucene.search(query, k=1)[0][0] == kb.passage_ids.index("p04")
# --8<-- [end:bm25]
