"""The KV cache in transformers: the same greedy tokens with and without it, and the memory it holds."""

# --8<-- [start:generate]
import torch
from transformers import GPT2Config, GPT2LMHeadModel

torch.manual_seed(0)
config = GPT2Config(vocab_size=64, n_positions=64, n_embd=32, n_layer=2, n_head=4,
                    bos_token_id=0, eos_token_id=1, pad_token_id=1)  # special ids inside the vocabulary
model = GPT2LMHeadModel(config).eval()  # random weights: the tokens mean nothing, but they must agree

positions = []  # how many positions each forward pass feeds through the model
model.transformer.wte.register_forward_hook(lambda mod, args, out: positions.append(args[0].shape[-1]))

prompt = torch.tensor([[5, 6, 7, 8]])
tokens, work = {}, {}
for use_cache in (True, False):
    positions.clear()
    out = model.generate(prompt, max_new_tokens=12, min_new_tokens=12, do_sample=False,
                         use_cache=use_cache)
    tokens[use_cache], work[use_cache] = out[0, 4:].tolist(), sum(positions)

assert tokens[True] == tokens[False]
print("greedy tokens, use_cache=True: ", tokens[True])
print("greedy tokens, use_cache=False:", tokens[False])
print(f"positions fed to the model: {work[True]} with the cache, {work[False]} without")

# The same thing by hand: run the prompt once, then feed one token at a time with the cache.
with torch.no_grad():
    step = model(prompt, use_cache=True)
    hf_cache = step.cache  # a transformers DynamicCache: keys and values of every layer
    print("cached keys of layer 0 after the prompt:", tuple(hf_cache.layers[0].keys.shape))
    next_id = step.logits[:, -1:].argmax(-1)  # (1, 1)
    step = model(next_id, cache=hf_cache, use_cache=True)  # only the new token goes in
    full = model(torch.cat([prompt, next_id], dim=1), use_cache=False)  # everything recomputed
print("after one more token:", tuple(hf_cache.layers[0].keys.shape),
      "| logits of the step:", tuple(step.logits.shape))
assert torch.allclose(step.logits[:, -1], full.logits[:, -1], atol=1e-5)
# --8<-- [end:generate]

# --8<-- [start:memory]
from genai_guide.efficient_attention import kv_cache_bytes

# The formula against the tensors transformers really holds (float32: 4 bytes a value).
held = sum(layer.keys.nbytes + layer.values.nbytes for layer in hf_cache.layers)
assert held == kv_cache_bytes(n_layers=2, n_kv_heads=4, head_dim=8, bytes_per_value=4, tokens=5)
print(f"tiny GPT-2 cache for 5 tokens: {held:,} bytes, as the formula says")

per_token = kv_cache_bytes(n_layers=32, n_kv_heads=32, head_dim=128, bytes_per_value=2)  # Llama 2 7B
print(f"Llama 2 7B, fp16: {per_token:,} bytes = {per_token / 2**20} MiB per token")
for tokens_held, batch in ((4096, 1), (4096, 8), (32768, 1)):
    size = kv_cache_bytes(32, 32, 128, tokens=tokens_held, batch_size=batch)
    print(f"  {tokens_held:6,d} tokens x {batch} sequence(s): {size / 2**30:5.1f} GiB")
# --8<-- [end:memory]
