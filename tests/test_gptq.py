"""genai_guide.gptq: GPTQ and AWQ, proved by their properties in float64 (no reference runs on a CPU).

- a single input column: GPTQ is round-to-nearest (nothing is left to correct);
- GPTQ's layer output error ||WX - ŴX||² is below round-to-nearest's on the same weights, grid and
  group size, with correlated calibration inputs, for several seeds and 2, 3, 4 and 8 bits, and it
  grows as the bits fall;
- the Cholesky / lazy-batch version equals the naive inverse-update version to float64 rounding,
  for every block size;
- AWQ with alpha = 0 is round-to-nearest exactly, its chosen alpha is never worse, and it is
  strictly better when a few input channels carry large activations;
- bad input raises an error naming the argument.
"""

from __future__ import annotations

import pytest
import torch

from genai_guide.gptq import (
    awq_quantize,
    awq_scales,
    gptq_hessian,
    gptq_quantize,
    gptq_quantize_naive,
    output_error,
    rtn_quantize,
)
from genai_guide.quantization import fake_quantize

D64 = torch.float64


def _problem(seed: int, d_out: int = 24, d_in: int = 64, tokens: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    mix = torch.randn(d_in, d_in, generator=g, dtype=D64)
    x = torch.randn(tokens, d_in, generator=g, dtype=D64) @ mix / 8  # correlated input channels
    w = torch.randn(d_out, d_in, generator=g, dtype=D64) * 0.02
    return w, x


@pytest.mark.parametrize("symmetric", [True, False])
@pytest.mark.parametrize("bits", [2, 3, 4, 8])
def test_single_column_is_round_to_nearest(bits: int, symmetric: bool) -> None:
    g = torch.Generator().manual_seed(bits)
    w = torch.randn(7, 1, generator=g, dtype=D64)
    x = torch.randn(5, 1, generator=g, dtype=D64)
    q = gptq_quantize(w, gptq_hessian(x), bits, symmetric=symmetric)
    assert torch.equal(q, rtn_quantize(w, bits, symmetric=symmetric))
    # one weight, one input: the closed form is the nearest level of its own grid, here w itself
    one = gptq_quantize(torch.tensor([[0.3]], dtype=D64), torch.tensor([[2.0]], dtype=D64), bits)
    assert torch.allclose(one, torch.tensor([[0.3]], dtype=D64), rtol=0, atol=1e-15)


def test_diagonal_hessian_is_round_to_nearest() -> None:
    """Uncorrelated inputs: H^-1 is diagonal, so no error is moved and GPTQ is RTN on every column."""
    w, _ = _problem(0)
    h = torch.diag(torch.rand(w.shape[1], generator=torch.Generator().manual_seed(1), dtype=D64) + 0.5)
    for group_size in (None, 16):
        assert torch.equal(gptq_quantize(w, h, 3, group_size), rtn_quantize(w, 3, group_size))


@pytest.mark.parametrize("group_size", [None, 16])
@pytest.mark.parametrize("seed", range(4))
def test_gptq_beats_round_to_nearest_and_error_grows_as_bits_fall(seed: int, group_size: int | None) -> None:
    w, x = _problem(seed)
    h = gptq_hessian(x)
    errors = []
    for bits in (8, 4, 3, 2):
        gptq = output_error(w, gptq_quantize(w, h, bits, group_size), x).item()
        rtn = output_error(w, rtn_quantize(w, bits, group_size), x).item()
        assert gptq < 0.9 * rtn, (bits, gptq, rtn)
        errors.append(gptq)
    assert errors == sorted(errors) and errors[-1] > 10 * errors[0]  # 8 bits best, 2 bits worst


@pytest.mark.parametrize("symmetric", [True, False])
@pytest.mark.parametrize(("group_size", "block_size"), [(None, 128), (None, 1), (None, 10), (16, 16), (16, 7), (8, 128)])
def test_blocked_cholesky_equals_naive_updates(group_size: int | None, block_size: int, symmetric: bool) -> None:
    w, x = _problem(5)
    h = gptq_hessian(x)
    for bits in (2, 4):
        blocked = gptq_quantize(w, h, bits, group_size, block_size, symmetric=symmetric)
        naive = gptq_quantize_naive(w, h, bits, group_size, symmetric=symmetric)
        assert torch.allclose(blocked, naive, rtol=0, atol=1e-12)
        assert not torch.equal(blocked, rtn_quantize(w, bits, group_size, symmetric))  # it did correct something


def test_hessian_is_two_x_xt() -> None:
    _, x = _problem(2)
    assert torch.allclose(gptq_hessian(x), 2 * x.T @ x)
    w, _ = _problem(2)
    # the objective is the quadratic form of H/2 in the weight error, row by row
    e = torch.randn_like(w)
    assert torch.allclose(output_error(w, w - e, x), (e @ gptq_hessian(x) @ e.T).trace() / 2)


@pytest.mark.parametrize("group_size", [None, 16])
@pytest.mark.parametrize("bits", [3, 4])
def test_awq_alpha_zero_is_rtn_and_choice_is_never_worse(bits: int, group_size: int | None) -> None:
    w, x = _problem(3)
    x[:, :2] *= 20  # two salient input channels, as in the paper's observation
    assert torch.equal(awq_scales(x, 0.0), torch.ones(x.shape[1], dtype=D64))
    result = awq_quantize(w, x, bits, group_size)
    rtn = output_error(w, rtn_quantize(w, bits, group_size), x).item()
    assert result.errors[0.0] == rtn
    assert min(result.errors.values()) == result.errors[result.alpha]
    assert result.errors[result.alpha] < 0.9 * rtn and result.alpha > 0
    s = result.scales
    expect = fake_quantize(w * s, bits, group_size=group_size or w.shape[1]) / s
    assert torch.equal(result.weight, expect)
    assert torch.allclose(x @ result.weight.T, (x / s) @ (result.weight * s).T)  # X diag(s)^-1 folded elsewhere
    assert list(result.errors) == [i / 20 for i in range(20)]


def test_awq_scales_follow_activation_magnitude() -> None:
    x = torch.tensor([[1.0, -4.0, 16.0], [-1.0, 4.0, -16.0]], dtype=D64)
    s = awq_scales(x, 0.5)  # s_x = (1, 4, 16) -> (1, 2, 4), normalised by sqrt(1 * 4)
    assert torch.allclose(s, torch.tensor([0.5, 1.0, 2.0], dtype=D64))


def test_bad_input_names_the_argument() -> None:
    w, x = _problem(0)
    h = gptq_hessian(x)
    with pytest.raises(ValueError, match="bits"):
        gptq_quantize(w, h, 1)
    with pytest.raises(ValueError, match="bits"):
        awq_quantize(w, x, 9)
    with pytest.raises(TypeError, match="bits"):
        rtn_quantize(w, 4.0)
    with pytest.raises(ValueError, match="group_size"):
        gptq_quantize(w, h, 4, 10)
    with pytest.raises(ValueError, match="group_size"):
        awq_quantize(w, x, 4, 0)
    with pytest.raises(ValueError, match="block_size"):
        gptq_quantize(w, h, 4, block_size=0)
    with pytest.raises(ValueError, match="h must be"):
        gptq_quantize(w, h[:3, :3])
    with pytest.raises(ValueError, match="w must be 2-d"):
        gptq_quantize(w[0], h)
    with pytest.raises(ValueError, match="x has"):
        awq_quantize(w, x[:, :5])
    with pytest.raises(ValueError, match="positive definite"):
        gptq_quantize(w, -h)
    with pytest.raises(ValueError, match="positive definite"):
        gptq_quantize(w, torch.zeros_like(h))  # no calibration signal: dampening of 0 is 0
    with pytest.raises(ValueError, match="damp"):
        gptq_quantize(w, h, damp=-0.1)
    with pytest.raises(ValueError, match="alpha"):
        awq_scales(x, 1.5)
    with pytest.raises(TypeError, match="h must have the dtype"):
        gptq_quantize(w, h.float())
    with pytest.raises(ValueError, match="w must be finite"):
        gptq_quantize(w * float("nan"), h)
