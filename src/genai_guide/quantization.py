"""Integer quantization from first principles: absmax and zero-point, granularity, and LLM.int8().

The chapter [Quantization from first principles](../../shipping/quantization.md) explains every
function. A real number $x$ is stored as a small integer $q$ and one floating-point scale $\\Delta$
shared by many numbers (plus, for the affine scheme, an integer zero point $z$), and read back as
$\\hat x = \\Delta\\,(q - z)$:

1. `absmax_quantize`: symmetric, $\\Delta = \\max|x| / (2^{b-1} - 1)$, $z = 0$ (the "absmax"
   scheme of Dettmers et al. 2022, LLM.int8(), section 2.1);
2. `zeropoint_quantize`: affine (asymmetric), $r = S(q - Z)$ with the range widened to include 0
   so that zero is exact (Jacob et al. 2018, section 2.1), as PyTorch's observers compute it;
3. `dequantize`, `fake_quantize` (quantize then dequantize) and `group_quantize` (one scale per
   group of $g$ consecutive weights of a row);
4. `vectorwise_int8_matmul` and `int8_matmul_with_outliers`: LLM.int8()'s vector-wise int8 matrix
   multiplication and its mixed-precision decomposition for outlier features (section 3).

Every function rounds half to even and multiplies by the reciprocal of the scale, as PyTorch does; the
tests check the integers against `torch.quantize_per_tensor` / `torch.quantize_per_channel`, the
scales and zero points against `torch.ao.quantization.observer`, and the round trip against
`torch.fake_quantize_per_tensor_affine` / `torch.fake_quantize_per_channel_affine`.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from genai_guide._checks import check_float_tensor

__all__ = [
    "EPS",
    "Int8MatmulResult",
    "absmax_quantize",
    "dequantize",
    "fake_quantize",
    "group_quantize",
    "int8_matmul_with_outliers",
    "integer_range",
    "outlier_columns",
    "vectorwise_int8_matmul",
    "zeropoint_quantize",
]

#: Smallest scale: the float32 machine epsilon, the floor PyTorch's observers put under every scale,
#: so that an all-zero tensor gets a tiny scale (and all-zero integers) instead of 0/0.
EPS = torch.finfo(torch.float32).eps

_FLOATS = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def _check_bits(bits: object) -> int:
    if isinstance(bits, bool) or not isinstance(bits, int):
        raise TypeError(f"bits must be an int, got {type(bits).__name__}")
    if not 2 <= bits <= 8:
        raise ValueError(f"bits must be between 2 and 8, got {bits}")
    return bits


def _check_input(name: str, x: object) -> Tensor:
    """A non-empty, finite float tensor; float16/bfloat16 are computed in float32."""
    check_float_tensor(name, x)
    if x.dtype not in _FLOATS:
        raise TypeError(f"{name} must be float16, bfloat16, float32 or float64, got {x.dtype}")
    if x.numel() == 0:
        raise ValueError(f"{name} must not be empty")
    if not torch.isfinite(x.abs().amax()):  # amax propagates nan and inf (and is faster than isfinite(x).all())
        raise ValueError(f"{name} must be finite: a scale computed from inf or nan is meaningless")
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def _check_dim(dim: object, ndim: int) -> int | None:
    if dim is None:
        return None
    if isinstance(dim, bool) or not isinstance(dim, int):
        raise TypeError(f"dim must be an int or None, got {type(dim).__name__}")
    if not -ndim <= dim < ndim:
        raise ValueError(f"dim must be in [{-ndim}, {ndim - 1}] for a {ndim}-d tensor, got {dim}")
    return dim


def integer_range(bits: int, symmetric: bool = True) -> tuple[int, int]:
    """The integers a `bits`-bit code uses: $(q_{min}, q_{max})$.

    Symmetric (absmax) codes use the signed range without its most negative value, so that it is
    symmetric around 0: $[-(2^{b-1} - 1),\\ 2^{b-1} - 1]$, $[-127, 127]$ for 8 bits (LLM.int8(),
    section 2.1). Affine (zero-point) codes use every unsigned integer: $[0,\\ 2^b - 1]$.

    Raises:
        TypeError: `bits` is not an int.
        ValueError: `bits` is not between 2 and 8.
    """
    _check_bits(bits)
    if symmetric:
        return -(2 ** (bits - 1) - 1), 2 ** (bits - 1) - 1
    return 0, 2**bits - 1


def _round_and_clamp(x: Tensor, scale: Tensor, zero_point: Tensor | int, qmin: int, qmax: int) -> Tensor:
    """$\\operatorname{clamp}(\\operatorname{round}(x \\cdot \\frac{1}{\\Delta}) + z,\\ q_{min},\\ q_{max})$.

    Multiplying by the reciprocal (not dividing) and rounding half to even (`torch.round`, C's
    `nearbyint`) are what PyTorch's quantize kernels (FBGEMM) do; both choices change the integer
    on exact ties, so they matter for equality."""
    return torch.clamp(torch.round(x * (1.0 / scale)) + zero_point, qmin, qmax)


def absmax_quantize(x: Tensor, bits: int = 8, dim: int | None = None) -> tuple[Tensor, Tensor]:
    """Symmetric (absmax) quantization: one scale per tensor, or per slice along the other dims.

    $$\\begin{gathered}
    \\Delta = \\frac{\\max |x|}{2^{b-1} - 1}, \\qquad \\hat x = \\Delta\\, q, \\\\
    q = \\operatorname{clamp}\\left(\\operatorname{round}\\left(\\frac{x}{\\Delta}\\right),\\
    -(2^{b-1} - 1),\\ 2^{b-1} - 1\\right).
    \\end{gathered}$$

    For 8 bits, $q = \\operatorname{round}(127\\, x / \\max|x|)$: Dettmers et al. 2022 (LLM.int8(),
    section 2.1) write the same with the reciprocal $s_x = 127 / \\max|x|$. Zero maps to 0 exactly and
    the error of every value is at most $\\Delta / 2$. $\\Delta$ is floored at `EPS`, as in
    PyTorch's observers. This is `MinMaxObserver(qscheme=torch.per_tensor_symmetric,
    dtype=torch.qint8, quant_min=-127, quant_max=127)` followed by `torch.quantize_per_tensor`.

    Args:
        x: the values, any shape; float16 and bfloat16 are computed in float32.
        bits: bits per integer, 2 to 8.
        dim: where the absolute maximum is taken, as in `x.abs().amax(dim)`: `None` for one scale
            for the whole tensor (per tensor); `-1` for a weight `(out_features, in_features)` gives
            one scale per output row (per channel).

    Returns:
        `(q, scale)`: `q` int8 with the shape of `x`; `scale` with `dim` kept as size 1
        (`(out_features, 1)` for `dim=-1`), or a 0-d tensor for `dim=None`, so `q * scale` broadcasts.

    Raises:
        TypeError: `x` is not a float tensor, or `bits` / `dim` is not an int.
        ValueError: `x` is empty or not finite, `bits` is not in 2..8, `dim` is out of range.
    """
    x = _check_input("x", x)
    dim = _check_dim(dim, x.ndim)
    qmin, qmax = integer_range(bits, symmetric=True)
    absmax = x.abs().amax() if dim is None else x.abs().amax(dim=dim, keepdim=True)
    scale = torch.clamp(absmax / qmax, min=EPS)
    return _round_and_clamp(x, scale, 0, qmin, qmax).to(torch.int8), scale


def zeropoint_quantize(x: Tensor, bits: int = 8, dim: int | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """Affine (zero-point, asymmetric) quantization onto all $2^b$ unsigned integers.

    Jacob et al. 2018 (section 2.1) map integers to reals by $r = S(q - Z)$, with the integer zero
    point $Z$ chosen so that the real 0 is exactly representable. With the range widened to include 0,
    $m = \\min(\\min x, 0)$ and $M = \\max(\\max x, 0)$:

    $$\\begin{gathered}
    S = \\frac{M - m}{2^b - 1}, \\qquad Z = \\operatorname{clamp}\\left(-\\operatorname{round}
    \\left(\\frac{m}{S}\\right),\\ 0,\\ 2^b - 1\\right), \\\\
    q = \\operatorname{clamp}\\left(\\operatorname{round}\\left(\\frac{x}{S}\\right) + Z,\\ 0,\\ 2^b - 1\\right),
    \\end{gathered}$$

    and $\\hat x = S\\,(q - Z)$. This is exactly what `MinMaxObserver(qscheme=torch.per_tensor_affine,
    dtype=torch.quint8)` computes, followed by `torch.quantize_per_tensor(x, S, Z, torch.quint8)`.
    Because all levels are used, one-sided data (ReLU outputs) gets twice the resolution that absmax
    quantization gives it.

    Args:
        x: the values, any shape; float16 and bfloat16 are computed in float32.
        bits: bits per integer, 2 to 8.
        dim: where the minimum and maximum are taken (see `absmax_quantize`); `None` for per tensor.

    Returns:
        `(q, scale, zero_point)`: `q` uint8 with the shape of `x`; `scale` (float) and `zero_point`
        (int64) with `dim` kept as size 1, or 0-d for `dim=None`.

    Raises:
        TypeError: `x` is not a float tensor, or `bits` / `dim` is not an int.
        ValueError: `x` is empty or not finite, `bits` is not in 2..8, `dim` is out of range.
    """
    x = _check_input("x", x)
    dim = _check_dim(dim, x.ndim)
    qmin, qmax = integer_range(bits, symmetric=False)
    if dim is None:
        lo, hi = x.amin(), x.amax()
    else:
        lo, hi = x.amin(dim=dim, keepdim=True), x.amax(dim=dim, keepdim=True)
    lo, hi = torch.clamp(lo, max=0), torch.clamp(hi, min=0)  # the range always contains 0
    scale = torch.clamp((hi - lo) / (qmax - qmin), min=EPS)
    zero_point = torch.clamp(qmin - torch.round(lo / scale), qmin, qmax).to(torch.int64)
    q = _round_and_clamp(x, scale, zero_point, qmin, qmax).to(torch.uint8)
    return q, scale, zero_point


def dequantize(q: Tensor, scale: Tensor, zero_point: Tensor | None = None) -> Tensor:
    """Read integers back as reals: $\\hat x = \\Delta\\,(q - z)$ ($z = 0$ for absmax).

    The integer difference is exact; the result has the dtype of `scale`.

    Args:
        q: integers from `absmax_quantize`, `zeropoint_quantize` or `group_quantize`.
        scale: their scale, broadcastable to `q`.
        zero_point: their zero point (integer tensor), or `None` for symmetric codes.

    Raises:
        TypeError: `q` is not an integer tensor or `scale` not a float tensor.
    """
    if not isinstance(q, Tensor) or q.is_floating_point() or q.is_complex() or q.dtype == torch.bool:
        raise TypeError(f"q must be an integer tensor, got {getattr(q, 'dtype', type(q).__name__)}")
    check_float_tensor("scale", scale)
    levels = q.to(torch.int64) if zero_point is None else q.to(torch.int64) - zero_point
    return levels.to(scale.dtype) * scale


def group_quantize(
    w: Tensor, bits: int = 4, group_size: int = 128, symmetric: bool = True
) -> tuple[Tensor, Tensor, Tensor | None]:
    """Group-wise (block-wise) quantization: one scale per $g$ consecutive values of each row.

    The last dimension ($k$ inputs of a weight `(out_features, in_features)`) is cut into $k/g$
    groups, the layout of GPTQ and AWQ checkpoints; each group gets its own absmax scale (or scale
    and zero point), so an outlier only coarsens its own group. Storage per weight is
    $b + (b_{scale} + b_{zero}) / g$ bits: $4 + 16/128 = 4.125$ for 4 bits, $g = 128$ and an fp16
    scale (`genai_guide.sizing.bits_per_weight`).

    Args:
        w: the weights, `(..., k)`.
        bits: bits per integer, 2 to 8.
        group_size: values per group $g$; must divide $k$.
        symmetric: absmax (`True`) or zero-point (`False`) within each group.

    Returns:
        `(q, scale, zero_point)`: `q` of shape `(..., k // g, g)`; `scale` and `zero_point`
        `(..., k // g, 1)`; `zero_point` is `None` when symmetric.
        `dequantize(q, scale, zero_point).reshape(w.shape)` reads the weights back.

    Raises:
        TypeError: `w` is not a float tensor, or `bits` / `group_size` is not an int.
        ValueError: `group_size` is not positive or does not divide the last dimension of `w`.
    """
    w = _check_input("w", w)
    if isinstance(group_size, bool) or not isinstance(group_size, int):
        raise TypeError(f"group_size must be an int, got {type(group_size).__name__}")
    if group_size < 1:
        raise ValueError(f"group_size must be >= 1, got {group_size}")
    k = w.shape[-1] if w.ndim else 1
    if w.ndim == 0 or k % group_size:
        raise ValueError(f"group_size ({group_size}) must divide the last dimension of w ({k})")
    groups = w.reshape(*w.shape[:-1], k // group_size, group_size)  # (..., k/g, g)
    if symmetric:
        q, scale = absmax_quantize(groups, bits, dim=-1)
        return q, scale, None
    return zeropoint_quantize(groups, bits, dim=-1)


def fake_quantize(
    x: Tensor, bits: int = 8, *, symmetric: bool = True, dim: int | None = None, group_size: int | None = None
) -> Tensor:
    """Quantize and dequantize at once: the values $\\hat x$ a quantized model computes with.

    $$\\hat x = \\Delta\\,\\left(\\operatorname{clamp}\\left(\\operatorname{round}(x / \\Delta) + z,\\
    q_{min},\\ q_{max}\\right) - z\\right),$$

    with $\\Delta$ and $z$ per tensor (`dim=None`), per slice (`dim`, see `absmax_quantize`) or per
    group of the last dimension (`group_size`). `torch.fake_quantize_per_tensor_affine` and
    `torch.fake_quantize_per_channel_affine` compute the same given the same scale and zero point.

    Returns:
        A tensor of the shape and dtype of `x`.

    Raises:
        ValueError: both `dim` and `group_size` are given; and see `absmax_quantize`, `group_quantize`.
    """
    dtype = getattr(x, "dtype", None)
    if group_size is not None:
        if dim is not None:
            raise ValueError("give dim or group_size, not both: groups always run along the last dimension")
        q, scale, zero_point = group_quantize(x, bits, group_size, symmetric)
        return dequantize(q, scale, zero_point).reshape(x.shape).to(dtype)
    if symmetric:
        q, scale = absmax_quantize(x, bits, dim)
        return dequantize(q, scale).to(dtype)
    return dequantize(*zeropoint_quantize(x, bits, dim)).to(dtype)


def outlier_columns(x: Tensor, threshold: float = 6.0) -> Tensor:
    """The feature dimensions (columns of `x`) holding at least one value of magnitude $\\geq \\alpha$.

    LLM.int8() (section 3.2) puts every hidden dimension with an outlier above the threshold
    $\\alpha = 6.0$ into the set $O$ that is multiplied in 16 bits. bitsandbytes flags
    $|x| \\geq \\alpha$ (`int8_vectorwise_quant`), the rule used here.

    Args:
        x: activations `(..., h)`; every leading dimension counts as a row (token).
        threshold: $\\alpha > 0$; `math.inf` flags nothing.

    Returns:
        The sorted column indices, int64, `(|O|,)`.

    Raises:
        TypeError: `x` is not a float tensor or `threshold` not a number.
        ValueError: `x` is empty or not finite, or `threshold` is not positive.
    """
    x = _check_input("x", x)
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
        raise TypeError(f"threshold must be a number, got {type(threshold).__name__}")
    if not threshold > 0:  # also rejects nan
        raise ValueError(f"threshold must be > 0, got {threshold}")
    if x.ndim == 0:
        raise ValueError("x must have a feature dimension (at least 1-d)")
    flagged = (x.abs() >= threshold).reshape(-1, x.shape[-1]).any(dim=0)  # (h,)
    return torch.nonzero(flagged).flatten()


def _int_matmul(a: Tensor, b: Tensor) -> Tensor:
    """`a @ b.T` of int8 matrices with exact integer accumulation, as float64.

    int32 on CPU (what an int8 tensor core accumulates in); elsewhere float64, exact as well because
    every partial sum is an integer below $2^{53}$."""
    if a.device.type == "cpu":
        return (a.to(torch.int32) @ b.to(torch.int32).T).to(torch.float64)
    return a.to(torch.float64) @ b.to(torch.float64).T


def _check_matmul(x: object, weight: object) -> tuple[Tensor, Tensor]:
    x = _check_input("x", x)
    weight = _check_input("weight", weight)
    if x.ndim < 1:
        raise ValueError("x must be at least 1-d: (..., in_features)")
    if weight.ndim != 2:
        raise ValueError(f"weight must be 2-d (out_features, in_features), got shape {tuple(weight.shape)}")
    if x.shape[-1] != weight.shape[1]:
        raise ValueError(f"x has {x.shape[-1]} features but weight expects {weight.shape[1]} (in_features)")
    if x.dtype != weight.dtype:
        raise TypeError(f"weight must have the dtype of x ({x.dtype}), got {weight.dtype}")
    return x, weight


def vectorwise_int8_matmul(x: Tensor, weight: Tensor) -> Tensor:
    """$x W^\\top$ in int8 with one absmax scale per row of `x` and per row of `weight`.

    LLM.int8()'s vector-wise quantization (section 3.1, eq. 7): each inner product of a row of the
    hidden states $X$ and a column of the paper's $W = $ `weight.T` gets its own pair of constants,
    and the int32 result is denormalised by their outer product:

    $$C \\approx \\left(\\mathbf{\\Delta}_x \\otimes \\mathbf{\\Delta}_w\\right) \\odot (X_{i8}\\, W_{i8}^\\top),
    \\qquad \\mathbf{\\Delta}_x = \\frac{\\max_j |X_{:,j}|}{127}, \\quad \\mathbf{\\Delta}_w = \\frac{\\max_j |W_{:,j}|}{127}.$$

    Args:
        x: activations `(..., in_features)`.
        weight: an `nn.Linear` weight `(out_features, in_features)`, same dtype as `x`.

    Returns:
        `(..., out_features)` in the working dtype (float32 for 16-bit inputs).

    Raises:
        TypeError: an input is not a float tensor, or the dtypes differ.
        ValueError: the shapes do not fit, or an input is empty or not finite.
    """
    x, weight = _check_matmul(x, weight)
    rows = x.reshape(-1, x.shape[-1])  # (s, h)
    q_x, scale_x = absmax_quantize(rows, 8, dim=-1)  # (s, h) int8, (s, 1)
    q_w, scale_w = absmax_quantize(weight, 8, dim=-1)  # (o, h) int8, (o, 1)
    acc = _int_matmul(q_x, q_w)  # (s, o), exact
    out = acc * (scale_x.double() * scale_w.double().T)  # denormalise by the outer product
    return out.to(x.dtype).reshape(*x.shape[:-1], weight.shape[0])


class Int8MatmulResult(NamedTuple):
    """What `int8_matmul_with_outliers` returns: `output = outlier_part + int8_part`."""

    output: Tensor  #: (..., out_features)
    outlier_part: Tensor  #: (..., out_features), the outlier columns multiplied in floating point
    int8_part: Tensor  #: (..., out_features), every other column, vector-wise int8
    outlier_columns: Tensor  #: (|O|,) int64, the columns of x in floating point


def int8_matmul_with_outliers(x: Tensor, weight: Tensor, threshold: float = 6.0) -> Int8MatmulResult:
    """LLM.int8(): vector-wise int8 matrix multiplication with mixed-precision decomposition.

    Dettmers et al. 2022, section 3.2, eq. 8: the feature dimensions $O$ of $X$ holding an outlier
    (`outlier_columns`, magnitude at least $\\alpha = 6.0$) are multiplied with the matching weights in
    floating point, and all other dimensions in int8 with vector-wise scales (`vectorwise_int8_matmul`):

    $$C \\approx \\sum_{h \\in O} X^{h} W^{h} + \\mathbf{S} \\cdot \\sum_{h \\notin O} X_{i8}^{h} W_{i8}^{h}.$$

    The paper multiplies the outlier part in fp16; here it is computed in the working dtype (float32
    for 16-bit inputs, float64 for float64), with the original weights. bitsandbytes keeps only int8
    weights at inference and multiplies the outlier columns by their dequantized int8 weights instead.

    Args:
        x: activations (hidden states) `(..., in_features)`.
        weight: an `nn.Linear` weight `(out_features, in_features)`; its column $h$ is the paper's row
            $W^h$. Same dtype as `x`.
        threshold: $\\alpha$; `math.inf` gives plain vector-wise int8.

    Returns:
        An `Int8MatmulResult`: the output, its two parts and the outlier columns.

    Raises:
        TypeError: an input is not a float tensor, the dtypes differ, or `threshold` is not a number.
        ValueError: the shapes do not fit, an input is empty or not finite, or `threshold` <= 0.
    """
    x, weight = _check_matmul(x, weight)
    rows = x.reshape(-1, x.shape[-1])  # (s, h)
    cols = outlier_columns(rows, threshold)  # (|O|,)
    regular = torch.ones(rows.shape[1], dtype=torch.bool, device=rows.device)
    regular[cols] = False
    outlier_part = rows[:, cols] @ weight[:, cols].T  # (s, o), floating point
    if regular.any():
        int8_part = vectorwise_int8_matmul(rows[:, regular], weight[:, regular])  # (s, o)
    else:
        int8_part = torch.zeros_like(outlier_part)
    shape = (*x.shape[:-1], weight.shape[0])
    return Int8MatmulResult((outlier_part + int8_part).reshape(shape), outlier_part.reshape(shape),
                            int8_part.reshape(shape), cols)

