"""Outlier features: a few huge activation columns ruin int8 activations, per tensor and per row alike;
LLM.int8()'s mixed-precision decomposition multiplies them in floating point and recovers the output."""

# --8<-- [start:data]
import torch

from genai_guide.quantization import (
    absmax_quantize,
    int8_matmul_with_outliers,
    vectorwise_int8_matmul,
)

torch.manual_seed(0)
tokens, d_in, d_out = 64, 512, 512
x = torch.randn(tokens, d_in, dtype=torch.float64)  # hidden states: ordinary features within about +-4
# A few feature dimensions (columns) hold huge values of one sign in about 3 tokens out of 4, the
# pattern LLM.int8() found in every layer of models from 6.7B parameters (section 4).
features = [38, 211, 400]
in_tokens = torch.rand(tokens, len(features), dtype=torch.float64) < 0.75
x[:, features] += in_tokens * -(20 + 40 * torch.rand(tokens, len(features), dtype=torch.float64))
w = torch.randn(d_out, d_in, dtype=torch.float64) * 0.02  # an nn.Linear weight (out, in)
y = x @ w.T  # full precision, (64, 512)


def report(label: str, y_hat: torch.Tensor) -> float:
    """Print and return the error of an approximate output, relative to the output's size."""
    err = ((y_hat - y).norm() / y.norm()).item()
    print(f"output error, {label:32s} {err:7.3%}")
    return err


print(f"largest |x|: {x.abs().max().item():.1f} in columns {features}; "
      f"elsewhere {x[:, [c for c in range(d_in) if c not in features]].abs().max().item():.1f}")
# --8<-- [end:data]

# --8<-- [start:int8]
q_x, s_x = absmax_quantize(x)  # one scale for all of x: the outliers set it
q_w, s_w = absmax_quantize(w, dim=-1)  # one scale per row of the weight
acc = q_x.to(torch.int32) @ q_w.to(torch.int32).T  # int8 x int8, accumulated exactly in int32
y_tensor = acc * (s_x * s_w.T)  # (64, 512): denormalise by both scales
ordinary = q_x[:, [c for c in range(d_in) if c not in features]]
print(f"int8 step for x: {s_x.item():.3f}; the ordinary features use {ordinary.unique().numel()} of 255 levels")
report("int8, one scale for x", y_tensor)
vectorwise = report("int8 vector-wise (row scales)", vectorwise_int8_matmul(x, w))
# --8<-- [end:int8]

# --8<-- [start:decomposition]
result = int8_matmul_with_outliers(x, w, threshold=6.0)  # LLM.int8(): columns with |x| >= 6 in float
cols = result.outlier_columns.tolist()
share = 1 - len(cols) / d_in
decomposed = report("LLM.int8() decomposition", result.output)
print(f"outlier columns found: {cols}; {share:.1%} of the inner dimension is multiplied in int8")
assert cols == features
assert torch.equal(result.outlier_part, x[:, cols] @ w[:, cols].T)  # the outlier part is plain float
assert torch.equal(result.output, result.outlier_part + result.int8_part)
regular = [c for c in range(d_in) if c not in cols]
int8_error = ((result.int8_part - x[:, regular] @ w[:, regular].T).norm() / y.norm()).item()
print(f"error of the int8 part against the float product of the ordinary columns: {int8_error:.3%}")
assert 10 * decomposed < vectorwise
# --8<-- [end:decomposition]
