"""Sliding-window attention: the mask, and a banded implementation checked against PyTorch."""

import torch
import torch.nn.functional as F

from genai_guide.efficient_attention import (
    sliding_window_attention,
    sliding_window_mask,
)

mask = sliding_window_mask(8, window=3)  # True = may attend
print("sliding-window mask, 8 tokens, window 3:")
for row in mask.int().tolist():
    print(" ", *row)
assert torch.equal(mask, torch.ones(8, 8, dtype=torch.bool).tril() & ~torch.ones(8, 8, dtype=torch.bool).tril(-3))

torch.manual_seed(0)
L, W, d = 64, 8, 16
q, k, v = torch.randn(3, 2, 4, L, d).unbind(0)  # each (batch 2, 4 heads, 64 tokens, 16)
ours = sliding_window_attention(q, k, v, window=W)  # computes a 64 x 8 band of scores
ref = F.scaled_dot_product_attention(q, k, v, attn_mask=sliding_window_mask(L, W))  # full 64 x 64, masked
error = (ours - ref).abs().max().item()
assert error <= 1e-5, error
print(f"\nbanded attention equals torch with the boolean mask: {error <= 1e-5}")
print(f"scores per head: {L * W:,} in the band vs {L * L:,} in the full matrix")
