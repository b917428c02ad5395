"""genai_guide.reranking: rerank against sentence-transformers' CrossEncoder on the same tiny model, context
packing under a token budget with a real tokenizer, the lost-in-the-middle order, prompt assembly and
citation checks, and clear errors on bad input."""

from __future__ import annotations

import doctest
import random

import numpy as np
import pytest
import torch

from genai_guide import reranking
from genai_guide.knowledge_base import load_labelled_set
from genai_guide.reranking import (
    CitationCheck,
    assemble_prompt,
    check_citations,
    lost_in_the_middle_order,
    pack_context,
    parse_citations,
    rerank,
)


def test_doctests():
    assert doctest.testmod(reranking, raise_on_error=True).attempted > 0


@pytest.fixture(scope="module")
def tokenizer():
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.train_from_iterator(load_labelled_set().documents,
                            trainers.WordPieceTrainer(vocab_size=300, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]"]))
    return tok


# --- rerank ---------------------------------------------------------------------------------------

def test_rerank_equals_cross_encoder_rank(tmp_path, tokenizer):
    """Our rerank over a tiny BertForSequenceClassification equals CrossEncoder.rank and .predict on it."""
    from sentence_transformers import CrossEncoder
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    torch.manual_seed(0)
    config = BertConfig(vocab_size=tokenizer.get_vocab_size(), hidden_size=16, num_hidden_layers=1,
                        num_attention_heads=2, intermediate_size=32, max_position_embeddings=128, num_labels=1)
    model = BertForSequenceClassification(config).eval()
    hf_tok = BertTokenizerFast(tokenizer_object=tokenizer, unk_token="[UNK]", pad_token="[PAD]",
                               cls_token="[CLS]", sep_token="[SEP]", mask_token="[UNK]", model_max_length=128)
    model.save_pretrained(tmp_path)
    hf_tok.save_pretrained(tmp_path)
    ce = CrossEncoder(str(tmp_path), device="cpu", local_files_only=True)

    def logits(pairs):
        batch = hf_tok([q for q, _ in pairs], [d for _, d in pairs], padding=True, truncation=True,
                       return_tensors="pt")
        with torch.no_grad():
            return model(**batch).logits.squeeze(-1).tolist()

    kb = load_labelled_set()
    for question in kb.questions[:5]:
        docs = kb.documents[:12]
        ours = rerank(question.text, docs, logits)
        theirs = ce.rank(question.text, docs, activation_fn=torch.nn.Identity())
        assert [i for i, _ in ours] == [r["corpus_id"] for r in theirs]
        np.testing.assert_allclose([s for _, s in ours], [r["score"] for r in theirs], rtol=1e-4, atol=1e-5)
        predicted = ce.predict([(question.text, d) for d in docs])  # default activation: a sigmoid, monotone
        np.testing.assert_allclose(predicted, torch.sigmoid(torch.tensor(logits([(question.text, d) for d in docs]))),
                                   rtol=1e-5, atol=1e-6)
        top3 = ce.rank(question.text, docs, top_k=3, activation_fn=torch.nn.Identity())
        assert [i for i, _ in rerank(question.text, docs, logits, k=3)] == [r["corpus_id"] for r in top3]


def test_rerank_orders_ties_stably():
    scores = [0.5, 2.0, 0.5, 2.0, -1.0]
    result = rerank("q", list("abcde"), lambda pairs: scores)
    assert result == [(1, 2.0), (3, 2.0), (0, 0.5), (2, 0.5), (4, -1.0)]
    assert [i for i, _ in result] == sorted(range(5), key=lambda i: -scores[i])
    assert rerank("q", list("abcde"), lambda pairs: np.array(scores), k=2) == [(1, 2.0), (3, 2.0)]
    seen = []
    rerank("who", ["x", "y"], lambda pairs: seen.extend(pairs) or [0, 1])
    assert seen == [("who", "x"), ("who", "y")]


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"candidates": []}, ValueError, "candidates must not be empty"),
    ({"candidates": "abc"}, TypeError, "candidates"),
    ({"candidates": ["a", 3]}, TypeError, r"candidates\[1\]"),
    ({"k": 4}, ValueError, r"k must be <= len\(candidates\) \(3\)"),
    ({"k": 0}, ValueError, "k must be >= 1"),
    ({"query": None}, TypeError, "query"),
    ({"score_pairs": "model"}, TypeError, "score_pairs must be callable"),
    ({"score_pairs": lambda pairs: [1.0]}, ValueError, "one score per candidate"),
])
def test_rerank_rejects_bad_input(kwargs, error, match):
    args = {"query": "q", "candidates": ["a", "b", "c"], "score_pairs": lambda pairs: [0.0] * len(pairs)} | kwargs
    with pytest.raises(error, match=match):
        rerank(**args)


# --- pack_context ---------------------------------------------------------------------------------

def test_pack_context_never_exceeds_the_budget(tokenizer):
    def count(text):
        return len(tokenizer.encode(text, add_special_tokens=False).ids)

    docs = load_labelled_set().documents
    rng = random.Random(0)
    for _ in range(200):
        ranked = rng.sample(docs, rng.randint(1, 12))
        budget = rng.randint(1, 400)
        packed = pack_context(ranked, budget, count)
        assert sum(count(p) for p in packed) <= budget
        full = [p for p in packed if p in ranked]
        assert packed[: len(full)] == ranked[: len(full)]  # a prefix of the ranking, best first
        if len(packed) > len(full):  # the cut one is a word-boundary prefix of the next passage
            cut = packed[-1]
            nxt = ranked[len(full)]
            assert nxt.startswith(cut) and cut != nxt and nxt[len(cut)].isspace()
            assert len(packed) == len(full) + 1
        elif len(full) < len(ranked):  # nothing was cut: not even the next passage's first word fits
            first_word = ranked[len(full)].split()[0]
            assert sum(count(p) for p in packed) + count(first_word) > budget
        no_cut = pack_context(ranked, budget, count, truncate=False)
        assert no_cut == full


def test_pack_context_fills_greedily():
    words = len  # one "token" per character keeps the arithmetic visible
    assert pack_context(["aaaa", "bbb", "cc"], 9, words) == ["aaaa", "bbb", "cc"]
    assert pack_context(["aaaa", "bbb", "cc"], 8, words) == ["aaaa", "bbb"]
    assert pack_context(["aaaa", "bb bb bb", "cc"], 9, words) == ["aaaa", "bb bb"]
    assert pack_context(["aaaa", "bb bb bb", "cc"], 8, words) == ["aaaa", "bb"]
    assert pack_context(["aaaa", "bb bb bb", "cc"], 9, words, truncate=False) == ["aaaa"]
    assert pack_context(["aaaa", "cc"], 3, words) == []  # a lower-ranked passage never jumps the queue


def test_pack_context_handles_a_non_monotone_counter():
    def odd(text):  # more tokens for some shorter prefixes than for longer ones
        return 10 if len(text.split()) == 3 else len(text.split())

    packed = pack_context(["one two three four five"], 4, odd)
    assert sum(odd(p) for p in packed) <= 4


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"passages": []}, ValueError, "passages must not be empty"),
    ({"budget": 0}, ValueError, "budget must be >= 1"),
    ({"budget": 2.5}, TypeError, "budget must be an int"),
    ({"count_tokens": 3}, TypeError, "count_tokens must be callable"),
    ({"count_tokens": lambda t: -1}, ValueError, "count_tokens must return a count >= 0"),
    ({"count_tokens": lambda t: 1.0}, TypeError, "count_tokens must return an int"),
    ({"passages": ["ok", None]}, TypeError, r"passages\[1\]"),
])
def test_pack_context_rejects_bad_input(kwargs, error, match):
    args = {"passages": ["a b", "c"], "budget": 5, "count_tokens": len} | kwargs
    with pytest.raises(error, match=match):
        pack_context(**args)


# --- lost in the middle ---------------------------------------------------------------------------

@pytest.mark.parametrize("n", range(12))
def test_lost_in_the_middle_order(n):
    ranked = list(range(1, n + 1))  # ranks, 1 best
    order = lost_in_the_middle_order(ranked)
    assert sorted(order) == ranked
    if n >= 2:
        assert order[0] == 1 and order[-1] == 2
    if n >= 4:
        assert order[1] == 3 and order[-2] == 4
    # from each end towards the middle the ranks only get worse: the weakest sit in the middle
    distance_to_end = [min(i, n - 1 - i) for i in range(n)]
    for a in range(n):
        for b in range(n):
            if distance_to_end[a] < distance_to_end[b]:
                assert order[a] < order[b]
    assert lost_in_the_middle_order(tuple(ranked)) == order


def test_lost_in_the_middle_order_example():
    assert lost_in_the_middle_order(list("123456")) == list("135642")
    with pytest.raises(TypeError, match="ranked must be a sequence"):
        lost_in_the_middle_order("abc")


# --- prompt and citations -------------------------------------------------------------------------

def test_assemble_prompt_numbers_the_sources():
    prompt = assemble_prompt(" Who lit the lamp? ", ["The keeper.", "The  lamp\nturns."], instructions="Cite.")
    assert prompt == ("Cite.\n\nSources:\n[1] The keeper.\n[2] The lamp turns.\n\n"
                      "Question: Who lit the lamp?\nAnswer:")
    assert reranking.DEFAULT_INSTRUCTIONS in assemble_prompt("q", ["p"])


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"passages": []}, ValueError, "passages must not be empty"),
    ({"passages": ["a", "  "]}, ValueError, r"passages\[1\] must not be blank"),
    ({"question": " "}, ValueError, "question must not be blank"),
    ({"question": 1}, TypeError, "question must be a str"),
    ({"instructions": None}, TypeError, "instructions must be a str"),
])
def test_assemble_prompt_rejects_bad_input(kwargs, error, match):
    with pytest.raises(error, match=match):
        assemble_prompt(**({"question": "q", "passages": ["p"]} | kwargs))


@pytest.mark.parametrize(("answer", "expected"), [
    ("The lamp burned whale oil [2].", [2]),
    ("It is 12 seconds [3][1], and see [1, 3] again [ 2 ].", [3, 1, 2]),
    ("No citation here.", []),
    ("A [sic] and a [note] are not citations [1].", [1]),
    ("", []),
])
def test_parse_citations(answer, expected):
    assert parse_citations(answer) == expected


@pytest.mark.parametrize(("answer", "match"), [
    ("Sources [1-3] say so.", r"malformed citation '\[1-3\]'"),
    ("See [2a].", r"malformed citation '\[2a\]'"),
    ("See [1,].", r"malformed citation"),
    ("See [0].", "sources are numbered from 1"),
])
def test_parse_citations_rejects_bad_format(answer, match):
    with pytest.raises(ValueError, match=match):
        parse_citations(answer)


def test_check_citations():
    good = check_citations("Whale oil [2], every evening [1].", n_sources=3)
    assert good == CitationCheck(cited=(2, 1), unknown=(), uncited=(3,))
    assert good.ok and good.has_citation
    made_up = check_citations("Whale oil [2], from the archive [5].", n_sources=3)
    assert made_up.unknown == (5,) and not made_up.ok
    none = check_citations("Whale oil.", n_sources=3)
    assert not none.has_citation and not none.ok and none.uncited == (1, 2, 3)
    with pytest.raises(ValueError, match="n_sources must be >= 1"):
        check_citations("x [1]", n_sources=0)
    with pytest.raises(TypeError, match="answer must be a str"):
        check_citations(None, n_sources=2)
