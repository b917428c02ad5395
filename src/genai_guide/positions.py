"""Positional encodings: sinusoidal (absolute, fixed) and rotary (relative, inside attention), written to be read.

The chapter [Embeddings and positions](../../architectures/embeddings.md) explains why attention needs
them. The sinusoidal table follows Vaswani et al., *Attention Is All You Need* (2017), section 3.5,
and is tested against the table of `transformers`' XLM model. Rotary position embedding (RoPE)
follows Su et al., *RoFormer* (2021), and is tested against `transformers`'
`LlamaRotaryEmbedding` + `apply_rotary_pos_emb`.

Two layouts of RoPE exist. The paper (and Meta's original LLaMA code) rotates the *interleaved* pairs
$(x_{2i}, x_{2i+1})$; Hugging Face models rotate the pairs $(x_i, x_{i+d/2})$ of the two halves
(`rotate_half`). Both are the same rotation up to a fixed permutation of the head dimensions, which
the conversion scripts fold into the query and key weights. This module defaults to the Hugging Face
layout and offers the paper's with `interleaved=True`.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = [
    "apply_rope",
    "rope_angles",
    "rope_frequencies",
    "rope_rotate",
    "sinusoidal_encoding",
    "sinusoidal_offset_matrix",
]


def _check_positive_int(name: str, n: object) -> int:
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"{name} must be a positive int, got {n!r}")
    return n


def _check_even_dim(name: str, n: object) -> int:
    _check_positive_int(name, n)
    if n % 2:
        raise ValueError(f"{name} must be even (dimensions come in sine/cosine or rotation pairs), got {n}")
    return n  # type: ignore[return-value]


def _check_base(base: object) -> float:
    if isinstance(base, bool) or not isinstance(base, (int, float)) or not base > 1:
        raise ValueError(f"base must be a number greater than 1, got {base!r}")
    return float(base)


def _check_float_dtype(name: str, dtype: object) -> torch.dtype:
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"{name} must be a floating torch.dtype, got {dtype!r}")
    return dtype


def sinusoidal_encoding(
    seq_len: int,
    d_model: int,
    *,
    base: float = 10000.0,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> Tensor:
    """The fixed sinusoidal position table of the original Transformer (Vaswani et al. 2017, section 3.5).

    $$PE_{(pos,2i)} = \\sin\\!\\left(pos / 10000^{2i/d_{model}}\\right), \\qquad
    PE_{(pos,2i+1)} = \\cos\\!\\left(pos / 10000^{2i/d_{model}}\\right)$$

    Dimension pair $i$ is a sinusoid of angular frequency $\\omega_i = 10000^{-2i/d_{model}}$, so the
    wavelengths grow geometrically from $2\\pi$ to almost $10000 \\cdot 2\\pi$. Row `pos` is added to the
    token embedding at position `pos`. The table is computed in float64 and then cast to `dtype`.

    Args:
        seq_len: number of positions (rows), `pos = 0 .. seq_len - 1`.
        d_model: width of each row; must be even.
        base: the constant 10000 of the formula.
        dtype: floating dtype of the result.
        device: where to create the table.

    Returns:
        A `(seq_len, d_model)` tensor; even columns hold sines, odd columns cosines.

    Raises:
        ValueError: if `seq_len` or `d_model` is not a positive int, `d_model` is odd, or `base` <= 1.
        TypeError: if `dtype` is not a floating dtype.
    """
    _check_positive_int("seq_len", seq_len)
    _check_even_dim("d_model", d_model)
    base = _check_base(base)
    _check_float_dtype("dtype", dtype)
    pos = torch.arange(seq_len, dtype=torch.float64, device=device)[:, None]  # (seq_len, 1)
    two_i = torch.arange(0, d_model, 2, dtype=torch.float64, device=device)  # (d_model/2,): 0, 2, 4, ...
    angles = pos / base ** (two_i / d_model)  # (seq_len, d_model/2): pos * omega_i
    pe = torch.empty(seq_len, d_model, dtype=torch.float64, device=device)
    pe[:, 0::2] = torch.sin(angles)
    pe[:, 1::2] = torch.cos(angles)
    return pe.to(dtype)


def sinusoidal_offset_matrix(
    offset: int,
    d_model: int,
    *,
    base: float = 10000.0,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """The linear map $M_k$ with $PE_{pos+k} = M_k\\, PE_{pos}$ for every position (Vaswani et al. 2017, 3.5).

    By the angle-addition formulas, each (sine, cosine) pair of the table moves by a 2x2 rotation
    that depends on the offset $k$ but not on $pos$:

    $$\\begin{pmatrix} \\sin \\omega_i(pos+k) \\\\ \\cos \\omega_i(pos+k) \\end{pmatrix}
    = \\begin{pmatrix} \\cos \\omega_i k & \\sin \\omega_i k \\\\ -\\sin \\omega_i k & \\cos \\omega_i k \\end{pmatrix}
    \\begin{pmatrix} \\sin \\omega_i pos \\\\ \\cos \\omega_i pos \\end{pmatrix}$$

    $M_k$ is block-diagonal with these $d_{model}/2$ blocks. With the rows of
    `sinusoidal_encoding` as positions, `pe[pos + k] == pe[pos] @ M_k.T`.

    Args:
        offset: the shift $k$ (any int, negative included).
        d_model: width of the table; must be even.
        base: the constant 10000 of the formula.
        dtype: floating dtype of the result.

    Returns:
        A `(d_model, d_model)` orthogonal, block-diagonal matrix.

    Raises:
        TypeError: if `offset` is not an int or `dtype` is not a floating dtype.
        ValueError: if `d_model` is not a positive even int or `base` <= 1.
    """
    if not isinstance(offset, int) or isinstance(offset, bool):
        raise TypeError(f"offset must be an int, got {type(offset).__name__}")
    _check_even_dim("d_model", d_model)
    base = _check_base(base)
    _check_float_dtype("dtype", dtype)
    omega = base ** (-torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)  # (d_model/2,)
    c, s = torch.cos(omega * offset), torch.sin(omega * offset)
    m = torch.zeros(d_model, d_model, dtype=torch.float64)
    idx = torch.arange(0, d_model, 2)
    m[idx, idx], m[idx, idx + 1] = c, s  # new sine   =  cos(wk) sin + sin(wk) cos
    m[idx + 1, idx], m[idx + 1, idx + 1] = -s, c  # new cosine = -sin(wk) sin + cos(wk) cos
    return m.to(dtype)


def rope_frequencies(head_dim: int, base: float = 10000.0) -> Tensor:
    """RoPE's rotation frequencies $\\theta_i = base^{-2i/d}$, $i = 0, \\dots, d/2 - 1$ (Su et al. 2021, section 3.2).

    Computed in float32 exactly as Hugging Face's `inv_freq` is (`1 / base ** (2i / d)`), so that the
    angles, and therefore the rotated vectors, agree with `transformers` to the last bits.

    Args:
        head_dim: size $d$ of one attention head's query and key vectors; must be even.
        base: the base of the geometric progression (`rope_theta` in Hugging Face configs).

    Returns:
        A float32 tensor of shape `(head_dim/2,)`, from 1 down towards `1/base`.

    Raises:
        ValueError: if `head_dim` is not a positive even int or `base` <= 1.
    """
    _check_even_dim("head_dim", head_dim)
    base = _check_base(base)
    return 1.0 / (base ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))


def rope_angles(positions: Tensor, head_dim: int, base: float = 10000.0) -> Tensor:
    """Rotation angles $m\\,\\theta_i$ for every position $m$ and frequency $\\theta_i$ (Su et al. 2021).

    Args:
        positions: integer tensor of token positions, any shape `P` (typically `(seq,)` or `(batch, seq)`).
        head_dim: size of one head; must be even.
        base: `rope_theta`.

    Returns:
        A float32 tensor of shape `(*P, head_dim/2)`.

    Raises:
        TypeError: if `positions` is not an integer tensor.
        ValueError: if `head_dim` is not a positive even int or `base` <= 1.
    """
    if not isinstance(positions, Tensor):
        raise TypeError(f"positions must be a torch.Tensor, got {type(positions).__name__}")
    if positions.is_floating_point() or positions.is_complex() or positions.dtype == torch.bool:
        raise TypeError(f"positions must be an integer tensor, got {positions.dtype}")
    inv_freq = rope_frequencies(head_dim, base).to(positions.device)  # (head_dim/2,)
    return positions[..., None].float() * inv_freq  # (*P, head_dim/2)


def _rotate_half(x: Tensor) -> Tensor:
    """(x1, x2) -> (-x2, x1) on the two halves of the last dimension."""
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2 :]
    return torch.cat((-x2, x1), dim=-1)


def _check_rope_input(name: str, x: object, positions: object) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must have a floating dtype, got {x.dtype}")
    if x.dim() < 2:
        raise ValueError(f"{name} must have shape (..., seq, head_dim), got {tuple(x.shape)}")
    _check_even_dim(f"{name} head_dim (last dimension)", x.shape[-1])
    if not isinstance(positions, Tensor):
        raise TypeError(f"positions must be a torch.Tensor, got {type(positions).__name__}")
    seq = x.shape[-2]
    if positions.dim() == 1:
        ok = positions.shape[0] == seq
    elif positions.dim() == 2:  # (batch, seq) against (batch, heads, seq, head_dim)
        ok = x.dim() == 4 and positions.shape[1] == seq and positions.shape[0] in (1, x.shape[0])
    else:
        ok = False
    if not ok:
        raise ValueError(
            f"positions must have shape (seq,) or, for a 4-D {name} (batch, heads, seq, head_dim), (batch, seq); "
            f"got positions {tuple(positions.shape)} for {name} {tuple(x.shape)}"
        )
    return x


def rope_rotate(x: Tensor, positions: Tensor, base: float = 10000.0, *, interleaved: bool = False) -> Tensor:
    """Rotate the query or key vectors `x` by their positions: rotary position embedding (Su et al. 2021).

    Each pair of dimensions of the vector at position $m$ is rotated by the angle $m\\theta_i$:

    $$\\begin{pmatrix} x'_a \\\\ x'_b \\end{pmatrix} =
    \\begin{pmatrix} \\cos m\\theta_i & -\\sin m\\theta_i \\\\ \\sin m\\theta_i & \\cos m\\theta_i \\end{pmatrix}
    \\begin{pmatrix} x_a \\\\ x_b \\end{pmatrix}, \\qquad \\theta_i = base^{-2i/d}.$$

    The pair is $(a, b) = (i, i + d/2)$ in the Hugging Face layout (default) and $(2i, 2i+1)$ in the
    paper's layout (`interleaved=True`). Since $R_m^\\top R_n = R_{n-m}$, rotated queries and keys give
    scores $(R_m q)^\\top (R_n k) = q^\\top R_{n-m} k$ that depend only on the offset $n - m$, and
    rotations keep every vector's norm. The cosines and sines are computed in float32 and cast to
    `x.dtype`, as in `transformers`.

    Args:
        x: `(..., seq, head_dim)` floating tensor, usually `(batch, heads, seq, head_dim)`.
        positions: integer positions, `(seq,)`, or `(batch, seq)` when `x` is 4-D.
        base: `rope_theta` (10000 in the paper and LLaMA 1/2; larger in long-context models).
        interleaved: rotate pairs $(2i, 2i+1)$ as in the paper instead of the two halves.

    Returns:
        The rotated tensor, same shape and dtype as `x`.

    Raises:
        TypeError: if `x` is not a floating tensor or `positions` is not an integer tensor.
        ValueError: if `head_dim` is odd, the shapes do not fit, or `base` <= 1.
    """
    return _rotate("x", x, positions, base, interleaved)


def _rotate(name: str, x: Tensor, positions: Tensor, base: float, interleaved: bool) -> Tensor:
    _check_rope_input(name, x, positions)
    angles = rope_angles(positions, x.shape[-1], base).to(x.device)  # (seq, d/2) or (batch, seq, d/2)
    if positions.dim() == 2:
        angles = angles[:, None]  # (batch, 1, seq, d/2): the same angles for every head
    if interleaved:
        cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
        x_a, x_b = x[..., 0::2], x[..., 1::2]  # pairs (2i, 2i+1)
        return torch.stack((x_a * cos - x_b * sin, x_a * sin + x_b * cos), dim=-1).flatten(-2)
    emb = torch.cat((angles, angles), dim=-1)  # (..., seq, d): angle i serves dims i and i + d/2
    cos, sin = emb.cos().to(x.dtype), emb.sin().to(x.dtype)
    return x * cos + _rotate_half(x) * sin


def apply_rope(
    q: Tensor, k: Tensor, positions: Tensor, base: float = 10000.0, *, interleaved: bool = False
) -> tuple[Tensor, Tensor]:
    """Apply rotary position embedding to queries and keys (Su et al. 2021); values are left alone.

    $$q'_m = R_m\\, q_m, \\quad k'_n = R_n\\, k_n, \\qquad q'^\\top_m k'_n = q_m^\\top R_{n-m}\\, k_n$$

    Equal to `transformers`' `LlamaRotaryEmbedding` followed by `apply_rotary_pos_emb` (default layout).
    `q` and `k` may have different numbers of heads (grouped-query attention).

    Args:
        q: `(..., seq, head_dim)` queries, usually `(batch, heads, seq, head_dim)`.
        k: keys with the same `seq` and `head_dim` and dtype as `q`.
        positions: integer positions, `(seq,)`, or `(batch, seq)` for 4-D inputs.
        base: `rope_theta`.
        interleaved: use the paper's pairs $(2i, 2i+1)$ instead of the Hugging Face halves.

    Returns:
        `(q_rotated, k_rotated)`, with the shapes and dtypes of `q` and `k`.

    Raises:
        TypeError: if `q` or `k` is not a floating tensor, their dtypes differ, or `positions` is not
            an integer tensor.
        ValueError: if a head dimension is odd, `q` and `k` disagree in `seq` or `head_dim`, the
            positions do not fit, or `base` <= 1.
    """
    _check_rope_input("q", q, positions)
    _check_rope_input("k", k, positions)
    if k.dtype != q.dtype:
        raise TypeError(f"q and k must share a dtype, got {q.dtype} and {k.dtype}")
    if k.shape[-1] != q.shape[-1]:
        raise ValueError(f"k head_dim {k.shape[-1]} must equal q head_dim {q.shape[-1]}")
    return _rotate("q", q, positions, base, interleaved), _rotate("k", k, positions, base, interleaved)
