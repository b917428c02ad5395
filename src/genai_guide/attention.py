"""Scaled dot-product attention and multi-head attention, written to be read.

The chapter [Attention](../../architectures/attention.md) explains the algorithm. Both pieces follow
Vaswani et al., *Attention Is All You Need* (2017), sections 3.2.1 and 3.2.2, and are tested against
`torch.nn.functional.scaled_dot_product_attention` and `torch.nn.MultiheadAttention`.

Mask convention used throughout this module (the same as PyTorch's
`scaled_dot_product_attention`): a **boolean** `attn_mask` is `True` where a query *may* attend to a
key; a **floating** `attn_mask` is added to the scores (use `-inf` to forbid a pair). The one
exception is `key_padding_mask`, which, as its name and `torch.nn.MultiheadAttention` say, is
`True` at the *padding* positions that must be ignored.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from genai_guide._checks import check_float_tensor as _check_float_tensor

__all__ = ["MultiHeadAttention", "causal_mask", "scaled_dot_product_attention"]


def _broadcast_batch(name: str, *shapes: torch.Size) -> torch.Size:
    try:
        return torch.broadcast_shapes(*shapes)
    except RuntimeError as err:
        raise ValueError(f"{name}: batch dimensions {[tuple(s) for s in shapes]} do not broadcast") from err


def causal_mask(query_len: int, key_len: int | None = None, device: torch.device | None = None) -> Tensor:
    """Boolean causal mask: query ``i`` may attend to keys ``0..i``.

    The mask is lower-triangular and aligned at the top-left corner, like
    `torch.nn.functional.scaled_dot_product_attention(..., is_causal=True)`:

    $$M_{ij} = [\\, j \\le i \\,]$$

    Args:
        query_len: number of queries $L$.
        key_len: number of keys $S$ (defaults to $L$).
        device: where to create the mask.

    Returns:
        A `(L, S)` boolean tensor, `True` where attention is allowed.

    Note:
        Top-left alignment is right when queries and keys start at the same position. When the
        queries are the *last* L of S positions (decoding with a KV cache), query i sits at position
        S - L + i and needs the bottom-right aligned mask instead (`torch.ones(L, S).tril(S - L)`).

    Raises:
        ValueError: if a length is not a positive integer.
    """
    key_len = query_len if key_len is None else key_len
    for name, n in (("query_len", query_len), ("key_len", key_len)):
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise ValueError(f"{name} must be a positive int, got {n!r}")
    return torch.ones(query_len, key_len, dtype=torch.bool, device=device).tril()


def scaled_dot_product_attention(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    attn_mask: Tensor | None = None,
    *,
    is_causal: bool = False,
    scale: float | None = None,
) -> tuple[Tensor, Tensor]:
    """Scaled dot-product attention (Vaswani et al. 2017, section 3.2.1).

    $$\\operatorname{Attention}(Q, K, V) = \\operatorname{softmax}\\!\\left(\\frac{QK^\\top}{\\sqrt{d_k}} + M\\right) V$$

    Each query row of $Q$ is compared with every key row of $K$ by a dot product; dividing by
    $\\sqrt{d_k}$ keeps the scores' variance near 1 whatever the head size, so the softmax does not
    saturate. The weights of each row sum to 1 and mix the rows of $V$.

    Args:
        query: `(..., L, d_k)` queries.
        key: `(..., S, d_k)` keys.
        value: `(..., S, d_v)` values.
        attn_mask: optional mask broadcastable to `(..., L, S)`: boolean (`True` = may attend) or
            floating (added to the scores).
        is_causal: apply `causal_mask(L, S)`; cannot be combined with `attn_mask`.
        scale: factor applied to $QK^\\top$; defaults to $1/\\sqrt{d_k}$.

    Returns:
        `(output, weights)`: output `(..., L, d_v)` and attention weights `(..., L, S)`. A query row
        whose keys are all masked gets zero weights and a zero output, as in PyTorch.

    Raises:
        TypeError: if an input is not a floating tensor, dtypes differ, or the mask dtype is wrong.
        ValueError: if shapes do not fit together or `is_causal` is combined with `attn_mask`.
    """
    for name, t in (("query", query), ("key", key), ("value", value)):
        _check_float_tensor(name, t)
        if t.dim() < 2:
            raise ValueError(f"{name} must have at least 2 dimensions (..., seq, dim), got shape {tuple(t.shape)}")
    if key.dtype != query.dtype or value.dtype != query.dtype:
        raise TypeError(f"query, key and value must share a dtype, got {query.dtype}, {key.dtype}, {value.dtype}")
    if key.shape[-1] != query.shape[-1]:
        raise ValueError(f"key last dimension {key.shape[-1]} must equal query last dimension {query.shape[-1]}")
    if value.shape[-2] != key.shape[-2]:
        raise ValueError(f"value has {value.shape[-2]} positions but key has {key.shape[-2]}")
    _broadcast_batch("key", query.shape[:-2], key.shape[:-2], value.shape[:-2])

    L, S, d_k = query.shape[-2], key.shape[-2], query.shape[-1]
    if is_causal:
        if attn_mask is not None:
            raise ValueError("attn_mask must be None when is_causal=True")
        attn_mask = causal_mask(L, S, device=query.device)
    scale = 1.0 / math.sqrt(d_k) if scale is None else scale

    scores = (query @ key.transpose(-2, -1)) * scale  # (..., L, S)
    if attn_mask is not None:
        if not isinstance(attn_mask, Tensor):
            raise TypeError(f"attn_mask must be a torch.Tensor, got {type(attn_mask).__name__}")
        _broadcast_batch("attn_mask", attn_mask.shape, scores.shape)
        if torch.broadcast_shapes(attn_mask.shape, scores.shape) != scores.shape:
            raise ValueError(f"attn_mask of shape {tuple(attn_mask.shape)} does not broadcast to scores {tuple(scores.shape)}")
        if attn_mask.dtype == torch.bool:
            scores = scores.masked_fill(~attn_mask, float("-inf"))
        elif attn_mask.is_floating_point():
            scores = scores + attn_mask.to(scores.dtype)
        else:
            raise TypeError(f"attn_mask must be bool or floating, got {attn_mask.dtype}")

    # A row whose keys are all masked would be softmax(-inf, ..., -inf) = 0/0 = NaN, and the NaN would
    # reach the gradients too. Give such rows finite scores, then zero their weights (PyTorch gives 0).
    fully_masked = torch.isneginf(scores).all(dim=-1, keepdim=True)
    scores = scores.masked_fill(fully_masked, 0.0)
    weights = torch.softmax(scores, dim=-1)  # (..., L, S), rows sum to 1
    weights = weights.masked_fill(fully_masked, 0.0)
    return weights @ value, weights  # (..., L, d_v), (..., L, S)


class MultiHeadAttention(nn.Module):
    """Multi-head attention (Vaswani et al. 2017, section 3.2.2).

    $$\\begin{gathered}
    \\operatorname{MultiHead}(Q, K, V) = \\operatorname{Concat}(\\text{head}_1, \\dots, \\text{head}_h)\\,W^O, \\\\
    \\text{head}_i = \\operatorname{Attention}(Q W_i^Q, K W_i^K, V W_i^V)
    \\end{gathered}$$

    The model dimension $d_{model}$ is split into $h$ heads of size $d_k = d_{model}/h$, so the cost
    is about that of one full-size head while each head can attend to different positions.
    Inputs are batch-first: `(batch, seq, d_model)`.

    Differences from `torch.nn.MultiheadAttention`, on purpose: a boolean `attn_mask` here means
    `True` = *may attend* (the `scaled_dot_product_attention` convention; torch's module uses
    `True` = *masked out*), `is_causal=True` builds the causal mask itself (torch treats it as a hint
    that needs `attn_mask`), and the weights are returned per head, not averaged.

    Args:
        embed_dim: model dimension $d_{model}$.
        num_heads: number of heads $h$; must divide `embed_dim`.
        bias: whether the four projections have biases.
    """

    def __init__(self, embed_dim: int, num_heads: int, bias: bool = True) -> None:
        super().__init__()
        if embed_dim < 1 or num_heads < 1:
            raise ValueError(f"embed_dim and num_heads must be positive, got {embed_dim} and {num_heads}")
        if embed_dim % num_heads:
            raise ValueError(f"num_heads ({num_heads}) must divide embed_dim ({embed_dim})")
        self.embed_dim, self.num_heads, self.head_dim = embed_dim, num_heads, embed_dim // num_heads
        self.q_proj = nn.Linear(embed_dim, embed_dim, bias=bias)  # W^Q for all heads at once
        self.k_proj = nn.Linear(embed_dim, embed_dim, bias=bias)  # W^K
        self.v_proj = nn.Linear(embed_dim, embed_dim, bias=bias)  # W^V
        self.out_proj = nn.Linear(embed_dim, embed_dim, bias=bias)  # W^O

    def _split_heads(self, x: Tensor) -> Tensor:
        b, n, _ = x.shape
        return x.view(b, n, self.num_heads, self.head_dim).transpose(1, 2)  # (b, h, n, d_k)

    def forward(
        self,
        query: Tensor,
        key: Tensor | None = None,
        value: Tensor | None = None,
        *,
        attn_mask: Tensor | None = None,
        key_padding_mask: Tensor | None = None,
        is_causal: bool = False,
    ) -> tuple[Tensor, Tensor]:
        """Attend from `query` to `key`/`value` (self-attention when both are omitted).

        Args:
            query: `(batch, L, d_model)`.
            key: `(batch, S, d_model)`; defaults to `query` (self-attention).
            value: `(batch, S, d_model)`; defaults to `key`.
            attn_mask: `(L, S)` or `(batch, h, L, S)` mask, boolean `True` = may attend (the opposite
                of `torch.nn.MultiheadAttention`), or floating (added to the scores).
            key_padding_mask: `(batch, S)` boolean, `True` at padding keys to ignore.
            is_causal: apply a top-left aligned causal mask (decoder self-attention).

        Returns:
            `(output, weights)`: output `(batch, L, d_model)` and per-head weights `(batch, h, L, S)`.

        Raises:
            TypeError: if an input is not a floating tensor or a mask has the wrong dtype.
            ValueError: if a shape does not fit `embed_dim` or the other inputs.
        """
        key = query if key is None else key
        value = key if value is None else value
        for name, t in (("query", query), ("key", key), ("value", value)):
            _check_float_tensor(name, t)
            if t.dim() != 3 or t.shape[-1] != self.embed_dim:
                raise ValueError(
                    f"{name} must have shape (batch, seq, {self.embed_dim}), got {tuple(t.shape)}"
                )
        if key.shape[0] != query.shape[0] or value.shape[:2] != key.shape[:2]:
            raise ValueError(
                f"batch and key lengths disagree: query {tuple(query.shape)}, key {tuple(key.shape)}, value {tuple(value.shape)}"
            )
        batch, S = key.shape[0], key.shape[1]

        mask = attn_mask
        if key_padding_mask is not None:
            if not isinstance(key_padding_mask, Tensor) or key_padding_mask.dtype != torch.bool:
                raise TypeError("key_padding_mask must be a bool tensor (True = padding)")
            if key_padding_mask.shape != (batch, S):
                raise ValueError(f"key_padding_mask must have shape {(batch, S)}, got {tuple(key_padding_mask.shape)}")
            keep = ~key_padding_mask[:, None, None, :]  # (b, 1, 1, S), True = may attend
            if mask is None:
                mask = keep
            elif mask.dtype == torch.bool:
                mask = mask & keep
            else:
                mask = mask.masked_fill(~keep, float("-inf"))

        q = self._split_heads(self.q_proj(query))  # (b, h, L, d_k)
        k = self._split_heads(self.k_proj(key))  # (b, h, S, d_k)
        v = self._split_heads(self.v_proj(value))  # (b, h, S, d_k)
        if is_causal:
            if mask is None:
                mask = causal_mask(q.shape[-2], S, device=q.device)
            else:
                causal = causal_mask(q.shape[-2], S, device=q.device)
                mask = mask & causal if mask.dtype == torch.bool else mask.masked_fill(~causal, float("-inf"))
        out, weights = scaled_dot_product_attention(q, k, v, attn_mask=mask)  # (b, h, L, d_k)
        out = out.transpose(1, 2).reshape(batch, -1, self.embed_dim)  # concat heads: (b, L, d_model)
        return self.out_proj(out), weights

    @classmethod
    def from_torch(cls, reference: nn.MultiheadAttention) -> MultiHeadAttention:
        """Build a copy of a batch-first `torch.nn.MultiheadAttention` with the same weights.

        Args:
            reference: a `torch.nn.MultiheadAttention` with `batch_first=True` and equal q/k/v sizes.

        Raises:
            ValueError: if `reference` is not batch-first, uses separate k/v dimensions, or uses a
                feature this class does not have (`add_bias_kv`, `add_zero_attn`, dropout).
        """
        if not reference.batch_first:
            raise ValueError("reference must be built with batch_first=True")
        if not reference._qkv_same_embed_dim:
            raise ValueError("reference must use the same embed_dim for query, key and value")
        if reference.bias_k is not None or reference.add_zero_attn or reference.dropout > 0:
            raise ValueError("reference must not use add_bias_kv, add_zero_attn or dropout")
        bias = reference.in_proj_bias is not None
        mha = cls(reference.embed_dim, reference.num_heads, bias=bias).to(reference.in_proj_weight)
        with torch.no_grad():
            for proj, w in zip((mha.q_proj, mha.k_proj, mha.v_proj), reference.in_proj_weight.chunk(3)):
                proj.weight.copy_(w)
            if bias:
                for proj, b in zip((mha.q_proj, mha.k_proj, mha.v_proj), reference.in_proj_bias.chunk(3)):
                    proj.bias.copy_(b)
                mha.out_proj.bias.copy_(reference.out_proj.bias)
            mha.out_proj.weight.copy_(reference.out_proj.weight)
        return mha
