"""GGUF files and llama.cpp's block quantization formats, from the bytes up.

The chapter [GGUF and llama.cpp](../../shipping/gguf.md) explains every function. A GGUF file is a
header, typed metadata key-value pairs, one info record per tensor (name, dimensions, type, offset)
and the tensor data, each tensor starting at a multiple of the alignment. Quantized tensors are
stored as independent blocks of consecutive values of a row:

1. `quantize_q8_0` / `dequantize_q8_0`: 32 values as an fp16 scale $d$ and 32 int8,
   $\\hat x = d\\,q$ with $d = \\max|x| / 127$ (34 bytes, 8.5 bits per weight);
2. `quantize_q4_0` / `dequantize_q4_0`: 32 values as an fp16 $d$ and 16 bytes of 4-bit codes,
   $\\hat x = d\\,(q - 8)$, with $d = m / {-8}$ where $m$ is the value of largest magnitude, sign
   included (18 bytes, 4.5 bits per weight);
3. `quantize_q4_1` / `dequantize_q4_1`: 32 values as fp16 $d$ and $m$ and 16 bytes of codes,
   $\\hat x = d\\,q + m$ with $m = \\min x$, $d = (\\max x - \\min x) / 15$ (20 bytes, 5 bits);
4. `dequantize_q4_k` and `q4_k_scales_mins`: the Q4_K "k-quant" super-block of 256 values,
   eight sub-blocks of 32 with 6-bit scales and mins under fp16 `d` and `dmin` (144 bytes, 4.5 bits);
5. `read_gguf`: a minimal GGUF parser (`struct` only) returning the header, metadata and tensor infos.

Every array follows the layout of `gguf.quants`: quantizing maps float values of shape `(..., k)`,
`k` a multiple of the block size, to bytes of shape `(..., k / 32 * block_bytes)`. The tests check
the bytes against `gguf.quants.quantize`, the values against `gguf.quants.dequantize` and the parser
against `gguf.GGUFReader`. The formats are defined by ggml's reference C code (`ggml-quants.c`,
`quantize_row_q4_0_ref` and friends) and the GGUF specification (`docs/gguf.md` in ggml-org/ggml).
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

__all__ = [
    "BLOCK_BYTES",
    "BLOCK_SIZE",
    "GGML_TYPES",
    "GGUF_DEFAULT_ALIGNMENT",
    "SUPER_BLOCK_SIZE",
    "GGUFFile",
    "GGUFTensorInfo",
    "dequantize_q4_0",
    "dequantize_q4_1",
    "dequantize_q4_k",
    "dequantize_q8_0",
    "q4_k_scales_mins",
    "quantize_q4_0",
    "quantize_q4_1",
    "quantize_q8_0",
    "read_gguf",
    "round_half_away",
]

#: Values per block of the legacy formats Q8_0, Q4_0 and Q4_1 (ggml's `QK8_0`, `QK4_0`, `QK4_1`).
BLOCK_SIZE = 32
#: Values per super-block of the k-quants (ggml's `QK_K`).
SUPER_BLOCK_SIZE = 256
#: Bytes per block: Q8_0 = 2 + 32, Q4_0 = 2 + 16, Q4_1 = 2 + 2 + 16, Q4_K = 2 + 2 + 12 + 128.
BLOCK_BYTES = {"Q8_0": 34, "Q4_0": 18, "Q4_1": 20, "Q4_K": 144}
#: The ggml type ids of the tensor types this module reads, with (values per block, bytes per block).
GGML_TYPES: dict[int, tuple[str, int, int]] = {
    0: ("F32", 1, 4),
    1: ("F16", 1, 2),
    2: ("Q4_0", 32, 18),
    3: ("Q4_1", 32, 20),
    8: ("Q8_0", 32, 34),
    12: ("Q4_K", 256, 144),
}
#: Tensor data starts at multiples of this many bytes unless the metadata key `general.alignment` says otherwise.
GGUF_DEFAULT_ALIGNMENT = 32


def _check_values(name: str, x: object, block: int = BLOCK_SIZE) -> np.ndarray:
    """A non-empty, finite float array whose last dimension is a multiple of `block`, as float32."""
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, got {type(x).__name__}")
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"{name} must have a floating dtype, got {x.dtype}")
    if x.ndim == 0 or x.size == 0:
        raise ValueError(f"{name} must be a non-empty array with at least one dimension")
    if x.shape[-1] % block:
        raise ValueError(f"{name}'s last dimension must be a multiple of {block}, got {x.shape[-1]}")
    x = x.astype(np.float32, copy=False)  # ggml quantizes from float32, whatever the source dtype
    if not np.isfinite(x).all():
        raise ValueError(f"{name} must be finite (after conversion to float32)")
    return x


def _check_bytes(name: str, data: object, block_bytes: int) -> np.ndarray:
    """A non-empty uint8 array whose last dimension is a multiple of `block_bytes`."""
    if not isinstance(data, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, got {type(data).__name__}")
    if data.dtype != np.uint8:
        raise TypeError(f"{name} must be uint8 bytes, got {data.dtype}")
    if data.ndim == 0 or data.size == 0:
        raise ValueError(f"{name} must be a non-empty array with at least one dimension")
    if data.shape[-1] % block_bytes:
        raise ValueError(f"{name}'s last dimension must be a multiple of {block_bytes} bytes, got {data.shape[-1]}")
    return data


def _blocks(x: np.ndarray, size: int) -> np.ndarray:
    return x.reshape(-1, size)  # (n_blocks, size)


def _rows(blocks: np.ndarray, shape: tuple[int, ...], per_block_in: int, per_block_out: int) -> np.ndarray:
    return blocks.reshape(*shape[:-1], shape[-1] // per_block_in * per_block_out)


def _fp16_bytes(v: np.ndarray) -> np.ndarray:
    """(n, 1) float32 -> (n, 2) bytes of the float16 nearest to it, little-endian."""
    return v.astype("<f2").view(np.uint8)


def _fp16_values(b: np.ndarray) -> np.ndarray:
    """(n, 2) bytes -> (n, 1) float32 value of the little-endian float16 they hold."""
    return np.ascontiguousarray(b).view("<f2").astype(np.float32)


def _pack_nibbles(q: np.ndarray) -> np.ndarray:
    """(n, 32) codes 0..15 -> (n, 16) bytes: value j in the low nibble of byte j, value j + 16 in its high nibble."""
    return q[:, :16] | (q[:, 16:] << np.uint8(4))


def _unpack_nibbles(b: np.ndarray) -> np.ndarray:
    """(n, 16) bytes -> (n, 32) codes: the low nibbles are values 0..15, the high nibbles values 16..31."""
    return np.concatenate([b & np.uint8(0x0F), b >> np.uint8(4)], axis=-1)


def round_half_away(v: np.ndarray) -> np.ndarray:
    """Round to nearest, ties away from zero, exactly like C's `roundf` (which ggml's Q8_0 uses).

    Computed as $\\operatorname{sign}(v)\\,(\\lfloor a \\rfloor + \\lfloor 2(a - \\lfloor a \\rfloor) \\rfloor)$
    with $a = |v|$: every step is exact in floating point, whereas $\\lfloor a + 0.5 \\rfloor$ rounds
    $a = 0.49999997$ up to 1 because $a + 0.5$ is not representable in float32. NumPy's own
    `np.round` rounds ties to even ($2.5 \\to 2$), which is not what ggml does.
    """
    a = np.abs(v)
    floored = np.floor(a)
    return np.sign(v) * (floored + np.floor(2 * (a - floored)))


def _reciprocal(d: np.ndarray) -> np.ndarray:
    """$1/d$, and 0 where $d = 0$ (an all-zero block), in float32: ggml multiplies by it."""
    with np.errstate(divide="ignore"):
        return np.where(d == 0, np.float32(0), np.float32(1) / d)


def quantize_q8_0(x: np.ndarray) -> np.ndarray:
    """Q8_0: each block of 32 values as an fp16 scale and 32 signed bytes.

    $$d = \\frac{\\max_i |x_i|}{127}, \\qquad q_i = \\operatorname{round}\\!\\left(x_i \\cdot \\frac{1}{d}\\right)
    \\in [-127, 127], \\qquad \\hat x_i = d\\, q_i$$

    with rounding half away from zero (`round_half_away`) and $d$ stored as float16 after the codes
    are computed with the float32 $d$, as ggml's `quantize_row_q8_0_ref` does. Block layout:
    `d` (2 bytes, little-endian float16), then `q_0 ... q_31` (int8), 34 bytes for 32 values.

    Args:
        x: float values `(..., k)`, `k` a multiple of 32; computed in float32.

    Returns:
        uint8 bytes `(..., k / 32 * 34)`, equal to `gguf.quants.quantize(x, GGMLQuantizationType.Q8_0)`.

    Raises:
        TypeError: `x` is not a floating numpy array.
        ValueError: `x` is empty, not finite, or its last dimension is not a multiple of 32.
    """
    x = _check_values("x", x)
    blocks = _blocks(x, BLOCK_SIZE)
    d = np.abs(blocks).max(axis=1, keepdims=True) / np.float32(127)  # (n, 1) float32
    q = round_half_away(blocks * _reciprocal(d)).astype(np.int8)  # (n, 32)
    out = np.concatenate([_fp16_bytes(d), q.view(np.uint8)], axis=1)  # (n, 34)
    return _rows(out, x.shape, BLOCK_SIZE, BLOCK_BYTES["Q8_0"])


def dequantize_q8_0(data: np.ndarray) -> np.ndarray:
    """Read Q8_0 blocks back: $\\hat x_i = d\\, q_i$, in float32.

    Args:
        data: uint8 bytes `(..., n * 34)`, as made by `quantize_q8_0`.

    Returns:
        float32 values `(..., n * 32)`, equal to `gguf.quants.dequantize(data, GGMLQuantizationType.Q8_0)`.

    Raises:
        TypeError: `data` is not a uint8 numpy array.
        ValueError: `data` is empty or its last dimension is not a multiple of 34.
    """
    data = _check_bytes("data", data, BLOCK_BYTES["Q8_0"])
    blocks = _blocks(data, BLOCK_BYTES["Q8_0"])
    d = _fp16_values(blocks[:, :2])  # (n, 1)
    q = np.ascontiguousarray(blocks[:, 2:]).view(np.int8).astype(np.float32)  # (n, 32)
    return _rows(q * d, data.shape, BLOCK_BYTES["Q8_0"], BLOCK_SIZE)


def quantize_q4_0(x: np.ndarray) -> np.ndarray:
    """Q4_0: each block of 32 values as an fp16 scale and 32 four-bit codes with the offset 8.

    $$d = \\frac{m}{-8}, \\qquad q_i = \\min\\!\\left(15,\\ \\left\\lfloor x_i \\cdot \\frac{1}{d} + 8.5 \\right\\rfloor\\right),
    \\qquad \\hat x_i = d\\,(q_i - 8),$$

    where $m$ is the value of largest magnitude *with its sign*. The value $m$ itself gets the code
    $q = 0$ and is read back as $-8d = m$ (up to the float16 rounding of $d$); the other end of the range reaches only $7|d|$, so
    values of the opposite sign near $|m|$ are clamped to code 15. This is ggml's
    `quantize_row_q4_0_ref` (truncation after adding 8.5 rounds half up). Block layout: `d` (2 bytes,
    float16), then 16 bytes whose low nibbles hold codes 0-15 and high nibbles codes 16-31: 18 bytes.

    Args:
        x: float values `(..., k)`, `k` a multiple of 32; computed in float32.

    Returns:
        uint8 bytes `(..., k / 32 * 18)`, equal to `gguf.quants.quantize(x, GGMLQuantizationType.Q4_0)`.

    Raises:
        TypeError: `x` is not a floating numpy array.
        ValueError: `x` is empty, not finite, or its last dimension is not a multiple of 32.
    """
    x = _check_values("x", x)
    blocks = _blocks(x, BLOCK_SIZE)
    where = np.abs(blocks).argmax(axis=1)[:, None]  # the first value of largest magnitude
    m = np.take_along_axis(blocks, where, axis=1)  # (n, 1), signed
    d = m / np.float32(-8)
    q = np.trunc(blocks * _reciprocal(d) + np.float32(8.5)).astype(np.uint8).clip(0, 15)  # (n, 32)
    out = np.concatenate([_fp16_bytes(d), _pack_nibbles(q)], axis=1)  # (n, 18)
    return _rows(out, x.shape, BLOCK_SIZE, BLOCK_BYTES["Q4_0"])


def dequantize_q4_0(data: np.ndarray) -> np.ndarray:
    """Read Q4_0 blocks back: $\\hat x_i = d\\,(q_i - 8)$, in float32.

    Args:
        data: uint8 bytes `(..., n * 18)`, as made by `quantize_q4_0`.

    Returns:
        float32 values `(..., n * 32)`, equal to `gguf.quants.dequantize(data, GGMLQuantizationType.Q4_0)`.

    Raises:
        TypeError: `data` is not a uint8 numpy array.
        ValueError: `data` is empty or its last dimension is not a multiple of 18.
    """
    data = _check_bytes("data", data, BLOCK_BYTES["Q4_0"])
    blocks = _blocks(data, BLOCK_BYTES["Q4_0"])
    d = _fp16_values(blocks[:, :2])
    q = _unpack_nibbles(blocks[:, 2:]).astype(np.float32) - np.float32(8)
    return _rows(d * q, data.shape, BLOCK_BYTES["Q4_0"], BLOCK_SIZE)


def quantize_q4_1(x: np.ndarray) -> np.ndarray:
    """Q4_1: each block of 32 values as an fp16 scale, an fp16 minimum and 32 four-bit codes.

    $$\\begin{gathered}
    d = \\frac{\\max_i x_i - \\min_i x_i}{15}, \\qquad \\hat x_i = d\\, q_i + m, \\\\
    q_i = \\min\\!\\left(15,\\ \\left\\lfloor (x_i - \\min_j x_j) \\cdot \\frac{1}{d} + 0.5 \\right\\rfloor\\right),
    \\end{gathered}$$

    with $m = \\min_j x_j$ stored as float16: the zero-point scheme with the offset stored as a real
    number instead of an integer (ggml's `quantize_row_q4_1_ref`). Block layout: `d`, `m` (2 bytes
    each, float16), then the 16 bytes of nibbles as in Q4_0: 20 bytes.

    Args:
        x: float values `(..., k)`, `k` a multiple of 32; computed in float32.

    Returns:
        uint8 bytes `(..., k / 32 * 20)`, equal to `gguf.quants.quantize(x, GGMLQuantizationType.Q4_1)`.

    Raises:
        TypeError: `x` is not a floating numpy array.
        ValueError: `x` is empty, not finite, or its last dimension is not a multiple of 32.
    """
    x = _check_values("x", x)
    blocks = _blocks(x, BLOCK_SIZE)
    lo = blocks.min(axis=1, keepdims=True)
    d = (blocks.max(axis=1, keepdims=True) - lo) / np.float32(15)
    q = np.trunc((blocks - lo) * _reciprocal(d) + np.float32(0.5)).astype(np.uint8).clip(0, 15)
    out = np.concatenate([_fp16_bytes(d), _fp16_bytes(lo), _pack_nibbles(q)], axis=1)  # (n, 20)
    return _rows(out, x.shape, BLOCK_SIZE, BLOCK_BYTES["Q4_1"])


def dequantize_q4_1(data: np.ndarray) -> np.ndarray:
    """Read Q4_1 blocks back: $\\hat x_i = d\\, q_i + m$, in float32.

    Args:
        data: uint8 bytes `(..., n * 20)`, as made by `quantize_q4_1`.

    Returns:
        float32 values `(..., n * 32)`, equal to `gguf.quants.dequantize(data, GGMLQuantizationType.Q4_1)`.

    Raises:
        TypeError: `data` is not a uint8 numpy array.
        ValueError: `data` is empty or its last dimension is not a multiple of 20.
    """
    data = _check_bytes("data", data, BLOCK_BYTES["Q4_1"])
    blocks = _blocks(data, BLOCK_BYTES["Q4_1"])
    d = _fp16_values(blocks[:, :2])
    m = _fp16_values(blocks[:, 2:4])
    q = _unpack_nibbles(blocks[:, 4:]).astype(np.float32)
    return _rows(d * q + m, data.shape, BLOCK_BYTES["Q4_1"], BLOCK_SIZE)


def q4_k_scales_mins(scales: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unpack the 12 bytes of a Q4_K super-block into 8 six-bit scales and 8 six-bit mins.

    Bytes 0-3 hold scales 0-3 in their low 6 bits, bytes 4-7 mins 0-3; scales 4-7 and mins 4-7 take
    their low 4 bits from the nibbles of bytes 8-11 and their high 2 bits from the top bits of
    bytes 0-3 and 4-7 (ggml's `get_scale_min_k4`):

    - $j < 4$: $s_j = b_j \\,\\&\\, 63$, $\\ m_j = b_{j+4} \\,\\&\\, 63$;
    - $j \\ge 4$: $s_j = (b_{j+4} \\,\\&\\, 15) \\mid ((b_{j-4} \\gg 6) \\ll 4)$,
      $\\ m_j = (b_{j+4} \\gg 4) \\mid ((b_j \\gg 6) \\ll 4)$.

    Args:
        scales: uint8 `(n, 12)`, the scale bytes of `n` super-blocks.

    Returns:
        `(s, m)`: two uint8 arrays `(n, 8)` with values 0..63.

    Raises:
        TypeError: `scales` is not a uint8 numpy array.
        ValueError: `scales` is not of shape `(n, 12)`.
    """
    if not isinstance(scales, np.ndarray) or scales.dtype != np.uint8:
        raise TypeError(f"scales must be a uint8 numpy.ndarray, got {getattr(scales, 'dtype', type(scales).__name__)}")
    if scales.ndim != 2 or scales.shape[1] != 12:
        raise ValueError(f"scales must have shape (n, 12), got {scales.shape}")
    b = scales.astype(np.uint8)
    s = np.empty((b.shape[0], 8), dtype=np.uint8)
    m = np.empty((b.shape[0], 8), dtype=np.uint8)
    for j in range(4):
        s[:, j] = b[:, j] & 63
        m[:, j] = b[:, j + 4] & 63
    for j in range(4, 8):
        s[:, j] = (b[:, j + 4] & 15) | ((b[:, j - 4] >> 6) << 4)
        m[:, j] = (b[:, j + 4] >> 4) | ((b[:, j] >> 6) << 4)
    return s, m


def dequantize_q4_k(data: np.ndarray) -> np.ndarray:
    """Read Q4_K super-blocks: 256 values in 8 sub-blocks of 32, two levels of scales.

    $$\\hat x_{j,i} = d \\cdot s_j \\cdot q_{j,i} \\;-\\; d_{min} \\cdot m_j, \\qquad j = 0..7,\\ i = 0..31,$$

    with fp16 super-block scales $d$, $d_{min}$, six-bit sub-block scales $s_j$ and mins $m_j$
    (`q4_k_scales_mins`) and four-bit codes $q_{j,i}$. Layout (144 bytes): `d`, `dmin` (float16),
    12 bytes of scales and mins, then 128 bytes of codes in four chunks of 32 bytes, chunk $c$ holding
    sub-block $2c$ in its low nibbles and sub-block $2c + 1$ in its high nibbles (ggml's
    `dequantize_row_q4_K`). $(2 \\cdot 16 + 12 \\cdot 8 + 256 \\cdot 4) / 256 = 4.5$ bits per value.

    Args:
        data: uint8 bytes `(..., n * 144)`.

    Returns:
        float32 values `(..., n * 256)`, equal to `gguf.quants.dequantize(data, GGMLQuantizationType.Q4_K)`.

    Raises:
        TypeError: `data` is not a uint8 numpy array.
        ValueError: `data` is empty or its last dimension is not a multiple of 144.
    """
    data = _check_bytes("data", data, BLOCK_BYTES["Q4_K"])
    blocks = _blocks(data, BLOCK_BYTES["Q4_K"])  # (n, 144)
    n = blocks.shape[0]
    d = _fp16_values(blocks[:, 0:2])  # (n, 1)
    dmin = _fp16_values(blocks[:, 2:4])
    s, m = q4_k_scales_mins(np.ascontiguousarray(blocks[:, 4:16]))  # (n, 8) each
    chunks = blocks[:, 16:].reshape(n, 4, 32)  # 4 chunks of 32 bytes
    q = np.stack([chunks & np.uint8(0x0F), chunks >> np.uint8(4)], axis=2).reshape(n, 8, 32)  # sub-block 2c, 2c+1
    scale = (d * s.astype(np.float32))[:, :, None]  # (n, 8, 1)
    offset = (dmin * m.astype(np.float32))[:, :, None]
    out = (scale * q.astype(np.float32) - offset).reshape(n, SUPER_BLOCK_SIZE)
    return _rows(out, data.shape, BLOCK_BYTES["Q4_K"], SUPER_BLOCK_SIZE)


class GGUFTensorInfo(NamedTuple):
    """One tensor info record of a GGUF file."""

    name: str
    #: ggml's order: innermost (contiguous) dimension first, the reverse of the numpy shape.
    dims: tuple[int, ...]
    #: The ggml type id (0 F32, 1 F16, 2 Q4_0, 3 Q4_1, 8 Q8_0, 12 Q4_K, ...).
    type_id: int
    #: Bytes from the start of the data section; a multiple of the alignment.
    offset: int


class GGUFFile(NamedTuple):
    """What `read_gguf` finds: the header fields, the metadata, the tensor infos and where data starts."""

    version: int
    tensor_count: int
    kv_count: int
    metadata: dict[str, Any]
    tensors: list[GGUFTensorInfo]
    alignment: int
    data_offset: int


# GGUFValueType -> struct format of the scalar types; 7 is bool (one byte), 8 string, 9 array.
_SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}


class _Cursor:
    """Little-endian reads from a bytes object, advancing an offset."""

    def __init__(self, buf: bytes) -> None:
        self.buf, self.pos = buf, 0

    def read(self, fmt: str) -> Any:
        (value,) = struct.unpack_from("<" + fmt, self.buf, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return value

    def string(self) -> str:
        n = self.read("Q")  # uint64 length, then UTF-8 bytes without a terminator
        value = self.buf[self.pos : self.pos + n].decode("utf-8")
        self.pos += n
        return value

    def value(self, vtype: int) -> Any:
        if vtype in _SCALARS:
            return self.read(_SCALARS[vtype])
        if vtype == 8:
            return self.string()
        if vtype == 9:  # array: element type, count, elements
            etype, count = self.read("I"), self.read("Q")
            return [self.value(etype) for _ in range(count)]
        raise ValueError(f"unknown GGUF value type {vtype} at byte {self.pos - 4}")


def read_gguf(source: str | Path | bytes) -> GGUFFile:
    """Parse a GGUF file's header, metadata and tensor infos with `struct` (little-endian, version 2 or 3).

    Layout: the magic `b"GGUF"`, `uint32` version, `uint64` tensor count, `uint64` metadata count;
    then each metadata pair (string key, `uint32` value type, value); then each tensor info (string
    name, `uint32` number of dimensions, `uint64` per dimension, `uint32` ggml type, `uint64` offset);
    then padding up to a multiple of `general.alignment` (default 32), where the data section starts.
    A string is a `uint64` length and UTF-8 bytes; an array a `uint32` element type, a `uint64` count
    and the elements.

    Args:
        source: a path to a `.gguf` file, or its bytes.

    Returns:
        A `GGUFFile`; the data of tensor `t` is at `data_offset + t.offset`.

    Raises:
        TypeError: `source` is not a path or bytes.
        ValueError: the magic is not `GGUF`, the version is not 2 or 3, or a value type is unknown.
    """
    if isinstance(source, (str, Path)):
        buf = Path(source).read_bytes()
    elif isinstance(source, (bytes, bytearray, memoryview)):
        buf = bytes(source)
    else:
        raise TypeError(f"source must be a path or bytes, got {type(source).__name__}")
    if buf[:4] != b"GGUF":
        raise ValueError(f"source is not a GGUF file: it starts with {buf[:4]!r}, not b'GGUF'")
    cur = _Cursor(buf)
    cur.pos = 4
    version = cur.read("I")
    if version not in (2, 3):
        raise ValueError(f"source has GGUF version {version}; this parser reads versions 2 and 3")
    tensor_count, kv_count = cur.read("Q"), cur.read("Q")
    metadata: dict[str, Any] = {}
    for _ in range(kv_count):
        key = cur.string()
        metadata[key] = cur.value(cur.read("I"))
    tensors = []
    for _ in range(tensor_count):
        name = cur.string()
        n_dims = cur.read("I")
        dims = tuple(cur.read("Q") for _ in range(n_dims))
        tensors.append(GGUFTensorInfo(name, dims, cur.read("I"), cur.read("Q")))
    alignment = int(metadata.get("general.alignment", GGUF_DEFAULT_ALIGNMENT))
    data_offset = -(-cur.pos // alignment) * alignment  # round up to a multiple of the alignment
    return GGUFFile(version, tensor_count, kv_count, metadata, tensors, alignment, data_offset)
