"""How far back a token can reach through stacked sliding-window layers, measured with autograd."""

import torch

from genai_guide.efficient_attention import (
    kv_cache_bytes,
    receptive_field,
    sliding_window_attention,
)

torch.manual_seed(0)
L, W, d = 24, 4, 8
x = torch.randn(L, d, requires_grad=True)
h = x
for layer in range(1, 5):  # stack sliding-window layers (random projections, residual connection)
    wq, wk, wv = torch.randn(3, d, d) / d**0.5
    h = h + sliding_window_attention(h @ wq, h @ wk, h @ wv, window=W)
    (grad,) = torch.autograd.grad(h[-1].sum(), x, retain_graph=True)  # which inputs reach the last token?
    reached = int((grad.abs().sum(dim=-1) > 0).sum())
    assert reached == receptive_field(layer, W)
    print(f"after {layer} layer(s), window {W}: the last token depends on the last {reached:2d} tokens")

print(f"Mistral 7B, 32 layers, window 4,096: up to {receptive_field(32, 4096):,} tokens")

for tokens in (4096, 32768):  # a rolling buffer keeps only the last 4,096 keys and values per layer
    buffer = kv_cache_bytes(32, 8, 128, tokens=min(tokens, 4096))  # Mistral 7B: 8 K/V heads, fp16
    grown = kv_cache_bytes(32, 8, 128, tokens=tokens)
    print(f"Mistral 7B cache at {tokens:6,d} tokens: "
          f"{buffer / 2**20:5,.0f} MiB rolling, {grown / 2**20:5,.0f} MiB if kept")
