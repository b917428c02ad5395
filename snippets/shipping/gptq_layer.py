"""GPTQ and AWQ on one linear layer: the output error ||WX - ŴX||² against round-to-nearest, the
blocked Cholesky form of GPTQ against its naive inverse updates, and AWQ's search over alpha."""

# --8<-- [start:layer]
import torch

from genai_guide.gptq import (
    awq_quantize,
    gptq_hessian,
    gptq_quantize,
    gptq_quantize_naive,
    output_error,
    rtn_quantize,
)

torch.manual_seed(0)
d_in, d_out, tokens = 128, 64, 256
mix = torch.randn(d_in, d_in, dtype=torch.float64) / d_in**0.5
x = torch.randn(tokens, d_in, dtype=torch.float64) @ mix  # calibration inputs, correlated channels
x[:, :2] *= 10  # 2 of 128 input channels (about 1.5%) carry large activations: the salient ones
w = torch.randn(d_out, d_in, dtype=torch.float64) * 0.02  # (out, in), as nn.Linear stores it
h = gptq_hessian(x)  # H = 2 X X^T, (128, 128)
reference = output_error(w, torch.zeros_like(w), x)  # ||WX||², to report relative errors

print(f"{'bits':>4s} {'group':>5s} {'RTN':>9s} {'GPTQ':>9s} {'AWQ':>9s}  alpha")
for bits in (4, 3):
    for group_size in (None, 32):
        rtn = output_error(w, rtn_quantize(w, bits, group_size), x) / reference
        gptq = output_error(w, gptq_quantize(w, h, bits, group_size), x) / reference
        awq = awq_quantize(w, x, bits, group_size)
        awq_error = awq.errors[awq.alpha] / reference
        print(f"{bits:4d} {group_size or 'row':>5} {rtn:9.2e} {gptq:9.2e} {awq_error:9.2e}  {awq.alpha:.2f}")
        assert gptq < rtn and awq_error <= rtn
        assert awq.errors[0.0] == output_error(w, rtn_quantize(w, bits, group_size), x)  # alpha = 0 is RTN
# --8<-- [end:layer]

# --8<-- [start:blocked]
naive = gptq_quantize_naive(w, h, bits=4)  # explicit H^-1 updates, one column at a time
for block_size in (128, 16, 1):
    blocked = gptq_quantize(w, h, bits=4, block_size=block_size)  # Cholesky rows, lazy batch updates
    same = torch.allclose(blocked, naive, rtol=0, atol=1e-12)
    print(f"block size {block_size:3d}: equal to the naive version within 1e-12: {same}")
    assert same
# --8<-- [end:blocked]
