"""Attention at scale: the KV cache, grouped-query, tiled and sliding-window attention, written to be read.

The chapter [Attention at scale](../../architectures/attention_at_scale.md) explains the ideas. Each
function computes *exactly* the attention of Vaswani et al. (2017), only cheaper in time or memory,
except sliding-window attention, which changes what a token may see:

- `KVCache` and `incremental_attention`: keep the keys and values of earlier tokens so that each
  generated token computes one row of attention instead of the whole matrix.
- `repeat_kv` and `grouped_query_attention`: several query heads share one key/value head
  (Shazeer 2019, multi-query; Ainslie et al. 2023, grouped-query), which shrinks the cache.
- `tiled_attention`: the online softmax behind FlashAttention (Dao et al. 2022), which visits the
  keys block by block and never holds the full $L \\times S$ score matrix.
- `sliding_window_mask`, `sliding_window_attention` and `receptive_field`: each token sees only the
  last $W$ tokens (Beltagy et al. 2020; Jiang et al. 2023, Mistral 7B).

Everything is tested against `torch.nn.functional.scaled_dot_product_attention` (with `is_causal`,
`enable_gqa` or a boolean mask) and against the masks and helpers of Hugging Face `transformers`.
Masks follow PyTorch's convention: boolean `True` = *may attend*.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from genai_guide.attention import scaled_dot_product_attention

__all__ = [
    "KVCache",
    "grouped_query_attention",
    "incremental_attention",
    "kv_cache_bytes",
    "receptive_field",
    "repeat_kv",
    "sliding_window_attention",
    "sliding_window_mask",
    "tiled_attention",
]


def _check_float_tensor(name: str, x: object, min_dim: int) -> Tensor:
    """Raise a clear error unless ``x`` is a floating tensor with at least ``min_dim`` dimensions."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must have a floating dtype, got {x.dtype}")
    if x.dim() < min_dim:
        raise ValueError(f"{name} must have at least {min_dim} dimensions, got shape {tuple(x.shape)}")
    return x


def _check_positive_int(name: str, n: object) -> int:
    if not isinstance(n, int) or isinstance(n, bool):
        raise TypeError(f"{name} must be an int, got {type(n).__name__}")
    if n < 1:
        raise ValueError(f"{name} must be a positive int, got {n}")
    return n


def _check_qkv(query: Tensor, key: Tensor, value: Tensor, min_dim: int = 2) -> None:
    for name, t in (("query", query), ("key", key), ("value", value)):
        _check_float_tensor(name, t, min_dim)
    if key.dtype != query.dtype or value.dtype != query.dtype:
        raise TypeError(f"query, key and value must share a dtype, got {query.dtype}, {key.dtype}, {value.dtype}")
    if key.shape[-1] != query.shape[-1]:
        raise ValueError(f"key last dimension {key.shape[-1]} must equal query last dimension {query.shape[-1]}")
    if value.shape[-2] != key.shape[-2]:
        raise ValueError(f"value has {value.shape[-2]} positions but key has {key.shape[-2]}")


# ----------------------------------------------------------------------------------------------
# The KV cache
# ----------------------------------------------------------------------------------------------


class KVCache:
    """The keys and values of every token seen so far, for one attention layer.

    In causal attention a token's key $k_t$ and value $v_t$ never change once computed, so a decoder
    keeps them: at step $t$ it computes only $q_t, k_t, v_t$, appends $k_t, v_t$, and attends

    $$o_t = \\operatorname{softmax}\\!\\left(\\frac{q_t\\,[k_1, \\dots, k_t]^\\top}{\\sqrt{d_k}}\\right)[v_1, \\dots, v_t],$$

    one row of $t$ scores instead of the $t \\times t$ matrix. The memory it holds grows linearly
    with the tokens: see `kv_cache_bytes`. This cache concatenates, which copies the whole cache at
    every step; production caches (e.g. `transformers.StaticCache`) preallocate the maximum length.

    Attributes:
        keys: `(..., t, d_k)` keys of the `t` tokens seen so far, or `None` when empty.
        values: `(..., t, d_v)` values, or `None` when empty.
    """

    def __init__(self) -> None:
        self.keys: Tensor | None = None
        self.values: Tensor | None = None

    def __len__(self) -> int:
        """Number of tokens held."""
        return 0 if self.keys is None else self.keys.shape[-2]

    def append(self, key: Tensor, value: Tensor) -> tuple[Tensor, Tensor]:
        """Add the keys and values of new tokens and return everything held.

        Args:
            key: `(..., n, d_k)` keys of the `n` new tokens.
            value: `(..., n, d_v)` their values.

        Returns:
            `(keys, values)` of all `t + n` tokens: `(..., t + n, d_k)` and `(..., t + n, d_v)`.

        Raises:
            TypeError: if an input is not a floating tensor or its dtype differs from the cache's.
            ValueError: if the shapes disagree with each other or with what the cache already holds.
        """
        _check_float_tensor("key", key, 2)
        _check_float_tensor("value", value, 2)
        if key.shape[:-1] != value.shape[:-1]:
            raise ValueError(f"key {tuple(key.shape)} and value {tuple(value.shape)} must agree except in the last dimension")
        if key.dtype != value.dtype:
            raise TypeError(f"key and value must share a dtype, got {key.dtype} and {value.dtype}")
        if self.keys is None or self.values is None:
            self.keys, self.values = key, value
        else:
            if key.dtype != self.keys.dtype:
                raise TypeError(f"key dtype {key.dtype} differs from the cache's {self.keys.dtype}")
            if key.shape[:-2] != self.keys.shape[:-2] or key.shape[-1] != self.keys.shape[-1]:
                raise ValueError(f"key {tuple(key.shape)} does not fit the cached keys {tuple(self.keys.shape)}")
            if value.shape[-1] != self.values.shape[-1]:
                raise ValueError(f"value {tuple(value.shape)} does not fit the cached values {tuple(self.values.shape)}")
            self.keys = torch.cat([self.keys, key], dim=-2)  # (..., t + n, d_k)
            self.values = torch.cat([self.values, value], dim=-2)  # (..., t + n, d_v)
        return self.keys, self.values


def incremental_attention(
    query: Tensor, key: Tensor, value: Tensor, cache: KVCache, *, scale: float | None = None
) -> Tensor:
    """One decoding step of causal attention with a KV cache.

    Appends the new keys and values to `cache`, then lets each new query attend to every cached key
    at or before its own position. With one new token ($n = 1$) that is a single row of scores,

    $$o_t = \\operatorname{softmax}\\!\\left(\\frac{q_t K_{\\le t}^\\top}{\\sqrt{d_k}}\\right) V_{\\le t},$$

    and no mask is needed. With $n > 1$ new tokens (the prompt, or "prefill") the $n$ queries are
    the *last* $n$ of $S$ positions, so the causal mask is aligned at the bottom-right corner.
    Calling it token by token gives exactly the rows of full causal attention
    (`scaled_dot_product_attention(..., is_causal=True)`).

    Args:
        query: `(..., n, d_k)` queries of the `n` new tokens.
        key: `(..., n, d_k)` their keys.
        value: `(..., n, d_v)` their values.
        cache: the layer's `KVCache`, updated in place.
        scale: factor applied to the scores; defaults to $1/\\sqrt{d_k}$.

    Returns:
        `(..., n, d_v)` attention outputs of the new tokens.

    Raises:
        TypeError: if an input is not a floating tensor, dtypes differ, or `cache` is not a `KVCache`.
        ValueError: if the shapes do not fit together or the cache.
    """
    if not isinstance(cache, KVCache):
        raise TypeError(f"cache must be a KVCache, got {type(cache).__name__}")
    _check_qkv(query, key, value)
    n = query.shape[-2]
    if key.shape[-2] != n:
        raise ValueError(f"query has {n} new positions but key has {key.shape[-2]}")
    keys, values = cache.append(key, value)  # (..., S, d_k), (..., S, d_v)
    S = keys.shape[-2]
    mask = None
    if n > 1:  # query i sits at position S - n + i: bottom-right aligned causal mask
        mask = torch.ones(n, S, dtype=torch.bool, device=query.device).tril(S - n)
    out, _ = scaled_dot_product_attention(query, keys, values, attn_mask=mask, scale=scale)
    return out  # (..., n, d_v)


def kv_cache_bytes(
    n_layers: int,
    n_kv_heads: int,
    head_dim: int,
    *,
    bytes_per_value: int = 2,
    tokens: int = 1,
    batch_size: int = 1,
) -> int:
    """Memory held by a KV cache.

    $$\\text{bytes} = 2 \\times \\text{layers} \\times \\text{KV heads} \\times d_{head}
    \\times \\text{bytes per value} \\times \\text{tokens} \\times \\text{batch}$$

    The 2 counts keys and values. Llama 2 7B (Touvron et al. 2023: 32 layers, 32 heads of 128) in
    16-bit floats holds 524,288 bytes = 0.5 MiB per token.

    Args:
        n_layers: number of attention layers.
        n_kv_heads: key/value heads per layer (the query heads for multi-head attention, 1 for
            multi-query attention, the number of groups for grouped-query attention).
        head_dim: size of each head.
        bytes_per_value: 2 for float16/bfloat16, 4 for float32, 1 for 8-bit.
        tokens: sequence length held.
        batch_size: sequences held.

    Returns:
        The size in bytes.

    Raises:
        TypeError: if an argument is not an int.
        ValueError: if an argument is not positive.
    """
    args = {"n_layers": n_layers, "n_kv_heads": n_kv_heads, "head_dim": head_dim,
            "bytes_per_value": bytes_per_value, "tokens": tokens, "batch_size": batch_size}
    for name, n in args.items():
        _check_positive_int(name, n)
    return 2 * n_layers * n_kv_heads * head_dim * bytes_per_value * tokens * batch_size


# ----------------------------------------------------------------------------------------------
# Multi-query and grouped-query attention
# ----------------------------------------------------------------------------------------------


def repeat_kv(x: Tensor, n_rep: int) -> Tensor:
    """Repeat each key/value head `n_rep` times along the head dimension.

    Head $j$ becomes heads $j \\cdot r, \\dots, j \\cdot r + r - 1$, so query head $i$ is served by
    key/value head $\\lfloor i / r \\rfloor$ (the layout of `torch.repeat_interleave`, of
    `scaled_dot_product_attention(..., enable_gqa=True)` and of `repeat_kv` in `transformers`).

    Args:
        x: `(..., h_kv, S, d)` keys or values.
        n_rep: how many query heads share each key/value head.

    Returns:
        `(..., h_kv * n_rep, S, d)`.

    Raises:
        TypeError: if `x` is not a floating tensor or `n_rep` not an int.
        ValueError: if `x` has fewer than 3 dimensions or `n_rep` is not positive.
    """
    _check_float_tensor("x", x, 3)
    _check_positive_int("n_rep", n_rep)
    return x if n_rep == 1 else x.repeat_interleave(n_rep, dim=-3)


def grouped_query_attention(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    attn_mask: Tensor | None = None,
    *,
    is_causal: bool = False,
    scale: float | None = None,
) -> Tensor:
    """Grouped-query attention (Ainslie et al. 2023); multi-query attention (Shazeer 2019) when $G = 1$.

    The $h$ query heads are split into $G$ groups of $h / G$; every head of group $g$ attends with the
    same key and value head $g$:

    $$\\text{head}_i = \\operatorname{Attention}\\!\\left(Q_i, K_{\\lfloor i G / h \\rfloor}, V_{\\lfloor i G / h \\rfloor}\\right).$$

    $G = h$ is ordinary multi-head attention and $G = 1$ multi-query attention. Only $G$ key and
    value heads are computed and cached, so the KV cache is $h / G$ times smaller. This reference
    version repeats the shared heads (`repeat_kv`) and runs ordinary attention; a fused kernel reads
    each shared head once instead.

    Args:
        query: `(..., h, L, d_k)`.
        key: `(..., G, S, d_k)`, with `G` dividing `h`.
        value: `(..., G, S, d_v)`.
        attn_mask: optional boolean (`True` = may attend) or floating mask broadcastable to
            `(..., h, L, S)`.
        is_causal: apply a top-left aligned causal mask.
        scale: factor applied to the scores; defaults to $1/\\sqrt{d_k}$.

    Returns:
        `(..., h, L, d_v)`.

    Raises:
        TypeError: if an input is not a floating tensor or dtypes differ.
        ValueError: if the head counts or other shapes do not fit together.
    """
    _check_qkv(query, key, value, min_dim=3)
    h, g = query.shape[-3], key.shape[-3]
    if value.shape[-3] != g:
        raise ValueError(f"value has {value.shape[-3]} heads but key has {g}")
    if h % g:
        raise ValueError(f"key has {g} heads, which must divide the {h} query heads")
    k = repeat_kv(key, h // g)  # (..., h, S, d_k)
    v = repeat_kv(value, h // g)  # (..., h, S, d_v)
    out, _ = scaled_dot_product_attention(query, k, v, attn_mask=attn_mask, is_causal=is_causal, scale=scale)
    return out  # (..., h, L, d_v)


# ----------------------------------------------------------------------------------------------
# Tiled attention with the online softmax (the idea behind FlashAttention)
# ----------------------------------------------------------------------------------------------


def tiled_attention(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    *,
    block_q: int = 64,
    block_k: int = 64,
    is_causal: bool = False,
    scale: float | None = None,
    stats: dict[str, int] | None = None,
) -> Tensor:
    """Exact attention computed block by block with the online softmax, in the loop order of FlashAttention-2.

    For each block of `block_q` queries, the keys and values are visited in blocks of `block_k`.
    Only one `block_q x block_k` tile of scores $S^{(j)} = Q K_j^\\top \\cdot \\text{scale}$ exists
    at a time; the softmax is assembled with a running row maximum $m$, a running sum $\\ell$ and a
    running unnormalised output $A$:

    $$\\begin{gathered}
    m' = \\max\\!\\big(m, \\operatorname{rowmax} S^{(j)}\\big), \\\\
    P = e^{S^{(j)} - m'}, \\\\
    \\ell' = e^{m - m'}\\,\\ell + \\operatorname{rowsum} P, \\\\
    A' = e^{m - m'} A + P V_j,
    \\end{gathered}$$

    and the output is $A / \\ell$, divided once at the end: FlashAttention-2 (Dao 2023, algorithm 1),
    which puts the query blocks in the outer loop. FlashAttention (Dao et al. 2022, algorithm 1) loops
    over key/value blocks outside and renormalises the output after every block instead; both give
    the same result. Rescaling by $e^{m - m'}$ corrects everything summed so far
    whenever a larger score appears, so the result equals $\\operatorname{softmax}(QK^\\top)V$
    exactly, up to rounding, while the memory for scores is one tile instead of $L \\times S$.
    FlashAttention runs this loop inside one GPU kernel, keeping the tile in on-chip SRAM; here it is
    a Python loop, which saves memory but not time.

    Args:
        query: `(..., L, d_k)`.
        key: `(..., S, d_k)`.
        value: `(..., S, d_v)`.
        block_q: queries per block.
        block_k: keys per block.
        is_causal: top-left aligned causal mask, as `scaled_dot_product_attention(is_causal=True)`;
            key blocks entirely in the future of a query block are skipped, not computed.
        scale: factor applied to the scores; defaults to $1/\\sqrt{d_k}$.
        stats: if a dict is given, it receives `"peak_block_scores"` (the most scores held at once
            for one head), `"blocks_computed"` and `"blocks_skipped"`.

    Returns:
        `(..., L, d_v)`, equal to full attention.

    Raises:
        TypeError: if an input is not a floating tensor, dtypes differ, or a block size is not an int.
        ValueError: if shapes do not fit together or a block size is not positive.
    """
    _check_qkv(query, key, value)
    _check_positive_int("block_q", block_q)
    _check_positive_int("block_k", block_k)
    if stats is not None and not isinstance(stats, dict):
        raise TypeError(f"stats must be a dict or None, got {type(stats).__name__}")
    batch = torch.broadcast_shapes(query.shape[:-2], key.shape[:-2], value.shape[:-2])
    L, S, d_v = query.shape[-2], key.shape[-2], value.shape[-1]
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else scale
    out = query.new_empty(*batch, L, d_v)
    peak, computed, skipped = 0, 0, 0

    for q0 in range(0, L, block_q):
        q = query[..., q0:q0 + block_q, :]  # (..., bq, d_k)
        bq = q.shape[-2]
        m = q.new_full((*batch, bq, 1), float("-inf"))  # running row maximum
        row_sum = q.new_zeros((*batch, bq, 1))  # running sum of exp(score - m)
        acc = q.new_zeros((*batch, bq, d_v))  # running sum of exp(score - m) * v
        for k0 in range(0, S, block_k):
            if is_causal and k0 > q0 + bq - 1:  # every key of this block is after every query
                skipped += 1
                continue
            k = key[..., k0:k0 + block_k, :]  # (..., bk, d_k)
            v = value[..., k0:k0 + block_k, :]  # (..., bk, d_v)
            s = (q @ k.transpose(-2, -1)) * scale  # (..., bq, bk): the only scores that exist
            if is_causal and k0 + k.shape[-2] - 1 > q0:  # the block crosses the diagonal
                allowed = (torch.arange(k0, k0 + k.shape[-2], device=q.device)[None, :]
                           <= torch.arange(q0, q0 + bq, device=q.device)[:, None])
                s = s.masked_fill(~allowed, float("-inf"))
            peak = max(peak, s.shape[-2] * s.shape[-1])
            computed += 1
            m_new = torch.maximum(m, s.amax(dim=-1, keepdim=True))
            m_safe = m_new.masked_fill(torch.isneginf(m_new), 0.0)  # a row with no key yet stays 0
            p = torch.exp(s - m_safe)  # (..., bq, bk)
            correction = torch.exp(m - m_safe)  # rescales what was summed under the old maximum
            row_sum = correction * row_sum + p.sum(dim=-1, keepdim=True)
            acc = correction * acc + p @ v
            m = m_new
        empty = row_sum == 0  # a query that may attend to no key gets 0, as in PyTorch
        out[..., q0:q0 + bq, :] = torch.where(empty, 0.0, acc / row_sum.masked_fill(empty, 1.0))

    if stats is not None:
        stats.update(peak_block_scores=peak, blocks_computed=computed, blocks_skipped=skipped)
    return out


# ----------------------------------------------------------------------------------------------
# Sliding-window attention
# ----------------------------------------------------------------------------------------------


def sliding_window_mask(seq_len: int, window: int, *, device: torch.device | None = None) -> Tensor:
    """Causal sliding-window mask: query $i$ may attend to the `window` most recent keys, itself included.

    $$M_{ij} = [\\, i - W < j \\le i \\,]$$

    This is the convention of `transformers` (`sliding_window` in the Mistral and Gemma configs).
    The Mistral 7B paper (Jiang et al. 2023) writes the span as positions $i - W$ to $i$, one more.
    `window >= seq_len` gives the ordinary causal mask. Longformer (Beltagy et al. 2020) uses a
    symmetric window around each token in its encoder; this is the causal (decoder) form.

    Args:
        seq_len: number of positions $L$ (queries and keys).
        window: keys each query sees, $W \\ge 1$.
        device: where to create the mask.

    Returns:
        A `(L, L)` boolean tensor, `True` where attention is allowed.

    Raises:
        TypeError: if an argument is not an int.
        ValueError: if an argument is not positive.
    """
    _check_positive_int("seq_len", seq_len)
    _check_positive_int("window", window)
    i = torch.arange(seq_len, device=device)[:, None]  # query positions
    j = torch.arange(seq_len, device=device)[None, :]  # key positions
    return (j <= i) & (j > i - window)


def sliding_window_attention(
    query: Tensor, key: Tensor, value: Tensor, window: int, *, scale: float | None = None
) -> Tensor:
    """Causal sliding-window self-attention that computes only $L \\times W$ scores.

    Query $i$ attends to keys $\\max(0, i - W + 1), \\dots, i$:

    $$o_i = \\sum_{j = i - W + 1}^{i} \\operatorname{softmax}_j\\!\\left(\\frac{q_i \\cdot k_j}{\\sqrt{d_k}}\\right) v_j .$$

    The keys are left-padded with $W - 1$ rows and cut into overlapping windows with
    `Tensor.unfold` (a view, not a copy), so the scores form an `(L, W)` band: the cost is
    $O(L \\cdot W)$ instead of $O(L^2)$. The result equals full attention with
    `sliding_window_mask(L, W)`.

    Args:
        query: `(..., L, d_k)`.
        key: `(..., L, d_k)`, the same positions as the queries (self-attention).
        value: `(..., L, d_v)`.
        window: keys each query sees, itself included.
        scale: factor applied to the scores; defaults to $1/\\sqrt{d_k}$.

    Returns:
        `(..., L, d_v)`.

    Raises:
        TypeError: if an input is not a floating tensor, dtypes differ, or `window` is not an int.
        ValueError: if shapes do not fit together or `window` is not positive.
    """
    _check_qkv(query, key, value)
    _check_positive_int("window", window)
    L = query.shape[-2]
    if key.shape[-2] != L:
        raise ValueError(f"key must have the query's {L} positions (self-attention), got {key.shape[-2]}")
    W = min(window, L)
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else scale
    k_win = F.pad(key, (0, 0, W - 1, 0)).unfold(-2, W, 1)  # (..., L, d_k, W): keys i-W+1..i
    v_win = F.pad(value, (0, 0, W - 1, 0)).unfold(-2, W, 1)  # (..., L, d_v, W)
    scores = (query.unsqueeze(-2) @ k_win).squeeze(-2) * scale  # (..., L, W)
    position = torch.arange(L, device=query.device)[:, None] - (W - 1) + torch.arange(W, device=query.device)
    scores = scores.masked_fill(position < 0, float("-inf"))  # padding before the first token
    weights = scores.softmax(dim=-1)  # (..., L, W)
    return (v_win @ weights.unsqueeze(-1)).squeeze(-1)  # (..., L, d_v)


def receptive_field(n_layers: int, window: int) -> int:
    """How many input tokens can influence a position after `n_layers` sliding-window layers.

    Each layer lets information move at most $W - 1$ positions forward, so after $k$ layers a token
    can be influenced by the $k(W - 1)$ tokens before it, plus itself:

    $$\\text{receptive field} = k\\,(W - 1) + 1 .$$

    Mistral 7B (32 layers, $W = 4096$) reaches 131,040 tokens back; its paper, counting the window
    as $W + 1$ positions, quotes $32 \\times 4096 \\approx 131\\text{K}$.

    Args:
        n_layers: stacked sliding-window layers $k$.
        window: keys each query sees per layer, itself included.

    Returns:
        The number of positions, itself included.

    Raises:
        TypeError: if an argument is not an int.
        ValueError: if an argument is not positive.
    """
    _check_positive_int("n_layers", n_layers)
    _check_positive_int("window", window)
    return n_layers * (window - 1) + 1
