"""genai_guide.sparse, genai_guide.retrieval_metrics and genai_guide.knowledge_base against reference libraries.

- `tokenize` equals scikit-learn's default analyzer; `TfidfIndex` equals `TfidfVectorizer` (vocabulary,
  idf_, document matrix, query vectors) over smooth_idf, sublinear_tf and norm;
- `BM25(idf="okapi")` equals `rank_bm25.BM25Okapi.get_scores` (epsilon floor included) and
  `BM25(idf="lucene")` equals `bm25s.BM25(method="lucene", dtype="float64").get_scores`, on seeded
  random corpora with repeated, common and unknown query tokens, random k1, b and epsilon;
- `ndcg_at_k` equals `sklearn.metrics.ndcg_score` on random graded gains with many tied scores, with and
  without k; recall@k, precision@k and reciprocal rank equal their definitions computed by brute force;
- `reciprocal_rank_fusion` equals the formula of Cormack et al. (2009) written out by hand;
- the shipped labelled set loads from package data and every judgement names a real passage;
- bad input gets a TypeError/ValueError naming the argument.
"""

from __future__ import annotations

import random

import bm25s
import numpy as np
import pytest
from rank_bm25 import BM25Okapi
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import ndcg_score

from genai_guide.knowledge_base import KINDS, labelled_set_names, load_labelled_set
from genai_guide.retrieval_metrics import (
    dcg_at_k,
    evaluate,
    ndcg_at_k,
    precision_at_k,
    recall_at_k,
    reciprocal_rank,
)
from genai_guide.sparse import (
    BM25,
    TfidfIndex,
    inverted_index,
    reciprocal_rank_fusion,
    tokenize,
    top_k,
)

WORDS = ["lamp", "keeper", "tower", "boat", "bread", "the", "a", "harbour", "fish", "Net", "x", "1888", "é-té"]


def random_tokens(rng: random.Random, vocab: list[str], lo: int = 0, hi: int = 12) -> list[str]:
    return [rng.choice(vocab) for _ in range(rng.randint(lo, hi))]


def random_corpus(rng: random.Random) -> list[list[str]]:
    vocab = [f"t{i}" for i in range(rng.randint(1, 15))]
    corpus = [random_tokens(rng, vocab) for _ in range(rng.randint(1, 12))]
    if not any(corpus):
        corpus[0].append(vocab[0])
    return corpus


def test_tokenize_equals_sklearn_default_analyzer():
    analyzer = TfidfVectorizer().build_analyzer()
    rng = random.Random(0)
    for _ in range(300):
        text = " ".join(rng.choice(WORDS + [",", ".", "I", "a1", "Ünïcode", "don't"]) for _ in range(rng.randint(0, 20)))
        assert tokenize(text) == analyzer(text)


@pytest.mark.parametrize("smooth_idf", [True, False])
@pytest.mark.parametrize("sublinear_tf", [False, True])
@pytest.mark.parametrize("norm", ["l2", "l1", None])
def test_tfidf_equals_sklearn(smooth_idf, sublinear_tf, norm):
    rng = random.Random(hash((smooth_idf, sublinear_tf, norm)) % 1000)
    for _ in range(40):
        docs = [" ".join(random_tokens(rng, WORDS, 0, 15)) for _ in range(rng.randint(1, 10))]
        if not any(tokenize(d) for d in docs):
            docs.append("lamp")
        queries = [" ".join(random_tokens(rng, WORDS + ["unknown"], 0, 8)) for _ in range(3)]
        ours = TfidfIndex(docs, smooth_idf=smooth_idf, sublinear_tf=sublinear_tf, norm=norm)
        ref = TfidfVectorizer(smooth_idf=smooth_idf, sublinear_tf=sublinear_tf, norm=norm)
        matrix = ref.fit_transform(docs).toarray()
        assert ours.vocabulary == ref.vocabulary_
        np.testing.assert_allclose(ours.idf, ref.idf_, rtol=1e-12)
        np.testing.assert_allclose(ours.matrix, matrix, rtol=1e-12, atol=1e-15)
        q = ref.transform(queries).toarray()
        np.testing.assert_allclose(ours.transform(queries), q, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(ours.scores(queries[0]), matrix @ q[0], rtol=1e-12, atol=1e-15)


def test_inverted_index_holds_every_posting():
    rng = random.Random(1)
    for _ in range(100):
        corpus = random_corpus(rng)
        index = inverted_index(corpus)
        assert list(index) == sorted({t for doc in corpus for t in doc})
        for term, postings in index.items():
            assert postings == {d: doc.count(term) for d, doc in enumerate(corpus) if term in doc}


def test_bm25_okapi_equals_rank_bm25():
    rng = random.Random(2)
    for _ in range(400):
        corpus = random_corpus(rng)
        k1, b, eps = rng.uniform(0, 3), rng.uniform(0, 1), rng.uniform(0, 1)
        ref = BM25Okapi(corpus, k1=k1, b=b, epsilon=eps)
        ours = BM25(corpus, k1=k1, b=b, epsilon=eps)
        assert ours.idf == pytest.approx(ref.idf, rel=1e-12, abs=1e-15)
        vocab = sorted(ours.index) + ["unknown"]
        for _ in range(5):
            query = random_tokens(rng, vocab, 0, 6)  # repeats and unknown tokens included
            np.testing.assert_allclose(ours.scores(query), ref.get_scores(query), rtol=1e-12, atol=1e-14)


def test_bm25_okapi_defaults_equal_rank_bm25_on_the_labelled_set():
    kb = load_labelled_set()
    corpus = [tokenize(d) for d in kb.documents]
    ref, ours = BM25Okapi(corpus), BM25(corpus)
    for q in kb.questions:
        np.testing.assert_allclose(ours.scores(tokenize(q.text)), ref.get_scores(tokenize(q.text)), rtol=1e-12)


def test_bm25_lucene_equals_bm25s():
    rng = random.Random(3)
    for _ in range(200):
        corpus = random_corpus(rng)
        k1, b = rng.uniform(0.1, 3), rng.uniform(0, 1)
        ref = bm25s.BM25(k1=k1, b=b, method="lucene", dtype="float64")
        ref.index(corpus, show_progress=False)
        ours = BM25(corpus, k1=k1, b=b, idf="lucene")
        vocab = sorted(ours.index) + ["unknown"]
        for _ in range(5):
            query = random_tokens(rng, vocab, 1, 6)  # bm25s rejects an empty query
            np.testing.assert_allclose(ours.scores(query), ref.get_scores(query), rtol=1e-12, atol=1e-14)


def test_bm25_saturation_and_length_normalisation():
    # one more occurrence adds less each time (k1), and a longer document scores lower (b)
    corpus = [["lamp"] * n + ["pad"] * 4 for n in range(1, 6)] + [["other"]] * 10
    s = BM25(corpus, k1=1.2, b=0.0).scores(["lamp"])
    gains = np.diff(s[:5])
    assert (gains > 0).all() and (np.diff(gains) < 0).all()
    assert s[4] < BM25(corpus, k1=1.2).idf["lamp"] * 2.2  # bounded by idf * (k1 + 1)
    short_long = [["lamp", "pad"], ["lamp"] + ["pad"] * 9] + [["other"]] * 4
    s = BM25(short_long, b=0.75).scores(["lamp"])
    assert s[0] > s[1]
    s = BM25(short_long, b=0.0).scores(["lamp"])
    assert s[0] == s[1]


def test_rrf_equals_the_formula():
    rng = random.Random(4)
    for _ in range(200):
        docs = [f"d{i}" for i in range(rng.randint(1, 12))]
        rankings = [rng.sample(docs, rng.randint(0, len(docs))) for _ in range(rng.randint(1, 4))]
        if not any(rankings):
            rankings[0] = [docs[0]]
        k = rng.choice([0, 1, 60])
        fused = reciprocal_rank_fusion(rankings, k=k)
        expected = {d: sum(1 / (k + r.index(d) + 1) for r in rankings if d in r) for d in docs
                    if any(d in r for r in rankings)}
        assert dict(fused) == pytest.approx(expected, rel=1e-12)
        values = [s for _, s in fused]
        assert values == sorted(values, reverse=True)


def test_rrf_hand_example_and_tie_order():
    fused = reciprocal_rank_fusion([["a", "b", "c"], ["b", "c", "a"]])
    assert [d for d, _ in fused] == ["b", "a", "c"]
    assert fused[0][1] == pytest.approx(1 / 62 + 1 / 61)
    # a and b tie: first appearance decides
    assert [d for d, _ in reciprocal_rank_fusion([["a", "b"], ["b", "a"]])] == ["a", "b"]
    weighted = reciprocal_rank_fusion([["a", "b"], ["b", "a"]], weights=[1.0, 2.0])
    assert [d for d, _ in weighted] == ["b", "a"]


def test_ndcg_equals_sklearn_with_ties():
    rng = np.random.default_rng(5)
    for _ in range(400):
        n_queries, n_docs = rng.integers(1, 5), rng.integers(2, 12)
        y_true = rng.integers(0, 4, size=(n_queries, n_docs)).astype(float)
        if rng.random() < 0.5:
            y_true = (y_true > 1).astype(float)  # binary judgements
        y_score = rng.integers(0, 4, size=(n_queries, n_docs)).astype(float)  # many ties
        k = None if rng.random() < 0.3 else int(rng.integers(1, n_docs + 1))
        assert ndcg_at_k(y_true, y_score, k=k) == pytest.approx(ndcg_score(y_true, y_score, k=k), rel=1e-12, abs=1e-15)
        assert ndcg_at_k(y_true[0], y_score[0], k=k) == pytest.approx(ndcg_score(y_true[:1], y_score[:1], k=k),
                                                                       rel=1e-12, abs=1e-15)
        distinct = rng.permutation(n_docs)[None, :].repeat(n_queries, 0) + rng.random((n_queries, n_docs))
        assert ndcg_at_k(y_true, distinct, k=k, ignore_ties=True) == pytest.approx(
            ndcg_score(y_true, distinct, k=k, ignore_ties=True), rel=1e-12, abs=1e-15)


def test_ndcg_tie_averaging_by_hand():
    # sklearn's docstring example: the top-1 is a tie between gains 10 and 5 -> mean 7.5 over ideal 10
    assert ndcg_at_k([10, 0, 0, 1, 5], [1, 0, 0, 0, 1], k=1) == pytest.approx(0.75)
    assert ndcg_at_k([10, 0, 0, 1, 5], [1, 0, 0, 0, 1], k=1, ignore_ties=True) == pytest.approx(1.0)  # index order
    assert dcg_at_k([1, 0, 1], [3, 2, 1]) == pytest.approx(1 + 1 / np.log2(4))


def test_ranking_metrics_equal_their_definitions():
    rng = random.Random(6)
    for _ in range(500):
        docs = [f"d{i}" for i in range(rng.randint(1, 15))]
        ranking = rng.sample(docs, len(docs))
        relevant = set(rng.sample(docs, rng.randint(1, len(docs))))
        k = rng.randint(1, len(docs))
        hits = [d in relevant for d in ranking[:k]]
        assert recall_at_k(ranking, relevant, k) == sum(hits) / len(relevant)
        assert precision_at_k(ranking, relevant, k) == sum(hits) / k
        first = next(i for i, d in enumerate(ranking) if d in relevant)
        assert reciprocal_rank(ranking, relevant) == 1 / (first + 1)
        assert reciprocal_rank(ranking, relevant, k=k) == (1 / (first + 1) if first < k else 0.0)


def test_evaluate_averages_the_metrics():
    rankings = {"q1": ["a", "b", "c"], "q2": ["c", "a", "b"]}
    qrels = {"q1": {"b"}, "q2": {"c", "b"}}
    m = evaluate(rankings, qrels, k=2)
    assert m["recall"] == pytest.approx((1 + 0.5) / 2)
    assert m["precision"] == pytest.approx((0.5 + 0.5) / 2)
    assert m["mrr"] == pytest.approx((0.5 + 1) / 2)
    gains = np.array([[0, 1, 0], [1, 0, 1]])
    assert m["ndcg"] == pytest.approx(ndcg_score(gains, [[3, 2, 1], [3, 2, 1]], k=2))


def test_labelled_set_loads_and_is_consistent():
    assert "harbour_guide" in labelled_set_names()
    kb = load_labelled_set("harbour_guide")
    assert 30 <= len(kb.passages) <= 60 and 20 <= len(kb.questions) <= 30
    ids = kb.passage_ids
    assert len(set(ids)) == len(ids) and len(kb.documents) == len(ids)
    assert {q.kind for q in kb.questions} == set(KINDS)
    for q in kb.questions:
        assert q.relevant and set(q.relevant) <= set(ids)
        assert kb.qrels()[q.id] == set(q.relevant)
    matrix = np.array(kb.relevance_matrix())
    assert matrix.shape == (len(kb.questions), len(ids)) and matrix.sum() == sum(len(q.relevant) for q in kb.questions)
    assert kb.passage("p04").title == "The bakery"


@pytest.mark.parametrize(("call", "error", "match"), [
    (lambda: BM25([]), ValueError, "corpus must not be empty"),
    (lambda: BM25([[], []]), ValueError, "corpus must contain"),
    (lambda: BM25("the lamp"), TypeError, "corpus"),
    (lambda: BM25(["the lamp"]), TypeError, r"corpus\[0\]"),
    (lambda: BM25([["a"]], k1=-1), ValueError, "k1"),
    (lambda: BM25([["a"]], b=2), ValueError, "b must"),
    (lambda: BM25([["a"]], idf="bm25+"), ValueError, "idf"),
    (lambda: BM25([["a"]]).scores("a"), TypeError, "query"),
    (lambda: BM25([["a"], ["b"]]).search(["a"], k=3), ValueError, "k must be <="),
    (lambda: BM25([["a"], ["b"]]).search(["a"], k=0), ValueError, "k must be >="),
    (lambda: TfidfIndex([]), ValueError, "documents must not be empty"),
    (lambda: TfidfIndex(["a ."]), ValueError, "empty vocabulary"),
    (lambda: TfidfIndex(["the lamp"], norm="l3"), ValueError, "norm"),
    (lambda: TfidfIndex(["the lamp"]).transform("lamp"), TypeError, "texts"),
    (lambda: tokenize(3), TypeError, "text"),
    (lambda: top_k([[1.0, 2.0]], 1), ValueError, "scores"),
    (lambda: reciprocal_rank_fusion([]), ValueError, "rankings"),
    (lambda: reciprocal_rank_fusion([["a", "a"]]), ValueError, r"rankings\[0\] repeats"),
    (lambda: reciprocal_rank_fusion([["a"]], k=-1), ValueError, "k must"),
    (lambda: reciprocal_rank_fusion([["a"]], weights=[1, 2]), ValueError, "weights"),
    (lambda: recall_at_k(["a", "b"], {"a"}, k=3), ValueError, "k must be <="),
    (lambda: recall_at_k(["a", "b"], set(), k=1), ValueError, "relevant"),
    (lambda: precision_at_k(["a", "a"], {"a"}, k=1), ValueError, "ranking"),
    (lambda: reciprocal_rank("ab", {"a"}), TypeError, "ranking"),
    (lambda: ndcg_at_k([1, 0], [1, 0, 2]), ValueError, "same"),
    (lambda: ndcg_at_k([1], [1]), ValueError, "at least 2"),
    (lambda: ndcg_at_k([-1, 0], [1, 0]), ValueError, "negative"),
    (lambda: ndcg_at_k([1, 0], [1, 0], k=3), ValueError, "k must be <="),
    (lambda: evaluate({"q1": ["a", "b"]}, {"q2": {"a"}}, k=1), ValueError, "same question ids"),
    (lambda: evaluate({"q1": ["a", "b"]}, {"q1": {"z"}}, k=1), ValueError, "unknown document ids"),
    (lambda: evaluate({"q1": ["a", "b"], "q2": ["a"]}, {"q1": {"a"}, "q2": {"a"}}, k=1), ValueError, "same documents"),
    (lambda: load_labelled_set("nope"), ValueError, "name must be one of"),
    (lambda: load_labelled_set(3), TypeError, "name"),
    (lambda: load_labelled_set().passage("p99"), ValueError, "passage_id"),
])
def test_bad_input_is_rejected(call, error, match):
    with pytest.raises(error, match=match):
        call()
