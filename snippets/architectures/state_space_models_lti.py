"""A linear SSM discretized by zero-order hold (and S4's bilinear rule), run as a recurrence and a convolution."""

import torch

from genai_guide.ssm import (
    discretize_bilinear,
    discretize_zoh,
    ssm_convolutional,
    ssm_kernel,
    ssm_recurrent,
)

torch.manual_seed(0)
N, L, delta = 4, 12, 0.1

# --8<-- [start:discretize]
a = -torch.rand(N, dtype=torch.float64) - 0.5  # a stable diagonal A: every a_n < 0
B, C = torch.randn(N, dtype=torch.float64), torch.randn(N, dtype=torch.float64)
A_bar, B_bar = discretize_zoh(a, B, delta)  # elementwise formulas
print("A_bar diagonal:", [round(v, 4) for v in A_bar.tolist()])

# The same system with A as a dense matrix: A_bar = matrix_exp(delta * A)
Q, _ = torch.linalg.qr(torch.randn(N, N, dtype=torch.float64))  # a random rotation
A_dense = Q @ torch.diag(a) @ Q.T  # same eigenvalues, no longer diagonal
A_bar_dense, B_bar_dense = discretize_zoh(A_dense, Q @ B, delta)
assert torch.allclose(A_bar_dense, torch.linalg.matrix_exp(delta * A_dense), atol=1e-12)
assert torch.allclose(A_bar_dense, Q @ torch.diag(A_bar) @ Q.T, atol=1e-12)  # change of basis
assert torch.allclose(B_bar_dense, Q @ B_bar, atol=1e-12)

# S4's own rule, the bilinear method: (I - dA/2)^-1 (I + dA/2) and (I - dA/2)^-1 dB
A_bil, B_bil = discretize_bilinear(a, B, delta)
gap = max((A_bil - A_bar).abs().max().item(), (B_bil - B_bar).abs().max().item())
assert gap < delta**3  # the two rules agree to second order in delta
print(f"bilinear vs zero-order hold: largest difference {gap:.1e}")
# --8<-- [end:discretize]

# --8<-- [start:two-views]
u = torch.randn(3, L, dtype=torch.float64)  # a batch of 3 input sequences
y_rec = ssm_recurrent(A_bar, B_bar, C, u, D=0.5)  # step by step, like an RNN
y_conv = ssm_convolutional(A_bar, B_bar, C, u, D=0.5)  # one causal convolution
print("kernel K[:5]:", [round(v, 4) for v in ssm_kernel(A_bar, B_bar, C, L)[:5].tolist()])
print("y_rec[0, :5] :", [round(v, 4) for v in y_rec[0, :5].tolist()])
print("y_conv[0, :5]:", [round(v, 4) for v in y_conv[0, :5].tolist()])
assert torch.allclose(y_rec, y_conv, atol=1e-10, rtol=0)  # float64

f = lambda t: t.float()
y32_rec = ssm_recurrent(f(A_bar_dense), f(B_bar_dense), f(Q @ C), f(u), D=0.5)  # the dense system
y32_conv = ssm_convolutional(f(A_bar), f(B_bar), f(C), f(u), D=0.5)  # the diagonal one
assert torch.allclose(y32_rec, y32_conv, atol=1e-5, rtol=0)  # float32
print("recurrent == convolutional: float64 within 1e-10, float32 within 1e-5")
# --8<-- [end:two-views]
