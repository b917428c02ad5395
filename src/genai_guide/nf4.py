"""4-bit NormalFloat (NF4) quantization with double quantization, as in QLoRA, written to be read.

The chapter [Parameter-efficient fine-tuning](../../adapting/peft.md) explains the algorithm. It follows
Dettmers et al., *QLoRA: Efficient Finetuning of Quantized LLMs* (2023), section 3 (4-bit NormalFloat,
double quantization), and reproduces what `bitsandbytes.functional.quantize_4bit(x, quant_type="nf4")`
stores, bit for bit on CPU:

1. `nf4_code`: 16 levels at quantiles of a standard normal distribution, rescaled to $[-1, 1]$;
2. `quantize_nf4`: blocks of 64 numbers, each divided by its absolute maximum (absmax) and rounded to
   the nearest level; two 4-bit level indices packed into one byte (first one in the high nibble);
3. `dequantize_nf4`: level times absmax;
4. `double_quantize`: the fp32 absmax constants, minus their mean, quantized again to 8 bits in
   blocks of 256 with bitsandbytes' signed "dynamic" 8-bit code (`dynamic_code`);
5. `NF4Linear`: a frozen linear layer stored that way, dequantized on the fly in `forward`, the base
   layer QLoRA trains LoRA adapters on.

The tests compare the code book, the packed bytes, the absmax constants and the dequantized tensors
with bitsandbytes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genai_guide._checks import check_float_tensor as _check_float_tensor

__all__ = [
    "NF4_OFFSET",
    "NF4Linear",
    "bits_per_parameter",
    "dequantize_nf4",
    "double_dequantize",
    "double_quantize",
    "dynamic_code",
    "nf4_code",
    "pack_4bit",
    "quantize_linears",
    "quantize_nf4",
    "unpack_4bit",
]

#: Probability of the outermost quantile of NF4 (bitsandbytes' `create_normal_map` default). It equals
#: the mean of $1 - \frac{1}{2 \cdot 15}$ and $1 - \frac{1}{2 \cdot 16}$ to the 7 digits given.
NF4_OFFSET = 0.9677083

_INPUT_DTYPES = (torch.float32, torch.float16, torch.bfloat16)


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")
    return value


def _check_input(name: str, x: object) -> Tensor:
    _check_float_tensor(name, x)
    if x.dtype not in _INPUT_DTYPES:
        raise TypeError(f"{name} must be float32, float16 or bfloat16 (like bitsandbytes), got {x.dtype}")
    if x.numel() == 0:
        raise ValueError(f"{name} must not be empty")
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} must be finite: absmax scaling is undefined for inf and nan")
    return x


def _check_blocks(name: str, n: int, blocksize: int) -> None:
    _positive_int("blocksize", blocksize)
    if n % blocksize:
        raise ValueError(f"blocksize {blocksize} must divide the number of elements of {name} ({n})")


def nf4_code(offset: float = NF4_OFFSET) -> Tensor:
    """The 16 levels of the 4-bit NormalFloat data type (QLoRA, section 3), sorted, in $[-1, 1]$.

    A symmetric code from the quantiles of $N(0, 1)$ would have no exact zero, so NF4 is asymmetric:
    8 positive levels at the quantiles $\\Phi^{-1}(p)$ for 8 probabilities $p$ spaced evenly from
    `offset` down to (excluding) $\\frac12$, 7 negative levels mirrored from 7 such probabilities,
    and zero; the whole set is then divided by its largest value, so the levels run from $-1$ to $1$:

    $$q = \\frac{\\tilde q}{\\max \\tilde q}, \\qquad
    \\tilde q \\in \\{-\\Phi^{-1}(p^-_j)\\}_{j=1}^{7} \\cup \\{0\\} \\cup \\{\\Phi^{-1}(p^+_i)\\}_{i=1}^{8}.$$

    Built exactly as bitsandbytes' `create_normal_map` builds it (quantiles in float64, then stored
    and rescaled in float32), so the result equals `bitsandbytes.functional.get_4bit_type("nf4")`
    bit for bit.

    Args:
        offset: the probability of the largest level, in $(\\frac12, 1)$.

    Returns:
        A `(16,)` float32 tensor, increasing, with `code[0] == -1`, `code[7] == 0`, `code[15] == 1`.

    Raises:
        ValueError: if `offset` is not in $(\\frac12, 1)$.
    """
    if isinstance(offset, bool) or not isinstance(offset, (int, float)) or not 0.5 < offset < 1:
        raise ValueError(f"offset must be a probability in (0.5, 1), got {offset!r}")
    positive = torch.special.ndtri(torch.linspace(offset, 0.5, 9)[:-1].double())  # 8 quantiles > 0
    negative = -torch.special.ndtri(torch.linspace(offset, 0.5, 8)[:-1].double())  # 7 quantiles < 0
    levels = torch.cat([negative, positive.new_zeros(1), positive]).float().sort().values
    return levels / levels.max()  # (16,)


def dynamic_code() -> Tensor:
    """bitsandbytes' signed 8-bit "dynamic" code (`create_dynamic_map()`), used for the absmax constants.

    A tiny floating-point format (Dettmers 2015, "dynamic tree quantization"): for each power of ten
    $10^{-6}, \\dots, 10^{0}$ it holds $\\pm 10^{e}$ times the midpoints of an even grid on
    $[0.1, 1]$ that gets finer as $e$ grows, plus $0$ and $1$: small magnitudes keep a relative
    precision that an even 8-bit grid would lose.

    Returns:
        A `(256,)` float32 tensor, increasing, from about $-0.993$ to $1$.
    """
    data: list[float] = []
    for i in range(7):  # exponent 10^(i - 6); 2^i fraction steps
        boundaries = torch.linspace(0.1, 1, 2**i + 1, dtype=torch.float32)
        means = (boundaries[:-1] + boundaries[1:]) / 2.0
        data += (10 ** (i - 6) * means).tolist()
        data += (-(10 ** (i - 6)) * means).tolist()
    data += [0.0, 1.0]
    return torch.tensor(sorted(data), dtype=torch.float32)  # (256,)


def _nearest(scaled: Tensor, code: Tensor) -> Tensor:
    """Index of the nearest level of the sorted `code` for each value; ties go to the lower level."""
    midpoints = (code[:-1] + code[1:]) / 2
    return torch.bucketize(scaled, midpoints)  # int64, same shape as scaled


def _absmax_scale(blocks: Tensor) -> tuple[Tensor, Tensor]:
    """Blocks `(n_blocks, blocksize)` -> (values scaled into [-1, 1], absmax per block)."""
    absmax = blocks.abs().amax(dim=-1)  # (n_blocks,)
    # multiply by the reciprocal (as bitsandbytes does; a division could round differently), and give
    # an all-zero block a tiny absmax so that it scales to zeros instead of 0/0
    scaled = torch.clamp(blocks * (1.0 / absmax.clamp(min=1e-38)).unsqueeze(-1), -1, 1)
    return scaled, absmax


def pack_4bit(indices: Tensor) -> Tensor:
    """Pack 4-bit values two per byte: element $2i$ in the high nibble, element $2i+1$ in the low one.

    $$\\text{byte}_i = 16\\, q_{2i} + q_{2i+1}$$

    Args:
        indices: an integer tensor of an even number of values in $[0, 15]$ (any shape; flattened).

    Returns:
        A `(numel / 2,)` uint8 tensor.

    Raises:
        TypeError: if `indices` is not an integer tensor.
        ValueError: if a value is outside $[0, 15]$ or the number of values is odd.
    """
    if not isinstance(indices, Tensor) or indices.is_floating_point() or indices.is_complex() or indices.dtype == torch.bool:
        raise TypeError(f"indices must be an integer tensor, got {getattr(indices, 'dtype', type(indices).__name__)}")
    flat = indices.reshape(-1)
    if flat.numel() % 2:
        raise ValueError(f"indices must hold an even number of values, got {flat.numel()}")
    if flat.numel() and (flat.min() < 0 or flat.max() > 15):
        raise ValueError("indices must lie in [0, 15]")
    q = flat.to(torch.uint8)
    return (q[0::2] << 4) | q[1::2]  # (n/2,)


def unpack_4bit(packed: Tensor) -> Tensor:
    """Undo `pack_4bit`: a uint8 tensor of $n$ bytes gives $2n$ indices in $[0, 15]$ (int64).

    Raises:
        TypeError: if `packed` is not a uint8 tensor.
    """
    if not isinstance(packed, Tensor) or packed.dtype != torch.uint8:
        raise TypeError(f"packed must be a uint8 tensor, got {getattr(packed, 'dtype', type(packed).__name__)}")
    flat = packed.reshape(-1)
    out = torch.empty(2 * flat.numel(), dtype=torch.int64, device=flat.device)
    out[0::2] = flat >> 4  # high nibble first
    out[1::2] = flat & 0xF
    return out  # (2n,)


def quantize_nf4(x: Tensor, blocksize: int = 64) -> tuple[Tensor, Tensor]:
    """Blockwise absmax quantization to NF4, packed two values per byte (QLoRA, section 3).

    The flattened tensor is cut into blocks of `blocksize` numbers; each block $b$ is divided by its
    absolute maximum $c_b$ and every value is replaced by the index of the nearest NF4 level:

    $$x^{\\text{NF4}}_i = \\operatorname*{arg\\,min}_{k} \\left| q_k - \\frac{x_i}{c_b} \\right|,
    \\qquad c_b = \\max_{j \\in b} |x_j|.$$

    Equal to `bitsandbytes.functional.quantize_4bit(x, blocksize=blocksize, quant_type="nf4")` on CPU:
    the same packed bytes (`packed.flatten()`) and the same absmax (`state.absmax`).

    Args:
        x: a float32, float16 or bfloat16 tensor, any shape, whose number of elements is a multiple
            of `blocksize` and even.
        blocksize: numbers per absmax constant (64 in QLoRA).

    Returns:
        `(packed, absmax)`: packed `(numel / 2,)` uint8 and absmax `(numel / blocksize,)` float32.

    Raises:
        TypeError: if `x` is not a float32/float16/bfloat16 tensor or `blocksize` not an int.
        ValueError: if `x` is empty or not finite, or `blocksize` is not positive or does not divide
            `x.numel()`, or the number of elements is odd.
    """
    _check_input("x", x)
    n = x.numel()
    _check_blocks("x", n, blocksize)
    if n % 2:
        raise ValueError(f"x must have an even number of elements to pack two per byte, got {n}")
    scaled, absmax = _absmax_scale(x.reshape(-1, blocksize).float())  # (n/B, B), (n/B,)
    indices = _nearest(scaled.reshape(-1), nf4_code().to(x.device))  # (n,) in [0, 15]
    return pack_4bit(indices), absmax


def dequantize_nf4(
    packed: Tensor, absmax: Tensor, shape: tuple[int, ...] | torch.Size, blocksize: int = 64
) -> Tensor:
    """Undo `quantize_nf4`: $\\hat x_i = q_{k_i} \\cdot c_b$ (level times its block's absmax), in float32.

    Equal to `bitsandbytes.functional.dequantize_4bit` (float32 output) bit for bit, and to its
    pure-PyTorch path always; on an AVX-512 CPU its compiled CPU kernel (bitsandbytes 0.50) returns
    wrong values when the last dimension of `shape` is not a multiple of `blocksize`.

    Args:
        packed: `(numel / 2,)` uint8 from `quantize_nf4`.
        absmax: `(numel / blocksize,)` float32 constants.
        shape: the shape of the original tensor.
        blocksize: the block size used to quantize.

    Returns:
        A float32 tensor of shape `shape`.

    Raises:
        TypeError: if `packed` is not uint8 or `absmax` not float32.
        ValueError: if the sizes do not fit together.
    """
    indices = unpack_4bit(packed)  # (n,)
    _check_float_tensor("absmax", absmax)
    if absmax.dtype != torch.float32:
        raise TypeError(f"absmax must be float32, got {absmax.dtype}")
    n = torch.Size(shape).numel()
    _check_blocks("shape", n, blocksize)
    if indices.numel() != n:
        raise ValueError(f"packed holds {indices.numel()} values but shape {tuple(shape)} needs {n}")
    if absmax.numel() != n // blocksize:
        raise ValueError(f"absmax must hold {n // blocksize} constants (one per block), got {absmax.numel()}")
    levels = nf4_code().to(packed.device)[indices]  # (n,) in [-1, 1]
    return (levels.view(-1, blocksize) * absmax.reshape(-1, 1)).reshape(shape)


def _blocks_padded(values: Tensor, blocksize: int) -> Tensor:
    """`(n,)` -> `(ceil(n / blocksize), blocksize)`, the last block padded with zeros (no effect on absmax)."""
    return F.pad(values, (0, -values.numel() % blocksize)).view(-1, blocksize)


def double_quantize(absmax: Tensor, blocksize: int = 256) -> tuple[Tensor, Tensor, Tensor]:
    """Quantize the absmax constants themselves to 8 bits (QLoRA's double quantization).

    The constants $c_2$ are positive, so their mean $\\mu$ is subtracted first to centre them on zero;
    the result is quantized blockwise ($256$ constants per fp32 constant $c_1$) with the signed 8-bit
    dynamic code:

    $$c_2 - \\mu \\approx \\text{code}[k] \\cdot c_1 .$$

    Per parameter this stores $8/64 + 32/(64 \\cdot 256) \\approx 0.127$ bits of constants instead of
    $32/64 = 0.5$ (blocks of 64 weights), plus one fp32 mean per tensor. As in bitsandbytes, the
    last block may be shorter than `blocksize`.

    Mirrors `bitsandbytes.functional.quantize_4bit(..., compress_statistics=True)`: the same mean and
    second-level absmax, and the same 8-bit codes except, on some CPUs, for values within about
    $10^{-4}$ (relative to the block's absmax) of a midpoint between two levels, which bitsandbytes'
    compiled CPU kernel may round to the other neighbour. This function always rounds to the nearest.

    Args:
        absmax: float32 constants `(n_blocks,)` from `quantize_nf4`.
        blocksize: constants per second-level constant (256 in QLoRA).

    Returns:
        `(codes, absmax2, offset)`: codes `(n_blocks,)` uint8, absmax2 `(ceil(n_blocks / blocksize),)`
        float32 and the mean, a float32 scalar tensor.

    Raises:
        TypeError: if `absmax` is not a float32 tensor or `blocksize` not an int.
        ValueError: if `absmax` is not 1-D and non-empty, or `blocksize` is not positive.
    """
    _check_float_tensor("absmax", absmax)
    if absmax.dtype != torch.float32:
        raise TypeError(f"absmax must be float32, got {absmax.dtype}")
    if absmax.dim() != 1 or absmax.numel() == 0:
        raise ValueError(f"absmax must be 1-D and non-empty (one constant per block), got shape {tuple(absmax.shape)}")
    _positive_int("blocksize", blocksize)
    n = absmax.numel()
    offset = absmax.mean()
    scaled, absmax2 = _absmax_scale(_blocks_padded(absmax - offset, blocksize))  # (m, B2), (m,)
    codes = _nearest(scaled.reshape(-1)[:n], dynamic_code().to(absmax.device)).to(torch.uint8)  # (n,)
    return codes, absmax2, offset


def double_dequantize(codes: Tensor, absmax2: Tensor, offset: Tensor, blocksize: int = 256) -> Tensor:
    """Undo `double_quantize`: $c_2 \\approx \\text{code}[k] \\cdot c_1 + \\mu$, in float32.

    Raises:
        TypeError: if `codes` is not uint8 or `absmax2` not a floating tensor.
        ValueError: if the sizes do not fit together.
    """
    if not isinstance(codes, Tensor) or codes.dtype != torch.uint8:
        raise TypeError(f"codes must be a uint8 tensor, got {getattr(codes, 'dtype', type(codes).__name__)}")
    _check_float_tensor("absmax2", absmax2)
    _positive_int("blocksize", blocksize)
    n = codes.numel()
    if absmax2.numel() != -(-n // blocksize):
        raise ValueError(f"absmax2 must hold {-(-n // blocksize)} constants (one per block), got {absmax2.numel()}")
    values = dynamic_code().to(codes.device)[codes.reshape(-1).long()]  # (n,) in [-1, 1]
    return (_blocks_padded(values, blocksize) * absmax2.reshape(-1, 1)).reshape(-1)[:n] + offset


def bits_per_parameter(blocksize: int = 64, double_quant: bool = False, blocksize2: int = 256) -> float:
    """Average storage of one NF4 weight in bits, constants included (QLoRA, section 3).

    $$4 + \\frac{32}{B} \\quad\\text{or, with double quantization,}\\quad
    4 + \\frac{8}{B} + \\frac{32}{B \\cdot B_2},$$

    which is $4.5$ and $4.127$ bits for $B = 64$, $B_2 = 256$. The one fp32 mean per tensor is left out.

    Raises:
        TypeError: if a block size is not an int.
        ValueError: if a block size is not positive.
    """
    _positive_int("blocksize", blocksize)
    _positive_int("blocksize2", blocksize2)
    if double_quant:
        return 4 + 8 / blocksize + 32 / (blocksize * blocksize2)
    return 4 + 32 / blocksize


class NF4Linear(nn.Module):
    """A frozen linear layer whose weight is stored in NF4: the base layer of QLoRA.

    $$y = x\\, \\hat W^\\top + b, \\qquad \\hat W = \\operatorname{dequantize}(W^{\\text{NF4}}),$$

    The weight is kept as packed 4-bit indices plus (optionally double-quantized) absmax constants,
    in buffers, so it never receives a gradient; it is dequantized on every forward pass, and
    gradients flow through it to the input (and from there to LoRA adapters). QLoRA computes in
    bfloat16; this layer computes in the input's dtype. The bias, if any, stays in full precision
    and frozen.

    Build one with `NF4Linear.from_linear`; the constructor takes the already quantized parts.

    Args:
        in_features: input size $k$.
        out_features: output size $d$.
        packed: `(d * k / 2,)` uint8 from `quantize_nf4` of the `(d, k)` weight.
        absmax: `(d * k / blocksize,)` float32 constants from `quantize_nf4`.
        bias: optional `(d,)` bias, kept in full precision and frozen.
        blocksize: weights per absmax constant.
        double_quant: store the constants with `double_quantize` (8 bits each).
        blocksize2: constants per second-level constant.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        packed: Tensor,
        absmax: Tensor,
        bias: Tensor | None = None,
        *,
        blocksize: int = 64,
        double_quant: bool = False,
        blocksize2: int = 256,
    ) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.blocksize, self.blocksize2, self.double_quant = blocksize, blocksize2, double_quant
        self.register_buffer("packed", packed)  # (out * in / 2,) uint8, two 4-bit indices a byte
        if double_quant:
            codes, absmax2, offset = double_quantize(absmax, blocksize2)
            self.register_buffer("absmax_codes", codes)  # (n_blocks,) uint8
            self.register_buffer("absmax2", absmax2)  # (ceil(n_blocks / 256),) float32
            self.register_buffer("offset", offset)  # () float32
        else:
            self.register_buffer("absmax", absmax)  # (n_blocks,) float32
        self.bias = None if bias is None else nn.Parameter(bias.detach().clone(), requires_grad=False)

    @classmethod
    def from_linear(
        cls, linear: nn.Linear, blocksize: int = 64, double_quant: bool = True, blocksize2: int = 256
    ) -> NF4Linear:
        """Quantize an `nn.Linear`'s weight to NF4 (with double quantization by default, as QLoRA).

        Raises:
            TypeError: if `linear` is not an `nn.Linear`.
            ValueError: if `blocksize` does not divide the number of weights (see `quantize_nf4`).
        """
        if not isinstance(linear, nn.Linear):
            raise TypeError(f"linear must be an nn.Linear, got {type(linear).__name__}")
        packed, absmax = quantize_nf4(linear.weight.detach(), blocksize)
        return cls(linear.in_features, linear.out_features, packed, absmax, linear.bias, blocksize=blocksize,
                   double_quant=double_quant, blocksize2=blocksize2)

    def absmax_constants(self) -> Tensor:
        """The fp32 absmax constants, decoded from 8 bits if double-quantized."""
        if self.double_quant:
            return double_dequantize(self.absmax_codes, self.absmax2, self.offset, self.blocksize2)
        return self.absmax

    def dequantized_weight(self) -> Tensor:
        """$\\hat W$, `(out_features, in_features)` float32."""
        return dequantize_nf4(self.packed, self.absmax_constants(), (self.out_features, self.in_features),
                              self.blocksize)

    def storage_bytes(self) -> int:
        """Bytes of the stored weight: packed indices plus constants (the bias not included)."""
        names = ("packed", "absmax_codes", "absmax2", "offset") if self.double_quant else ("packed", "absmax")
        return sum(getattr(self, n).numel() * getattr(self, n).element_size() for n in names)

    def forward(self, x: Tensor) -> Tensor:
        """`(..., in_features)` -> `(..., out_features)`."""
        _check_float_tensor("x", x)
        if x.shape[-1] != self.in_features:
            raise ValueError(f"x must end in in_features={self.in_features}, got shape {tuple(x.shape)}")
        weight = self.dequantized_weight().to(x.dtype)  # (out, in), no gradient
        return F.linear(x, weight, None if self.bias is None else self.bias.to(x.dtype))

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, blocksize={self.blocksize}, "
                f"double_quant={self.double_quant}")


def quantize_linears(model: nn.Module, skip: tuple[str, ...] = ("lm_head",), **kwargs: object) -> list[str]:
    """Replace every `nn.Linear` of `model` (in place) with an `NF4Linear`, as QLoRA loads its base model.

    Modules whose name, or last name component, is in `skip` stay as they are (bitsandbytes keeps
    the output head in 16 bits by default). Embeddings and norms are not linear layers and stay too.

    Args:
        model: the model to change in place.
        skip: module names to leave in full precision.
        **kwargs: passed to `NF4Linear.from_linear` (`blocksize`, `double_quant`, `blocksize2`).

    Returns:
        The names of the replaced modules, in order.

    Raises:
        TypeError: if `model` is not an `nn.Module`.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    names = [name for name, m in model.named_modules()
             if isinstance(m, nn.Linear) and name not in skip and name.rsplit(".", 1)[-1] not in skip]
    for name in names:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name)
        setattr(parent, child, NF4Linear.from_linear(getattr(parent, child), **kwargs))  # type: ignore[arg-type]
    return names
