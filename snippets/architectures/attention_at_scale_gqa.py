"""Multi-query and grouped-query attention, checked against PyTorch's enable_gqa."""

import torch
import torch.nn.functional as F

from genai_guide.efficient_attention import grouped_query_attention, repeat_kv

torch.manual_seed(0)
batch, h, L, d = 2, 8, 10, 16  # 8 query heads
q = torch.randn(batch, h, L, d)
for kv_heads, name in ((8, "multi-head"), (2, "grouped-query"), (1, "multi-query")):
    k, v = torch.randn(batch, kv_heads, L, d), torch.randn(batch, kv_heads, L, d)  # only G heads exist
    ours = grouped_query_attention(q, k, v, is_causal=True)
    ref = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
    error = (ours - ref).abs().max().item()
    assert error <= 1e-6, error
    print(f"{name:13s}: {kv_heads} key/value head(s) for {h} query heads, "
          f"output {tuple(ours.shape)}, equals torch enable_gqa: {error <= 1e-6}")

heads = repeat_kv(torch.arange(2.0).view(1, 2, 1, 1), 4)  # which K/V head serves each query head, G = 2
print("K/V head used by query heads 0-7:", heads.flatten().int().tolist())
