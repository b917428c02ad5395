"""Incremental attention with a KV cache, from scratch, equals full causal attention; the scores it saves."""

import torch
import torch.nn.functional as F

from genai_guide.efficient_attention import KVCache, incremental_attention

torch.manual_seed(0)
n, d_k = 12, 16
q, k, v = torch.randn(3, 1, 4, n, d_k).unbind(0)  # each (batch 1, 4 heads, 12 tokens, 16)
full = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # all 12 rows at once

cache, rows, scores_cached = KVCache(), [], 0
for t in range(n):  # token by token, as a decoder generates
    rows.append(incremental_attention(q[..., t:t + 1, :], k[..., t:t + 1, :], v[..., t:t + 1, :], cache))
    scores_cached += len(cache)  # this step's one query met every cached key once
error = (torch.cat(rows, dim=-2) - full).abs().max().item()
assert error <= 1e-6
print("cache after 12 steps:", tuple(cache.keys.shape), "| equals full causal attention:", error <= 1e-6)

prefill = KVCache()  # a 5-token prompt at once, then 7 single tokens
rows = [incremental_attention(q[..., :5, :], k[..., :5, :], v[..., :5, :], prefill)]
for t in range(5, n):
    rows.append(incremental_attention(q[..., t:t + 1, :], k[..., t:t + 1, :], v[..., t:t + 1, :], prefill))
assert (torch.cat(rows, dim=-2) - full).abs().max() <= 1e-6

scores_recomputed = sum(t * t for t in range(1, n + 1))  # no cache: step t recomputes a t x t matrix
assert scores_cached == n * (n + 1) // 2 and scores_recomputed == n * (n + 1) * (2 * n + 1) // 6
print("tokens | scores with cache | scores without | ratio")
for n_tokens in (n, 100, 1000, 4096):
    cached = n_tokens * (n_tokens + 1) // 2
    recomputed = n_tokens * (n_tokens + 1) * (2 * n_tokens + 1) // 6
    print(f"{n_tokens:6d} | {cached:17,d} | {recomputed:14,d} | {recomputed / cached:5.0f}x")
