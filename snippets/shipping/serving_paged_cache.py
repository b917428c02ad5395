"""A paged KV cache (PagedAttention): a shared pool of fixed-size blocks, a block table per sequence,
blocks taken as sequences grow and returned when they finish; what it reads back equals a contiguous
cache, and what it wastes, against reserving the longest length for every sequence."""

# --8<-- [start:tables]
import torch

from genai_guide.serving import PagedKVCache

torch.manual_seed(0)
n_layers, n_heads, head_dim = 2, 2, 4
cache = PagedKVCache(n_blocks=8, block_size=4, n_layers=n_layers, n_heads=n_heads, head_dim=head_dim,
                     dtype=torch.float64)
contiguous = {}  # the same keys and values, concatenated per sequence: what a plain cache holds


def append(seq, n):
    k = torch.randn(n_layers, n_heads, n, head_dim, dtype=torch.float64)  # (layers, heads, tokens, head_dim)
    v = torch.randn(n_layers, n_heads, n, head_dim, dtype=torch.float64)
    cache.append(seq, k, v)
    old_k, old_v = contiguous.get(seq, (k[:, :, :0], v[:, :, :0]))
    contiguous[seq] = (torch.cat([old_k, k], dim=2), torch.cat([old_v, v], dim=2))


append("A", 6)  # A's prompt: 6 tokens, two blocks
append("B", 3)  # B's prompt: 3 tokens, one block
for _ in range(3):  # three decoding steps, one token each
    append("A", 1)
    append("B", 1)
for seq in cache.sequences:
    print(f"{seq}: {cache.length(seq)} tokens in blocks {cache.block_table(seq)}")
print(f"free blocks: {cache.num_free_blocks} of {cache.n_blocks}")

for seq, (k, v) in contiguous.items():  # reading through the block table gives the contiguous cache
    for layer in range(n_layers):
        keys, values = cache.gather(seq, layer)
        assert torch.equal(keys, k[layer]) and torch.equal(values, v[layer])
print("gathered keys and values equal the contiguous cache: True")

print(f"A finishes: blocks {cache.free('A')} go back to the pool; free blocks: {cache.num_free_blocks}")
append("C", 9)  # a new request takes the freed blocks
print(f"C: {cache.length('C')} tokens in blocks {cache.block_table('C')}")
# --8<-- [end:tables]

# --8<-- [start:waste]
import math
import random

rng = random.Random(0)
max_len, block_size, n_seqs = 2048, 16, 64
lengths = [rng.randint(20, 600) for _ in range(n_seqs)]  # tokens each running sequence holds now
used = sum(lengths)
contiguous_slots = n_seqs * max_len  # reserve the longest possible sequence for each, up front
paged_slots = sum(math.ceil(t / block_size) * block_size for t in lengths)  # whole blocks, as needed
print(f"{n_seqs} sequences, {used:,} tokens cached (lengths {min(lengths)} to {max(lengths)})")
print(f"contiguous, {max_len} slots each: {contiguous_slots:,} slots, {1 - used / contiguous_slots:.1%} wasted")
print(f"paged, blocks of {block_size}:     {paged_slots:,} slots, {1 - used / paged_slots:.1%} wasted "
      f"(at most {block_size - 1} per sequence)")
assert paged_slots - used <= n_seqs * (block_size - 1)
# --8<-- [end:waste]
