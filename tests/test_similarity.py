"""genai_guide.similarity against sentence-transformers (6.x), on seeded random inputs.

Scores: `util.cos_sim`, `util.dot_score`, `util.euclidean_sim` (and torch's `cdist`). Search:
`util.semantic_search` returns the same corpus ids, in the same order, with the same scores, for every
metric and many shapes. Pooling: `Pooling(pooling_mode="mean")` on padded batches. Loss:
`MultipleNegativesRankingLoss.compute_loss_from_embeddings`, value and gradients, with and without hard
negatives, for several scales and similarity functions. Properties: after normalisation the three
metrics rank alike and $\\lVert u - v \\rVert^2 = 2 - 2\\cos(u, v)$. Bad input fails with an error naming the
argument.
"""

from __future__ import annotations

import pytest
import torch
from sentence_transformers import util
from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
from sentence_transformers.sentence_transformer.modules import Pooling

from genai_guide.similarity import (
    cosine_scores,
    dot_scores,
    info_nce_loss,
    l2_distances,
    mean_pooling,
    normalize,
    score,
    top_k_search,
)

REFERENCE_SCORE = {"cosine": util.cos_sim, "dot": util.dot_score, "l2": util.euclidean_sim}
SHAPES = [(1, 1, 1), (1, 5, 3), (3, 7, 4), (8, 50, 16), (20, 200, 32)]  # (queries, corpus, dim)


def random_pair(seed: int, q: int, n: int, d: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    scale = torch.rand(n, 1, generator=g, dtype=torch.float64) * 3 + 0.1  # lengths vary: metrics disagree
    return (torch.randn(q, d, generator=g, dtype=torch.float64),
            torch.randn(n, d, generator=g, dtype=torch.float64) * scale)


@pytest.mark.parametrize(("q", "n", "d"), SHAPES)
def test_scores_equal_sentence_transformers(q, n, d):
    queries, corpus = random_pair(q * 1000 + n, q, n, d)
    torch.testing.assert_close(cosine_scores(queries, corpus), util.cos_sim(queries, corpus))
    torch.testing.assert_close(dot_scores(queries, corpus), util.dot_score(queries, corpus))
    torch.testing.assert_close(l2_distances(queries, corpus), -util.euclidean_sim(queries, corpus))
    torch.testing.assert_close(l2_distances(queries, corpus), torch.cdist(queries, corpus))
    for metric, reference in REFERENCE_SCORE.items():
        torch.testing.assert_close(score(queries, corpus, metric), reference(queries, corpus))


@pytest.mark.parametrize("metric", ["cosine", "dot", "l2"])
@pytest.mark.parametrize(("q", "n", "d"), SHAPES)
def test_top_k_search_equals_semantic_search(metric, q, n, d):
    queries, corpus = random_pair(7 * n + d, q, n, d)
    for k in sorted({1, min(3, n), n}):
        scores, ids = top_k_search(queries, corpus, k, metric)
        assert scores.shape == ids.shape == (q, k)
        hits = util.semantic_search(queries, corpus, top_k=k, score_function=REFERENCE_SCORE[metric],
                                    corpus_chunk_size=max(1, n // 3), query_chunk_size=2)
        assert ids.tolist() == [[h["corpus_id"] for h in row] for row in hits]
        torch.testing.assert_close(scores, torch.tensor([[h["score"] for h in row] for row in hits],
                                                        dtype=torch.float64))
        assert (scores[:, :-1] >= scores[:, 1:]).all()  # best first


def test_ties_go_to_the_lower_index():
    corpus = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [2.0, 0.0]])
    _, ids = top_k_search(torch.tensor([[1.0, 0.0]]), corpus, k=3)
    assert ids.tolist() == [[0, 2, 3]]  # cosine 1 for rows 0, 2 and 3: in index order


def test_normalised_vectors_rank_alike_under_the_three_metrics():
    for seed in range(20):
        queries, corpus = random_pair(seed, 4, 30, 8)
        queries_n, corpus_n = normalize(queries), normalize(corpus)
        torch.testing.assert_close(queries_n.norm(dim=1), torch.ones(4, dtype=torch.float64))
        ids = [top_k_search(queries_n, corpus_n, 30, m)[1] for m in ("cosine", "dot", "l2")]
        assert torch.equal(ids[0], ids[1]) and torch.equal(ids[0], ids[2])
        torch.testing.assert_close(l2_distances(queries_n, corpus_n) ** 2, 2 - 2 * cosine_scores(queries, corpus))
    # unnormalised, dot product and cosine disagree on these vectors of varied length
    queries, corpus = random_pair(0, 4, 30, 8)
    assert not torch.equal(top_k_search(queries, corpus, 30, "dot")[1], top_k_search(queries, corpus, 30, "cosine")[1])


@pytest.mark.parametrize("mask_dtype", [torch.int64, torch.bool, torch.float64])
def test_mean_pooling_equals_sentence_transformers_pooling(mask_dtype):
    g = torch.Generator().manual_seed(1)
    for batch, seq, dim in [(1, 1, 1), (2, 5, 3), (6, 12, 8)]:
        tokens = torch.randn(batch, seq, dim, generator=g, dtype=torch.float64)
        lengths = torch.randint(1, seq + 1, (batch,), generator=g)
        mask = (torch.arange(seq)[None, :] < lengths[:, None]).to(mask_dtype)  # right padding
        reference = Pooling(dim, pooling_mode="mean")({"token_embeddings": tokens, "attention_mask": mask})
        torch.testing.assert_close(mean_pooling(tokens, mask), reference["sentence_embedding"])
        # padding is ignored: changing the padded positions changes nothing
        noisy = torch.where(mask.bool()[:, :, None], tokens, torch.randn_like(tokens) * 100)
        torch.testing.assert_close(mean_pooling(noisy, mask), mean_pooling(tokens, mask))


@pytest.mark.parametrize("negatives", [0, 1, 2])
@pytest.mark.parametrize(("metric", "scale"), [("cosine", 20.0), ("cosine", 1.0), ("dot", 1.0), ("l2", 0.5)])
def test_info_nce_equals_multiple_negatives_ranking_loss(negatives, metric, scale):
    g = torch.Generator().manual_seed(negatives * 10 + int(scale))
    for batch, dim in [(1, 4), (4, 8), (16, 5)]:
        queries = torch.randn(batch, dim, generator=g, dtype=torch.float64, requires_grad=True)
        docs = torch.randn(batch * (1 + negatives), dim, generator=g, dtype=torch.float64, requires_grad=True)
        ours = info_nce_loss(queries, docs, scale=scale, metric=metric)
        reference_loss = MultipleNegativesRankingLoss(None, scale=scale, similarity_fct=REFERENCE_SCORE[metric])
        columns = [queries, *docs.split(batch)]  # anchor, positive, negative_1, ...
        theirs = reference_loss.compute_loss_from_embeddings(columns, labels=None)
        torch.testing.assert_close(ours, theirs)
        grads = torch.autograd.grad(ours, (queries, docs))
        reference_grads = torch.autograd.grad(theirs, (queries, docs))
        for a, b in zip(grads, reference_grads, strict=True):
            torch.testing.assert_close(a, b)


def test_info_nce_is_low_when_pairs_match_and_log_b_when_all_alike():
    batch = 8
    docs = torch.eye(batch, dtype=torch.float64)
    assert info_nce_loss(docs.clone(), docs).item() < 1e-6  # each query is its document, scale 20
    same = torch.ones(batch, 3, dtype=torch.float64)
    torch.testing.assert_close(info_nce_loss(same, same), torch.log(torch.tensor(batch, dtype=torch.float64)))


@pytest.mark.parametrize(("call", "error", "match"), [
    (lambda: top_k_search(torch.randn(2, 3), torch.randn(0, 3), 1), ValueError, "corpus must not be empty"),
    (lambda: top_k_search(torch.randn(2, 3), torch.randn(4, 3), 5), ValueError, "k must be <= the number of corpus rows"),
    (lambda: top_k_search(torch.randn(2, 3), torch.randn(4, 3), 0), ValueError, "k must be >= 1"),
    (lambda: top_k_search(torch.randn(2, 3), torch.randn(4, 3), 1.0), TypeError, "k must be an int"),
    (lambda: top_k_search(torch.randn(2, 3), torch.randn(4, 5), 1), ValueError, "same embedding size"),
    (lambda: top_k_search(torch.randn(3), torch.randn(4, 3), 1), ValueError, "queries must be a 2-D tensor"),
    (lambda: top_k_search(torch.randn(2, 3), torch.randn(4, 3), 1, "manhattan"), ValueError, "metric must be one of"),
    (lambda: cosine_scores([[1.0]], torch.randn(1, 1)), TypeError, "queries must be a torch.Tensor"),
    (lambda: dot_scores(torch.randn(1, 2), torch.ones(3, 2, dtype=torch.int64)), TypeError, "corpus must have a floating"),
    (lambda: l2_distances(torch.randn(1, 2), torch.randn(2, 3)), ValueError, "same embedding size"),
    (lambda: normalize(torch.randn(2, 3, 4)), ValueError, "x must be a 2-D tensor"),
    (lambda: mean_pooling(torch.randn(2, 3), torch.ones(2, 3)), ValueError, "token_embeddings must be 3-D"),
    (lambda: mean_pooling(torch.randn(2, 3, 4), torch.ones(2, 4)), ValueError, "attention_mask must have shape"),
    (lambda: mean_pooling(torch.randn(2, 3, 4), [[1, 1, 1]] * 2), TypeError, "attention_mask must be a torch.Tensor"),
    (lambda: mean_pooling(torch.randn(2, 3, 4), torch.tensor([[1, 1, 0], [0, 0, 0]])), ValueError, "no token"),
    (lambda: mean_pooling(torch.randn(1, 2, 4), torch.tensor([[1, 2]])), ValueError, "only 0 and 1"),
    (lambda: info_nce_loss(torch.randn(0, 3), torch.randn(0, 3)), ValueError, "queries must not be empty"),
    (lambda: info_nce_loss(torch.randn(2, 3), torch.randn(3, 3)), ValueError, "documents must have B"),
    (lambda: info_nce_loss(torch.randn(2, 3), torch.randn(2, 4)), ValueError, "same embedding size"),
    (lambda: info_nce_loss(torch.randn(2, 3), torch.randn(2, 3), scale=0.0), ValueError, "scale must be"),
])
def test_bad_input_is_rejected_naming_the_argument(call, error, match):
    with pytest.raises(error, match=match):
        call()
