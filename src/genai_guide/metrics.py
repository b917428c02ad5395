"""Evaluation metrics from scratch: perplexity, BLEU, ROUGE, the GLUE metrics, multiple-choice scoring,
judge agreement, Elo and Bradley-Terry ratings, and an n-gram contamination check, written to be read.

The chapter [Evaluation and metrics](../../shipping/evaluation.md) explains them. Each one reproduces
a reference implementation, and `tests/test_metrics.py` checks it on many random inputs:

- `perplexity`, `sliding_windows`, `strided_token_nlls`: $\\exp$ of the mean token negative
  log-likelihood, with the strided sliding window of the Hugging Face perplexity guide for texts longer
  than the context; equal to $\\exp$ of a `transformers` model's own loss;
- `corpus_bleu`, `sentence_bleu`, `tokenize_13a`: BLEU (Papineni et al. 2002) exactly as `sacrebleu`
  computes it (Post 2018), with its default 13a tokenizer and its four smoothing methods;
- `rouge_n`, `rouge_l`, `rouge_lsum`, `rouge_tokenize`: ROUGE (Lin 2004) exactly as Google's
  `rouge-score` package computes it;
- `accuracy`, `f1`, `mcc`, `pearson`, `spearman`: the metrics of the GLUE tasks (Wang et al. 2018),
  equal to scikit-learn's and SciPy's;
- `continuation_logprob`, `pick_choice`: multiple-choice scoring by log-likelihood, with the `acc`,
  `acc_norm` and `acc_bytes` rules of EleutherAI's lm-evaluation-harness;
- `cohen_kappa` (Cohen 1960), `elo_ratings`, `bradley_terry` (Bradley and Terry 1952), `win_probability`:
  agreement between judges and leaderboards from pairwise preferences, as in Chatbot Arena
  (Zheng et al. 2023; Chiang et al. 2024);
- `ngram_overlap`: the n-gram overlap test for benchmark contamination (Brown et al. 2020).

Only the functions that run a model import torch, so the text metrics load in milliseconds.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from genai_guide._checks import check_int as _int

if TYPE_CHECKING:
    from torch import Tensor, nn

__all__ = [
    "BleuScore",
    "ChoicePicks",
    "RougeScore",
    "accuracy",
    "bradley_terry",
    "brevity_penalty",
    "cohen_kappa",
    "continuation_logprob",
    "corpus_bleu",
    "elo_ratings",
    "f1",
    "mcc",
    "ngram_overlap",
    "ngrams",
    "pearson",
    "perplexity",
    "pick_choice",
    "rouge_l",
    "rouge_lsum",
    "rouge_n",
    "rouge_tokenize",
    "sentence_bleu",
    "sliding_windows",
    "spearman",
    "strided_token_nlls",
    "tokenize_13a",
    "win_probability",
    "words",
]


# ------------------------------------------------------------------------------------------ checks

def _str(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {type(value).__name__}")
    return value


def _strings(name: str, values: object, *, allow_empty: bool = False) -> list[str]:
    if isinstance(values, str) or not isinstance(values, Sequence):
        raise TypeError(f"{name} must be a list of str, got {type(values).__name__}")
    for i, v in enumerate(values):
        if not isinstance(v, str):
            raise TypeError(f"{name}[{i}] must be a str, got {type(v).__name__}")
    if not values and not allow_empty:
        raise ValueError(f"{name} must not be empty")
    return list(values)


def _values(name: str, values: object) -> list[Any]:
    """A 1-D sequence (list, tuple, NumPy array or tensor) as a list of Python scalars."""
    if hasattr(values, "tolist") and hasattr(values, "shape"):  # NumPy array or torch tensor
        if len(values.shape) != 1:
            raise ValueError(f"{name} must be 1-D, got shape {tuple(values.shape)}")
        values = values.tolist()
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise TypeError(f"{name} must be a 1-D sequence, got {type(values).__name__}")
    return list(values)


def _numbers(name: str, values: object) -> list[float]:
    out = _values(name, values)
    for i, v in enumerate(out):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise TypeError(f"{name}[{i}] must be a number, got {type(v).__name__}")
        if not math.isfinite(v):
            raise ValueError(f"{name}[{i}] must be finite, got {v}")
    return [float(v) for v in out]


def _pair(first: tuple[str, object], second: tuple[str, object], numbers: bool = False) -> tuple[list, list]:
    """Two sequences of the same, non-zero length."""
    (name_a, a), (name_b, b) = first, second
    xs = _numbers(name_a, a) if numbers else _values(name_a, a)
    ys = _numbers(name_b, b) if numbers else _values(name_b, b)
    if len(xs) != len(ys):
        raise ValueError(f"{name_a} and {name_b} must have the same length, got {len(xs)} and {len(ys)}")
    if not xs:
        raise ValueError(f"{name_a} must not be empty")
    return xs, ys


def ngrams(tokens: Sequence[Hashable], n: int) -> Counter:
    """The n-grams of `tokens` (tuples of `n` consecutive tokens) with their counts.

    Raises:
        ValueError: if `n` < 1.
    """
    _int("n", n, 1)
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


# -------------------------------------------------------------------------------------- perplexity

def perplexity(nlls: Sequence[float] | Tensor) -> float:
    """Perplexity: the exponential of the mean negative log-likelihood (NLL) per token.

    $$\\mathrm{PPL} = \\exp\\Big(-\\frac{1}{N}\\sum_{i=1}^{N} \\log p(x_i \\mid x_{<i})\\Big)
    = \\exp\\Big(\\frac{1}{N}\\sum_{i=1}^{N} \\mathrm{nll}_i\\Big).$$

    A causal language model's `loss` is exactly this mean, so `perplexity` of its per-token losses
    equals `math.exp(loss)`. The number depends on what a token is: the same total NLL divided by
    characters, by subword tokens or by words gives three different perplexities.

    Args:
        nlls: the per-token negative log-likelihoods in nats, $-\\log p \\ge 0$ (a list, a NumPy
            array or a 1-D tensor).

    Raises:
        ValueError: if `nlls` is empty, or holds a negative or non-finite value.
    """
    values = _numbers("nlls", nlls)
    if not values:
        raise ValueError("nlls must not be empty")
    if min(values) < 0:
        raise ValueError(f"nlls must be >= 0 (negative log-probabilities), got {min(values)}")
    return math.exp(math.fsum(values) / len(values))


def sliding_windows(n_tokens: int, max_length: int, stride: int) -> list[tuple[int, int, int]]:
    """The windows of strided sliding-window perplexity, as in the Hugging Face perplexity guide.

    Window $k$ covers tokens `[begin, end)` with `begin = k * stride` and
    `end = min(begin + max_length, n_tokens)`, and scores only the tokens it adds to those already
    scored: `[score_from, end)` with `score_from = max(previous end, begin + 1)` (a token at the
    start of its window has no context and cannot be scored). Every token but the first is scored
    exactly once, with at least `max_length - stride` tokens of context once the windows are full.
    `stride == max_length` gives disjoint chunks, where the first token of every chunk goes unscored
    (and a last chunk of a single token is left out: it has nothing to score).

    Args:
        n_tokens: the length of the text in tokens, at least 2.
        max_length: the model's context length, at least 2.
        stride: how far each window moves, in `[1, max_length]`.

    Returns:
        A list of `(begin, end, score_from)`.

    Raises:
        ValueError: if an argument is out of range (a stride above `max_length` would skip tokens).
    """
    _int("n_tokens", n_tokens, 2)
    _int("max_length", max_length, 2)
    _int("stride", stride, 1)
    if stride > max_length:
        raise ValueError(f"stride must be <= max_length ({max_length}), got {stride}: tokens would go unscored")
    windows, previous_end = [], 0
    for begin in range(0, n_tokens, stride):
        end = min(begin + max_length, n_tokens)
        if end > begin + 1:  # a last chunk of one token has nothing to score (the guide's loop gets NaN there)
            windows.append((begin, end, max(previous_end, begin + 1)))
        previous_end = end
        if end == n_tokens:
            break
    return windows


def _logits(model: Any, input_ids: Tensor) -> Tensor:
    out = model(input_ids)
    return out if hasattr(out, "dim") else out.logits


def strided_token_nlls(model: nn.Module | Callable[..., Any], input_ids: Tensor, max_length: int,
                       stride: int) -> Tensor:
    """The negative log-likelihood of every token after the first, each from the window that scores it.

    For each window of `sliding_windows(len(input_ids), max_length, stride)`, one forward pass of
    `model` over the window's tokens gives $-\\log p(x_t \\mid x_{\\text{begin}:t})$ for the tokens
    $t$ it scores. `perplexity` of the result is the strided perplexity; with one window
    (`len(input_ids) <= max_length`) it equals `exp(model(ids, labels=ids).loss)`.

    Args:
        model: a causal language model: called on `(1, length)` token ids, it returns logits of shape
            `(1, length, vocab)` or an output with a `.logits` attribute (any `transformers` model).
        input_ids: the text's token ids, a 1-D integer tensor.
        max_length: the model's context length, at least 2.
        stride: how far each window moves, in `[1, max_length]`.

    Returns:
        A float64 tensor with one value per scored token, in text order: `len(input_ids) - 1` values
        when `stride < max_length`; with `stride == max_length` the first token of each chunk is not
        scored.

    Raises:
        TypeError: if `input_ids` is not an integer tensor.
        ValueError: if `input_ids` is not 1-D or an argument is out of range.
    """
    import torch

    if not isinstance(input_ids, torch.Tensor) or input_ids.is_floating_point() or input_ids.dtype == torch.bool:
        raise TypeError("input_ids must be an integer torch.Tensor")
    if input_ids.dim() != 1:
        raise ValueError(f"input_ids must be 1-D, got shape {tuple(input_ids.shape)}")
    nlls = []
    with torch.no_grad():
        for begin, end, score_from in sliding_windows(len(input_ids), max_length, stride):
            logits = _logits(model, input_ids[begin:end].unsqueeze(0))[0]  # (end - begin, vocab)
            log_probs = logits.double().log_softmax(-1)
            targets = input_ids[score_from:end]  # the tokens this window scores
            rows = torch.arange(score_from, end) - begin - 1  # logits at t - 1 predict token t
            nlls.append(-log_probs[rows, targets])
    return torch.cat(nlls)


# ------------------------------------------------------------------------------- multiple choice

def continuation_logprob(model: nn.Module | Callable[..., Any], context_ids: Sequence[int],
                         continuation_ids: Sequence[int], max_length: int | None = None) -> float:
    """$\\log p(\\text{continuation} \\mid \\text{context})$, the summed log-probability of the
    continuation's tokens, as evaluation harnesses score a multiple-choice answer:

    $$\\ell = \\sum_{j=1}^{m} \\log p(y_j \\mid x_{1:n}, y_{<j}).$$

    One forward pass over context + continuation; the logits at position $t - 1$ give token $t$.
    When the two do not fit in the model's context, the context is cut from the left, as
    lm-evaluation-harness does.

    Args:
        model: a causal language model (see `strided_token_nlls`).
        context_ids: the prompt's token ids, not empty (the first token needs something to follow).
        continuation_ids: the answer's token ids, not empty.
        max_length: the model's context length; `None` for no limit.

    Raises:
        ValueError: if either list of ids is empty, or the continuation does not fit in `max_length`.
    """
    import torch

    context, continuation = _values("context_ids", context_ids), _values("continuation_ids", continuation_ids)
    if not context:
        raise ValueError("context_ids must not be empty")
    if not continuation:
        raise ValueError("continuation_ids must not be empty")
    if max_length is not None:
        _int("max_length", max_length, 2)
        if len(continuation) >= max_length:
            raise ValueError(f"continuation_ids ({len(continuation)} tokens) must be shorter than max_length ({max_length})")
        context = context[-(max_length - len(continuation)):]  # keep the end of the context
    ids = torch.tensor([context + continuation])  # (1, n + m)
    with torch.no_grad():
        log_probs = _logits(model, ids)[0].double().log_softmax(-1)  # (n + m, vocab)
    rows = torch.arange(len(context) - 1, len(context) + len(continuation) - 1)
    return log_probs[rows, torch.tensor(continuation)].sum().item()


class ChoicePicks(NamedTuple):
    """The index each rule of lm-evaluation-harness picks among the choices."""

    acc: int  # the highest summed log-likelihood
    acc_norm: int  # the highest log-likelihood per character of the choice
    acc_bytes: int  # the highest log-likelihood per UTF-8 byte of the choice


def _argmax(values: Sequence[float]) -> int:
    return max(range(len(values)), key=lambda i: (values[i], -i))  # the first of ties, as np.argmax


def pick_choice(loglikelihoods: Sequence[float], choices: Sequence[str]) -> ChoicePicks:
    """Which choice a harness predicts from the choices' log-likelihoods, by its three rules.

    lm-evaluation-harness scores each choice $c_i$ as the continuation `" " + c_i` of the prompt
    (its default `target_delimiter` is a space) and predicts

    $$\\begin{gathered}
    \\texttt{acc}: \\arg\\max_i \\ell_i, \\qquad
    \\texttt{acc\\_norm}: \\arg\\max_i \\frac{\\ell_i}{\\text{len}(c_i)}, \\\\
    \\texttt{acc\\_bytes}: \\arg\\max_i \\frac{\\ell_i}{\\text{bytes}(c_i)},
    \\end{gathered}$$

    where len counts the characters of the choice without the delimiter and bytes its UTF-8 bytes.
    A task's `acc` is the mean over questions of $[\\text{prediction} = \\text{gold}]$.
    Summed log-likelihoods favour short answers (every token costs probability); `acc_norm` removes
    most of that bias.

    Raises:
        ValueError: if the lengths differ, there are no choices, or a choice is empty.
    """
    scores, texts = _numbers("loglikelihoods", loglikelihoods), _strings("choices", choices)
    if len(scores) != len(texts):
        raise ValueError(f"loglikelihoods and choices must have the same length, got {len(scores)} and {len(texts)}")
    if not all(texts):
        raise ValueError("choices must not contain an empty string (acc_norm divides by its length)")
    return ChoicePicks(
        acc=_argmax(scores),
        acc_norm=_argmax([s / len(c) for s, c in zip(scores, texts)]),
        acc_bytes=_argmax([s / len(c.encode("utf-8")) for s, c in zip(scores, texts)]),
    )


# --------------------------------------------------------------------------------------------- BLEU

# mteval-v13a's language-dependent rules, as sacrebleu's TokenizerRegexp applies them, in this order
_13A_RULES = [
    (re.compile(r"([\{-\~\[-\` -\&\(-\+\:-\@\/])"), r" \1 "),  # punctuation and symbols become tokens
    (re.compile(r"([^0-9])([\.,])"), r"\1 \2 "),  # a period or comma not preceded by a digit
    (re.compile(r"([\.,])([^0-9])"), r" \1 \2"),  # a period or comma not followed by a digit
    (re.compile(r"([0-9])(-)"), r"\1 \2 "),  # a dash after a digit
]


def tokenize_13a(line: str) -> str:
    """The tokenizer of WMT's `mteval-v13a.pl` script, sacreBLEU's default (`tokenize="13a"`).

    It drops `<skipped>`, joins lines, unescapes `&quot; &amp; &lt; &gt;`, and splits punctuation
    and symbols from words, but keeps periods and commas inside numbers (`3.5`, `1,000`) and a dash
    between letters (`well-known`). Words are returned separated by single spaces.

    Raises:
        TypeError: if `line` is not a str.
    """
    line = _str("line", line).replace("<skipped>", "").replace("-\n", "").replace("\n", " ")
    if "&" in line:
        line = line.replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")
    line = f" {line} "
    for pattern, replacement in _13A_RULES:
        line = pattern.sub(replacement, line)
    return " ".join(line.split())


_TOKENIZERS: dict[str, Callable[[str], str]] = {"13a": tokenize_13a, "none": lambda line: line}
_SMOOTH_DEFAULTS: dict[str, float | None] = {"none": None, "floor": 0.1, "add-k": 1.0, "exp": None}


@dataclass(frozen=True)
class BleuScore:
    """A BLEU score and its sufficient statistics, on sacreBLEU's 0-100 scale."""

    score: float
    precisions: list[float]  # modified n-gram precisions p_n, in percent, after smoothing
    bp: float  # brevity penalty
    hyp_len: int  # c, the total hypothesis length in tokens
    ref_len: int  # r, the total length of the closest references
    matches: list[int]  # clipped n-gram matches, n = 1..max_order
    totals: list[int]  # hypothesis n-grams, n = 1..max_order


def brevity_penalty(hyp_len: int, ref_len: int) -> float:
    """BLEU's brevity penalty (Papineni et al. 2002, section 2.2.2):

    $$\\mathrm{BP} = \\begin{cases} 1 & c > r \\\\ e^{\\,1 - r/c} & c \\le r \\end{cases}$$

    with $c$ the total hypothesis length and $r$ the effective reference length (0 when $c = 0$).
    Precision alone would reward a hypothesis of a few sure words; BP punishes the missing length.

    Raises:
        ValueError: if a length is negative.
    """
    _int("hyp_len", hyp_len, 0)
    _int("ref_len", ref_len, 0)
    if hyp_len >= ref_len:
        return 1.0
    return math.exp(1 - ref_len / hyp_len) if hyp_len > 0 else 0.0


def _segment_statistics(hyp: str, refs: list[str], max_order: int) -> list[int]:
    """[hyp_len, closest ref_len, matches_1..N, totals_1..N] for one tokenized segment."""
    ref_counts: Counter = Counter()
    ref_lens = []
    for ref in refs:
        tokens = ref.split()
        ref_lens.append(len(tokens))
        for n in range(1, max_order + 1):
            for gram, count in ngrams(tokens, n).items():
                ref_counts[gram] = max(ref_counts[gram], count)  # clip to the most any one reference has
    tokens = hyp.split()
    ref_len = min(ref_lens, key=lambda r: (abs(r - len(tokens)), r))  # closest; ties go to the shorter
    matches, totals = [0] * max_order, [0] * max_order
    for n in range(1, max_order + 1):
        for gram, count in ngrams(tokens, n).items():
            totals[n - 1] += count
            matches[n - 1] += min(count, ref_counts[gram])
    return [len(tokens), ref_len, *matches, *totals]


def _floored_log(x: float) -> float:
    return math.log(x) if x > 0 else -9999999999  # sacreBLEU's my_log: log 0 is a huge negative number


def _bleu_from_statistics(stats: list[int], max_order: int, smooth: str, smooth_value: float | None,
                          effective_order: bool) -> BleuScore:
    hyp_len, ref_len = stats[0], stats[1]
    matches, totals = list(stats[2:2 + max_order]), list(stats[2 + max_order:])
    bp = brevity_penalty(hyp_len, ref_len)
    precisions = [0.0] * max_order
    if not any(matches):  # no n-gram of any order matches: BLEU is 0 whatever the smoothing
        return BleuScore(0.0, precisions, bp, hyp_len, ref_len, matches, totals)
    value = _SMOOTH_DEFAULTS[smooth] if smooth_value is None else smooth_value
    m, t = [float(x) for x in matches], [float(x) for x in totals]
    exp_factor, order = 1.0, max_order
    for n in range(1, max_order + 1):
        if smooth == "add-k" and n > 1:  # Lin and Och (2004): add k to matches and totals for n > 1
            m[n - 1] += value
            t[n - 1] += value
        if t[n - 1] == 0:  # the hypothesis has no n-grams of this order
            break
        if effective_order:
            order = n  # average only over the orders the hypothesis has
        if m[n - 1] == 0:
            if smooth == "exp":  # NIST / mteval-v13a: 1 / 2^k for the k-th order without a match
                exp_factor *= 2
                precisions[n - 1] = 100.0 / (exp_factor * t[n - 1])
            elif smooth == "floor":  # a floor of `value` matches
                precisions[n - 1] = 100.0 * value / t[n - 1]
        else:
            precisions[n - 1] = 100.0 * m[n - 1] / t[n - 1]
    score = bp * math.exp(sum(_floored_log(p) for p in precisions[:order]) / order)
    return BleuScore(score, precisions, bp, hyp_len, ref_len, matches, totals)


def corpus_bleu(hypotheses: Sequence[str], references: Sequence[Sequence[str]], *, smooth: str = "exp",
                smooth_value: float | None = None, tokenize: str = "13a", lowercase: bool = False,
                effective_order: bool = False, max_order: int = 4) -> BleuScore:
    """Corpus BLEU (Papineni et al. 2002), the score `sacrebleu.corpus_bleu` reports (Post 2018).

    $$\\begin{gathered}
    \\mathrm{BLEU} = \\mathrm{BP} \\cdot \\exp\\Big(\\frac{1}{N}\\sum_{n=1}^{N} \\log p_n\\Big), \\\\
    p_n = \\frac{\\sum_{\\text{segments}} \\sum_{g \\in \\text{n-grams}}
    \\min\\big(\\#_{\\text{hyp}}(g), \\max_{\\text{ref}} \\#_{\\text{ref}}(g)\\big)}
    {\\sum_{\\text{segments}} \\#\\text{n-grams of the hypothesis}},
    \\end{gathered}$$

    times 100. The modified precisions $p_n$ clip each hypothesis n-gram's count to the most times
    one reference contains it, and the counts are summed over the whole corpus *before* dividing: a
    corpus score is not an average of sentence scores. The brevity penalty compares the total
    hypothesis length $c$ with $r$, the sum over segments of the reference length closest to each
    hypothesis (ties to the shorter), see `brevity_penalty`. Defaults are sacreBLEU's: 13a
    tokenization, case-sensitive, $N = 4$, `exp` smoothing (which only matters when some order has no
    match), no effective order.

    Args:
        hypotheses: one system output per segment (detokenized text).
        references: for each hypothesis, its list of one or more references. sacreBLEU takes the
            transpose (one list per reference *stream*): `list(zip(*references))`.
        smooth: `"exp"`, `"floor"`, `"add-k"` or `"none"` (Chen and Cherry 2014, methods 3, 1, 2).
        smooth_value: the constant of `"floor"` (default 0.1) or `"add-k"` (default 1).
        tokenize: `"13a"` (`tokenize_13a`) or `"none"` (split on whitespace only).
        lowercase: lowercase hypotheses and references first.
        effective_order: average only over the n-gram orders the hypotheses have.
        max_order: $N$, the largest n-gram order.

    Raises:
        ValueError: if the lengths differ, `hypotheses` or a reference list is empty, or an option is
            out of range.
    """
    hyps = _strings("hypotheses", hypotheses)
    if isinstance(references, str) or not isinstance(references, Sequence):
        raise TypeError(f"references must be a list of lists of str, got {type(references).__name__}")
    if len(references) != len(hyps):
        raise ValueError(f"hypotheses and references must have the same length, got {len(hyps)} and {len(references)}")
    refs = [_strings(f"references[{i}]", r) for i, r in enumerate(references)]
    _int("max_order", max_order, 1)
    if smooth not in _SMOOTH_DEFAULTS:
        raise ValueError(f"smooth must be one of {sorted(_SMOOTH_DEFAULTS)}, got {smooth!r}")
    if smooth_value is not None and (isinstance(smooth_value, bool) or not isinstance(smooth_value, (int, float))
                                     or not smooth_value > 0):
        raise ValueError(f"smooth_value must be a positive number, got {smooth_value!r}")
    if tokenize not in _TOKENIZERS:
        raise ValueError(f"tokenize must be one of {sorted(_TOKENIZERS)}, got {tokenize!r}")

    def prepare(text: str) -> str:  # sacreBLEU: optional lowercasing, strip the right end, tokenize
        return _TOKENIZERS[tokenize]((text.lower() if lowercase else text).rstrip())

    totals = [0] * (2 + 2 * max_order)
    for hyp, hyp_refs in zip(hyps, refs):
        stats = _segment_statistics(prepare(hyp), [prepare(r) for r in hyp_refs], max_order)
        totals = [a + b for a, b in zip(totals, stats)]
    return _bleu_from_statistics(totals, max_order, smooth, smooth_value, effective_order)


def sentence_bleu(hypothesis: str, references: Sequence[str], *, smooth: str = "exp",
                  smooth_value: float | None = None, tokenize: str = "13a", lowercase: bool = False,
                  effective_order: bool = True, max_order: int = 4) -> BleuScore:
    """BLEU of one sentence, as `sacrebleu.sentence_bleu` computes it: `corpus_bleu` of a corpus of one,
    with sacreBLEU's sentence-level defaults, `exp` smoothing and effective order.

    A short sentence often has no matching 4-gram; unsmoothed BLEU is then 0 however good the rest
    is, which is why sentence BLEU is smoothed. BLEU was designed for corpora: prefer `corpus_bleu`.

    Raises:
        ValueError: if `references` is empty, or an option is out of range (see `corpus_bleu`).
    """
    return corpus_bleu([_str("hypothesis", hypothesis)], [_strings("references", references)], smooth=smooth,
                       smooth_value=smooth_value, tokenize=tokenize, lowercase=lowercase,
                       effective_order=effective_order, max_order=max_order)


# -------------------------------------------------------------------------------------------- ROUGE

def rouge_tokenize(text: str) -> list[str]:
    """The default tokenizer of Google's `rouge-score` (without stemming).

    Lowercase, replace every run of characters other than `a-z` and `0-9` with a space, split.
    Anything else disappears: `"café"` becomes `caf`, and a text in Greek, Cyrillic or Chinese
    becomes no tokens at all, so ROUGE scores it 0 even against itself. Pass another tokenizer to the
    ROUGE functions (and a `tokenizer=` object to `rouge_scorer.RougeScorer`) for such text.

    Raises:
        TypeError: if `text` is not a str.
    """
    return re.sub(r"[^a-z0-9]+", " ", _str("text", text).lower()).split()


@dataclass(frozen=True)
class RougeScore:
    """Precision, recall and F1 of a candidate against a reference, like `rouge_score.scoring.Score`."""

    precision: float
    recall: float
    fmeasure: float


def _score(precision: float, recall: float) -> RougeScore:
    f = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return RougeScore(precision, recall, f)


def _tokenizer(tokenize: Callable[[str], list[str]] | None) -> Callable[[str], list[str]]:
    if tokenize is None:
        return rouge_tokenize
    if not callable(tokenize):
        raise TypeError(f"tokenize must be callable, got {type(tokenize).__name__}")
    return tokenize


def rouge_n(reference: str, candidate: str, n: int = 1, *,
            tokenize: Callable[[str], list[str]] | None = None) -> RougeScore:
    """ROUGE-N (Lin 2004, section 2): n-gram overlap, clipped by counts.

    $$\\begin{gathered}
    R = \\frac{\\sum_g \\min(\\#_{\\text{ref}}(g), \\#_{\\text{cand}}(g))}{\\#\\text{n-grams of the reference}}, \\\\
    P = \\frac{\\text{same}}{\\#\\text{n-grams of the candidate}}, \\qquad F_1 = \\frac{2PR}{P + R}.
    \\end{gathered}$$

    Lin defines ROUGE-N as the recall $R$; `rouge-score` reports all three, and a text too short to
    have an n-gram counts as having one (no division by zero). The argument order is `rouge-score`'s
    `score(target, prediction)`: reference first.

    Args:
        reference: the human-written text.
        candidate: the text being scored.
        n: the n-gram order (1 for ROUGE-1, 2 for ROUGE-2).
        tokenize: a function from text to tokens; `rouge_tokenize` by default.

    Raises:
        ValueError: if `n` < 1.
    """
    _int("n", n, 1)
    split = _tokenizer(tokenize)
    ref, cand = ngrams(split(_str("reference", reference)), n), ngrams(split(_str("candidate", candidate)), n)
    overlap = sum(min(count, cand[g]) for g, count in ref.items())
    return _score(overlap / max(sum(cand.values()), 1), overlap / max(sum(ref.values()), 1))


def _lcs_table(a: Sequence[str], b: Sequence[str]) -> list[list[int]]:
    """$c_{i,j}$ = the length of the LCS of `a[:i]` and `b[:j]`."""
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            table[i][j] = table[i - 1][j - 1] + 1 if a[i - 1] == b[j - 1] else max(table[i - 1][j], table[i][j - 1])
    return table


def rouge_l(reference: str, candidate: str, *, tokenize: Callable[[str], list[str]] | None = None) -> RougeScore:
    """ROUGE-L (Lin 2004, section 3.1): the longest common subsequence (LCS) of the two texts.

    $$R = \\frac{\\operatorname{LCS}(X, Y)}{m}, \\qquad P = \\frac{\\operatorname{LCS}(X, Y)}{n},
    \\qquad F_1 = \\frac{2PR}{P + R},$$

    with $X$ the reference of $m$ tokens and $Y$ the candidate of $n$. The LCS rewards words in the
    right order without asking them to be adjacent. The whole text is one sequence: newlines are
    ignored (see `rouge_lsum`). 0 if either side has no token. `rouge-score`'s `rougeL`.

    Raises:
        TypeError: if a text is not a str.
    """
    split = _tokenizer(tokenize)
    ref, cand = split(_str("reference", reference)), split(_str("candidate", candidate))
    if not ref or not cand:
        return RougeScore(0.0, 0.0, 0.0)
    lcs = _lcs_table(ref, cand)[-1][-1]
    return _score(lcs / len(cand), lcs / len(ref))


def _lcs_positions(ref: Sequence[str], cand: Sequence[str]) -> list[int]:
    """The positions in `ref` of one LCS with `cand`, read back through the table as `rouge-score` does:
    take a match, else move left in `cand` when that keeps a strictly longer LCS, else move up."""
    table = _lcs_table(ref, cand)
    i, j, positions = len(ref), len(cand), []
    while i > 0 and j > 0:
        if ref[i - 1] == cand[j - 1]:
            positions.append(i - 1)
            i, j = i - 1, j - 1
        elif table[i][j - 1] > table[i - 1][j]:
            j -= 1
        else:
            i -= 1
    return positions[::-1]


def rouge_lsum(reference: str, candidate: str, *,
               tokenize: Callable[[str], list[str]] | None = None) -> RougeScore:
    """ROUGE-Lsum: summary-level LCS (Lin 2004, section 3.2), `rouge-score`'s `rougeLsum`.

    Both texts are split into sentences at newlines (`"\\n"`; empty lines dropped). For each
    reference sentence $r_i$, the union LCS $\\operatorname{LCS}_\\cup(r_i, C)$ is the set of its
    tokens that lie on an LCS with at least one candidate sentence; then

    $$R = \\frac{\\sum_{i=1}^{u} |\\operatorname{LCS}_\\cup(r_i, C)|}{m}, \\qquad
    P = \\frac{\\text{same}}{n}, \\qquad F_1 = \\frac{2PR}{P + R},$$

    with $m$ and $n$ the total reference and candidate tokens. Like ROUGE-1.5.5, a token is counted at
    most as often as it occurs in each text. Sentence order no longer matters: a summary whose
    sentences are in another order keeps its score, where `rouge_l` would lose the shorter sentences.
    Without newlines each text is one sentence and ROUGE-Lsum equals ROUGE-L.

    Raises:
        TypeError: if a text is not a str.
    """
    split = _tokenizer(tokenize)
    ref_sents = [split(s) for s in _str("reference", reference).split("\n") if s]
    cand_sents = [split(s) for s in _str("candidate", candidate).split("\n") if s]
    m, n = sum(map(len, ref_sents)), sum(map(len, cand_sents))
    if not m or not n:
        return RougeScore(0.0, 0.0, 0.0)
    ref_left = Counter(t for s in ref_sents for t in s)  # how many of each token may still be counted
    cand_left = Counter(t for s in cand_sents for t in s)
    hits = 0
    for ref in ref_sents:
        union = sorted(set().union(*(_lcs_positions(ref, cand) for cand in cand_sents)))
        for token in (ref[i] for i in union):
            if ref_left[token] > 0 and cand_left[token] > 0:
                hits += 1
                ref_left[token] -= 1
                cand_left[token] -= 1
    return _score(hits / n, hits / m)


# ----------------------------------------------------------------------------------- GLUE metrics

def accuracy(predictions: Sequence[Hashable], references: Sequence[Hashable]) -> float:
    """The fraction of predictions equal to their reference, $\\frac{1}{n}\\sum_i [\\hat y_i = y_i]$
    (`sklearn.metrics.accuracy_score`). GLUE's metric for SST-2, MNLI, QNLI, RTE and WNLI.

    Raises:
        ValueError: if the lengths differ or the inputs are empty.
    """
    preds, refs = _pair(("predictions", predictions), ("references", references))
    return sum(p == r for p, r in zip(preds, refs)) / len(refs)


def f1(predictions: Sequence[Hashable], references: Sequence[Hashable], positive: Hashable = 1) -> float:
    """F1 of the `positive` class, the harmonic mean of precision $P$ and recall $R$:

    $$F_1 = \\frac{2PR}{P + R} = \\frac{2\\,TP}{2\\,TP + FP + FN},$$

    0.0 when there is no true or predicted positive (`sklearn.metrics.f1_score`'s default). GLUE
    reports it with accuracy for MRPC and QQP, whose classes are unbalanced.

    Raises:
        ValueError: if the lengths differ or the inputs are empty.
    """
    preds, refs = _pair(("predictions", predictions), ("references", references))
    tp = sum(p == positive and r == positive for p, r in zip(preds, refs))
    fp = sum(p == positive and r != positive for p, r in zip(preds, refs))
    fn = sum(p != positive and r == positive for p, r in zip(preds, refs))
    return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0


def mcc(predictions: Sequence[Hashable], references: Sequence[Hashable]) -> float:
    """The Matthews correlation coefficient (Matthews 1975), GLUE's metric for CoLA.

    For two classes, from the confusion counts,

    $$\\mathrm{MCC} = \\frac{TP \\cdot TN - FP \\cdot FN}{\\sqrt{(TP + FP)(TP + FN)(TN + FP)(TN + FN)}},$$

    the Pearson correlation of the two 0/1 label vectors: 1 for perfect predictions, 0 for chance
    (or a constant prediction), -1 for always wrong. For $K$ classes this is computed, like
    `sklearn.metrics.matthews_corrcoef`, from the confusion matrix $C$ with $s$ samples, $c$ correct,
    $t_k$ true and $p_k$ predicted in class $k$:

    $$\\mathrm{MCC} = \\frac{c\\,s - \\sum_k p_k t_k}{\\sqrt{(s^2 - \\sum_k p_k^2)(s^2 - \\sum_k t_k^2)}},$$

    and is 0.0 when the denominator is 0 (scikit-learn's convention).

    Raises:
        ValueError: if the lengths differ or the inputs are empty.
    """
    preds, refs = _pair(("predictions", predictions), ("references", references))
    s = len(refs)
    c = sum(p == r for p, r in zip(preds, refs))
    p_k, t_k = Counter(preds), Counter(refs)
    classes = set(p_k) | set(t_k)
    numerator = c * s - sum(p_k[k] * t_k[k] for k in classes)
    denominator = math.sqrt((s * s - sum(v * v for v in p_k.values())) * (s * s - sum(v * v for v in t_k.values())))
    return numerator / denominator if denominator else 0.0


def pearson(x: Sequence[float], y: Sequence[float]) -> float:
    """Pearson's correlation (`scipy.stats.pearsonr`), one of STS-B's two GLUE metrics:

    $$r = \\frac{\\sum_i (x_i - \\bar x)(y_i - \\bar y)}{\\sqrt{\\sum_i (x_i - \\bar x)^2}\\sqrt{\\sum_i (y_i - \\bar y)^2}}.$$

    Raises:
        ValueError: if the lengths differ, there are fewer than 2 values, or either side is constant.
    """
    xs, ys = _pair(("x", x), ("y", y), numbers=True)
    if len(xs) < 2:
        raise ValueError("x must have at least 2 values")
    mx, my = math.fsum(xs) / len(xs), math.fsum(ys) / len(ys)
    dx, dy = [v - mx for v in xs], [v - my for v in ys]
    sxx, syy = math.fsum(v * v for v in dx), math.fsum(v * v for v in dy)
    if sxx == 0 or syy == 0:
        raise ValueError(f"{'x' if sxx == 0 else 'y'} must not be constant: the correlation is undefined")
    return max(-1.0, min(1.0, math.fsum(a * b for a, b in zip(dx, dy)) / math.sqrt(sxx * syy)))


def _ranks(values: list[float]) -> list[float]:
    """Ranks 1..n, ties sharing the average of the ranks they span (`scipy.stats.rankdata`)."""
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rank correlation (`scipy.stats.spearmanr`), STS-B's other GLUE metric: Pearson's
    correlation of the ranks, with tied values given the average of their ranks. It only asks that
    the predictions be in the right order, not on the right scale.

    Raises:
        ValueError: as `pearson`.
    """
    xs, ys = _pair(("x", x), ("y", y), numbers=True)
    return pearson(_ranks(xs), _ranks(ys))


# ------------------------------------------------------------------------------- judges and ratings

def cohen_kappa(a: Sequence[Hashable], b: Sequence[Hashable]) -> float:
    """Cohen's kappa (Cohen 1960): agreement between two raters beyond what chance would give.

    $$\\kappa = \\frac{p_o - p_e}{1 - p_e}, \\qquad p_e = \\sum_k p_a(k)\\, p_b(k),$$

    with $p_o$ the fraction of items both raters label the same, and $p_e$ the agreement expected if
    each labelled at random with its own label frequencies $p_a(k)$, $p_b(k)$. 1 is perfect agreement,
    0 is chance level. Equals `sklearn.metrics.cohen_kappa_score`.

    Raises:
        ValueError: if the lengths differ, the inputs are empty, or both raters always give the same
            single label (then $p_e = 1$ and kappa is undefined).
    """
    xs, ys = _pair(("a", a), ("b", b))
    n = len(xs)
    p_o = sum(x == y for x, y in zip(xs, ys)) / n
    count_a, count_b = Counter(xs), Counter(ys)
    p_e = sum(count_a[k] * count_b[k] for k in count_a) / (n * n)
    if p_e == 1:
        raise ValueError("a and b use one and the same label throughout: kappa is undefined (p_e = 1)")
    return (p_o - p_e) / (1 - p_e)


def _battles(battles: object) -> list[tuple[Hashable, Hashable, float]]:
    if isinstance(battles, (str, bytes)) or not isinstance(battles, Sequence):
        raise TypeError(f"battles must be a list of (a, b, score) tuples, got {type(battles).__name__}")
    if not battles:
        raise ValueError("battles must not be empty")
    out = []
    for i, battle in enumerate(battles):
        if not isinstance(battle, Sequence) or isinstance(battle, str) or len(battle) != 3:
            raise TypeError(f"battles[{i}] must be an (a, b, score) tuple, got {battle!r}")
        a, b, score = battle
        if score not in (0, 0.5, 1) or isinstance(score, bool):
            raise ValueError(f"battles[{i}]: score must be 1 (a wins), 0 (b wins) or 0.5 (tie), got {score!r}")
        if a == b:
            raise ValueError(f"battles[{i}]: a model cannot play itself ({a!r})")
        out.append((a, b, float(score)))
    return out


def _rating_scale(scale: float, base: float) -> None:
    for name, value in (("scale", scale), ("base", base)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise ValueError(f"{name} must be a positive number, got {value!r}")
    if base == 1:
        raise ValueError("base must not be 1")


def win_probability(rating_a: float, rating_b: float, *, scale: float = 400.0, base: float = 10.0) -> float:
    """The probability that a player rated `rating_a` beats one rated `rating_b` on the Elo scale:

    $$P(a \\succ b) = \\frac{1}{1 + \\text{base}^{(R_b - R_a)/\\text{scale}}},$$

    a logistic function of the rating difference: +400 points means 10:1 odds, about 91%.

    Raises:
        ValueError: if `scale` or `base` is not positive (or `base` is 1).
    """
    _rating_scale(scale, base)
    return 1.0 / (1.0 + base ** ((rating_b - rating_a) / scale))


def elo_ratings(battles: Sequence[tuple[Hashable, Hashable, float]], *, k: float = 4.0, scale: float = 400.0,
                base: float = 10.0, initial: float = 1000.0) -> dict[Hashable, float]:
    """Online Elo ratings: one update per battle, in order, as Chatbot Arena first computed them.

    Before a battle, $a$'s expected score is
    $E_a = 1/(1 + \\text{base}^{(R_b - R_a)/\\text{scale}})$ (`win_probability`); after it,

    $$R_a \\leftarrow R_a + K (S_a - E_a), \\qquad R_b \\leftarrow R_b + K\\big((1 - S_a) - (1 - E_a)\\big),$$

    with $S_a$ = 1 for a win, 0.5 for a tie, 0 for a loss. The defaults (K = 4, scale 400, base 10,
    start 1000) are FastChat's `compute_elo`. The result depends on the order of the battles: recent
    ones weigh more. For a fixed set of players, `bradley_terry` estimates the same kind of ratings
    without that dependence.

    Args:
        battles: `(a, b, score)` tuples, `score` being 1 if `a` won, 0 if `b` won, 0.5 for a tie.
        k: the step size $K$.
        scale: rating points per factor `base` in the odds (see `win_probability`).
        base: the base of the odds.
        initial: every player's starting rating.

    Returns:
        `{player: rating}`, players in order of first appearance.

    Raises:
        ValueError: if `battles` is empty, a score is not 0, 0.5 or 1, or a number is out of range.
    """
    games = _battles(battles)
    if isinstance(k, bool) or not isinstance(k, (int, float)) or not k > 0:
        raise ValueError(f"k must be a positive number, got {k!r}")
    _rating_scale(scale, base)
    ratings: dict[Hashable, float] = {}
    for a, b, s_a in games:
        r_a, r_b = ratings.setdefault(a, float(initial)), ratings.setdefault(b, float(initial))
        e_a = win_probability(r_a, r_b, scale=scale, base=base)
        ratings[a] = r_a + k * (s_a - e_a)
        ratings[b] = r_b + k * ((1 - s_a) - (1 - e_a))
    return ratings


def _strongly_connected(players: list[Hashable], beat: dict[Hashable, set]) -> bool:
    """Whether every player can be reached from every other along "beat at least once" edges."""
    def reach(start: Hashable, edges: dict[Hashable, set]) -> set:
        seen, stack = {start}, [start]
        while stack:
            for nxt in edges[stack.pop()] - seen:
                seen.add(nxt)
                stack.append(nxt)
        return seen

    lost_to: dict[Hashable, set] = {p: set() for p in players}
    for p, beaten in beat.items():
        for q in beaten:
            lost_to[q].add(p)
    everyone = set(players)
    return reach(players[0], beat) == everyone and reach(players[0], lost_to) == everyone


def bradley_terry(battles: Sequence[tuple[Hashable, Hashable, float]], *, scale: float = 400.0,
                  base: float = 10.0, initial: float = 1000.0, tol: float = 1e-12,
                  max_iter: int = 100_000) -> dict[Hashable, float]:
    """Bradley-Terry ratings (Bradley and Terry 1952) fitted by maximum likelihood, on the Elo scale.

    Each player $i$ has a strength $\\pi_i > 0$ and $P(i \\succ j) = \\pi_i / (\\pi_i + \\pi_j)$;
    writing $\\pi_i = \\text{base}^{R_i/\\text{scale}}$ this is exactly `win_probability`, so
    the ratings $R_i$ read like Elo ratings. The maximum-likelihood strengths solve, for every $i$,

    $$W_i = \\sum_{j \\ne i} n_{ij} \\frac{\\pi_i}{\\pi_i + \\pi_j},$$

    (observed wins = expected wins), with $W_i$ the wins of $i$ (a tie counts half) and $n_{ij}$ the
    games between $i$ and $j$. They are found by the minorization-maximization iteration
    $\\pi_i \\leftarrow W_i / \\sum_{j} n_{ij} / (\\pi_i + \\pi_j)$ (Zermelo 1929; Hunter 2004),
    which increases the likelihood at every step. Only rating differences are determined; the
    ratings are shifted to average `initial`. The same fit is a logistic regression of the outcome
    on a design matrix with $+\\ln(\\text{base})$ for $a$ and $-\\ln(\\text{base})$ for $b$, no
    intercept (Chatbot Arena's `compute_mle_elo`), and unlike `elo_ratings` it does not depend on
    the order of the battles.

    Raises:
        ValueError: if `battles` is empty or malformed, or the players are not strongly connected
            (some player never won, or never lost, against a group): then no finite maximum exists.
    """
    games = _battles(battles)
    _rating_scale(scale, base)
    _int("max_iter", max_iter, 1)
    players = list(dict.fromkeys(p for a, b, _ in games for p in (a, b)))
    wins = dict.fromkeys(players, 0.0)
    n_games: dict[Hashable, Counter] = {p: Counter() for p in players}
    beat: dict[Hashable, set] = {p: set() for p in players}
    for a, b, s_a in games:
        wins[a] += s_a
        wins[b] += 1 - s_a
        n_games[a][b] += 1
        n_games[b][a] += 1
        if s_a > 0:
            beat[a].add(b)
        if s_a < 1:
            beat[b].add(a)
    if len(players) > 1 and not _strongly_connected(players, beat):
        raise ValueError("battles: every player must have beaten and lost to the others, directly or through "
                         "a chain (strongly connected); otherwise the maximum-likelihood ratings are infinite")
    strength = dict.fromkeys(players, 1.0)
    for _ in range(max_iter):
        new = {i: wins[i] / sum(n / (strength[i] + strength[j]) for j, n in n_games[i].items()) for i in players}
        mean_log = math.fsum(math.log(v) for v in new.values()) / len(new)  # fix the scale: geometric mean 1
        new = {i: v / math.exp(mean_log) for i, v in new.items()}
        change = max(abs(math.log(new[i]) - math.log(strength[i])) for i in players)
        strength = new
        if change < tol:
            break
    return {i: initial + scale * math.log(strength[i]) / math.log(base) for i in players}


# --------------------------------------------------------------------------------- contamination

def words(text: str) -> list[str]:
    """Lowercased words (runs of letters and digits, any script), the units of `ngram_overlap`.

    Raises:
        TypeError: if `text` is not a str.
    """
    return re.findall(r"\w+", _str("text", text).lower())


def ngram_overlap(text: str, corpus: str | Sequence[str], n: int = 13) -> float:
    """The fraction of the word n-grams of `text` that also occur in `corpus`: a contamination check.

    $$\\text{overlap} = \\frac{|\\{g \\in \\text{n-grams}(\\text{text}) : g \\in \\text{n-grams}(\\text{corpus})\\}|}
    {|\\text{n-grams}(\\text{text})|}.$$

    Brown et al. (2020, appendix C) flagged a benchmark example as possibly contaminated when it
    shared an N-gram (N from 8 to 13 words, by dataset) with a training document, and reported scores
    on the clean subset too; lm-evaluation-harness's decontamination uses 13-grams of lowercased words
    without punctuation, as here (`words`). A text shorter than `n` words has no n-gram; it
    returns 0.0. Exact n-grams miss paraphrases and translations: a low overlap is not proof of a
    clean test set.

    Args:
        text: a test example.
        corpus: the training text, or a list of training documents (n-grams do not cross documents).
        n: the n-gram length in words.

    Raises:
        ValueError: if `n` < 1.
    """
    _int("n", n, 1)
    documents = [corpus] if isinstance(corpus, str) else _strings("corpus", corpus, allow_empty=True)
    seen = set()
    for document in documents:
        seen |= set(ngrams(words(document), n))
    grams = set(ngrams(words(text), n))
    return len(grams & seen) / len(grams) if grams else 0.0
