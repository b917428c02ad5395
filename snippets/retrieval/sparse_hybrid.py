"""Hybrid retrieval on the book's labelled set: BM25 and a small dense embedding (character n-gram
TF-IDF reduced by truncated SVD, i.e. latent semantic analysis) fused by reciprocal rank fusion, and
measured with recall@k, precision@k, MRR and nDCG@k, nDCG equal to scikit-learn's ndcg_score."""

# --8<-- [start:dense]
import numpy as np
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, TfidfVectorizer

from genai_guide.knowledge_base import load_labelled_set
from genai_guide.sparse import BM25, reciprocal_rank_fusion, tokenize

kb = load_labelled_set()
questions = [q.text for q in kb.questions]


def content_words(text: str) -> str:
    return " ".join(w for w in tokenize(text) if w not in ENGLISH_STOP_WORDS)


# a light dense embedding: TF-IDF of character 3- to 5-grams (so "mended" meets "mending"),
# projected on the 10 main directions of the passages (LSA), unit length
char_tfidf = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True,
                             preprocessor=content_words).fit(kb.documents)
svd = TruncatedSVD(n_components=10, algorithm="arpack", random_state=0).fit(char_tfidf.transform(kb.documents))


def embed(texts: list[str]) -> np.ndarray:
    vectors = svd.transform(char_tfidf.transform(texts))  # (n, 10), dense
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


dense_scores = embed(questions) @ embed(kb.documents).T  # cosine similarity, (30 questions, 44 passages)
bm25 = BM25([tokenize(d) for d in kb.documents])
sparse_scores = np.array([bm25.scores(tokenize(q)) for q in questions])
print(f"dense: {dense_scores.shape[1]} passages as {svd.n_components}-dim vectors; "
      f"sparse: {len(bm25.index)} terms")
# --8<-- [end:dense]

# --8<-- [start:fusion]
ids = np.array(kb.passage_ids)


def ranking(scores: np.ndarray) -> list[str]:
    return [str(d) for d in ids[np.argsort(-scores, kind="stable")]]  # best first, ties in passage order


runs = {"BM25": [ranking(s) for s in sparse_scores], "dense": [ranking(s) for s in dense_scores]}
# fuse only the passages BM25 matched (score > 0): the rest tie at 0 and their order means nothing
matched = [[d for d in r if s[kb.passage_ids.index(d)] > 0] for r, s in zip(runs["BM25"], sparse_scores)]
runs["hybrid (RRF)"] = [[d for d, _ in reciprocal_rank_fusion([m, r], k=60)] for m, r in zip(matched, runs["dense"])]

for i in (13, 17):  # q14, a keyword question, and q18, a paraphrase
    question = kb.questions[i]
    print(f"\n{question.id} {question.text}  relevant: {question.relevant}")
    for name, run in runs.items():
        rank = min(run[i].index(p) for p in question.relevant) + 1
        print(f"  {name:13} top 5 {run[i][:5]}  first relevant at {rank}")

fused = dict(reciprocal_rank_fusion([matched[17], runs["dense"][17]], k=60))
assert fused["p22"] == 1 / (60 + matched[17].index("p22") + 1) + 1 / (60 + runs["dense"][17].index("p22") + 1)
# --8<-- [end:fusion]

# --8<-- [start:metrics]
from sklearn.metrics import ndcg_score

from genai_guide.retrieval_metrics import evaluate, ndcg_at_k

qrels = {q.id: set(q.relevant) for q in kb.questions}
print(f"\n{'':13} {'R@3':>5} {'R@5':>5} {'P@3':>5} {'MRR':>5} {'nDCG@5':>6}   R@5 by kind: "
      + " ".join(f"{k:>10}" for k in ("keyword", "paraphrase", "plain")))
results = {}
for name, run in runs.items():
    at3 = evaluate(dict(zip(qrels, run)), qrels, k=3)
    at5 = evaluate(dict(zip(qrels, run)), qrels, k=5)
    by_kind = [evaluate({q.id: r for q, r in zip(kb.questions, run) if q.kind == kind},
                        {q.id: qrels[q.id] for q in kb.questions if q.kind == kind}, k=5)["recall"]
               for kind in ("keyword", "paraphrase", "plain")]
    results[name] = at5
    print(f"{name:13} {at3['recall']:5.3f} {at5['recall']:5.3f} {at3['precision']:5.3f} {at5['mrr']:5.3f} "
          f"{at5['ndcg']:6.3f}   {'':13}" + " ".join(f"{r:10.3f}" for r in by_kind))
best_single = max(results["BM25"]["recall"], results["dense"]["recall"])
assert results["hybrid (RRF)"]["recall"] > best_single  # fusion finds more than either retriever alone

# nDCG straight from the scores, where BM25's zeros are ties: equal to scikit-learn, ties averaged
y_true = np.array(kb.relevance_matrix())
for scores in (sparse_scores, dense_scores):
    assert np.isclose(ndcg_at_k(y_true, scores, k=5), ndcg_score(y_true, scores, k=5), rtol=1e-12)
print(f"\nBM25 nDCG@5 from scores, ties averaged: {ndcg_at_k(y_true, sparse_scores, k=5):.3f} "
      f"(ties broken by passage order: {ndcg_at_k(y_true, sparse_scores, k=5, ignore_ties=True):.3f})")
# --8<-- [end:metrics]
