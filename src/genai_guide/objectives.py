"""Pre-training objectives of the three transformer families, written to be read.

The chapter [Encoder, decoder, encoder-decoder](../../architectures/model_families.md) explains them:

- **encoder-only** models (BERT) learn by masked language modelling: `mask_tokens` hides 15% of the
  tokens the way Devlin et al. (2018) do, with the random draws of Hugging Face's
  `DataCollatorForLanguageModeling`, so both give identical batches from the same generator;
- **encoder-decoder** models (T5) learn by span corruption: `span_corruption` drops spans of tokens
  and asks for them back, as in Raffel et al. (2019), with the span sampler of T5's own code
  (`random_spans_noise_mask`), and `shift_right` builds the decoder's teacher-forced input;
- **decoder-only** models (GPT-2) learn by causal language modelling: `causal_lm_loss` scores every
  position's prediction of the next token (Radford et al. 2019).

Labels follow the PyTorch and Hugging Face convention: `-100` marks a position that takes no part in
the loss (`torch.nn.functional.cross_entropy(..., ignore_index=-100)`).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "IGNORE_INDEX",
    "causal_lm_loss",
    "corrupt_spans",
    "mask_tokens",
    "random_spans_noise_mask",
    "shift_right",
    "span_corruption",
]

IGNORE_INDEX = -100  # label of a position that is not scored


def _check_int_tensor(name: str, x: object, dims: tuple[int, ...] | None = None) -> Tensor:
    """Raise a clear error unless ``x`` is an integer tensor with one of the allowed numbers of dims."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of token ids, got {type(x).__name__}")
    if x.is_floating_point() or x.is_complex() or x.dtype == torch.bool:
        raise TypeError(f"{name} must have an integer dtype, got {x.dtype}")
    if dims is not None and x.dim() not in dims:
        raise ValueError(f"{name} must have {' or '.join(map(str, dims))} dimensions, got shape {tuple(x.shape)}")
    return x


def _check_probability(name: str, p: object, *, open_interval: bool = False) -> float:
    if isinstance(p, bool) or not isinstance(p, (int, float)):
        raise TypeError(f"{name} must be a float, got {type(p).__name__}")
    ok = 0.0 < p < 1.0 if open_interval else 0.0 <= p <= 1.0
    if not ok:
        interval = "(0, 1)" if open_interval else "[0, 1]"
        raise ValueError(f"{name} must lie in {interval}, got {p}")
    return float(p)


def _check_generator(generator: object) -> None:
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")


def mask_tokens(
    input_ids: Tensor,
    vocab_size: int,
    mask_token_id: int,
    special_ids: Iterable[int],
    mlm_probability: float = 0.15,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """Corrupt a batch for masked language modelling (BERT; Devlin et al. 2018, section 3.1).

    Each position that does not hold a special token is **chosen** independently with probability
    $p$ (`mlm_probability`, 15% in BERT). A chosen position is then

    - replaced by `[MASK]` with probability 0.8,
    - replaced by a token drawn uniformly from the whole vocabulary with probability 0.1,
    - left unchanged with probability 0.1,

    and only the chosen positions are scored: with $\\mathcal{M}$ the chosen positions and
    $\\tilde{x}$ the corrupted input, the loss is

    $$\\mathcal{L}_{\\text{MLM}} = -\\frac{1}{|\\mathcal{M}|} \\sum_{i \\in \\mathcal{M}} \\log p_\\theta(x_i \\mid \\tilde{x}).$$

    The random draws are those of Hugging Face's `DataCollatorForLanguageModeling.torch_mask_tokens`
    (three Bernoulli draws and one `randint`, in that order), so the same generator gives the same
    batch. As there, the random replacement may be any id below `vocab_size`, special ones included.

    Args:
        input_ids: `(..., L)` integer token ids; not modified.
        vocab_size: size $V$ of the vocabulary; random replacements are drawn from `0..V-1`.
        mask_token_id: id of `[MASK]`, inside the vocabulary.
        special_ids: ids never chosen for masking (`[CLS]`, `[SEP]`, `[PAD]`, ...).
        mlm_probability: probability $p$ that a non-special position is chosen.
        generator: random number generator, for reproducible masks.

    Returns:
        `(inputs, labels)`, both shaped like `input_ids`: the corrupted inputs, and labels holding
        the original id at chosen positions and `-100` everywhere else.

    Raises:
        TypeError: if `input_ids` is not an integer tensor or an argument has the wrong type.
        ValueError: if an id lies outside `0..vocab_size-1` or `mlm_probability` outside [0, 1].
    """
    _check_int_tensor("input_ids", input_ids)
    if input_ids.dim() < 1:
        raise ValueError(f"input_ids must have at least 1 dimension (..., L), got shape {tuple(input_ids.shape)}")
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < 1:
        raise ValueError(f"vocab_size must be a positive int, got {vocab_size!r}")
    if isinstance(mask_token_id, bool) or not isinstance(mask_token_id, int) or not 0 <= mask_token_id < vocab_size:
        raise ValueError(f"mask_token_id must be an int in [0, {vocab_size}), got {mask_token_id!r}")
    if isinstance(special_ids, (str, bytes)) or not isinstance(special_ids, (Iterable, Tensor)):
        raise TypeError(f"special_ids must be an iterable of ints, got {type(special_ids).__name__}")
    special = torch.as_tensor(list(special_ids) if not isinstance(special_ids, Tensor) else special_ids,
                              dtype=torch.long).flatten()
    if input_ids.numel() and (input_ids.min() < 0 or input_ids.max() >= vocab_size):
        raise ValueError(f"input_ids must lie in [0, {vocab_size}), got values in "
                         f"[{input_ids.min().item()}, {input_ids.max().item()}]")
    mlm_probability = _check_probability("mlm_probability", mlm_probability)
    _check_generator(generator)

    ids = input_ids.detach().to("cpu", torch.long)  # the draws happen on the CPU, as in the data pipeline
    inputs, labels = ids.clone(), ids.clone()
    shape = labels.shape

    # 1. choose ~p of the ordinary positions; special tokens have probability 0
    probability = torch.full(shape, mlm_probability)
    probability.masked_fill_(torch.isin(labels, special), 0.0)
    chosen = torch.bernoulli(probability, generator=generator).bool()
    labels[~chosen] = IGNORE_INDEX  # the loss sees the chosen positions only

    # 2. 80% of the chosen positions become [MASK]
    to_mask = torch.bernoulli(torch.full(shape, 0.8), generator=generator).bool() & chosen
    inputs[to_mask] = mask_token_id

    # 3. half of the remaining 20% (10% overall) become a random token; the last 10% stay as they are
    to_random = torch.bernoulli(torch.full(shape, 0.5), generator=generator).bool() & chosen & ~to_mask
    random_ids = torch.randint(vocab_size, shape, dtype=torch.long, generator=generator)
    inputs[to_random] = random_ids[to_random]
    return inputs.to(input_ids.device), labels.to(input_ids.device)


def random_spans_noise_mask(
    length: int,
    noise_density: float = 0.15,
    mean_span_length: float = 3.0,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Choose which tokens T5's span corruption drops (Raffel et al. 2019, section 3.1.4).

    A port of `random_spans_noise_mask` from T5's preprocessors: exactly
    $n = \\operatorname{round}(L \\cdot d)$ of the $L$ tokens are noise (at least 1, at most $L - 1$),
    grouped in $s = \\operatorname{round}(n / \\bar{\\ell})$ spans (at least 1), so that the mean span
    length is $n / s \\approx \\bar{\\ell}$. The noise tokens and the kept tokens are each cut into $s$
    non-empty runs at random, and the runs alternate, kept first:

    $$\\underbrace{k_1}_{\\text{kept}}\\;\\underbrace{d_1}_{\\text{noise}}\\;k_2\\;d_2\\;\\cdots\\;k_s\\;d_s .$$

    So the sequence always starts with a kept token and ends with a dropped one, as in T5's code.

    Args:
        length: number of tokens $L$ (at least 1; a single token is never dropped).
        noise_density: fraction $d$ of tokens to drop, in (0, 1); T5 uses 0.15.
        mean_span_length: mean span length $\\bar{\\ell} \\ge 1$; T5 uses 3.
        generator: random number generator, for reproducible spans.

    Returns:
        A `(L,)` boolean tensor, `True` at the tokens to drop.

    Raises:
        TypeError: if an argument has the wrong type.
        ValueError: if an argument is out of range.
    """
    if isinstance(length, bool) or not isinstance(length, int) or length < 1:
        raise ValueError(f"length must be a positive int, got {length!r}")
    noise_density = _check_probability("noise_density", noise_density, open_interval=True)
    if isinstance(mean_span_length, bool) or not isinstance(mean_span_length, (int, float)):
        raise TypeError(f"mean_span_length must be a number, got {type(mean_span_length).__name__}")
    if mean_span_length < 1:
        raise ValueError(f"mean_span_length must be at least 1, got {mean_span_length}")
    _check_generator(generator)

    orig_length, length = length, max(length, 2)  # T5 avoids the degenerate case, then truncates
    num_noise = min(max(round(length * noise_density), 1), length - 1)
    num_spans = max(round(num_noise / mean_span_length), 1)
    num_kept = length - num_noise

    def random_segmentation(num_items: int, num_segments: int) -> Tensor:
        """Cut `num_items` items into `num_segments` non-empty runs at random: their lengths."""
        is_cut = (torch.arange(num_items - 1) < num_segments - 1).long()  # num_segments - 1 cuts ...
        is_cut = is_cut[torch.randperm(num_items - 1, generator=generator)]  # ... between random items
        segment_id = torch.cat([torch.zeros(1, dtype=torch.long), is_cut]).cumsum(0)
        return torch.bincount(segment_id, minlength=num_segments)

    noise_lengths = random_segmentation(num_noise, num_spans)
    kept_lengths = random_segmentation(num_kept, num_spans)
    run_lengths = torch.stack([kept_lengths, noise_lengths], dim=1).flatten()  # k1 d1 k2 d2 ... ks ds
    is_noise_run = torch.tensor([False, True]).repeat(num_spans)
    return torch.repeat_interleave(is_noise_run, run_lengths)[:orig_length]


def corrupt_spans(tokens: Tensor, noise_mask: Tensor, sentinel_ids: Iterable[int]) -> tuple[Tensor, Tensor]:
    """Turn a sequence and a noise mask into T5's span-corruption (inputs, targets).

    Every maximal run of dropped tokens (a **span**) is replaced in the input by one sentinel,
    the $k$-th span by `sentinel_ids[k]` (`<extra_id_k>` in T5's vocabulary). The target lists each
    sentinel followed by the tokens it hides, and ends with one more sentinel (Raffel et al. 2019,
    figure 2). With the paper's example:

        tokens:  Thank you for inviting me to your party last week .
        inputs:  Thank you <X> me to your party <Y> week .
        targets: <X> for inviting <Y> last <Z>

    Args:
        tokens: `(L,)` integer ids; must not contain a sentinel id.
        noise_mask: `(L,)` boolean, `True` at the tokens to drop.
        sentinel_ids: distinct sentinel ids, at least one more than the number of spans.

    Returns:
        `(inputs, targets)`: two 1-D `int64` tensors. With $n$ dropped tokens in $s$ spans their
        lengths are $L - n + s$ and $n + s + 1$.

    Raises:
        TypeError: if `tokens` or `noise_mask` has the wrong dtype, or `sentinel_ids` is not a sequence of ints.
        ValueError: if shapes differ, `tokens` contains a sentinel, or there are too few sentinels.
    """
    _check_int_tensor("tokens", tokens, dims=(1,))
    if not isinstance(noise_mask, Tensor) or noise_mask.dtype != torch.bool:
        raise TypeError("noise_mask must be a bool tensor (True = drop)")
    if noise_mask.shape != tokens.shape:
        raise ValueError(f"noise_mask must have the shape of tokens {tuple(tokens.shape)}, got {tuple(noise_mask.shape)}")
    if isinstance(sentinel_ids, (str, bytes)) or not isinstance(sentinel_ids, (Iterable, Tensor)):
        raise TypeError(f"sentinel_ids must be a sequence of ints, got {type(sentinel_ids).__name__}")
    sentinels = [int(s) for s in sentinel_ids]
    if len(set(sentinels)) != len(sentinels):
        raise ValueError("sentinel_ids must be distinct")
    if torch.isin(tokens, torch.tensor(sentinels, dtype=tokens.dtype, device=tokens.device)).any():
        raise ValueError("tokens must not contain a sentinel id (it could not be told apart from a span marker)")
    previous = torch.cat([noise_mask.new_zeros(1), noise_mask])[:-1]  # was the token before dropped?
    starts = noise_mask & ~previous  # the first token of each span
    num_spans = int(starts.sum())
    if len(sentinels) < num_spans + 1:
        raise ValueError(f"sentinel_ids: {num_spans} spans need {num_spans + 1} sentinels, got {len(sentinels)}")

    inputs: list[int] = []
    targets: list[int] = []
    span = -1
    for token, dropped, start in zip(tokens.tolist(), noise_mask.tolist(), starts.tolist()):
        if start:  # a new span: one sentinel in the input, the same sentinel opens its part of the target
            span += 1
            inputs.append(sentinels[span])
            targets.append(sentinels[span])
        if dropped:
            targets.append(token)
        else:
            inputs.append(token)
    targets.append(sentinels[num_spans])  # the final sentinel closes the target
    return (torch.tensor(inputs, dtype=torch.long, device=tokens.device),
            torch.tensor(targets, dtype=torch.long, device=tokens.device))


def span_corruption(
    tokens: Tensor,
    sentinel_ids: Iterable[int],
    noise_density: float = 0.15,
    mean_span_length: float = 3,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """T5's pre-training example from one sequence: drop random spans, ask for them back.

    Samples a noise mask with `random_spans_noise_mask` (15% of the tokens in spans of mean length 3
    by default) and applies it with `corrupt_spans`. The encoder reads `inputs`; the decoder is
    trained with teacher forcing to write `targets` (Raffel et al. 2019, section 3.1.4):

    $$\\mathcal{L} = -\\frac{1}{T} \\sum_{t=1}^{T} \\log p_\\theta(y_t \\mid y_{<t}, \\text{inputs}),
    \\qquad y = \\text{targets}.$$

    Args:
        tokens: `(L,)` integer ids; must not contain a sentinel id.
        sentinel_ids: distinct sentinel ids (`<extra_id_0>`, `<extra_id_1>`, ...), in order.
        noise_density: fraction of tokens to drop, in (0, 1).
        mean_span_length: mean length of a dropped span, at least 1.
        generator: random number generator, for reproducible spans.

    Returns:
        `(inputs, targets)`: two 1-D `int64` tensors, as described in `corrupt_spans`.

    Raises:
        TypeError: if an argument has the wrong type.
        ValueError: if an argument is out of range or there are too few sentinels.
    """
    _check_int_tensor("tokens", tokens, dims=(1,))
    if tokens.numel() == 0:
        raise ValueError("tokens must hold at least one token")
    noise_mask = random_spans_noise_mask(tokens.numel(), noise_density, mean_span_length, generator)
    return corrupt_spans(tokens, noise_mask, sentinel_ids)


def shift_right(labels: Tensor, decoder_start_token_id: int, pad_token_id: int) -> Tensor:
    """The decoder's input under teacher forcing: the labels moved one step right.

    Position $t$ of the decoder reads $y_{t-1}$ (the true previous token, not the model's own guess)
    and predicts $y_t$; position 0 reads a start token (T5 uses the padding id). Labels of `-100`
    become padding, as in `T5ForConditionalGeneration`:

    $$\\text{decoder\\_input}_t = \\begin{cases} \\text{start} & t = 0 \\\\ y_{t-1} & t \\ge 1 \\end{cases}$$

    Args:
        labels: `(..., T)` integer target ids, `-100` at ignored positions.
        decoder_start_token_id: id fed at position 0.
        pad_token_id: id that replaces `-100`.

    Returns:
        `(..., T)` decoder input ids.

    Raises:
        TypeError: if `labels` is not an integer tensor.
        ValueError: if `labels` has no sequence dimension.
    """
    _check_int_tensor("labels", labels)
    if labels.dim() < 1:
        raise ValueError(f"labels must have at least 1 dimension (..., T), got shape {tuple(labels.shape)}")
    shifted = torch.full_like(labels, decoder_start_token_id)
    shifted[..., 1:] = labels[..., :-1]
    return shifted.masked_fill(shifted == IGNORE_INDEX, pad_token_id)


def causal_lm_loss(logits: Tensor, input_ids: Tensor, ignore_index: int = IGNORE_INDEX) -> Tensor:
    """Causal language-modelling loss: every position predicts the next token (Radford et al. 2019).

    The logits at position $t$ have seen $x_1 \\dots x_t$ only (a causal mask), and are scored
    against $x_{t+1}$: the labels are the inputs shifted left by one, and the last position has
    nothing to predict. Averaged over the $N$ scored positions,

    $$\\mathcal{L}_{\\text{CLM}} = -\\frac{1}{N} \\sum_{b} \\sum_{t=1}^{L-1} \\log p_\\theta(x_{b,t+1} \\mid x_{b,1} \\dots x_{b,t}),$$

    which is what `GPT2LMHeadModel(input_ids, labels=input_ids).loss` computes (the model shifts
    the labels itself, so pass them unshifted).

    Args:
        logits: `(batch, L, V)` floating scores the model gives each vocabulary entry.
        input_ids: `(batch, L)` integer ids the logits were computed from; `ignore_index`
            (padding, say) marks positions that are not to be predicted.
        ignore_index: label value left out of the loss.

    Returns:
        A scalar tensor: the mean cross-entropy in nats (float32 or wider).

    Raises:
        TypeError: if `logits` is not floating or `input_ids` not integer.
        ValueError: if the shapes disagree or the sequences are shorter than 2 tokens.
    """
    if not isinstance(logits, Tensor) or not logits.is_floating_point():
        raise TypeError(f"logits must be a floating torch.Tensor, got {getattr(logits, 'dtype', type(logits).__name__)}")
    if logits.dim() != 3:
        raise ValueError(f"logits must have shape (batch, L, V), got {tuple(logits.shape)}")
    _check_int_tensor("input_ids", input_ids, dims=(2,))
    if input_ids.shape != logits.shape[:2]:
        raise ValueError(f"input_ids must have shape {tuple(logits.shape[:2])} to match logits, got {tuple(input_ids.shape)}")
    if input_ids.shape[1] < 2:
        raise ValueError("input_ids must hold at least 2 tokens per sequence: the first predicts the second")
    predictions = logits[:, :-1, :]  # (batch, L-1, V): positions 1..L-1 predict ...
    targets = input_ids[:, 1:].long()  # (batch, L-1): ... tokens 2..L
    if torch.promote_types(predictions.dtype, torch.float32) != predictions.dtype:
        predictions = predictions.float()  # half precision is upcast, as Hugging Face does
    return F.cross_entropy(predictions.reshape(-1, predictions.shape[-1]), targets.reshape(-1),
                           ignore_index=ignore_index)
