"""Tiled attention with the online softmax (the idea of FlashAttention): exact, without the full score matrix."""

import torch
import torch.nn.functional as F

from genai_guide.efficient_attention import tiled_attention

torch.manual_seed(0)
L, d = 1024, 32
q, k, v = torch.randn(3, 1, 2, L, d).unbind(0)  # each (batch 1, 2 heads, 1,024 tokens, 32)
print(f"full score matrix per head: {L * L:,} scores")
for causal in (False, True):
    stats = {}
    ours = tiled_attention(q, k, v, block_q=128, block_k=128, is_causal=causal, stats=stats)
    ref = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
    error = (ours - ref).abs().max().item()
    assert error <= 1e-5, error
    print(f"is_causal={causal!s:5}: peak block {stats['peak_block_scores']:,} scores "
          f"({stats['peak_block_scores'] / (L * L):.2%}), {stats['blocks_computed']} blocks computed, "
          f"{stats['blocks_skipped']} skipped, equals torch: {error <= 1e-5}")

for tokens in (4096, 32768):  # fp16 scores of one head: the whole matrix vs one 128 x 128 tile
    full_mib, tile_kib = tokens * tokens * 2 / 2**20, 128 * 128 * 2 / 2**10
    print(f"{tokens:6,d} tokens: full matrix {full_mib:6,.0f} MiB, one tile {tile_kib:.0f} KiB")
