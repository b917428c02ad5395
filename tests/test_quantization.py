"""genai_guide.quantization against PyTorch's quantization and bitsandbytes' LLM.int8() code on CPU.

What is equal, exactly:
- the scales and zero points, to `torch.ao.quantization.observer.MinMaxObserver` and
  `PerChannelMinMaxObserver` `calculate_qparams()` (symmetric with the range [-127, 127], and affine);
- the symmetric (absmax) integers, to `torch.quantize_per_tensor(...).int_repr()` and
  `torch.quantize_per_channel(...).int_repr()` (qint8, zero point 0), ties and all;
- the affine (zero-point) integers, to the same functions (quint8) everywhere except at ties:
  PyTorch adds the zero point before rounding, in float32 (`nearbyint(x * (1/S) + Z)`), we after
  (`round(x * (1/S)) + Z`, as TFLite and PyTorch's own fake quantization do), so where
  `x * (1/S) + Z` is exactly a half-integer in float32 the two differ by one level, and only there;
- the round trip, to `torch.fake_quantize_per_tensor_affine` / `torch.fake_quantize_per_channel_affine`
  for every width from 2 to 8 bits, ties included;
- the outlier columns of LLM.int8(), to bitsandbytes' `int8_vectorwise_quant(threshold=6.0)`; its
  row-wise int8 codes except at near-ties (bitsandbytes multiplies by 127 / absmax, we by the
  reciprocal of absmax / 127).
The decomposition is exact on the outlier columns (checked on values whose products are exact) and
within the int8 rounding bound on the rest.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch.ao.quantization.observer import MinMaxObserver, PerChannelMinMaxObserver

from genai_guide.nf4 import bits_per_parameter
from genai_guide.quantization import (
    EPS,
    absmax_quantize,
    dequantize,
    fake_quantize,
    group_quantize,
    int8_matmul_with_outliers,
    integer_range,
    outlier_columns,
    vectorwise_int8_matmul,
    zeropoint_quantize,
)
from genai_guide.sizing import bits_per_weight, quantized_weight_bytes, weight_bytes

# torch 2.13 deprecates the quantized dtypes (qint8, quint8) that torch.quantize_per_* create, and
# torch.jit.script_method, which its observers still use
pytestmark = [pytest.mark.filterwarnings(r"ignore:torch\.quantize_per_tensor:UserWarning"),
              pytest.mark.filterwarnings(r"ignore:.*torch\.jit\.script_method:DeprecationWarning")]

SEEDS = range(12)


def _data(seed: int, shape=(24, 40)) -> torch.Tensor:
    """Rows of different scales and offsets, with exact half-step values mixed in to create ties."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(*shape, generator=gen) * torch.rand(shape[0], 1, generator=gen) * 3
    x += (seed % 3 - 1) * torch.rand(shape[0], 1, generator=gen)  # some rows one-sided
    x[seed % shape[0]] = 0.0  # an all-zero row: the EPS floor of the scale
    return x


def _with_ties(x: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """x with 6 more columns of exact multiples (k + 1/2) * scale, inside its range (same scale)."""
    ties = (torch.arange(6) - 3 + 0.5) * scale.reshape(-1, 1)
    return torch.cat([x, ties.expand(x.shape[0], 6).clamp(x.amin(1, keepdim=True), x.amax(1, keepdim=True))], 1)


# --- scales and zero points: PyTorch's observers ---------------------------------------------------

@pytest.mark.parametrize("seed", SEEDS)
def test_symmetric_scales_equal_minmax_observers(seed):
    x = _data(seed)
    _, scale = absmax_quantize(x)
    observer = MinMaxObserver(dtype=torch.qint8, qscheme=torch.per_tensor_symmetric, quant_min=-127, quant_max=127)
    observer(x)
    torch_scale, torch_zero = observer.calculate_qparams()
    assert torch.equal(scale.reshape(1), torch_scale) and torch_zero.item() == 0
    _, scale = absmax_quantize(x, dim=1)  # one scale per row = channel axis 0
    observer = PerChannelMinMaxObserver(ch_axis=0, dtype=torch.qint8, qscheme=torch.per_channel_symmetric,
                                        quant_min=-127, quant_max=127)
    observer(x)
    torch_scale, torch_zero = observer.calculate_qparams()
    assert torch.equal(scale.flatten(), torch_scale) and not torch_zero.any()
    assert scale.flatten()[seed % x.shape[0]] == EPS  # the all-zero row


@pytest.mark.parametrize("seed", SEEDS)
def test_affine_scales_and_zero_points_equal_minmax_observers(seed):
    x = _data(seed)
    _, scale, zero = zeropoint_quantize(x)
    observer = MinMaxObserver(dtype=torch.quint8, qscheme=torch.per_tensor_affine)
    observer(x)
    torch_scale, torch_zero = observer.calculate_qparams()
    assert torch.equal(scale.reshape(1), torch_scale) and torch.equal(zero.reshape(1), torch_zero)
    for axis in (0, 1):  # our dim is where the min and max are taken: the other axis
        _, scale, zero = zeropoint_quantize(x, dim=1 - axis)
        observer = PerChannelMinMaxObserver(ch_axis=axis, dtype=torch.quint8, qscheme=torch.per_channel_affine)
        observer(x)
        torch_scale, torch_zero = observer.calculate_qparams()
        assert torch.equal(scale.flatten(), torch_scale) and torch.equal(zero.flatten(), torch_zero.long())


def test_torch_default_symmetric_observer_divides_by_127_5():
    """The chapter's pitfall: PyTorch's default qint8 range is [-128, 127], so its symmetric scale is
    max|x| / 127.5, not max|x| / 127; only quant_min=-127 gives the absmax scale."""
    x = _data(3)
    observer = MinMaxObserver(dtype=torch.qint8, qscheme=torch.per_tensor_symmetric)
    observer(x)
    assert torch.equal(observer.calculate_qparams()[0], (x.abs().max() / 127.5).reshape(1))
    assert not torch.equal(observer.calculate_qparams()[0], absmax_quantize(x)[1].reshape(1))


# --- integers: torch.quantize_per_tensor / quantize_per_channel -------------------------------------

@pytest.mark.parametrize("seed", SEEDS)
def test_absmax_integers_equal_torch_quantize_exactly(seed):
    x = _data(seed)
    q, scale = absmax_quantize(x)
    x = _with_ties(x, scale)  # same absmax (ties are inside the range), so the same scale
    q, scale = absmax_quantize(x)
    assert q.dtype == torch.int8
    assert torch.equal(q, torch.quantize_per_tensor(x, scale.item(), 0, torch.qint8).int_repr())
    q, scale = absmax_quantize(x, dim=1)
    x = _with_ties(x, scale)
    q, scale = absmax_quantize(x, dim=1)
    zeros = torch.zeros(x.shape[0], dtype=torch.int64)
    assert torch.equal(q, torch.quantize_per_channel(x, scale.flatten().double(), zeros, 0, torch.qint8).int_repr())


def _torch_rounds_after_adding(x, scale, zero, qmax=255):
    """PyTorch's quantize_per_tensor / _per_channel on CPU: nearbyint(x * (1/S) + Z) in float32."""
    return torch.clamp(torch.round(x * (1.0 / scale) + zero.float()), 0, qmax).to(torch.uint8)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("per_channel", [False, True], ids=["per_tensor", "per_channel"])
def test_zeropoint_integers_equal_torch_quantize_except_at_ties(seed, per_channel):
    dim = 1 if per_channel else None
    x = _data(seed)
    x = _with_ties(x, zeropoint_quantize(x, dim=dim)[1])
    q, scale, zero = zeropoint_quantize(x, dim=dim)
    assert q.dtype == torch.uint8
    if per_channel:
        theirs = torch.quantize_per_channel(x, scale.flatten().double(), zero.flatten(), 0, torch.quint8).int_repr()
    else:
        theirs = torch.quantize_per_tensor(x, scale.item(), zero.item(), torch.quint8).int_repr()
    assert torch.equal(theirs, _torch_rounds_after_adding(x, scale, zero))  # our model of PyTorch holds
    differ = q != theirs
    before_rounding = x * (1.0 / scale) + zero.float()  # what PyTorch rounds, in float32
    is_tie = (before_rounding - before_rounding.floor()) == 0.5
    assert torch.all(is_tie[differ]), "outside exact ties the integers must be equal"
    assert torch.all((q.int() - theirs.int()).abs()[differ] == 1)
    if (zero % 2 == 1).any():  # with an odd zero point, half to even lands on the other neighbour
        assert differ.any(), "the constructed ties should show the difference"


def test_rounding_is_half_to_even_and_multiplies_by_the_reciprocal():
    """Fails if rounding went half away from zero, or if x were divided by the scale: on values
    constructed next to half-steps, x / S and x * (1/S) round differently, and PyTorch multiplies."""
    x = torch.tensor([0.5, 1.5, 2.5, -0.5, -2.5, 3.5, 127.0])  # absmax 127: scale exactly 1
    q, scale = absmax_quantize(x)
    assert scale.item() == 1.0 and q.tolist() == [0, 2, 2, 0, -2, 4, 127]
    gen = torch.Generator().manual_seed(0)
    base = torch.rand(4000, generator=gen) + 0.1
    cases = 0
    for row in base.split(8):
        scale = row.abs().amax() / 127
        near_ties = (torch.randint(-126, 126, (8,), generator=gen) + 0.5) * scale  # rounded in float32
        x = torch.cat([row.abs().amax().reshape(1), near_ties])
        q, s = absmax_quantize(x)
        divided = torch.round(x / s)
        cases += int((divided != q.float()).sum())
        assert torch.equal(q, torch.quantize_per_tensor(x, s.item(), 0, torch.qint8).int_repr())
    assert cases > 0, "the data must contain values where dividing and multiplying round differently"


# --- the round trip: fake quantization -------------------------------------------------------------

@pytest.mark.parametrize("bits", range(2, 9))
@pytest.mark.parametrize("symmetric", [True, False], ids=["absmax", "zeropoint"])
def test_fake_quantize_equals_torch_fake_quantize(bits, symmetric):
    qmin, qmax = integer_range(bits, symmetric)
    for seed in SEEDS:
        x = _data(seed)
        if symmetric:
            _, scale = absmax_quantize(x, bits)
            zero = torch.zeros((), dtype=torch.int64)
        else:
            _, scale, zero = zeropoint_quantize(x, bits)
        x = _with_ties(x, scale)  # inside the range: the scale does not change
        theirs = torch.fake_quantize_per_tensor_affine(x, scale.item(), int(zero), qmin, qmax)
        assert torch.equal(fake_quantize(x, bits, symmetric=symmetric), theirs)
        if symmetric:
            _, scale = absmax_quantize(x, bits, dim=1)
            zero = torch.zeros(x.shape[0], 1, dtype=torch.int64)
        else:
            _, scale, zero = zeropoint_quantize(x, bits, dim=1)
        theirs = torch.fake_quantize_per_channel_affine(x, scale.flatten(), zero.flatten().int(), 0, qmin, qmax)
        assert torch.equal(fake_quantize(x, bits, symmetric=symmetric, dim=1), theirs)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.bfloat16, torch.float16], ids=str)
def test_round_trip_error_is_at_most_half_a_step_and_zero_is_exact(dtype):
    x = _data(5).to(dtype)
    x[0, 0] = 0.0
    q, scale = absmax_quantize(x, 8, dim=-1)
    error = (dequantize(q, scale) - x.to(scale.dtype)).abs()
    assert torch.all(error <= scale / 2 * (1 + 1e-6))
    q, scale, zero = zeropoint_quantize(x, 4)
    assert dequantize(q, scale, zero)[0, 0] == 0  # zero is exactly representable (Jacob et al. 2018)
    assert torch.all((dequantize(q, scale, zero) - x.to(scale.dtype)).abs() <= scale / 2 * (1 + 1e-6))
    assert fake_quantize(x, 4, group_size=8).dtype == dtype


def test_integer_ranges():
    assert integer_range(8) == (-127, 127) and integer_range(8, symmetric=False) == (0, 255)
    assert integer_range(4) == (-7, 7) and integer_range(2) == (-1, 1) and integer_range(3, False) == (0, 7)


# --- group-wise quantization -----------------------------------------------------------------------

def test_group_quantize_is_per_row_absmax_of_each_group():
    w = _data(7, shape=(6, 64))
    q, scale, zero = group_quantize(w, bits=4, group_size=16)
    assert q.shape == (6, 4, 16) and scale.shape == (6, 4, 1) and zero is None
    blocks = w.reshape(24, 16)
    assert torch.equal(scale.flatten(), torch.clamp(blocks.abs().amax(1) / 7, min=EPS))
    assert torch.equal(q.reshape(24, 16), absmax_quantize(blocks, 4, dim=1)[0])
    assert torch.equal(fake_quantize(w, 4, group_size=64), fake_quantize(w, 4, dim=-1))  # g = k: per row
    q, scale, zero = group_quantize(w, bits=3, group_size=32, symmetric=False)
    assert q.dtype == torch.uint8 and zero.shape == (6, 2, 1) and int(q.max()) <= 7
    assert torch.equal(dequantize(q, scale, zero).reshape(w.shape), fake_quantize(w, 3, symmetric=False, group_size=32))


def test_finer_granularity_gives_smaller_error_on_rows_of_different_scales():
    gen = torch.Generator().manual_seed(1)
    w = torch.randn(64, 256, generator=gen, dtype=torch.float64) * torch.logspace(-2, 0, 64, dtype=torch.float64)[:, None]
    errors = [(fake_quantize(w, 4, **how) - w).square().mean() for how in ({}, {"dim": -1}, {"group_size": 32})]
    assert errors[0] > errors[1] > errors[2]


# --- LLM.int8(): vector-wise int8 and the mixed-precision decomposition ------------------------------

def _exact_case(seed: int):
    """Activations and weights whose products and sums are exact in float64: integers and 1/64ths."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randint(-4, 5, (16, 48), generator=gen).double() / 2  # ordinary features, |x| <= 2
    cols = sorted(torch.randperm(48, generator=gen)[:3].tolist())
    x[:, cols] = -torch.randint(20, 61, (16, 3), generator=gen).double()  # outlier features
    w = torch.randint(-64, 65, (24, 48), generator=gen).double() / 64
    return x, w, cols


@pytest.mark.parametrize("seed", range(5))
def test_decomposition_is_exact_on_outliers_and_within_int8_error_elsewhere(seed):
    x, w, cols = _exact_case(seed)
    result = int8_matmul_with_outliers(x, w, threshold=6.0)
    assert result.outlier_columns.tolist() == cols
    exact = (x[:, cols] * 64).long() @ (w[:, cols] * 64).long().T  # integers: no rounding anywhere
    assert torch.equal(result.outlier_part, exact.double() / 64**2)
    assert torch.equal(result.output, result.outlier_part + result.int8_part)
    regular = [c for c in range(48) if c not in cols]
    xr, wr = x[:, regular], w[:, regular]
    s_x = xr.abs().amax(1, keepdim=True) / 127  # (16, 1)
    s_w = wr.abs().amax(1, keepdim=True) / 127  # (24, 1)
    # |x_hat w_hat - x w| <= |x| |w_hat - w| + |x_hat - x| |w_hat|, each rounding error <= step / 2
    bound = xr.abs() @ (s_w / 2).expand_as(wr).T + (s_x / 2).expand_as(xr) @ (wr.abs() + s_w / 2).T
    error = (result.int8_part - xr @ wr.T).abs()
    assert torch.all(error <= bound * (1 + 1e-9)) and error.max() > 0
    plain = vectorwise_int8_matmul(x, w)  # without the decomposition the outliers coarsen every row
    assert (plain - x @ w.T).abs().max() > 10 * error.max()


def test_decomposition_limits():
    x, w, _ = _exact_case(0)
    none = int8_matmul_with_outliers(x, w, threshold=math.inf)
    assert none.outlier_columns.numel() == 0 and not none.outlier_part.any()
    assert torch.equal(none.output, vectorwise_int8_matmul(x, w))
    everything = int8_matmul_with_outliers(x, w, threshold=1e-9)  # every column is an outlier
    assert everything.outlier_columns.numel() == 48 and not everything.int8_part.any()
    assert torch.equal(everything.output, x @ w.T)
    batched = int8_matmul_with_outliers(x.reshape(2, 8, 48), w)  # leading dims are rows (tokens)
    assert batched.output.shape == (2, 8, 24)
    assert torch.equal(batched.output.reshape(16, 24), int8_matmul_with_outliers(x, w).output)


def test_vectorwise_int8_matmul_uses_exact_integer_accumulation():
    gen = torch.Generator().manual_seed(2)
    x, w = torch.rand(8, 8192, generator=gen) + 0.5, torch.rand(16, 8192, generator=gen) + 0.5  # same signs
    q_x, s_x = absmax_quantize(x, dim=-1)
    q_w, s_w = absmax_quantize(w, dim=-1)
    acc = q_x.long() @ q_w.long().T  # int64: exact, and past float32's 2**24 here
    assert acc.abs().max() > 2**24
    expected = (acc.double() * (s_x.double() * s_w.double().T)).float()
    assert torch.equal(vectorwise_int8_matmul(x, w), expected)
    assert vectorwise_int8_matmul(x.half(), w.half()).dtype == torch.float32


@pytest.mark.parametrize("dtype", [torch.float16, torch.float32], ids=str)
def test_outlier_columns_and_row_codes_match_bitsandbytes(dtype):
    import bitsandbytes.functional as bnbf  # prints a harmless "Failed to load CPU gemm_4bit_forward" on stderr

    for seed in range(10):
        gen = torch.Generator().manual_seed(seed)
        x = torch.randn(64, 256, generator=gen)  # ordinary features: |x| < 6
        x[:, [100 + seed, 77]] *= 20  # outlier features
        x[3, 9] = 6.0  # exactly at the threshold: bitsandbytes counts it (|x| >= 6)
        x[4, 10] = 5.99
        x = x.to(dtype)
        _, _, cols = bnbf.int8_vectorwise_quant(x.clone(), threshold=6.0)
        assert torch.equal(outlier_columns(x, 6.0), cols.long())
        assert 9 in cols.tolist() and 10 not in cols.tolist()
        theirs, row_absmax, _ = bnbf.int8_vectorwise_quant(x.clone(), threshold=0.0)
        q, _ = absmax_quantize(x, 8, dim=-1)
        assert torch.equal(row_absmax, x.float().abs().amax(1))
        differ = q != theirs
        before_rounding = x.float() * (127.0 / row_absmax[:, None])  # what bitsandbytes rounds
        near_tie = ((before_rounding - before_rounding.floor()) - 0.5).abs() < 1e-4
        assert torch.all(near_tie[differ]) and torch.all((q.int() - theirs.int()).abs()[differ] == 1)


# --- memory: genai_guide.sizing ---------------------------------------------------------------------

def test_bits_per_weight_counts_the_group_scales():
    assert bits_per_weight(4, 128) == 4.125 and bits_per_weight(4, 128, zero_point_bits=16) == 4.25
    assert bits_per_weight(3, 128) == 3.125 and bits_per_weight(8) == 8.0
    assert bits_per_weight(4, 64, scale_bits=32) == bits_per_parameter(64) == 4.5  # NF4's fp32 absmax
    for bits, dtype in ((16, "bf16"), (8, "int8"), (4, "int4")):
        assert quantized_weight_bytes(6_738_415_616, bits) == weight_bytes(6_738_415_616, dtype)
    w = _data(1, shape=(32, 256))
    q, scale, zero = group_quantize(w, bits=4, group_size=128, symmetric=False)
    stored_bits = q.numel() * 4 + scale.numel() * 16 + zero.numel() * 16
    assert stored_bits / 8 == quantized_weight_bytes(w.numel(), 4, 128, zero_point_bits=16)


@pytest.mark.parametrize("call, error, name", [
    (lambda: bits_per_weight(0), ValueError, "bits"),
    (lambda: bits_per_weight(4.5), TypeError, "bits"),
    (lambda: bits_per_weight(4, 0), ValueError, "group_size"),
    (lambda: bits_per_weight(4, 128, scale_bits=-1), ValueError, "scale_bits"),
    (lambda: quantized_weight_bytes(-1, 4), ValueError, "n_params"),
])
def test_sizing_rejects_bad_input(call, error, name):
    with pytest.raises(error, match=name):
        call()


# --- bad input ---------------------------------------------------------------------------------------

X = torch.randn(4, 8)
W = torch.randn(3, 8)


@pytest.mark.parametrize("call, error, name", [
    (lambda: absmax_quantize(X, bits=1), ValueError, "bits"),
    (lambda: absmax_quantize(X, bits=9), ValueError, "bits"),
    (lambda: absmax_quantize(X, bits=8.0), TypeError, "bits"),
    (lambda: absmax_quantize(X, bits=True), TypeError, "bits"),
    (lambda: zeropoint_quantize(X, bits=16), ValueError, "bits"),
    (lambda: absmax_quantize(X.long()), TypeError, "x"),
    (lambda: absmax_quantize([1.0, 2.0]), TypeError, "x"),
    (lambda: absmax_quantize(torch.empty(0)), ValueError, "x"),
    (lambda: absmax_quantize(torch.tensor([1.0, math.nan])), ValueError, "finite"),
    (lambda: zeropoint_quantize(torch.tensor([1.0, math.inf])), ValueError, "finite"),
    (lambda: absmax_quantize(X, dim=2), ValueError, "dim"),
    (lambda: absmax_quantize(X, dim=1.0), TypeError, "dim"),
    (lambda: group_quantize(X, 4, group_size=3), ValueError, "group_size"),
    (lambda: group_quantize(X, 4, group_size=0), ValueError, "group_size"),
    (lambda: group_quantize(X, 4, group_size=4.0), TypeError, "group_size"),
    (lambda: fake_quantize(X, 4, dim=0, group_size=4), ValueError, "dim or group_size"),
    (lambda: dequantize(X, torch.tensor(1.0)), TypeError, "q"),
    (lambda: dequantize(X.long(), 1.0), TypeError, "scale"),
    (lambda: vectorwise_int8_matmul(X, W.T), ValueError, "in_features"),
    (lambda: vectorwise_int8_matmul(X, W[0]), ValueError, "weight"),
    (lambda: vectorwise_int8_matmul(X, W.double()), TypeError, "weight"),
    (lambda: int8_matmul_with_outliers(X, W, threshold=0.0), ValueError, "threshold"),
    (lambda: int8_matmul_with_outliers(X, W, threshold=math.nan), ValueError, "threshold"),
    (lambda: int8_matmul_with_outliers(X, W, threshold="6"), TypeError, "threshold"),
    (lambda: outlier_columns(torch.tensor(7.0)), ValueError, "x"),
])
def test_bad_input_is_rejected_by_name(call, error, name):
    with pytest.raises(error, match=name):
        call()
