"""genai_guide.metrics against the reference implementations, on many random inputs.

BLEU: sacrebleu 2.x (`corpus_bleu`, `sentence_bleu`, its 13a tokenizer), exactly, with every smoothing
method, both tokenizers, lowercasing and effective order. ROUGE: Google's rouge-score
(`rouge_scorer.RougeScorer`), exactly, for ROUGE-1/2/3, ROUGE-L and ROUGE-Lsum, with its default and a
custom tokenizer. GLUE metrics and Cohen's kappa: scikit-learn and SciPy. Bradley-Terry: scikit-learn's
logistic regression on the pair design matrix (Chatbot Arena's fit). Perplexity: a tiny GPT-2's own
loss, window by window. Multiple choice: lm-evaluation-harness's rules, written as it writes them.
"""

from __future__ import annotations

import math
import random
import warnings

import numpy as np
import pytest
import sacrebleu
import torch
from rouge_score import rouge_scorer
from rouge_score import tokenize as rouge_score_tokenize
from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a
from scipy.stats import pearsonr, spearmanr
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, cohen_kappa_score, f1_score, matthews_corrcoef
from transformers import GPT2Config, GPT2LMHeadModel

from genai_guide.metrics import (
    accuracy,
    bradley_terry,
    brevity_penalty,
    cohen_kappa,
    continuation_logprob,
    corpus_bleu,
    elo_ratings,
    f1,
    mcc,
    ngram_overlap,
    ngrams,
    pearson,
    perplexity,
    pick_choice,
    rouge_l,
    rouge_lsum,
    rouge_n,
    rouge_tokenize,
    sentence_bleu,
    sliding_windows,
    spearman,
    strided_token_nlls,
    tokenize_13a,
    win_probability,
    words,
)

# Words that exercise the 13a rules: punctuation, numbers with . and , and -, entities, quotes, case, accents
VOCAB = ["the", "The", "a", "cat", "dog", "sat", "on", "mat", "keeper", "lamp", ".", ",", "!", "?", ";", ":",
         "3.5", "1,000", "2-3", "well-known", "don't", '"quoted"', "&amp;", "&quot;", "&lt;b&gt;", "(x)", "[y]",
         "{z}", "--", "/", "@", "#", "$", "%", "café", "naïve", "Ο", "φύλακας", "42", "<skipped>", "e.g."]


def _sentence(rng: random.Random, lo: int = 0, hi: int = 14) -> str:
    text = " ".join(rng.choice(VOCAB) for _ in range(rng.randint(lo, hi)))
    return text + rng.choice(["", "", " ", "\n", "-\n"])  # trailing spaces and newlines are stripped / joined


# ------------------------------------------------------------------------------------------------ BLEU

def test_tokenize_13a_equals_sacrebleu():
    rng = random.Random(0)
    theirs = Tokenizer13a()
    for _ in range(2000):
        line = _sentence(rng, 0, 20).replace(" ", rng.choice([" ", "", "  "]), rng.randint(0, 3))
        assert tokenize_13a(line) == theirs(line), line


@pytest.mark.parametrize("smooth", ["exp", "floor", "add-k", "none"])
@pytest.mark.parametrize("tokenize", ["13a", "none"])
def test_corpus_bleu_equals_sacrebleu(smooth, tokenize):
    rng = random.Random(hash((smooth, tokenize)) % 1000)
    for _ in range(150):
        n_refs = rng.randint(1, 3)
        hyps = [_sentence(rng) for _ in range(rng.randint(1, 6))]
        refs = [[_sentence(rng, 1) for _ in range(n_refs)] for _ in hyps]
        lowercase, effective = rng.random() < 0.3, rng.random() < 0.5
        value = rng.choice([None, 0.5, 2.0]) if smooth in ("floor", "add-k") else None
        max_order = rng.choice([4, 4, 2, 3])
        ours = corpus_bleu(hyps, refs, smooth=smooth, smooth_value=value, tokenize=tokenize, lowercase=lowercase,
                           effective_order=effective, max_order=max_order)
        metric = sacrebleu.BLEU(smooth_method=smooth, smooth_value=value, tokenize=tokenize, lowercase=lowercase,
                                effective_order=effective, max_ngram_order=max_order, force=True)
        theirs = metric.corpus_score(hyps, list(zip(*refs)))  # sacrebleu takes one list per reference stream
        assert ours.score == theirs.score
        assert ours.precisions == theirs.precisions and ours.bp == theirs.bp
        assert (ours.hyp_len, ours.ref_len) == (theirs.sys_len, theirs.ref_len)
        assert ours.matches == [int(c) for c in theirs.counts] or smooth == "add-k"  # add-k changes sacrebleu's counts
        if smooth != "add-k":
            assert ours.totals == theirs.totals


def test_sentence_bleu_equals_sacrebleu_defaults_and_options():
    rng = random.Random(1)
    for _ in range(500):
        hyp, refs = _sentence(rng), [_sentence(rng, 1) for _ in range(rng.randint(1, 3))]
        assert sentence_bleu(hyp, refs).score == sacrebleu.sentence_bleu(hyp, refs).score
        smooth = rng.choice(["exp", "floor", "add-k", "none"])
        assert (sentence_bleu(hyp, refs, smooth=smooth, effective_order=False, lowercase=True).score
                == sacrebleu.sentence_bleu(hyp, refs, smooth_method=smooth, use_effective_order=False,
                                           lowercase=True).score)


def test_corpus_bleu_is_not_the_mean_of_sentence_bleu():
    """The check has power: the common hand-rolled 'average of sentence scores' differs from sacrebleu."""
    rng = random.Random(2)
    differ = 0
    for _ in range(50):
        hyps = [_sentence(rng, 4) for _ in range(4)]
        refs = [[_sentence(rng, 4)] for _ in hyps]
        mean = sum(sentence_bleu(h, r).score for h, r in zip(hyps, refs)) / len(hyps)
        differ += abs(mean - sacrebleu.corpus_bleu(hyps, list(zip(*refs))).score) > 1e-6
    assert differ > 40


def test_bleu_by_hand():
    """Papineni et al.'s definitions on a case worked by hand: 6 hypothesis tokens, reference length 7."""
    ours = corpus_bleu(["a b c d e f"], [["a b c d x f g", "a b"]], tokenize="none", smooth="none")
    assert ours.matches == [5, 3, 2, 1] and ours.totals == [6, 5, 4, 3]
    assert ours.ref_len == 7 and ours.bp == math.exp(1 - 7 / 6)  # closest reference: 7 tokens, not 2
    expected = 100 * math.exp(1 - 7 / 6) * (5 / 6 * 3 / 5 * 2 / 4 * 1 / 3) ** 0.25
    assert ours.score == pytest.approx(expected, rel=1e-12)
    clipped = corpus_bleu(["the the the the"], [["the cat"]], tokenize="none", max_order=1)
    assert clipped.matches == [1] and clipped.precisions == [25.0]  # "the" counts once: the reference has one


def test_brevity_penalty():
    assert brevity_penalty(10, 10) == 1.0 and brevity_penalty(11, 10) == 1.0 and brevity_penalty(0, 5) == 0.0
    assert brevity_penalty(5, 10) == pytest.approx(math.exp(-1))
    with pytest.raises(ValueError, match="hyp_len"):
        brevity_penalty(-1, 3)


def test_bleu_rejects_bad_input():
    with pytest.raises(ValueError, match=r"references\[1\] must not be empty"):
        corpus_bleu(["a", "b"], [["a"], []])
    with pytest.raises(ValueError, match="same length"):
        corpus_bleu(["a", "b"], [["a"]])
    with pytest.raises(ValueError, match="hypotheses must not be empty"):
        corpus_bleu([], [])
    with pytest.raises(ValueError, match="max_order"):
        corpus_bleu(["a"], [["a"]], max_order=0)
    with pytest.raises(ValueError, match="smooth"):
        corpus_bleu(["a"], [["a"]], smooth="laplace")
    with pytest.raises(ValueError, match="tokenize"):
        corpus_bleu(["a"], [["a"]], tokenize="intl")
    with pytest.raises(TypeError, match="hypotheses"):
        corpus_bleu("a b", [["a b"]])
    with pytest.raises(ValueError, match="references must not be empty"):
        sentence_bleu("a", [])
    with pytest.raises(TypeError, match="references"):
        sentence_bleu("a", "a")


# ----------------------------------------------------------------------------------------------- ROUGE

ROUGE_WORDS = ["the", "cat", "sat", "on", "mat", "dog", "a", "big", "red", "1", "2", "Cat", "THE,", "sat.",
               "café", "Ο", "φύλακας", "naïve-ly"]


def _summary(rng: random.Random) -> str:
    lines = [" ".join(rng.choice(ROUGE_WORDS) for _ in range(rng.randint(0, 9))) for _ in range(rng.randint(1, 4))]
    return "\n".join(lines)


def test_rouge_tokenize_equals_rouge_score():
    rng = random.Random(3)
    for _ in range(500):
        text = _summary(rng)
        assert rouge_tokenize(text) == rouge_score_tokenize.tokenize(text, None)


class _Words:
    def tokenize(self, text):
        return words(text)


@pytest.mark.parametrize("custom", [False, True], ids=["default tokenizer", "unicode words"])
def test_rouge_equals_rouge_score(custom):
    kinds = ["rouge1", "rouge2", "rouge3", "rougeL", "rougeLsum"]
    scorer = rouge_scorer.RougeScorer(kinds, tokenizer=_Words() if custom else None)
    tok = words if custom else None
    rng = random.Random(4 + custom)
    for _ in range(1500):
        ref, cand = _summary(rng), _summary(rng)
        theirs = scorer.score(ref, cand)
        ours = {"rouge1": rouge_n(ref, cand, 1, tokenize=tok), "rouge2": rouge_n(ref, cand, 2, tokenize=tok),
                "rouge3": rouge_n(ref, cand, 3, tokenize=tok), "rougeL": rouge_l(ref, cand, tokenize=tok),
                "rougeLsum": rouge_lsum(ref, cand, tokenize=tok)}
        for kind in kinds:
            assert (ours[kind].precision, ours[kind].recall, ours[kind].fmeasure) == tuple(theirs[kind]), (kind, ref, cand)


def test_rouge_lsum_depends_on_newlines_and_not_on_sentence_order():
    ref = "the keeper lit the lamp\nthe light turned over the water"
    swapped = "the light turned over the water\nthe keeper lit the lamp"
    assert rouge_lsum(ref, swapped).fmeasure == 1.0 > rouge_l(ref, swapped).fmeasure
    assert rouge_lsum(ref.replace("\n", " "), swapped.replace("\n", " ")) == rouge_l(ref, swapped)


def test_rouge_default_tokenizer_drops_non_ascii():
    greek = "Ο φύλακας καθάρισε τη λάμπα"
    assert rouge_tokenize(greek) == [] and rouge_n(greek, greek).fmeasure == 0.0
    assert rouge_scorer.RougeScorer(["rouge1"]).score(greek, greek)["rouge1"].fmeasure == 0.0
    assert rouge_n(greek, greek, tokenize=words).fmeasure == 1.0
    assert rouge_tokenize("Café crème") == ["caf", "cr", "me"]


def test_rouge_rejects_bad_input():
    with pytest.raises(ValueError, match="n must be >= 1"):
        rouge_n("a", "a", 0)
    with pytest.raises(TypeError, match="reference"):
        rouge_l(["a"], "a")
    with pytest.raises(TypeError, match="candidate"):
        rouge_lsum("a", None)
    with pytest.raises(TypeError, match="tokenize"):
        rouge_n("a", "a", tokenize="words")


# ------------------------------------------------------------------------------------------ GLUE metrics

def test_classification_metrics_equal_sklearn():
    rng = random.Random(5)
    for _ in range(120):
        n, k = rng.randint(1, 60), rng.randint(2, 4)
        labels = rng.choice([list(range(k)), ["cat", "dog", "eel"][:k] or ["cat", "dog"]])
        refs, preds = [rng.choice(labels) for _ in range(n)], [rng.choice(labels) for _ in range(n)]
        assert accuracy(preds, refs) == pytest.approx(accuracy_score(refs, preds), abs=1e-12)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # single-label inputs: scikit-learn warns, both return 0.0
            assert mcc(preds, refs) == pytest.approx(matthews_corrcoef(refs, preds), abs=1e-12)
            binary_refs, binary_preds = [labels.index(r) % 2 for r in refs], [labels.index(p) % 2 for p in preds]
            assert f1(binary_preds, binary_refs) == pytest.approx(f1_score(binary_refs, binary_preds), abs=1e-12)
            assert f1(binary_preds, binary_refs, positive=0) == pytest.approx(
                f1_score(binary_refs, binary_preds, pos_label=0), abs=1e-12)


def test_mcc_is_zero_for_a_constant_prediction_and_symmetric():
    refs = [1, 1, 1, 0, 1, 0, 1, 1, 1, 1]
    assert accuracy([1] * 10, refs) == 0.8 and mcc([1] * 10, refs) == 0.0
    assert mcc(refs, refs) == 1.0 and mcc([1 - r for r in refs], refs) == -1.0
    preds = [1, 0, 1, 0, 1, 1, 1, 0, 1, 1]
    assert mcc(preds, refs) == pytest.approx(mcc(refs, preds))


def test_correlations_equal_scipy():
    rng = random.Random(6)
    for _ in range(300):
        n = rng.randint(2, 50)
        x = [rng.choice([rng.gauss(0, 1), 1.0, 2.0, 3.0]) for _ in range(n)]  # ties on purpose
        y = [rng.choice([rng.gauss(0, 1), 0.5, 2.5]) for _ in range(n)]
        if len(set(x)) < 2 or len(set(y)) < 2:
            continue
        assert pearson(x, y) == pytest.approx(pearsonr(x, y).statistic, abs=1e-12)
        assert spearman(x, y) == pytest.approx(spearmanr(x, y).statistic, abs=1e-12)
    assert pearson(np.arange(5.0), torch.arange(5.0) * 2 + 1) == pytest.approx(1.0)


def test_glue_metrics_reject_bad_input():
    with pytest.raises(ValueError, match="same length"):
        mcc([1, 0], [1])
    with pytest.raises(ValueError, match="predictions must not be empty"):
        accuracy([], [])
    with pytest.raises(ValueError, match="y must not be constant"):
        pearson([1, 2, 3], [2, 2, 2])
    with pytest.raises(ValueError, match="at least 2"):
        spearman([1], [2])
    with pytest.raises(ValueError, match="finite"):
        pearson([1, float("nan")], [1, 2])
    with pytest.raises(ValueError, match="1-D"):
        f1(np.zeros((2, 2)), [0, 1])


# --------------------------------------------------------------------------------- judges and ratings

def test_cohen_kappa_equals_sklearn():
    rng = random.Random(7)
    for _ in range(300):
        n = rng.randint(2, 80)
        cats = ["A", "B", "tie"][:rng.randint(2, 3)]
        a = [rng.choice(cats) for _ in range(n)]
        b = [x if rng.random() < 0.6 else rng.choice(cats) for x in a]
        if len(set(a)) == len(set(b)) == 1 and a[0] == b[0]:
            continue
        assert cohen_kappa(a, b) == pytest.approx(cohen_kappa_score(a, b), abs=1e-12)
    assert cohen_kappa(["A", "B", "A", "B"], ["A", "B", "A", "B"]) == 1.0
    with pytest.raises(ValueError, match="undefined"):
        cohen_kappa(["A", "A"], ["A", "A"])


def _fastchat_elo(battles, k=4, scale=400, base=10, initial=1000):
    """FastChat's `compute_elo` (fastchat/serve/monitor/elo_analysis.py), as it is written."""
    rating = {}
    for a, b, s_a in battles:
        ra, rb = rating.setdefault(a, initial), rating.setdefault(b, initial)
        ea = 1 / (1 + base ** ((rb - ra) / scale))
        eb = 1 / (1 + base ** ((ra - rb) / scale))
        rating[a] += k * (s_a - ea)
        rating[b] += k * (1 - s_a - eb)
    return rating


def _random_battles(rng, n_models=5, n=400, ties=0.1):
    truth = {f"m{i}": rng.uniform(800, 1200) for i in range(n_models)}
    battles = []
    for _ in range(n):
        a, b = rng.sample(sorted(truth), 2)
        s = 0.5 if rng.random() < ties else float(rng.random() < win_probability(truth[a], truth[b]))
        battles.append((a, b, s))
    return battles


def test_elo_equals_fastchat_and_depends_on_order():
    rng = random.Random(8)
    for _ in range(20):
        battles = _random_battles(rng)
        ours, theirs = elo_ratings(battles), _fastchat_elo(battles)
        assert ours.keys() == theirs.keys() and all(ours[m] == pytest.approx(theirs[m], abs=1e-9) for m in ours)
        assert sum(ours.values()) == pytest.approx(1000 * len(ours))  # each update moves points, never creates them
    reversed_ = elo_ratings(battles[::-1])
    assert max(abs(ours[m] - reversed_[m]) for m in ours) > 1


@pytest.mark.parametrize("seed", range(6))
def test_bradley_terry_equals_sklearn_logistic_regression(seed):
    rng = random.Random(seed)
    battles = _random_battles(rng, n_models=rng.randint(2, 7), n=rng.randint(80, 600), ties=rng.choice([0, 0.2]))
    models = sorted({m for a, b, _ in battles for m in (a, b)})
    X, y, w = [], [], []
    for a, b, s in battles:  # Chatbot Arena's design: +ln 10 for a, -ln 10 for b, a tie is half a win each
        row = [math.log(10) * ((m == a) - (m == b)) for m in models]
        X += [row, row]
        y += [1, 0]
        w += [s, 1 - s]
    lr = LogisticRegression(C=1e10, fit_intercept=False, tol=1e-12, max_iter=100_000).fit(X, y, sample_weight=w)
    theirs = 400 * lr.coef_[0]
    theirs = theirs - theirs.mean() + 1000
    ours = bradley_terry(battles)
    assert [ours[m] for m in models] == pytest.approx(list(theirs), abs=1e-3)
    assert bradley_terry(battles[::-1]) == pytest.approx(ours, abs=1e-8)  # the order does not matter
    # the maximum-likelihood condition: each model's expected wins equal its observed wins
    for m in models:
        observed = sum(s if a == m else 1 - s for a, b, s in battles if m in (a, b))
        expected = sum(win_probability(ours[m], ours[b if a == m else a]) for a, b, s in battles if m in (a, b))
        assert expected == pytest.approx(observed, abs=1e-6)


def test_bradley_terry_needs_a_strongly_connected_comparison_graph():
    with pytest.raises(ValueError, match="strongly connected"):
        bradley_terry([("a", "b", 1), ("a", "b", 1), ("b", "c", 0.5)])  # a never lost: its rating is infinite
    assert bradley_terry([("a", "b", 1), ("b", "a", 1)]) == {"a": 1000.0, "b": 1000.0}


def test_ratings_reject_bad_input():
    with pytest.raises(ValueError, match="score must be"):
        elo_ratings([("a", "b", 2)])
    with pytest.raises(ValueError, match="battles must not be empty"):
        bradley_terry([])
    with pytest.raises(ValueError, match="itself"):
        elo_ratings([("a", "a", 1)])
    with pytest.raises(ValueError, match="k must be"):
        elo_ratings([("a", "b", 1)], k=0)
    with pytest.raises(ValueError, match="scale"):
        win_probability(1000, 1000, scale=0)
    assert win_probability(1400, 1000) == pytest.approx(10 / 11)
    assert win_probability(1000, 1100) + win_probability(1100, 1000) == pytest.approx(1.0)


# ---------------------------------------------------------------------------------------- perplexity

@pytest.fixture(scope="module")
def tiny_gpt2():
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=23, n_positions=16, n_embd=16, n_layer=2, n_head=2,
                        bos_token_id=0, eos_token_id=0, pad_token_id=0)
    return GPT2LMHeadModel(config).double().eval()


def test_perplexity_is_exp_of_the_mean_nll():
    rng = random.Random(9)
    for _ in range(100):
        nll = [rng.uniform(0, 5) for _ in range(rng.randint(1, 50))]
        assert perplexity(nll) == pytest.approx(math.exp(sum(nll) / len(nll)), rel=1e-12)
    assert perplexity(torch.full((7,), math.log(23.0), dtype=torch.float64)) == pytest.approx(23.0)
    with pytest.raises(ValueError, match="nlls must not be empty"):
        perplexity([])
    with pytest.raises(ValueError, match=">= 0"):
        perplexity([0.5, -0.1])
    with pytest.raises(ValueError, match="finite"):
        perplexity([float("inf")])


def test_one_window_equals_exp_of_the_model_loss(tiny_gpt2):
    gen = torch.Generator().manual_seed(0)
    for length in (2, 5, 16):
        ids = torch.randint(0, 23, (length,), generator=gen)
        loss = tiny_gpt2(ids[None], labels=ids[None]).loss.item()  # transformers computes it in float32
        ours = perplexity(strided_token_nlls(tiny_gpt2, ids, max_length=16, stride=16))
        assert ours == pytest.approx(math.exp(loss), rel=1e-6)


@pytest.mark.parametrize("stride", [1, 5, 15, 16])
@pytest.mark.parametrize("length", [2, 17, 40])
def test_strided_perplexity_equals_the_model_loss_window_by_window(tiny_gpt2, stride, length):
    """The Hugging Face guide's loop (labels -100 on context tokens, each window's mean loss weighted by the
    tokens it scores) gives the same number."""
    ids = torch.randint(0, 23, (length,), generator=torch.Generator().manual_seed(length))
    nlls = strided_token_nlls(tiny_gpt2, ids, max_length=16, stride=stride)
    total, count = 0.0, 0
    for begin, end, score_from in sliding_windows(length, 16, stride):
        window = ids[begin:end][None]
        labels = window.clone()
        labels[0, :score_from - begin] = -100
        total += tiny_gpt2(window, labels=labels).loss.item() * (end - score_from)
        count += end - score_from
    assert count == len(nlls) and perplexity(nlls) == pytest.approx(math.exp(total / count), rel=1e-6)
    # each NLL, by hand: token t read with exactly the context its window gives it, ids[begin:t]
    scored = [(t, begin) for begin, end, score_from in sliding_windows(length, 16, stride) for t in range(score_from, end)]
    for i in range(0, len(scored), max(1, len(scored) // 6)):
        t, begin = scored[i]
        log_probs = tiny_gpt2(ids[begin:t][None]).logits[0, -1].log_softmax(-1)
        assert -log_probs[ids[t]].item() == pytest.approx(nlls[i].item(), abs=1e-9)


@pytest.mark.parametrize("n, max_length, stride", [(2, 2, 1), (100, 16, 1), (100, 16, 5), (100, 16, 16), (97, 16, 16),
                                                   (1000, 64, 32)])
def test_sliding_windows_score_every_token_once_with_enough_context(n, max_length, stride):
    windows = sliding_windows(n, max_length, stride)
    scored = [t for _, end, score_from in windows for t in range(score_from, end)]
    firsts = set(range(0, n, stride)) if stride == max_length else {0}
    assert scored == [t for t in range(n) if t not in firsts]  # every token once, in order
    assert all(end - begin <= max_length for begin, end, _ in windows)
    if stride < max_length:  # after the first window, every token sees at least max_length - stride tokens
        assert all(score_from - begin >= max_length - stride for begin, _, score_from in windows[1:])


def test_hf_guide_counts_one_token_fewer_per_later_window():
    """The guide's `num_loss_tokens = num_valid_tokens - batch_size` is right for the first window only:
    later windows score every one of their `trg_len` target tokens (their first label is context)."""
    n, max_length, stride = 100, 16, 4
    guide, prev_end = [], 0
    for begin in range(0, n, stride):
        end = min(begin + max_length, n)
        guide.append((end - prev_end) - 1)  # trg_len - batch_size
        prev_end = end
        if end == n:
            break
    ours = [end - score_from for _, end, score_from in sliding_windows(n, max_length, stride)]
    assert ours[0] == guide[0] and all(o == g + 1 for o, g in zip(ours[1:], guide[1:])) and sum(ours) == n - 1


def test_perplexity_rejects_bad_input(tiny_gpt2):
    with pytest.raises(ValueError, match="stride must be <= max_length"):
        sliding_windows(10, 4, 5)
    with pytest.raises(ValueError, match="stride must be >= 1"):
        sliding_windows(10, 4, 0)
    with pytest.raises(ValueError, match="n_tokens"):
        sliding_windows(1, 4, 2)
    with pytest.raises(TypeError, match="input_ids"):
        strided_token_nlls(tiny_gpt2, torch.zeros(5), 4, 2)
    with pytest.raises(ValueError, match="1-D"):
        strided_token_nlls(tiny_gpt2, torch.zeros(1, 5, dtype=torch.long), 4, 2)


# ----------------------------------------------------------------------------------- multiple choice

def test_continuation_logprob_equals_the_model_loss(tiny_gpt2):
    gen = torch.Generator().manual_seed(1)
    for _ in range(10):
        n, m = torch.randint(1, 9, (2,), generator=gen).tolist()
        ids = torch.randint(0, 23, (n + m,), generator=gen)
        labels = ids.clone()
        labels[:n] = -100  # score only the continuation
        expected = -tiny_gpt2(ids[None], labels=labels[None]).loss.item() * m
        assert continuation_logprob(tiny_gpt2, ids[:n].tolist(), ids[n:].tolist()) == pytest.approx(expected, rel=1e-6)
    long_context = list(range(20))
    assert continuation_logprob(tiny_gpt2, long_context, [3, 4], max_length=16) == pytest.approx(
        continuation_logprob(tiny_gpt2, long_context[-14:], [3, 4]))  # cut from the left, as the harness does
    with pytest.raises(ValueError, match="context_ids must not be empty"):
        continuation_logprob(tiny_gpt2, [], [1])
    with pytest.raises(ValueError, match="shorter than max_length"):
        continuation_logprob(tiny_gpt2, [1], list(range(16)), max_length=16)


def _harness_picks(lls, choices):
    """lm-evaluation-harness, lm_eval/api/task.py (process_results, multiple_choice), as it is written."""
    completion_len = np.array([float(len(i)) for i in choices])
    byte_length = np.array([float(len(i.encode("utf-8"))) for i in choices])
    return int(np.argmax(lls)), int(np.argmax(lls / completion_len)), int(np.argmax(lls / byte_length))


def test_pick_choice_equals_lm_evaluation_harness():
    rng = random.Random(10)
    pool = ["a", "bb", "ocean", "Morning Star", "café", "λάμπα", "x y z", "whale oil"]
    for _ in range(2000):
        choices = rng.sample(pool, rng.randint(1, 5))
        lls = [round(rng.uniform(-30, -1), rng.choice([0, 1, 3])) for _ in choices]  # rounding makes ties
        assert tuple(pick_choice(lls, choices)) == _harness_picks(np.array(lls), choices)
    with pytest.raises(ValueError, match="same length"):
        pick_choice([-1.0], ["a", "b"])
    with pytest.raises(ValueError, match="empty string"):
        pick_choice([-1.0, -2.0], ["a", ""])


# ------------------------------------------------------------------------------------- contamination

def test_ngram_overlap():
    corpus = "the keeper climbed the tower and lit the lamp"
    assert ngram_overlap("The keeper climbed the TOWER, and lit the lamp!", corpus, 9) == 1.0
    assert ngram_overlap("the keeper climbed the hill and lit the lamp", corpus, 4) == pytest.approx(2 / 6)
    assert ngram_overlap("too short", corpus, 13) == 0.0
    assert ngram_overlap("lamp the keeper", ["the lamp", "the keeper"], 2) == 0.5  # no n-gram across documents
    assert ngrams(["a", "b", "a", "b"], 2) == {("a", "b"): 2, ("b", "a"): 1}
    with pytest.raises(ValueError, match="n must be >= 1"):
        ngram_overlap("a", "a", 0)
    with pytest.raises(TypeError, match="text"):
        ngram_overlap(None, "a")
