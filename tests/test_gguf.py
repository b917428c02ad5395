"""genai_guide.gguf_blocks against the `gguf` package (gguf-py of llama.cpp).

Exact (bit for bit): the Q8_0, Q4_0 and Q4_1 bytes against `gguf.quants.quantize` on random rows of
many scales, all-zero blocks, ties and float16/float64 input; the decoded values against
`gguf.quants.dequantize` for those formats and for Q4_K on random super-blocks; `read_gguf` against
`gguf.GGUFReader` on a file written by `gguf.GGUFWriter` (metadata of every value type, tensors of
four types, a custom alignment).
"""

from __future__ import annotations

import numpy as np
import pytest
from gguf import GGMLQuantizationType, GGUFReader, GGUFWriter
from gguf.quants import dequantize, quantize

from genai_guide.gguf_blocks import (
    BLOCK_BYTES,
    GGML_TYPES,
    dequantize_q4_0,
    dequantize_q4_1,
    dequantize_q4_k,
    dequantize_q8_0,
    q4_k_scales_mins,
    quantize_q4_0,
    quantize_q4_1,
    quantize_q8_0,
    read_gguf,
    round_half_away,
)

FORMATS = {
    "Q8_0": (quantize_q8_0, dequantize_q8_0),
    "Q4_0": (quantize_q4_0, dequantize_q4_0),
    "Q4_1": (quantize_q4_1, dequantize_q4_1),
}


def _rows(dtype=np.float32, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((48, 256)) * rng.uniform(1e-3, 50.0, (48, 1))
    x[0, :32] = 0.0  # an all-zero block: d = 0, codes 0 (Q8_0) or 8 (Q4_0)
    x[1, :32] = np.arange(32) / 4 - 4  # exact ties in x / d
    x[2, :32] = 1.5  # a constant block: Q4_1's range is 0
    x[3, 40] = -1e3  # an outlier with a negative sign
    x[4, :32] = -np.arange(32, dtype=np.float64)  # the largest magnitude negative, many values
    return x.astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.float64])
@pytest.mark.parametrize("name", list(FORMATS))
def test_quantize_is_byte_equal_to_gguf(name, dtype):
    quant, dequant = FORMATS[name]
    qtype = GGMLQuantizationType[name]
    for seed in range(3):
        x = _rows(dtype, seed)
        ours, ref = quant(x), quantize(x, qtype)
        assert ours.dtype == np.uint8 and ours.shape == ref.shape == (48, 256 // 32 * BLOCK_BYTES[name])
        assert np.array_equal(ours, ref)
        back = dequant(ours)
        assert back.dtype == np.float32 and np.array_equal(back, dequantize(ref, qtype))


@pytest.mark.parametrize("name", list(FORMATS))
def test_shapes_follow_gguf(name):
    quant, dequant = FORMATS[name]
    x = _rows()[:6].reshape(2, 3, 256)
    ours = quant(x)
    assert np.array_equal(ours, quantize(x, GGMLQuantizationType[name]))
    assert dequant(ours).shape == x.shape
    assert np.array_equal(quant(x[0, 0, :32]), quantize(x[0, 0, :32], GGMLQuantizationType[name]))  # 1-d


def test_round_trip_error_bounds():
    """Half a step, plus what storing d (and m) as float16 moves the largest code by."""
    x = _rows()[5:].astype(np.float32).reshape(-1, 32)
    d = np.abs(x).max(1, keepdims=True) / 127
    d16 = d.astype(np.float16).astype(np.float32)
    err = np.abs(dequantize_q8_0(quantize_q8_0(x)) - x)
    assert (err <= d / 2 + 127 * np.abs(d - d16) + 1e-6 * np.abs(x)).all()
    lo, hi = x.min(1, keepdims=True), x.max(1, keepdims=True)
    d, m16 = (hi - lo) / 15, lo.astype(np.float16).astype(np.float32)
    d16 = d.astype(np.float16).astype(np.float32)
    err = np.abs(dequantize_q4_1(quantize_q4_1(x)) - x)
    assert (err <= d / 2 + 15 * np.abs(d - d16) + np.abs(lo - m16) + 1e-6 * np.abs(x)).all()


def test_q4_0_signed_max_is_code_zero():
    x = np.linspace(-0.3, 0.2, 32, dtype=np.float32)
    x[9] = -0.8
    data = quantize_q4_0(x)
    assert data[2 + 9] & 0x0F == 0  # the signed maximum gets code 0, d = max / -8 > 0
    assert data[:2].view("<f2")[0] == np.float16(0.1)
    x[9] = 0.8  # positive maximum: d < 0, and the value gets code 0 again
    assert quantize_q4_0(x)[2 + 9] & 0x0F == 0 and quantize_q4_0(x)[:2].view("<f2")[0] < 0


def test_round_half_away_matches_c_roundf():
    v = np.array([0.5, 1.5, 2.5, -0.5, -2.5, 0.49999997, -0.49999997, 3.2, -3.7], dtype=np.float32)
    assert round_half_away(v).tolist() == [1.0, 2.0, 3.0, -1.0, -3.0, 0.0, -0.0, 3.0, -4.0]


def test_q4_k_decode_equals_gguf():
    rng = np.random.default_rng(1)
    data = rng.integers(0, 256, (5, 3 * 144), dtype=np.uint8)
    blocks = data.reshape(-1, 144)
    blocks[:, :4] = rng.uniform(-0.01, 0.01, (blocks.shape[0], 2)).astype("<f2").view(np.uint8)
    ours = dequantize_q4_k(data)
    assert ours.shape == (5, 3 * 256) and np.array_equal(ours, dequantize(data, GGMLQuantizationType.Q4_K))


def test_q4_k_scales_mins_round_trip():
    rng = np.random.default_rng(2)
    s, m = rng.integers(0, 64, (2, 10, 8), dtype=np.uint8)
    packed = np.zeros((10, 12), dtype=np.uint8)  # quantize_row_q4_K_ref's packing
    packed[:, 0:4] = s[:, :4] | ((s[:, 4:] >> 4) << 6)
    packed[:, 4:8] = m[:, :4] | ((m[:, 4:] >> 4) << 6)
    packed[:, 8:12] = (s[:, 4:] & 15) | ((m[:, 4:] & 15) << 4)
    s2, m2 = q4_k_scales_mins(packed)
    assert np.array_equal(s, s2) and np.array_equal(m, m2)


def test_q4_k_quantize_is_not_in_gguf_py():
    """The chapter says gguf-py decodes Q4_K but cannot make it; this fails when that changes."""
    with pytest.raises(NotImplementedError):
        quantize(np.ones((1, 256), dtype=np.float32), GGMLQuantizationType.Q4_K)


def _write(path, alignment: int | None = None):
    rng = np.random.default_rng(3)
    tensors = {
        "token_embd.weight": rng.standard_normal((10, 64)).astype(np.float32),
        "odd.bias": rng.standard_normal(7).astype(np.float16),  # 14 bytes: padding follows
        "blk.0.q8": rng.standard_normal((3, 64)).astype(np.float32),
        "blk.0.q40": rng.standard_normal((5, 32)).astype(np.float32),
        "blk.0.q41": rng.standard_normal((2, 96)).astype(np.float32),
    }
    types = {"blk.0.q8": "Q8_0", "blk.0.q40": "Q4_0", "blk.0.q41": "Q4_1"}
    w = GGUFWriter(path, "llama")
    if alignment is not None:
        w.add_custom_alignment(alignment)
    w.add_uint8("t.u8", 200)
    w.add_int8("t.i8", -5)
    w.add_uint16("t.u16", 60000)
    w.add_int16("t.i16", -30000)
    w.add_uint32("t.u32", 4_000_000_000)
    w.add_int32("t.i32", -2_000_000_000)
    w.add_float32("t.f32", 0.5)
    w.add_bool("t.bool", True)
    w.add_string("t.str", "héllo")
    w.add_uint64("t.u64", 2**63)
    w.add_int64("t.i64", -(2**62))
    w.add_float64("t.f64", 1 / 3)
    w.add_array("t.arr_i", [1, 2, 3])
    w.add_array("t.arr_s", ["a", "", "ç"])
    for name, value in tensors.items():
        if name in types:
            qtype = GGMLQuantizationType[types[name]]
            w.add_tensor(name, quantize(value, qtype), raw_dtype=qtype)
        else:
            w.add_tensor(name, value)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return tensors, types


@pytest.mark.parametrize("alignment", [None, 64])
def test_read_gguf_agrees_with_gguf_reader(tmp_path, alignment):
    path = tmp_path / "m.gguf"
    tensors, types = _write(path, alignment)
    reader = GGUFReader(path)
    ours = read_gguf(path)
    assert ours == read_gguf(path.read_bytes())
    assert ours.version == reader.fields["GGUF.version"].contents() == 3
    assert ours.tensor_count == len(reader.tensors) == len(tensors)
    assert ours.kv_count == reader.fields["GGUF.kv_count"].contents() == len(ours.metadata)
    expected = {k: f.contents() for k, f in reader.fields.items() if not k.startswith("GGUF.")}
    assert ours.metadata.keys() == expected.keys()
    for key, value in expected.items():
        assert ours.metadata[key] == pytest.approx(value) if isinstance(value, float) else ours.metadata[key] == value
    assert ours.metadata["t.f32"] == 0.5 and ours.metadata["t.str"] == "héllo" and ours.metadata["t.bool"] is True
    assert ours.alignment == (alignment or 32) == reader.alignment
    assert ours.data_offset == reader.data_offset and ours.data_offset % ours.alignment == 0
    raw = path.read_bytes()
    for info, t in zip(ours.tensors, reader.tensors, strict=True):
        assert info.name == t.name and info.dims == tuple(t.shape.tolist()) and info.type_id == int(t.tensor_type)
        start = ours.data_offset + info.offset
        assert start == t.data_offset and info.offset % ours.alignment == 0
        kind, per_block, block_bytes = GGML_TYPES[info.type_id]
        n = int(np.prod(info.dims)) // per_block * block_bytes
        assert bytes(raw[start : start + n]) == t.data.tobytes()
        if info.name in types:
            rows = np.frombuffer(raw, np.uint8, n, start).reshape(info.dims[-1] if len(info.dims) > 1 else 1, -1)
            ours_values = FORMATS[kind][1](rows)
            assert np.array_equal(ours_values, dequantize(t.data, t.tensor_type))
            assert np.abs(ours_values - tensors[info.name]).max() < 0.5


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: quantize_q8_0([1.0] * 32), TypeError, "x must be a numpy.ndarray"),
        (lambda: quantize_q4_0(np.ones(32, dtype=np.int32)), TypeError, "x must have a floating dtype"),
        (lambda: quantize_q4_1(np.ones(30, dtype=np.float32)), ValueError, "multiple of 32"),
        (lambda: quantize_q8_0(np.zeros(0, dtype=np.float32)), ValueError, "non-empty"),
        (lambda: quantize_q8_0(np.full(32, np.nan, dtype=np.float32)), ValueError, "finite"),
        (lambda: dequantize_q8_0(np.zeros(34, dtype=np.int8)), TypeError, "data must be uint8"),
        (lambda: dequantize_q4_0(np.zeros(17, dtype=np.uint8)), ValueError, "multiple of 18"),
        (lambda: dequantize_q4_k(np.zeros(145, dtype=np.uint8)), ValueError, "multiple of 144"),
        (lambda: q4_k_scales_mins(np.zeros(12, dtype=np.uint8)), ValueError, r"scales must have shape \(n, 12\)"),
        (lambda: q4_k_scales_mins(np.zeros((1, 12), dtype=np.int16)), TypeError, "scales must be a uint8"),
        (lambda: read_gguf(b"GGML" + bytes(20)), ValueError, "not a GGUF file"),
        (lambda: read_gguf(b"GGUF" + (9).to_bytes(4, "little") + bytes(16)), ValueError, "version 9"),
        (lambda: read_gguf(42), TypeError, "source must be a path or bytes"),
    ],
)
def test_bad_input_is_rejected(call, error, match):
    with pytest.raises(error, match=match):
        call()
