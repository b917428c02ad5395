"""GPTQ and AWQ: post-training weight quantization that looks at a layer's inputs, not only its weights.

The chapter [GPTQ and AWQ](../../shipping/gptq_awq.md) explains every function. Both methods keep
the integer formats of `genai_guide.quantization` (absmax or zero-point scales per row or per group
of $g$ inputs) and use a few calibration inputs $X$ of the layer to make its *output* change as little
as possible, $\\min_{\\hat W} \\lVert W X - \\hat W X \\rVert_2^2$:

1. `gptq_hessian`, `gptq_quantize` and `gptq_quantize_naive`: GPTQ (Frantar et al. 2022, Algorithm 1)
   quantizes one input column at a time and moves its rounding error onto the columns not yet
   quantized, weighted by the inverse Hessian $H^{-1}$ of the layer-wise objective, $H = 2 X X^\\top$;
2. `rtn_quantize`: round-to-nearest, the baseline both methods are compared with;
3. `awq_scales` and `awq_quantize`: AWQ (Lin et al. 2023, section 3.2) multiplies each input channel
   of $W$ by $s = s_X^{\\alpha}$, with $s_X$ the channel's mean activation magnitude, before rounding,
   and divides the activations by it; $\\alpha$ is searched on a grid to minimise the output error.

Convention: a weight `w` is `(out_features, in_features)` as in `nn.Linear` ($W$ of the papers) and the
calibration inputs `x` are `(tokens, in_features)`, one token a row, so the papers' $X$ is `x.T` and
$\\lVert W X - \\hat W X\\rVert^2$ is `output_error(w, w_hat, x)`.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from genai_guide._checks import check_float_tensor
from genai_guide.quantization import (
    _round_and_clamp,
    absmax_quantize,
    fake_quantize,
    integer_range,
    zeropoint_quantize,
)

__all__ = [
    "AWQResult",
    "awq_quantize",
    "awq_scales",
    "gptq_hessian",
    "gptq_quantize",
    "gptq_quantize_naive",
    "output_error",
    "rtn_quantize",
]


def _check_matrix(name: str, x: object) -> Tensor:
    check_float_tensor(name, x)
    if x.ndim != 2:
        raise ValueError(f"{name} must be 2-d, got shape {tuple(x.shape)}")
    if x.numel() == 0:
        raise ValueError(f"{name} must not be empty")
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} must be finite")
    return x


def _check_int(name: str, value: object, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be {bound}, got {value}")
    return value


def _check_group_size(group_size: object, columns: int) -> int:
    """`None` means one group per row (per-channel scales)."""
    if group_size is None:
        return columns
    _check_int("group_size", group_size, 1)
    if columns % group_size:
        raise ValueError(f"group_size ({group_size}) must divide in_features ({columns})")
    return group_size


def _grid(block: Tensor, bits: int, symmetric: bool) -> tuple[Tensor, Tensor | int]:
    """The scale (and zero point) of each row of `block` `(rows, g)`: `(rows, 1)` each."""
    if symmetric:
        return absmax_quantize(block, bits, dim=-1)[1], 0
    _, scale, zero_point = zeropoint_quantize(block, bits, dim=-1)
    return scale, zero_point


def _quantize_column(w: Tensor, scale: Tensor, zero_point: Tensor | int, bits: int, symmetric: bool) -> Tensor:
    """$\\operatorname{quant}(w)$: one column `(rows,)` rounded to its rows' grids and read back."""
    qmin, qmax = integer_range(bits, symmetric)
    zero = zero_point if isinstance(zero_point, int) else zero_point[:, 0]
    return (_round_and_clamp(w, scale[:, 0], zero, qmin, qmax) - zero) * scale[:, 0]


def output_error(w: Tensor, w_hat: Tensor, x: Tensor) -> Tensor:
    """The layer-wise objective $\\lVert W X - \\hat W X \\rVert_2^2$ on calibration inputs.

    Args:
        w: the weights `(out_features, in_features)`.
        w_hat: the quantized weights, same shape.
        x: inputs `(tokens, in_features)` (the papers' $X^\\top$).

    Returns:
        A 0-d tensor: the squared Frobenius norm of `x @ (w - w_hat).T`.
    """
    return (x @ (w - w_hat).T).square().sum()


def rtn_quantize(w: Tensor, bits: int = 4, group_size: int | None = None, symmetric: bool = True) -> Tensor:
    """Round-to-nearest (RTN): every weight rounded to the nearest level of its row or group.

    The baseline of both papers: `fake_quantize` with one scale per row (`group_size=None`) or per
    group of `group_size` consecutive inputs, absmax (`symmetric`) or zero-point.

    Returns:
        The dequantized weights $\\hat W$, shape and dtype of `w`.

    Raises:
        TypeError / ValueError: as `gptq_quantize` for `w`, `bits` and `group_size`.
    """
    w = _check_matrix("w", w)
    _check_int("bits", bits, 2, 8)
    group_size = _check_group_size(group_size, w.shape[1])
    return fake_quantize(w, bits, symmetric=symmetric, group_size=group_size)


def gptq_hessian(x: Tensor) -> Tensor:
    """The Hessian of the layer-wise objective: $H = 2 X X^\\top$.

    $\\lVert W X - \\hat W X\\rVert_2^2$ is a sum over the rows of $W$ of quadratics in the row, all
    with the Hessian $H = 2 X X^\\top$ `(in_features, in_features)` (Frantar et al. 2022, section 3,
    eq. 1-2). The reference implementation averages it over the calibration tokens,
    $\\frac{2}{n} X X^\\top$; a positive factor changes nothing in `gptq_quantize`, whose dampening is
    relative to the diagonal.

    Args:
        x: calibration inputs `(tokens, in_features)`.

    Raises:
        TypeError: `x` is not a float tensor.
        ValueError: `x` is not a finite, non-empty 2-d tensor.
    """
    x = _check_matrix("x", x)
    return 2 * x.T @ x  # (in, in)


def _check_problem(w: object, h: object, bits: object, group_size: object, damp: object) -> tuple[Tensor, Tensor, int]:
    w = _check_matrix("w", w)
    h = _check_matrix("h", h)
    if h.shape != (w.shape[1], w.shape[1]):
        raise ValueError(f"h must be (in_features, in_features) = {(w.shape[1],) * 2}, got {tuple(h.shape)}")
    if h.dtype != w.dtype:
        raise TypeError(f"h must have the dtype of w ({w.dtype}), got {h.dtype}")
    _check_int("bits", bits, 2, 8)
    group_size = _check_group_size(group_size, w.shape[1])
    if isinstance(damp, bool) or not isinstance(damp, (int, float)) or not damp >= 0:
        raise ValueError(f"damp must be a number >= 0, got {damp!r}")
    return w, h, group_size


def _dampened_inverse(h: Tensor, damp: float) -> Tensor:
    """$(H + \\lambda I)^{-1}$ with $\\lambda$ = `damp` times the mean diagonal; ValueError unless positive definite."""
    h = h.clone()
    h.diagonal().add_(damp * h.diagonal().mean())
    factor, info = torch.linalg.cholesky_ex(h)
    if info.item() != 0 or not torch.allclose(h, h.T):
        raise ValueError("h must be symmetric positive definite (after dampening): more calibration tokens, or a larger damp")
    return torch.cholesky_inverse(factor)


def gptq_quantize(
    w: Tensor,
    h: Tensor,
    bits: int = 4,
    group_size: int | None = None,
    block_size: int = 128,
    damp: float = 0.01,
    symmetric: bool = True,
) -> Tensor:
    """GPTQ: quantize the columns one by one, correcting the rest with the upper Cholesky factor of $H^{-1}$.

    Frantar et al. 2022, Algorithm 1. With $\\lambda$ = `damp` $\\times$ the mean of $\\operatorname{diag}(H)$
    added to the diagonal and $U$ the upper Cholesky factor of $(H + \\lambda I)^{-1}$
    ($H^{-1} = U^\\top U$), for each column $j$, in blocks of $B$ = `block_size` columns:

    $$\\begin{gathered}
    Q_{:,j} = \\operatorname{quant}(W_{:,j}), \\qquad E_{:,j} = \\frac{W_{:,j} - Q_{:,j}}{U_{jj}}, \\\\
    W_{:,j:i+B} \\mathrel{-}= E_{:,j}\\, U_{j,\\,j:i+B},
    \\end{gathered}$$

    and after each block the columns behind it are updated at once (lazy batch update),
    $W_{:,i+B:} \\mathrel{-}= E_{:,i:i+B}\\, U_{i:i+B,\\,i+B:}$. Row $j$ of $U$, divided by $U_{jj}$,
    is row $j$ of the inverse Hessian of the columns not yet quantized divided by its diagonal, so this
    is the column-by-column update of `gptq_quantize_naive` with no matrix updated per column. With
    groups, each group's scale is computed from the (already corrected) weights when its first column
    is reached, as the reference implementation does (when a group reaches past the block, its columns
    are brought up to date first, so the result does not depend on `block_size`).

    Args:
        w: the weights `(out_features, in_features)`.
        h: the Hessian `(in_features, in_features)` from `gptq_hessian`, same dtype as `w`.
        bits: bits per weight, 2 to 8.
        group_size: inputs per scale (must divide `in_features`), or `None` for one scale per row.
        block_size: columns per lazy batch update (the paper uses 128); any value gives the same result.
        damp: the dampening $\\lambda$ as a fraction of the mean diagonal of `h` (the paper's 1%).
        symmetric: absmax (`True`) or zero-point (`False`) scales.

    Returns:
        The quantized (dequantized) weights $\\hat W$, shape and dtype of `w`.

    Raises:
        TypeError: an input is not a float tensor, `h` has another dtype, or an integer argument is not an int.
        ValueError: bad shapes, `bits` not in 2..8, `group_size` not dividing `in_features`,
            `block_size` < 1, `damp` < 0, or `h` not positive definite after dampening.
    """
    w, h, group_size = _check_problem(w, h, bits, group_size, damp)
    _check_int("block_size", block_size, 1)
    w = w.clone()
    columns = w.shape[1]
    u = torch.linalg.cholesky(_dampened_inverse(h, damp), upper=True)  # (in, in), H^-1 = U^T U
    q = torch.zeros_like(w)
    scale, zero = _grid(w, bits, symmetric)  # per row, from the original weights, if no groups
    for i1 in range(0, columns, block_size):
        i2 = min(i1 + block_size, columns)
        w1, u1 = w[:, i1:i2], u[i1:i2, i1:i2]  # views: updated in place
        err = torch.zeros_like(w1)
        for j in range(i2 - i1):
            if group_size < columns and (i1 + j) % group_size == 0:  # the group's grid, from corrected weights
                start, end = i1 + j, i1 + j + group_size
                group = w[:, start:end].clone()
                if end > i2:  # columns behind the block still owe this block's lazy update so far
                    group[:, i2 - start:] -= err[:, :j] @ u[i1:i1 + j, i2:end]
                scale, zero = _grid(group, bits, symmetric)
            q[:, i1 + j] = _quantize_column(w1[:, j], scale, zero, bits, symmetric)
            err[:, j] = (w1[:, j] - q[:, i1 + j]) / u1[j, j]
            w1[:, j:] -= err[:, j:j + 1] * u1[j:j + 1, j:]  # inside the block, column by column
        w[:, i2:] -= err @ u[i1:i2, i2:]  # the lazy batch update of everything behind the block
    return q


def gptq_quantize_naive(
    w: Tensor,
    h: Tensor,
    bits: int = 4,
    group_size: int | None = None,
    damp: float = 0.01,
    symmetric: bool = True,
) -> Tensor:
    """GPTQ written as the paper derives it (section 3): explicit inverse-Hessian updates, one column at a time.

    For each column $q$ in order, with $H_F^{-1}$ the inverse Hessian of the columns $F$ not yet
    quantized (the dampened $H^{-1}$ at the start):

    $$\\begin{gathered}
    \\delta_F = -\\frac{w_q - \\operatorname{quant}(w_q)}{[H_F^{-1}]_{qq}}\\,(H_F^{-1})_{:,q}, \\\\
    H_{-q}^{-1} = \\left(H^{-1} - \\frac{1}{[H^{-1}]_{qq}} H^{-1}_{:,q} H^{-1}_{q,:}\\right)_{-q}.
    \\end{gathered}$$

    Costs $O(d_{in}^3)$ for the inverse updates; `gptq_quantize` gives the same weights (the tests
    check it to float64 rounding) without them. Arguments, return value and errors as `gptq_quantize`.
    """
    w, h, group_size = _check_problem(w, h, bits, group_size, damp)
    w = w.clone()
    columns = w.shape[1]
    h_inv = _dampened_inverse(h, damp)  # (in, in)
    q = torch.zeros_like(w)
    scale, zero = _grid(w, bits, symmetric)
    for j in range(columns):
        if group_size < columns and j % group_size == 0:
            scale, zero = _grid(w[:, j:j + group_size], bits, symmetric)
        q[:, j] = _quantize_column(w[:, j], scale, zero, bits, symmetric)
        err = (w[:, j] - q[:, j]) / h_inv[j, j]  # (out,)
        w[:, j + 1:] -= err[:, None] * h_inv[j, j + 1:]  # the optimal update of the remaining weights
        h_inv = h_inv - torch.outer(h_inv[:, j], h_inv[j, :]) / h_inv[j, j]  # remove column j (row and column become 0)
    return q


def awq_scales(x: Tensor, alpha: float) -> Tensor:
    """AWQ's per-input-channel scales $s = s_X^{\\alpha}$.

    $s_X$ is the mean activation magnitude of each input channel over the calibration tokens
    (Lin et al. 2023, section 3.2). As the reference implementation (llm-awq) does, the scales
    are floored at $10^{-4}$ and divided by $\\sqrt{\\max s \\cdot \\min s}$, which centres them around 1
    (a common factor of all scales would only change the rounding grid of every group alike).

    Args:
        x: calibration inputs `(tokens, in_features)`.
        alpha: the exponent $\\alpha \\in [0, 1]$; 0 gives all-ones scales (plain round-to-nearest).

    Returns:
        `(in_features,)`, dtype of `x`.

    Raises:
        TypeError: `x` is not a float tensor.
        ValueError: `x` is not a finite non-empty 2-d tensor, or `alpha` is outside [0, 1].
    """
    x = _check_matrix("x", x)
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be a number in [0, 1], got {alpha!r}")
    s_x = x.abs().mean(dim=0)  # (in,) the mean magnitude of each input channel
    s = s_x.pow(alpha).clamp(min=1e-4)
    return s / (s.max() * s.min()).sqrt()


class AWQResult(NamedTuple):
    """What `awq_quantize` returns."""

    weight: Tensor  #: (out, in) $Q(W \\operatorname{diag}(s))\\,\\operatorname{diag}(s)^{-1}$, what the layer computes with
    scales: Tensor  #: (in,) the chosen $s$, to fold into the previous operation as $X \\operatorname{diag}(s)^{-1}$
    alpha: float  #: the chosen $\\alpha$
    errors: dict[float, float]  #: output error $\\lVert WX - \\hat W X \\rVert^2$ for every $\\alpha$ of the grid


def awq_quantize(
    w: Tensor,
    x: Tensor,
    bits: int = 4,
    group_size: int | None = None,
    n_grid: int = 20,
    symmetric: bool = True,
) -> AWQResult:
    """AWQ: scale the salient input channels up before rounding, choosing $\\alpha$ by grid search.

    Lin et al. 2023, section 3.2: for a linear layer, $Q(W \\operatorname{diag}(s))\\,
    (\\operatorname{diag}(s)^{-1} X)$ computes the same as $W X$ up to rounding, and channels with a large
    $s$ are rounded relatively more finely. With $s = s_X^{\\alpha}$ (`awq_scales`), the search is

    $$\\alpha^* = \\operatorname*{arg\\,min}_{\\alpha} \\left\\lVert Q(W \\operatorname{diag}(s))\\,
    (\\operatorname{diag}(s)^{-1} X) - W X \\right\\rVert_2^2,$$

    over $\\alpha \\in \\{0, \\frac{1}{n}, \\dots, \\frac{n-1}{n}\\}$ with $n$ = `n_grid` (llm-awq's
    grid of 20 points). $\\alpha = 0$ is plain round-to-nearest, so the chosen error is never above it.
    The reference implementation also clips each group's range (a second search); it is left out.

    Args:
        w: the weights `(out_features, in_features)`.
        x: calibration inputs `(tokens, in_features)`, same dtype.
        bits: bits per weight, 2 to 8.
        group_size: inputs per scale (must divide `in_features`), or `None` for one scale per row.
        n_grid: grid points for $\\alpha$, at least 1.
        symmetric: absmax (`True`) or zero-point (`False`) scales; AWQ's checkpoints use zero points.

    Returns:
        An `AWQResult`: the effective weights, the scales, the chosen $\\alpha$ and all errors.

    Raises:
        TypeError: an input is not a float tensor, the dtypes differ, or an integer argument is not an int.
        ValueError: bad shapes, `bits` not in 2..8, `group_size` not dividing `in_features`, `n_grid` < 1.
    """
    w = _check_matrix("w", w)
    x = _check_matrix("x", x)
    if x.shape[1] != w.shape[1]:
        raise ValueError(f"x has {x.shape[1]} features but w expects {w.shape[1]} (in_features)")
    if x.dtype != w.dtype:
        raise TypeError(f"x must have the dtype of w ({w.dtype}), got {x.dtype}")
    _check_int("bits", bits, 2, 8)
    group_size = _check_group_size(group_size, w.shape[1])
    _check_int("n_grid", n_grid, 1)
    errors: dict[float, float] = {}
    best = None
    for i in range(n_grid):
        alpha = i / n_grid
        s = awq_scales(x, alpha)  # (in,)
        w_hat = fake_quantize(w * s, bits, symmetric=symmetric, group_size=group_size) / s  # Q(W diag(s)) diag(s)^-1
        errors[alpha] = output_error(w, w_hat, x).item()
        if best is None or errors[alpha] < errors[best[0]]:  # the first of equal errors: the smallest alpha
            best = (alpha, s, w_hat)
    alpha, s, w_hat = best
    return AWQResult(w_hat, s, alpha, errors)
