"""genai_guide.nf4 against bitsandbytes 0.50 on CPU.

Exact (bit for bit): the NF4 code book (`QuantState.code`), the 8-bit dynamic code, the packed bytes,
the absmax constants, the dequantized tensor, and the decoding of a double-quantized state. Double
quantization itself: the same mean and second-level absmax exactly, and the same 8-bit codes except
near-ties (a value within 1e-4 of the midpoint between two levels), which bitsandbytes' compiled CPU
kernel may round to the other neighbour; there the codes differ by one level.
"""

from __future__ import annotations

import platform
from pathlib import Path

import bitsandbytes.functional as bnbf  # prints a harmless "Failed to load CPU gemm_4bit_forward" on stderr
import pytest
import torch
from torch import nn

from genai_guide.nf4 import (
    NF4_OFFSET,
    NF4Linear,
    bits_per_parameter,
    dequantize_nf4,
    double_dequantize,
    double_quantize,
    dynamic_code,
    nf4_code,
    pack_4bit,
    quantize_linears,
    quantize_nf4,
    unpack_4bit,
)

DTYPES = [torch.float32, torch.bfloat16, torch.float16]
SHAPES = [(64,), (8, 64), (96, 128), (3, 5, 256), (512, 256)]


def _weights(shape, seed, dtype=torch.float32, scale=0.02):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(*shape, generator=gen) * scale
    x.view(-1)[:3] = torch.tensor([0.0, scale, -scale])  # an exact zero and exact +-absmax candidates
    return x.to(dtype)


def test_code_books_equal_bitsandbytes():
    code = nf4_code()
    assert torch.equal(code, bnbf.get_4bit_type("nf4", device="cpu"))
    assert code.dtype == torch.float32 and code.shape == (16,)
    assert torch.all(code[1:] > code[:-1]) and code[7] == 0 and code[0] == -1 and code[15] == 1
    assert torch.equal(dynamic_code(), bnbf.create_dynamic_map())
    assert NF4_OFFSET == pytest.approx((2 - 1 / 30 - 1 / 32) / 2, abs=5e-8)


def test_code_book_is_built_from_normal_quantiles():
    """Each positive level is a quantile of N(0, 1), divided by the largest one (QLoRA, section 3)."""
    norm = torch.distributions.Normal(0.0, 1.0)
    code = nf4_code().double()
    top = norm.icdf(torch.tensor(NF4_OFFSET, dtype=torch.float64))
    p_pos = torch.linspace(NF4_OFFSET, 0.5, 9, dtype=torch.float64)[:-1]
    torch.testing.assert_close(code[8:].flip(0), norm.icdf(p_pos) / top, atol=1e-6, rtol=0)
    p_neg = torch.linspace(NF4_OFFSET, 0.5, 8, dtype=torch.float64)[:-1]
    torch.testing.assert_close(code[:7], -norm.icdf(p_neg) / top, atol=1e-6, rtol=0)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("shape, blocksize", [(s, b) for s in SHAPES for b in (32, 64, 128, 256)
                                              if torch.Size(s).numel() % b == 0], ids=str)
def test_quantize_equals_bitsandbytes_exactly(shape, blocksize, dtype):
    n = torch.Size(shape).numel()
    x = _weights(shape, seed=n + blocksize, dtype=dtype)
    packed, state = bnbf.quantize_4bit(x, blocksize=blocksize, quant_type="nf4")
    ours_packed, ours_absmax = quantize_nf4(x, blocksize)
    assert ours_packed.dtype == torch.uint8 and ours_packed.shape == (n // 2,)
    assert torch.equal(ours_packed, packed.flatten())
    assert torch.equal(ours_absmax, state.absmax)
    assert torch.equal(state.code, nf4_code())
    ours = dequantize_nf4(ours_packed, ours_absmax, x.shape, blocksize)
    assert ours.dtype == torch.float32 and ours.shape == x.shape
    if shape[-1] % blocksize == 0:
        # bitsandbytes 0.50's compiled CPU kernel, on an AVX-512 CPU, is right only when rows hold whole blocks
        assert torch.equal(ours.to(dtype), bnbf.dequantize_4bit(packed, state).reshape(shape))


def test_bitsandbytes_short_row_bug_depends_on_avx512():
    """The page's warning about rows that do not hold whole blocks: bitsandbytes' compiled CPU kernel takes
    a vectorised branch on an AVX-512 CPU that looks up block scales row by row (wrong here), and a
    scalar branch elsewhere that walks the flat blocks (right). If this fails, the warning is out of date."""
    cpuinfo = Path("/proc/cpuinfo")
    if platform.machine() not in ("x86_64", "AMD64") or not cpuinfo.exists():
        pytest.skip("the branch is chosen by the x86 CPU's flags, read from /proc/cpuinfo")
    has_avx512 = "avx512f" in cpuinfo.read_text().split()
    x = _weights((96, 128), seed=5)  # 128 values a row, blocks of 256
    packed, state = bnbf.quantize_4bit(x, blocksize=256, quant_type="nf4")
    ours = dequantize_nf4(*quantize_nf4(x, 256), x.shape, 256)
    assert torch.equal(bnbf.dequantize_4bit(packed, state).reshape(x.shape), ours) is not has_avx512


def test_dequantized_error_is_within_half_a_level_gap():
    x = _weights((64, 256), seed=1)
    packed, absmax = quantize_nf4(x)
    err = (dequantize_nf4(packed, absmax, x.shape) - x).abs().view(-1, 64)
    half_gap = (nf4_code().diff().max() / 2).item()
    assert torch.all(err <= half_gap * absmax[:, None] * (1 + 1e-6))
    assert torch.equal(dequantize_nf4(packed, absmax, x.shape).view(-1, 64).abs().amax(1), absmax)  # exact ends


def test_zero_block_and_exact_levels_round_trip():
    code = nf4_code()
    x = torch.cat([torch.zeros(64), code.repeat(4) * 3.0])  # a block of zeros; a block of exact levels * 3
    packed, absmax = quantize_nf4(x)
    assert absmax.tolist() == [0.0, 3.0]
    assert torch.equal(dequantize_nf4(packed, absmax, x.shape), x)
    assert torch.equal(unpack_4bit(packed)[64:], torch.arange(16).repeat(4))


def test_packing_puts_the_first_value_in_the_high_nibble():
    indices = torch.tensor([1, 2, 15, 0, 7, 8])
    assert pack_4bit(indices).tolist() == [0x12, 0xF0, 0x78]
    assert torch.equal(unpack_4bit(pack_4bit(indices)), indices)
    rand = torch.randint(0, 16, (1000,))
    assert torch.equal(unpack_4bit(pack_4bit(rand)), rand)


@pytest.mark.parametrize("n_blocks", [256, 512, 300, 1000, 7])
def test_double_quantization_equals_bitsandbytes_up_to_near_ties(n_blocks):
    x = _weights((n_blocks * 64,), seed=n_blocks)
    packed, state = bnbf.quantize_4bit(x, blocksize=64, quant_type="nf4", compress_statistics=True)
    _, absmax = quantize_nf4(x)
    codes, absmax2, offset = double_quantize(absmax)
    assert codes.dtype == torch.uint8 and codes.shape == (n_blocks,)
    assert torch.equal(offset, state.offset)
    assert torch.equal(absmax2, state.state2.absmax)
    theirs = state.absmax
    differ = (codes != theirs).nonzero().flatten()
    assert differ.numel() <= max(1, n_blocks // 100)
    code = dynamic_code()
    scaled = ((absmax - offset).view(-1) / absmax2.repeat_interleave(256)[:n_blocks])
    for i in differ.tolist():
        lo, hi = sorted((codes[i].item(), theirs[i].item()))
        assert hi - lo == 1  # neighbouring levels
        assert abs(scaled[i] - (code[lo] + code[hi]) / 2) < 1e-4  # and the value sits on their midpoint
    # decoding bitsandbytes' own codes gives exactly its dequantized weights
    decoded = double_dequantize(theirs, state.state2.absmax, state.offset)
    assert torch.equal(decoded, bnbf.dequantize_blockwise(theirs, state.state2) + state.offset)
    assert torch.equal(dequantize_nf4(packed.flatten(), decoded, x.shape).view(1, -1), bnbf.dequantize_4bit(packed, state))
    restored = double_dequantize(codes, absmax2, offset)
    assert ((restored - absmax).abs() / absmax).max() < 0.02


def test_bits_per_parameter_match_the_paper():
    assert bits_per_parameter(64) == 4.5  # 32/64 = 0.5 bits of constants
    assert bits_per_parameter(64, double_quant=True) - 4 == pytest.approx(0.127, abs=5e-4)  # QLoRA, section 3
    assert bits_per_parameter(64) - bits_per_parameter(64, double_quant=True) == pytest.approx(0.373, abs=5e-4)
    layer = NF4Linear.from_linear(nn.Linear(256, 256 * 16, bias=False), double_quant=True)  # 4096 blocks
    assert 8 * layer.storage_bytes() == 256 * 256 * 16 * bits_per_parameter(64, True) + 32  # + the fp32 mean
    plain = NF4Linear.from_linear(nn.Linear(256, 256, bias=False), double_quant=False)
    assert 8 * plain.storage_bytes() == 256 * 256 * 4.5


@pytest.mark.parametrize("double_quant", [False, True])
def test_nf4_linear_computes_with_the_dequantized_weight(double_quant):
    torch.manual_seed(0)
    linear = nn.Linear(128, 96)
    layer = NF4Linear.from_linear(linear, double_quant=double_quant)
    packed, state = bnbf.quantize_4bit(linear.weight.detach(), blocksize=64, quant_type="nf4",
                                       compress_statistics=double_quant)
    w = layer.dequantized_weight()
    if not double_quant:
        assert torch.equal(w, bnbf.dequantize_4bit(packed, state))
    torch.testing.assert_close(w, linear.weight.detach(), atol=0.16 * linear.weight.abs().max().item(), rtol=0)
    x = torch.randn(3, 4, 128, requires_grad=True)
    torch.testing.assert_close(layer(x), x @ w.T + linear.bias, atol=1e-6, rtol=0)
    layer(x).sum().backward()
    assert x.grad is not None and list(layer.parameters()) == [layer.bias] and not layer.bias.requires_grad


def test_quantize_linears_replaces_linear_layers_only():
    model = nn.Sequential(nn.Embedding(10, 64), nn.Linear(64, 64), nn.LayerNorm(64), nn.Linear(64, 10))
    names = quantize_linears(model, skip=("3",))
    assert names == ["1"] and isinstance(model[1], NF4Linear) and isinstance(model[3], nn.Linear)


@pytest.mark.parametrize(
    "x, blocksize, error, match",
    [
        ([0.1] * 64, 64, TypeError, "x must be a torch.Tensor"),
        (torch.ones(64, dtype=torch.int32), 64, TypeError, "x must have a floating dtype"),
        (torch.ones(64, dtype=torch.float64), 64, TypeError, "x must be float32"),
        (torch.ones(0), 64, ValueError, "x must not be empty"),
        (torch.tensor([1.0, float("nan")] * 32), 64, ValueError, "x must be finite"),
        (torch.ones(96), 64, ValueError, "blocksize 64 must divide"),
        (torch.ones(64), 0, ValueError, "blocksize must be >= 1"),
        (torch.ones(64), 64.0, TypeError, "blocksize must be an int"),
        (torch.ones(63), 63, ValueError, "even number of elements"),
    ],
)
def test_quantize_rejects_bad_input(x, blocksize, error, match):
    with pytest.raises(error, match=match):
        quantize_nf4(x, blocksize)


def test_other_functions_reject_bad_input():
    packed, absmax = quantize_nf4(torch.randn(128))
    with pytest.raises(ValueError, match="shape"):
        dequantize_nf4(packed, absmax, (64,))
    with pytest.raises(ValueError, match="absmax must hold 2"):
        dequantize_nf4(packed, absmax[:1], (128,))
    with pytest.raises(TypeError, match="absmax must be float32"):
        dequantize_nf4(packed, absmax.double(), (128,))
    with pytest.raises(TypeError, match="packed must be a uint8"):
        dequantize_nf4(packed.int(), absmax, (128,))
    with pytest.raises(ValueError, match="indices must lie in"):
        pack_4bit(torch.tensor([3, 16]))
    with pytest.raises(ValueError, match="even number"):
        pack_4bit(torch.tensor([3]))
    with pytest.raises(TypeError, match="indices must be an integer"):
        pack_4bit(torch.tensor([3.0, 1.0]))
    with pytest.raises(TypeError, match="absmax must be float32"):
        double_quantize(absmax.half())
    with pytest.raises(ValueError, match="absmax must be 1-D"):
        double_quantize(absmax.view(1, 2))
    with pytest.raises(ValueError, match="blocksize must be >= 1"):
        double_quantize(absmax, blocksize=0)
    codes, absmax2, offset = double_quantize(absmax)
    with pytest.raises(ValueError, match="absmax2 must hold 1"):
        double_dequantize(codes, torch.ones(2), offset)
    with pytest.raises(TypeError, match="codes must be a uint8"):
        double_dequantize(codes.long(), absmax2, offset)
    with pytest.raises(ValueError, match="offset"):
        nf4_code(offset=0.4)
    with pytest.raises(TypeError, match="linear must be an nn.Linear"):
        NF4Linear.from_linear(nn.Conv1d(4, 4, 1))
    layer = NF4Linear.from_linear(nn.Linear(64, 8))
    with pytest.raises(ValueError, match="x must end in in_features=64"):
        layer(torch.randn(2, 32))
    with pytest.raises(TypeError, match="blocksize2 must be an int"):
        bits_per_parameter(64, True, 256.0)
    with pytest.raises(TypeError, match="model must be an nn.Module"):
        quantize_linears("model")
