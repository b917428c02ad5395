"""Mixtral 8x7B: total parameters against the parameters one token actually uses."""

from genai_guide.moe import moe_parameter_counts

# Mixtral 8x7B's published config (Jiang et al. 2024, table 1)
total, active = moe_parameter_counts(vocab_size=32000, hidden_size=4096, intermediate_size=14336, num_layers=32,
                                     num_heads=32, num_kv_heads=8, num_experts=8, top_k=2)
print(f"total parameters:  {total:,} ({total / 1e9:.1f}B)")
print(f"active per token:  {active:,} ({active / 1e9:.1f}B)")
print(f"one expert FFN per layer: {3 * 4096 * 14336:,}; experts hold {32 * 8 * 3 * 4096 * 14336 / total:.1%} of the total")
assert abs(total - 46.7e9) / 46.7e9 < 0.01 and abs(active - 12.9e9) / 12.9e9 < 0.01
