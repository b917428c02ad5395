"""KV cache sizes of real configurations: multi-head, grouped-query and multi-query attention."""

from genai_guide.efficient_attention import kv_cache_bytes

models = [  # name, layers, query heads, key/value heads, head size (from the models' configs)
    ("Llama 2 7B", 32, 32, 32, 128),
    ("Llama 2 7B as MQA", 32, 32, 1, 128),
    ("Mistral 7B", 32, 32, 8, 128),
    ("Llama 2 70B", 80, 64, 8, 128),
    ("Llama 2 70B as MHA", 80, 64, 64, 128),
]
print("model              | q heads | kv heads | KiB per token | GiB at 4,096 tokens | smaller by")
for name, layers, q_heads, kv_heads, head_dim in models:
    per_token = kv_cache_bytes(layers, kv_heads, head_dim)  # fp16: 2 bytes a value
    full = kv_cache_bytes(layers, q_heads, head_dim)  # the same model with one K/V head per query head
    print(f"{name:18s} | {q_heads:7d} | {kv_heads:8d} | {per_token / 2**10:13,.0f} | "
          f"{per_token * 4096 / 2**30:19.3f} | {full // per_token:9d}x")
assert kv_cache_bytes(80, 8, 128) < kv_cache_bytes(32, 32, 128)  # the 70B model caches less than the 7B
