"""Decoding: turning a language model's next-token logits into text, written to be read.

The chapter [Decoding and generation settings](../../using/decoding.md) explains each piece; the
chapter [Inference](../../using/inference.md) writes the generation loop they plug into.

Two kinds of functions live here.

- **Logits functions** take next-token logits of shape `(batch, vocab)` and return new logits or
  token ids: `apply_temperature`, `top_k_filter`, `top_p_filter`, `apply_repetition_penalty`,
  `process_logits` (all of them in `transformers`' order), `greedy_next_token` and
  `sample_next_token`. Each one equals the corresponding `transformers` logits processor
  (`TemperatureLogitsWarper`, `TopKLogitsWarper`, `TopPLogitsWarper`,
  `RepetitionPenaltyLogitsProcessor`), ties and edge cases included; the tests check it.
- **Generation loops** call a model again and again: `greedy_search`, `sample` and `beam_search`.
  They produce the same tokens as `transformers`' `generate` with the same settings, and stop on an
  end-of-sequence token, after `max_new_tokens`, or when the text ends with a stop sequence
  (`hits_stop_sequence`, which matches `transformers`' `StopStringCriteria`).

A *model* here is any callable that maps token ids of shape `(batch, seq)` to logits of shape
`(batch, seq, vocab)`: a `genai_guide.gpt.GPT`, or a `transformers` causal language model (its
output's `.logits` is used). The loops run it without gradients and leave its train/eval mode
alone: call `.eval()` first, as for `generate`. They recompute the whole sequence at every step
instead of keeping a KV cache, which gives the same tokens, only more slowly.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from genai_guide._checks import check_int as _check_int

__all__ = [
    "BeamSearchOutput",
    "apply_repetition_penalty",
    "apply_temperature",
    "beam_search",
    "greedy_next_token",
    "greedy_search",
    "hits_stop_sequence",
    "next_token_logits",
    "process_logits",
    "sample",
    "sample_next_token",
    "top_k_filter",
    "top_p_filter",
    "truncate_at_stop",
]

Model = Callable[[Tensor], Any]
"""A callable from `(batch, seq)` token ids to `(batch, seq, vocab)` logits (or an output with `.logits`)."""

_NEG = -1e9  # "minus infinity" for beam scores: finite, so sums and divisions stay ordinary numbers


# ---- argument checks ----------------------------------------------------------------------------


def _check_logits(logits: object) -> Tensor:
    if not isinstance(logits, Tensor):
        raise TypeError(f"logits must be a torch.Tensor, got {type(logits).__name__}")
    if not logits.is_floating_point():
        raise TypeError(f"logits must have a floating dtype, got {logits.dtype}")
    if logits.dim() != 2 or logits.shape[-1] < 1:
        raise ValueError(f"logits must have shape (batch, vocab), got {tuple(logits.shape)}")
    if torch.isnan(logits).any():
        raise ValueError("logits contain NaN")
    return logits


def _check_number(name: str, value: object) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise TypeError(f"{name} must be a float, got {type(value).__name__}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return float(value)


def _check_ids(name: str, ids: object, vocab_size: int | None = None) -> Tensor:
    if not isinstance(ids, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of token ids, got {type(ids).__name__}")
    if ids.dtype not in (torch.int64, torch.int32):
        raise TypeError(f"{name} must have dtype torch.long (or torch.int32), got {ids.dtype}")
    if ids.dim() != 2 or ids.shape[1] < 1:
        raise ValueError(f"{name} must have shape (batch, seq) with seq >= 1, got {tuple(ids.shape)}")
    if ids.numel() and ids.min() < 0:
        raise ValueError(f"{name} must not contain negative ids, got {ids.min().item()}")
    if vocab_size is not None and ids.numel() and ids.max() >= vocab_size:
        raise ValueError(f"{name} must lie in [0, {vocab_size}), got an id {ids.max().item()}")
    return ids


def _check_filter_args(filter_value: object, min_tokens_to_keep: object) -> float:
    if not isinstance(filter_value, (int, float)) or isinstance(filter_value, bool):
        raise TypeError(f"filter_value must be a float, got {type(filter_value).__name__}")
    _check_int("min_tokens_to_keep", min_tokens_to_keep, 1)
    return float(filter_value)


def _check_token_id(name: str, value: object) -> int | None:
    if value is None:
        return None
    return _check_int(name, value, 0)


def _check_stops(stop_sequences: object, decode: object) -> tuple[str, ...]:
    if stop_sequences is None:
        return ()
    if isinstance(stop_sequences, str) or not isinstance(stop_sequences, Sequence):
        raise TypeError("stop_sequences must be a list of strings")
    if not all(isinstance(s, str) and s for s in stop_sequences):
        raise ValueError("stop_sequences must be non-empty strings")
    if stop_sequences and not callable(decode):
        raise TypeError("decode must be a callable from a list of token ids to text when stop_sequences are given")
    return tuple(stop_sequences)


# ---- the logits functions -----------------------------------------------------------------------


def apply_temperature(logits: Tensor, temperature: float) -> Tensor:
    """Divide the logits by a temperature $T > 0$ before the softmax.

    $$p_i = \\frac{\\exp(z_i / T)}{\\sum_j \\exp(z_j / T)}$$

    $T < 1$ sharpens the distribution (as $T \\to 0$ it becomes greedy decoding), $T > 1$ flattens
    it (as $T \\to \\infty$ it becomes uniform), $T = 1$ leaves it unchanged. The order of the
    tokens never changes. Equals `transformers.TemperatureLogitsWarper`. The softmax temperature
    is the Boltzmann distribution's; Holtzman et al. (2019, *The Curious Case of Neural Text
    Degeneration*) study it as a decoding method.

    Args:
        logits: `(batch, vocab)` next-token logits.
        temperature: $T$, a finite number > 0.

    Returns:
        `(batch, vocab)` logits divided by $T$.

    Raises:
        TypeError: if `logits` is not a floating tensor or `temperature` is not a number.
        ValueError: if `logits` is not 2-D or holds NaN, or `temperature` is not > 0.
    """
    _check_logits(logits)
    t = _check_number("temperature", temperature)
    if t <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature} (for greedy decoding use greedy_search)")
    return logits / t


def top_k_filter(
    logits: Tensor, top_k: int, *, filter_value: float = -math.inf, min_tokens_to_keep: int = 1
) -> Tensor:
    """Keep the $k$ largest logits of each row and set the others to `filter_value`.

    $$z'_i = \\begin{cases} z_i & z_i \\ge z_{(k)} \\\\ \\text{filter\\_value} & \\text{otherwise} \\end{cases}$$

    where $z_{(k)}$ is the $k$-th largest logit, so tokens tied with it are all kept (a row may
    keep more than $k$). $k$ is raised to `min_tokens_to_keep` and capped at the vocabulary
    size. After the softmax the kept tokens share all the probability, in the same ratios as
    before. Top-k sampling was used by Fan et al. (2018, *Hierarchical Neural Story
    Generation*). Equals `transformers.TopKLogitsWarper`.

    Args:
        logits: `(batch, vocab)` next-token logits.
        top_k: $k \\ge 1$, how many tokens to keep.
        filter_value: the value given to removed tokens (`-inf`: probability 0).
        min_tokens_to_keep: keep at least this many tokens per row.

    Returns:
        `(batch, vocab)` filtered logits.

    Raises:
        TypeError: if an argument has the wrong type.
        ValueError: if `logits` is not 2-D or holds NaN, or `top_k` or `min_tokens_to_keep` is < 1.
    """
    _check_logits(logits)
    _check_int("top_k", top_k, 1)
    filter_value = _check_filter_args(filter_value, min_tokens_to_keep)
    k = min(max(top_k, min_tokens_to_keep), logits.shape[-1])
    kth_largest = torch.topk(logits, k, dim=-1).values[:, -1:]  # (batch, 1)
    return logits.masked_fill(logits < kth_largest, filter_value)


def top_p_filter(
    logits: Tensor, top_p: float, *, filter_value: float = -math.inf, min_tokens_to_keep: int = 1
) -> Tensor:
    """Nucleus filtering: keep the smallest set of most likely tokens whose probability is >= $p$.

    Holtzman et al. (2019) define the nucleus $V^{(p)}$ as the smallest set with
    $\\sum_{w \\in V^{(p)}} p(w) \\ge p$. This function finds it from the other end, as
    `transformers.TopPLogitsWarper` does: sort the tokens from least to most likely and remove them
    while the removed mass stays $\\le 1 - p$. At least `min_tokens_to_keep` of the most likely
    tokens are always kept, and $p = 1$ keeps every token of nonzero probability.

    Args:
        logits: `(batch, vocab)` next-token logits.
        top_p: $p \\in (0, 1]$.
        filter_value: the value given to removed tokens (`-inf`: probability 0).
        min_tokens_to_keep: keep at least this many tokens per row.

    Returns:
        `(batch, vocab)` filtered logits.

    Raises:
        TypeError: if an argument has the wrong type.
        ValueError: if `logits` is not 2-D or holds NaN, `top_p` is outside (0, 1], or
            `min_tokens_to_keep` is < 1.
    """
    _check_logits(logits)
    p = _check_number("top_p", top_p)
    if not 0 < p <= 1:
        raise ValueError(f"top_p must be in (0, 1], got {top_p}")
    filter_value = _check_filter_args(filter_value, min_tokens_to_keep)
    sorted_logits, order = torch.sort(logits, descending=False)  # least likely first
    tail_mass = sorted_logits.softmax(dim=-1).cumsum(dim=-1)  # (batch, vocab): mass of this token and all below it
    remove_sorted = tail_mass <= 1 - p
    remove_sorted[:, -min_tokens_to_keep:] = False  # the most likely tokens always stay
    remove = remove_sorted.scatter(1, order, remove_sorted)  # back to vocabulary order
    return logits.masked_fill(remove, filter_value)


def apply_repetition_penalty(logits: Tensor, previous_ids: Tensor, penalty: float) -> Tensor:
    """Make every token that already occurs in `previous_ids` less likely (penalty > 1).

    The CTRL paper (Keskar et al. 2019, "penalized sampling") divides the logits of tokens
    already generated by $\\theta$ and suggests $\\theta \\approx 1.2$. Dividing a negative logit
    would *raise* it, so `transformers` (and this function) divide positive logits and multiply
    negative ones:

    $$z'_i = \\begin{cases} z_i / \\theta & i \\in \\text{previous}, z_i > 0 \\\\
    z_i \\cdot \\theta & i \\in \\text{previous}, z_i < 0 \\\\ z_i & \\text{otherwise} \\end{cases}$$

    A token is penalized once, however often it occurred. The previous tokens include the
    prompt. $\\theta < 1$ rewards repetition instead. Equals
    `transformers.RepetitionPenaltyLogitsProcessor`.

    Args:
        logits: `(batch, vocab)` next-token logits.
        previous_ids: `(batch, seq)` token ids seen so far (prompt and generated tokens).
        penalty: $\\theta > 0$; 1 changes nothing.

    Returns:
        `(batch, vocab)` penalized logits.

    Raises:
        TypeError: if an argument has the wrong type.
        ValueError: if shapes disagree, an id is outside the vocabulary, or `penalty` is not > 0.
    """
    _check_logits(logits)
    _check_ids("previous_ids", previous_ids, vocab_size=logits.shape[-1])
    if previous_ids.shape[0] != logits.shape[0]:
        raise ValueError(f"previous_ids has batch {previous_ids.shape[0]}, logits has batch {logits.shape[0]}")
    theta = _check_number("penalty", penalty)
    if theta <= 0:
        raise ValueError(f"penalty must be > 0, got {penalty}")
    ids = previous_ids.long()
    seen = logits.gather(1, ids)  # (batch, seq): the logits of the tokens already seen
    penalized = torch.where(seen < 0, seen * theta, seen / theta)
    return logits.scatter(1, ids, penalized)


def process_logits(
    logits: Tensor,
    previous_ids: Tensor | None = None,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    repetition_penalty: float | None = None,
    min_tokens_to_keep: int = 1,
) -> Tensor:
    """Apply the usual generation settings in `transformers`' order.

    Repetition penalty first (it needs `previous_ids`), then temperature, then top-k, then top-p.
    The order matters: top-p measures probability *after* the temperature has reshaped it. A
    setting left at its neutral value (`temperature=1`, `None`) is skipped.

    Args:
        logits: `(batch, vocab)` next-token logits.
        previous_ids: `(batch, seq)` ids seen so far; required with `repetition_penalty`.
        temperature: see `apply_temperature`.
        top_k: see `top_k_filter`; `None` keeps every token.
        top_p: see `top_p_filter`; `None` keeps every token.
        repetition_penalty: see `apply_repetition_penalty`; `None` applies none.
        min_tokens_to_keep: passed to the two filters.

    Returns:
        `(batch, vocab)` processed logits.

    Raises:
        TypeError: if an argument has the wrong type.
        ValueError: if a setting is out of range, or `repetition_penalty` is given without `previous_ids`.
    """
    _check_logits(logits)
    if repetition_penalty is not None and repetition_penalty != 1.0:
        if previous_ids is None:
            raise ValueError("previous_ids is required with repetition_penalty")
        logits = apply_repetition_penalty(logits, previous_ids, repetition_penalty)
    if temperature != 1.0:
        logits = apply_temperature(logits, temperature)
    if top_k is not None:
        logits = top_k_filter(logits, top_k, min_tokens_to_keep=min_tokens_to_keep)
    if top_p is not None and top_p != 1.0:
        logits = top_p_filter(logits, top_p, min_tokens_to_keep=min_tokens_to_keep)
    return logits


def greedy_next_token(logits: Tensor) -> Tensor:
    """The most likely token of each row: $\\arg\\max_i z_i$ (the first one on a tie).

    Args:
        logits: `(batch, vocab)` next-token logits.

    Returns:
        `(batch,)` token ids.
    """
    return _check_logits(logits).argmax(dim=-1)


def sample_next_token(logits: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Draw one token per row from $\\operatorname{softmax}(z)$.

    Tokens whose logit is `-inf` (removed by a filter) have probability 0 and are never drawn.
    With a seeded `generator` the draw is reproducible; it is the draw of
    `torch.multinomial(softmax(logits), 1, generator=generator)`, the call `generate` makes
    (with the global generator when `generator` is `None`).

    Args:
        logits: `(batch, vocab)` next-token logits, at least one finite per row.
        generator: the random number generator to draw from.

    Returns:
        `(batch,)` token ids.

    Raises:
        TypeError: if `logits` is not a floating tensor or `generator` is not a `torch.Generator`.
        ValueError: if `logits` is not 2-D, holds NaN, or has a row with no finite value.
    """
    _check_logits(logits)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    if not (logits > -math.inf).any(dim=-1).all():
        raise ValueError("logits has a row where every token is filtered out (-inf)")
    probs = F.softmax(logits, dim=-1)  # (batch, vocab)
    return torch.multinomial(probs, num_samples=1, generator=generator).squeeze(1)


# ---- stop sequences -----------------------------------------------------------------------------


def hits_stop_sequence(ids: Sequence[int], decode: Callable[[list[int]], str], stop_sequences: Sequence[str]) -> bool:
    """Whether the text of `ids` contains a stop sequence that ends within its last token.

    Generation checks after every token, so only an occurrence that the last token completed
    counts: one that ended earlier would already have stopped it, and one in the prompt must not
    stop it at all. A token may also run past the end of the stop sequence (`"\\n\\n"` completed by
    a token `"\\n\\nThe"`). This is the rule of `transformers`' `StopStringCriteria`, written on
    text instead of precomputed token tables. `decode` must decode a prefix of `ids` to a prefix
    of the text, as character and byte-level tokenizers do.

    Args:
        ids: the token ids so far (prompt and generated tokens).
        decode: maps a list of token ids to text.
        stop_sequences: the strings to stop at.

    Returns:
        `True` if generation should stop.
    """
    ids = [int(i) for i in ids]
    if not ids:
        return False
    text, before = decode(ids), decode(ids[:-1])
    return any(stop in text[max(0, len(before) - len(stop) + 1):] for stop in stop_sequences)


def truncate_at_stop(text: str, stop_sequences: Sequence[str]) -> str:
    """Cut a completion at the first occurrence of any stop sequence, which is dropped.

    `transformers` keeps the stop sequence at the end of the output; chat APIs usually return the
    text before it. This is that last step.

    Args:
        text: the generated text.
        stop_sequences: the strings to cut at.

    Returns:
        The text before the earliest stop sequence, or all of it if none occurs.

    Raises:
        TypeError: if `text` is not a string or `stop_sequences` is not a list of strings.
        ValueError: if a stop sequence is empty.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    stops = _check_stops(stop_sequences, decode=lambda ids: "")
    cut = min((i for i in (text.find(s) for s in stops) if i >= 0), default=len(text))
    return text[:cut]


# ---- the generation loops -----------------------------------------------------------------------


def next_token_logits(model: Model, ids: Tensor, context_length: int | None = None) -> Tensor:
    """Run `model` on `ids` and return the logits of the token after the last one, in float32.

    Args:
        model: maps `(batch, seq)` ids to `(batch, seq, vocab)` logits, or to an output with `.logits`.
        ids: `(batch, seq)` token ids.
        context_length: if given, only the last `context_length` tokens are fed to the model.

    Returns:
        `(batch, vocab)` float32 logits.

    Raises:
        TypeError: if `model` is not callable or returns something else than logits.
        ValueError: if the logits do not have shape `(batch, seq, vocab)`.
    """
    if not callable(model):
        raise TypeError(f"model must be callable, got {type(model).__name__}")
    if context_length is not None:
        ids = ids[:, -context_length:]  # a sliding window: the model sees at most context_length tokens
    out = model(ids)
    logits = getattr(out, "logits", out)
    if not isinstance(logits, Tensor) or not logits.is_floating_point():
        raise TypeError("model must return a floating tensor of logits (or an output with .logits)")
    if logits.dim() != 3 or logits.shape[:2] != ids.shape:
        raise ValueError(f"model must return (batch, seq, vocab) logits, got {tuple(logits.shape)} for ids {tuple(ids.shape)}")
    return logits[:, -1, :].float()  # (batch, vocab): as generate does, decide in float32


def _check_loop_args(ids: object, max_new_tokens: object, eos_token_id: object, pad_token_id: object,
                     context_length: object) -> tuple[int | None, int | None]:
    _check_ids("ids", ids)
    _check_int("max_new_tokens", max_new_tokens, 0)
    if context_length is not None:
        _check_int("context_length", context_length, 1)
    eos = _check_token_id("eos_token_id", eos_token_id)
    pad = _check_token_id("pad_token_id", pad_token_id)
    return eos, (pad if pad is not None else eos)


def _check_vocab(name: str, token_id: int | None, vocab_size: int) -> None:
    if token_id is not None and token_id >= vocab_size:
        raise ValueError(f"{name} ({token_id}) must lie in [0, {vocab_size})")


def _decode_loop(
    model: Model,
    ids: Tensor,
    max_new_tokens: int,
    choose: Callable[[Tensor, Tensor], Tensor],
    *,
    eos_token_id: int | None,
    pad_token_id: int | None,
    context_length: int | None,
    stop_sequences: tuple[str, ...],
    decode: Callable[[list[int]], str] | None,
) -> Tensor:
    """The generation loop shared by `greedy_search` and `sample`: logits, choose, append, stop."""
    ids = ids.clone()
    unfinished = torch.ones(ids.shape[0], dtype=torch.bool, device=ids.device)  # (batch,)
    for _ in range(max_new_tokens):
        logits = next_token_logits(model, ids, context_length)  # (batch, vocab)
        _check_vocab("eos_token_id", eos_token_id, logits.shape[-1])
        _check_vocab("pad_token_id", pad_token_id, logits.shape[-1])
        next_id = choose(logits, ids).to(ids.dtype)  # (batch,)
        if pad_token_id is not None:  # a sequence that has finished only receives padding
            next_id = torch.where(unfinished, next_id, torch.full_like(next_id, pad_token_id))
        ids = torch.cat([ids, next_id[:, None]], dim=1)
        if eos_token_id is not None:
            unfinished &= next_id != eos_token_id
        if stop_sequences:
            assert decode is not None
            stopped = [hits_stop_sequence(row, decode, stop_sequences) for row in ids.tolist()]
            unfinished &= ~torch.tensor(stopped, device=ids.device)
        if not unfinished.any():
            break
    return ids


@torch.no_grad()
def greedy_search(
    model: Model,
    ids: Tensor,
    max_new_tokens: int,
    *,
    eos_token_id: int | None = None,
    pad_token_id: int | None = None,
    repetition_penalty: float | None = None,
    context_length: int | None = None,
    stop_sequences: Sequence[str] | None = None,
    decode: Callable[[list[int]], str] | None = None,
) -> Tensor:
    """Generate by appending the most likely next token until a stop condition.

    $$y_t = \\arg\\max_{v} \\, p(v \\mid y_{<t})$$

    Each step runs the model, (optionally) applies the repetition penalty, appends the argmax,
    and stops a sequence at `eos_token_id` (kept in the output) or when its text ends with a stop
    sequence. A finished sequence receives `pad_token_id` while others in the batch go on; the
    loop ends when all have finished or after `max_new_tokens`. Equals
    `model.generate(ids, do_sample=False, ...)` in `transformers`.

    Args:
        model: maps `(batch, seq)` ids to `(batch, seq, vocab)` logits (see the module docstring).
        ids: `(batch, seq)` prompt ids (all rows the same length, no padding).
        max_new_tokens: the most tokens to append.
        eos_token_id: the end-of-sequence token, or `None`.
        pad_token_id: what finished sequences receive (defaults to `eos_token_id`).
        repetition_penalty: see `apply_repetition_penalty`.
        context_length: feed only the last `context_length` tokens to the model (a sliding window).
        stop_sequences: strings that end a sequence (the rule of `hits_stop_sequence`).
        decode: maps token ids to text; required with `stop_sequences`.

    Returns:
        `(batch, seq + n)` ids, prompt first, with `n <= max_new_tokens`.

    Raises:
        TypeError: if an argument has the wrong type.
        ValueError: if an argument is out of range.
    """
    eos, pad = _check_loop_args(ids, max_new_tokens, eos_token_id, pad_token_id, context_length)
    stops = _check_stops(stop_sequences, decode)

    def choose(logits: Tensor, seen: Tensor) -> Tensor:
        return greedy_next_token(process_logits(logits, seen, repetition_penalty=repetition_penalty))

    return _decode_loop(model, ids, max_new_tokens, choose, eos_token_id=eos, pad_token_id=pad,
                        context_length=context_length, stop_sequences=stops, decode=decode)


@torch.no_grad()
def sample(
    model: Model,
    ids: Tensor,
    max_new_tokens: int,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    repetition_penalty: float | None = None,
    generator: torch.Generator | None = None,
    eos_token_id: int | None = None,
    pad_token_id: int | None = None,
    context_length: int | None = None,
    stop_sequences: Sequence[str] | None = None,
    decode: Callable[[list[int]], str] | None = None,
) -> Tensor:
    """Generate by drawing each next token from the processed distribution.

    $$y_t \\sim \\operatorname{softmax}\\big(\\operatorname{process}(z_t)\\big)$$

    where `process` is `process_logits` (repetition penalty, temperature, top-k, top-p, in that
    order). Stopping and padding work as in `greedy_search`. With the same seed, this draws the
    same tokens as `transformers`' `generate(do_sample=True, ...)`: seed the global generator
    with `torch.manual_seed` before each, or pass a seeded `generator` here. Unlike `generate`,
    it applies no top-k by default (`generate` uses `top_k=50` unless told otherwise).

    Args:
        model: maps `(batch, seq)` ids to `(batch, seq, vocab)` logits.
        ids: `(batch, seq)` prompt ids.
        max_new_tokens: the most tokens to append.
        temperature: see `apply_temperature`.
        top_k: see `top_k_filter`; `None` for no limit.
        top_p: see `top_p_filter`; `None` for no limit.
        repetition_penalty: see `apply_repetition_penalty`.
        generator: the random number generator (the global one if `None`).
        eos_token_id: the end-of-sequence token, or `None`.
        pad_token_id: what finished sequences receive (defaults to `eos_token_id`).
        context_length: feed only the last `context_length` tokens to the model.
        stop_sequences: strings that end a sequence.
        decode: maps token ids to text; required with `stop_sequences`.

    Returns:
        `(batch, seq + n)` ids, prompt first, with `n <= max_new_tokens`.

    Raises:
        TypeError: if an argument has the wrong type.
        ValueError: if an argument is out of range.
    """
    eos, pad = _check_loop_args(ids, max_new_tokens, eos_token_id, pad_token_id, context_length)
    stops = _check_stops(stop_sequences, decode)
    probe = torch.zeros(1, 2)  # check the settings once, before the model runs
    process_logits(probe, torch.zeros(1, 1, dtype=torch.long), temperature=temperature, top_k=top_k,
                   top_p=top_p, repetition_penalty=repetition_penalty)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")

    def choose(logits: Tensor, seen: Tensor) -> Tensor:
        logits = process_logits(logits, seen, temperature=temperature, top_k=top_k, top_p=top_p,
                                repetition_penalty=repetition_penalty)
        return sample_next_token(logits, generator)

    return _decode_loop(model, ids, max_new_tokens, choose, eos_token_id=eos, pad_token_id=pad,
                        context_length=context_length, stop_sequences=stops, decode=decode)


@dataclass(frozen=True)
class BeamSearchOutput:
    """What `beam_search` returns.

    Attributes:
        sequences: `(batch * num_return_sequences, seq + n)` token ids, best first for each prompt.
        scores: `(batch * num_return_sequences,)` each sequence's score: its summed log-probability
            divided by (generated length)$^{\\alpha}$.
    """

    sequences: Tensor
    scores: Tensor


def _gather(x: Tensor, index: Tensor) -> Tensor:
    """Pick rows along dim 1: `x` is (batch, n, ...), `index` is (batch, m); returns (batch, m, ...)."""
    index = index.view(*index.shape, *([1] * (x.dim() - 2))).expand(*index.shape, *x.shape[2:])
    return x.gather(1, index)


@torch.no_grad()
def beam_search(
    model: Model,
    ids: Tensor,
    num_beams: int,
    max_new_tokens: int,
    *,
    eos_token_id: int | None = None,
    pad_token_id: int | None = None,
    length_penalty: float = 1.0,
    early_stopping: bool | str = False,
    num_return_sequences: int = 1,
    context_length: int | None = None,
) -> BeamSearchOutput:
    """Keep the `num_beams` most probable partial sequences at every step; return the best finished ones.

    A hypothesis $y$ is scored by its summed log-probability; a finished one by
    $\\frac{1}{|y|^{\\alpha}} \\sum_t \\log p(y_t \\mid y_{<t}, x)$, with $|y|$ the number of
    generated tokens and $\\alpha$ the `length_penalty` ($\\alpha > 0$ favours longer outputs,
    $\\alpha < 0$ shorter ones). Each step, for each prompt:

    1. extend every running beam by every token and keep the $2B$ best candidates ($B$ = `num_beams`);
    2. those among the best $B$ that end (with `eos_token_id`, or because `max_new_tokens` is
       reached) enter the list of $B$ finished hypotheses if they score high enough;
    3. the $B$ best candidates that did not end become the new running beams;
    4. stop early when no running beam can beat the worst finished hypothesis (the bound assumes
       the best running beam stops now, or, with `early_stopping="never"` and $\\alpha > 0$, at
       `max_new_tokens`), or, with `early_stopping=True`, as soon as $B$ hypotheses have finished.

    This is beam search as in `transformers`' `generate(num_beams=B, do_sample=False)`, with its
    defaults, and it returns the same tokens and `sequences_scores`. Beam search for neural
    sequence models goes back to Sutskever et al. (2014); dividing by a power of the length
    follows Wu et al. (2016), whose penalty is $((5 + |y|)/6)^{\\alpha}$ rather than $|y|^{\\alpha}$.
    With one beam and no `eos_token_id`, it is greedy decoding.

    Args:
        model: maps `(batch, seq)` ids to `(batch, seq, vocab)` logits.
        ids: `(batch, seq)` prompt ids.
        num_beams: $B \\ge 1$.
        max_new_tokens: the most tokens to generate ($\\ge 1$).
        eos_token_id: the end-of-sequence token, or `None`.
        pad_token_id: fills sequences that finished before the longest returned one (defaults to
            `eos_token_id`).
        length_penalty: $\\alpha$.
        early_stopping: `False`, `True` or `"never"` (see step 4).
        num_return_sequences: how many finished hypotheses to return per prompt (<= `num_beams`).
        context_length: feed only the last `context_length` tokens to the model.

    Returns:
        A `BeamSearchOutput` with the sequences and their scores.

    Raises:
        TypeError: if an argument has the wrong type.
        ValueError: if an argument is out of range.
    """
    eos, pad = _check_loop_args(ids, max_new_tokens, eos_token_id, pad_token_id, context_length)
    _check_int("num_beams", num_beams, 1)
    _check_int("max_new_tokens", max_new_tokens, 1)
    _check_int("num_return_sequences", num_return_sequences, 1)
    if num_return_sequences > num_beams:
        raise ValueError(f"num_return_sequences ({num_return_sequences}) must be <= num_beams ({num_beams})")
    alpha = _check_number("length_penalty", length_penalty)
    if not (isinstance(early_stopping, bool) or early_stopping == "never"):
        raise ValueError(f"early_stopping must be True, False or 'never', got {early_stopping!r}")

    B, T0 = ids.shape  # prompts, prompt length
    K, total = num_beams, T0 + max_new_tokens
    fill = pad if pad is not None else 0  # only seen after a sequence that finished early
    # Running beams start as K copies of the prompt; only the first is alive, or the K copies
    # would pick the same K tokens.
    running = ids[:, None, :].expand(B, K, T0).clone()  # (B, K, T)
    running_scores = torch.zeros(B, K, device=ids.device)  # (B, K) summed log-probabilities
    running_scores[:, 1:] = _NEG
    done_seqs = torch.full((B, K, total), fill, dtype=ids.dtype, device=ids.device)  # finished hypotheses
    done_scores = torch.full((B, K), _NEG, device=ids.device)  # their length-normalized scores
    done_lens = torch.zeros(B, K, dtype=torch.long, device=ids.device)
    is_done = torch.zeros(B, K, dtype=torch.bool, device=ids.device)  # which of the K slots hold one
    can_improve = torch.ones(B, dtype=torch.bool, device=ids.device)  # (B,)
    first_k = torch.arange(2 * K, device=ids.device) < K  # (2K,) the best K of the 2K candidates

    for step in range(max_new_tokens):
        cur = T0 + step
        logits = next_token_logits(model, running.reshape(B * K, cur), context_length)  # (B*K, V)
        V = logits.shape[-1]
        _check_vocab("eos_token_id", eos, V)
        _check_vocab("pad_token_id", pad, V)
        log_probs = F.log_softmax(logits, dim=-1).view(B, K, V)
        totals = (running_scores[:, :, None] + log_probs).view(B, K * V)  # score of every extension

        # 1. The 2K best extensions of all beams (2K, so that K remain if K of them end here).
        cand_scores, flat = totals.topk(2 * K, dim=-1)  # (B, 2K), sorted best first
        beam, token = flat // V, flat % V
        cand = torch.cat([_gather(running, beam), token[:, :, None]], dim=-1)  # (B, 2K, cur + 1)
        ends = token == eos if eos is not None else torch.zeros_like(token, dtype=torch.bool)
        if step == max_new_tokens - 1:
            ends = torch.ones_like(ends)  # the length limit ends every candidate

        # 2. Finished candidates among the best K join the finished list, length-normalized.
        normalized = cand_scores / (step + 1) ** alpha
        full = is_done.all(dim=-1) & (early_stopping is True)  # (B,) no room left with early stopping
        joins = ends & first_k & can_improve[:, None] & ~full[:, None]  # (B, 2K)
        pool_scores = torch.cat([done_scores, torch.where(joins, normalized, _NEG)], dim=1)  # (B, 3K)
        pool_seqs = torch.cat([done_seqs, F.pad(cand, (0, total - cur - 1), value=fill)], dim=1)
        pool_lens = torch.cat([done_lens, torch.full_like(token, step + 1)], dim=1)
        pool_done = torch.cat([is_done, joins], dim=1)
        keep = pool_scores.topk(K, dim=-1).indices  # (B, K) the K best finished so far
        done_scores, done_seqs = _gather(pool_scores, keep), _gather(pool_seqs, keep)
        done_lens, is_done = _gather(pool_lens, keep), _gather(pool_done, keep)

        # 3. The K best candidates that did not end carry on.
        alive = cand_scores + ends.float() * _NEG  # push the ended ones to the bottom
        keep = alive.topk(K, dim=-1).indices
        running, running_scores = _gather(cand, keep), _gather(alive, keep)

        # 4. Can the best running beam still beat the worst finished hypothesis?
        hoped_len = max_new_tokens if early_stopping == "never" and alpha > 0 else step + 1
        best_possible = running_scores[:, 0] / hoped_len**alpha  # (B,)
        worst_done = torch.where(is_done.all(dim=-1), done_scores.min(dim=-1).values, torch.tensor(_NEG))
        can_improve &= best_possible > worst_done
        if not can_improve.any() or (early_stopping is True and is_done.all()):
            break

    n = num_return_sequences  # done_* are sorted best first (topk returns them in order)
    sequences = done_seqs[:, :n].reshape(B * n, total)
    length = T0 + int(done_lens[:, :n].max())
    return BeamSearchOutput(sequences=sequences[:, :length], scores=done_scores[:, :n].reshape(B * n))
