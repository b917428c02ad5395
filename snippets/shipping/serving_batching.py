"""Continuous batching (Orca's iteration-level scheduling) over a paged KV cache, running the book's GPT:
requests of different lengths join and leave the batch at every iteration, and every request gets
exactly the tokens of greedy decoding on its own."""

# --8<-- [start:requests]
import torch

from genai_guide.gpt import GPT, GPTConfig, generate_greedy
from genai_guide.serving import ContinuousBatcher, Request

torch.set_num_threads(1)
torch.set_default_dtype(torch.float64)  # float64: the same tokens on every CPU
torch.manual_seed(0)
model = GPT(GPTConfig(vocab_size=50, context_length=32, d_model=32, n_layers=2, n_heads=4)).eval()

gen = torch.Generator().manual_seed(1)
shapes = [(5, 3), (2, 12), (7, 4), (3, 2), (6, 9), (1, 5), (4, 3), (8, 6)]  # (prompt tokens, max_new_tokens)
requests = [Request(f"r{i}", torch.randint(0, 50, (p,), generator=gen).tolist(), m)
            for i, (p, m) in enumerate(shapes)]
batcher = ContinuousBatcher(model, n_blocks=16, block_size=4, max_batch_size=4)
for r in requests:
    batcher.submit(r)
outputs = batcher.run()
# --8<-- [end:requests]

# --8<-- [start:schedule]
for i, rec in enumerate(batcher.history, 1):
    print(f"iteration {i:2d}: {' '.join(rec.running):15s} prefill {rec.prefill_tokens:2d} + decode "
          f"{rec.decode_tokens} tokens, {rec.free_blocks:2d} free blocks")
assert batcher.cache.num_free_blocks == 16  # every finished request returned its blocks

for r in requests:  # the same tokens as decoding each request alone, without any cache
    alone = generate_greedy(model, torch.tensor([r.prompt]), r.max_new_tokens)[0, len(r.prompt):].tolist()
    assert outputs[r.request_id] == alone
print("r1:", requests[1].prompt, "->", outputs["r1"])
print("every request equals greedy decoding on its own: True")
# --8<-- [end:schedule]

# --8<-- [start:static]
batch = 4
groups = [requests[i:i + batch] for i in range(0, len(requests), batch)]
static_iterations = sum(max(r.max_new_tokens for r in g) for g in groups)  # a batch waits for its longest
busy = sum(r.max_new_tokens for r in requests)  # iterations in which a slot does useful work
print(f"static batching:     {static_iterations} iterations, {busy / (static_iterations * batch):.0%} of slots busy")
continuous = len(batcher.history)
print(f"continuous batching: {continuous} iterations, {busy / (continuous * batch):.0%} of slots busy")
# --8<-- [end:static]
