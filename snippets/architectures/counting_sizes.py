"""Count parameters with formulas, check them against real models, then turn counts into bytes."""

# --8<-- [start:params]
import torch
from transformers import (
    BertConfig,
    BertModel,
    GPT2Config,
    GPT2LMHeadModel,
    LlamaConfig,
    LlamaForCausalLM,
)

from genai_guide.sizing import decoder_params, encoder_decoder_params, encoder_params


def count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())  # a tied matrix is yielded once


LLAMA = {"tied": False, "bias": False, "learned_positions": False, "gated_mlp": True, "norm": "rmsnorm"}
formulas = {
    "GPT-2 small": decoder_params(50257, 768, 12, 12, 3072, 1024),  # tied, biases, learned positions
    "BERT-base": encoder_params(30522, 768, 12, 12, 3072, 512),
    "Transformer base": encoder_decoder_params(37000, 512, 6, 6, 8, 2048),  # shared embeddings
    "Llama-2-7B-like": decoder_params(32000, 4096, 32, 32, 11008, 4096, **LLAMA),
}
with torch.device("meta"):  # shapes only: no memory is allocated, nothing is downloaded
    built = {
        "GPT-2 small": count(GPT2LMHeadModel(GPT2Config())),
        "BERT-base": count(BertModel(BertConfig())),
        "Llama-2-7B-like": count(LlamaForCausalLM(LlamaConfig(
            vocab_size=32000, hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
            num_attention_heads=32, num_key_value_heads=32, tie_word_embeddings=False))),
    }
for name, n in formulas.items():
    check = "= transformers" if built.get(name) == n else "(paper: 65M)"
    print(f"{name:17s} {n:>14,d}  {check}")
    assert name not in built or built[name] == n
assert abs(formulas["Transformer base"] - 65e6) / 65e6 < 0.03  # Vaswani et al. 2017, Table 3
assert abs(formulas["Llama-2-7B-like"] - 6.74e9) / 6.74e9 < 0.01
# --8<-- [end:params]

# --8<-- [start:memory]
from genai_guide.sizing import (
    activation_bytes_estimate,
    kv_cache_bytes,
    training_bytes_per_param,
    weight_bytes,
)

print("\nbytes per parameter, training with Adam:")
for mixed in (False, True):
    roles = training_bytes_per_param(mixed)
    print(f"  {'mixed bf16' if mixed else 'fp32':10s} {' + '.join(f'{v} {k}' for k, v in roles.items())}"
          f" = {sum(roles.values())}")

# (layers, kv heads, head dim, d_model, heads, context) of each model, and its block for the activations
shapes = {"GPT-2 small": (12, 12, 64, 768, 12, 1024), "Llama-2-7B-like": (32, 32, 128, 4096, 32, 4096)}
blocks = {"GPT-2 small": {"mlp": "gelu", "dropout": True},  # d_ff = 4d, dropout 0.1
          "Llama-2-7B-like": {"mlp": "swiglu", "dropout": False, "d_ff": 11008}}
GB = 1e9
print(f"\n{'GB':17s} {'fp32':>7s} {'bf16':>7s} {'int8':>7s} {'int4':>7s} {'train':>7s} {'KV':>7s}"
      f" {'act~':>7s} {'act~ fused':>10s}")
for name, (layers, kv_heads, head_dim, d, heads, ctx) in shapes.items():
    n = formulas[name]
    row = [weight_bytes(n, t) for t in ("fp32", "bf16", "int8", "int4")]
    row.append(n * sum(training_bytes_per_param(mixed_precision=True).values()))
    row.append(kv_cache_bytes(layers, kv_heads, head_dim, tokens=ctx, batch=1, bytes_per_value=2))
    for fused in (False, True):  # estimates: attention weights kept, or a fused kernel (FlashAttention)
        row.append(activation_bytes_estimate(layers, d, heads, tokens=ctx, fused_attention=fused, **blocks[name]))
    print(f"{name:17s} " + " ".join(f"{b / GB:7.2f}" for b in row[:-1]) + f" {row[-1] / GB:10.2f}")

# the KV-cache formula against the cache a real (tiny) model fills
torch.manual_seed(0)
tiny = LlamaForCausalLM(LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=3,
                                    num_attention_heads=4, num_key_value_heads=2,
                                    bos_token_id=0, eos_token_id=1, pad_token_id=2)).eval()
with torch.no_grad():
    cache = tiny(torch.randint(0, 64, (2, 7)), use_cache=True).cache
real = sum(t.numel() * t.element_size() for layer in cache.layers for t in (layer.keys, layer.values))
assert real == kv_cache_bytes(3, 2, 8, tokens=7, batch=2, bytes_per_value=4)
print(f"\ntiny Llama cache: {real} bytes = 2 x 3 layers x 2 kv heads x 8 dims x 4 bytes x 7 tokens x 2 sequences")
# --8<-- [end:memory]
