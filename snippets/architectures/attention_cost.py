"""The attention matrix grows with the square of the sequence length."""

import torch

from genai_guide.attention import scaled_dot_product_attention

d_k, heads, bytes_per_float = 64, 12, 2  # a GPT-2-small-sized layer in 16-bit floats
print("tokens | scores per head | score memory per layer | QK^T FLOPs per layer")
for L in (512, 1024, 2048, 4096, 8192):
    entries = L * L  # one score per (query, key) pair
    mib = heads * entries * bytes_per_float / 2**20
    flops = heads * 2 * L * L * d_k  # a multiply and an add per term of each dot product
    print(f"{L:6d} | {entries:15,d} | {mib:18,.0f} MiB | {flops / 1e9:17,.1f} G")

# The materialised weights really are L x L: measure them on small inputs.
entries = {}
for L in (16, 32):
    x = torch.zeros(1, L, d_k)
    _, weights = scaled_dot_product_attention(x, x, x)
    entries[L] = weights.numel()
assert entries[16] == 16 * 16
print("doubling the tokens multiplies the stored scores by", entries[32] // entries[16])
