"""Mamba's selective scan: checked against a naive loop, causal, and a constant-size state."""

import torch
import torch.nn.functional as F

from genai_guide.ssm import selective_scan

torch.manual_seed(0)
batch, L, d, N = 2, 10, 3, 4

# --8<-- [start:scan]
u = torch.randn(batch, L, d)
W_delta, W_B, W_C = torch.randn(d, d), torch.randn(d, N), torch.randn(d, N)
delta = F.softplus(u @ W_delta)  # (batch, L, d): chosen by each token
B, C = u @ W_B, u @ W_C  # (batch, L, N): chosen by each token
A = -torch.arange(1, N + 1, dtype=torch.float32).repeat(d, 1)  # (d, N), the S4D-real init
D = torch.ones(d)
y, h = selective_scan(u, delta, A, B, C, D)

y_naive = torch.zeros(batch, L, d)  # one batch row, one channel, one step at a time
for b in range(batch):
    for c in range(d):
        state = torch.zeros(N)
        for t in range(L):
            dt = delta[b, t, c]
            state = torch.exp(dt * A[c]) * state + dt * B[b, t] * u[b, t, c]
            y_naive[b, t, c] = state @ C[b, t] + D[c] * u[b, t, c]
assert torch.allclose(y, y_naive, atol=1e-5, rtol=0)
print("selective scan == naive loop:", tuple(y.shape), "final state", tuple(h.shape))
# --8<-- [end:scan]

# --8<-- [start:causal]
t0 = 6
u2 = u.clone()
u2[:, t0:] = torch.randn(batch, L - t0, d)  # change the future from token 6 on
delta2, B2, C2 = F.softplus(u2 @ W_delta), u2 @ W_B, u2 @ W_C
y2, _ = selective_scan(u2, delta2, A, B2, C2, D)
assert torch.equal(y2[:, :t0], y[:, :t0])  # the past is untouched
print("outputs 0-5 unchanged:", torch.equal(y2[:, :t0], y[:, :t0]),
      "| output 6 changed:", not torch.allclose(y2[:, t0], y[:, t0]))
# --8<-- [end:causal]

# --8<-- [start:memory]
d_model, d_inner, d_state, d_conv = 768, 1536, 16, 4  # Mamba-130M / GPT-2 small widths
mamba = d_inner * d_state + d_inner * d_conv  # SSM state + short-conv buffer (d_conv inputs, as cached)
print(f"{'tokens':>8} {'KV cache':>12} {'Mamba state':>12}  (values per layer per sequence)")
for n_tokens in (16, 1024, 65536):
    kv = 2 * n_tokens * d_model  # one key and one value vector per past token
    print(f"{n_tokens:>8} {kv:>12,} {mamba:>12,}")
print("KV cache >= Mamba state from", -(-mamba // (2 * d_model)), "tokens on")
# --8<-- [end:memory]
