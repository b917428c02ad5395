"""Choosing a model size with arithmetic: training FLOPs are about 6 x parameters x tokens (checked with
PyTorch's FLOP counter on the book's GPT), then memory and compute for five candidate models."""

# --8<-- [start:flops]
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from genai_guide.gpt import GPT, GPTConfig

torch.manual_seed(0)
config = GPTConfig(vocab_size=512, context_length=128, d_model=128, n_layers=4, n_heads=4)
model = GPT(config)
V, T, d, L, B = config.vocab_size, config.context_length, config.d_model, config.n_layers, 8
ids = torch.randint(0, V, (B, T))

with sdpa_kernel(SDPBackend.MATH):  # attention as plain matrix products, which the counter sees
    with FlopCounterMode(display=False) as forward_counter:
        logits = model(ids)
    with FlopCounterMode(display=False) as backward_counter:
        logits.logsumexp(-1).mean().backward()
forward, backward = forward_counter.get_total_flops(), backward_counter.get_total_flops()

# Every weight matrix costs one multiply and one add per token: 2 FLOPs per weight per token.
matmul_weights = L * 12 * d * d + V * d  # Q, K, V, output, MLP up and down (12 d^2), and the tied head
attention = 4 * L * B * T * T * d  # Q K^T and the weighted sum of V, over the full T x T square
assert forward == 2 * matmul_weights * B * T + attention
assert backward == 2 * forward  # gradients for the inputs and for the weights: two matmuls per matmul

N = sum(p.numel() for p in model.parameters())
print(f"{N:,} parameters, {B * T:,} tokens")
print(f"measured: forward {forward:,} FLOPs, backward {backward:,}, total {forward + backward:,}")
print(f"forward = 2 x {matmul_weights:,} weights x {B * T:,} tokens + {attention:,} for the attention scores")
print(f"6 N per token: {6 * N * B * T:,} FLOPs (measured / 6N = {(forward + backward) / (6 * N * B * T):.3f})")
# --8<-- [end:flops]

# --8<-- [start:sizes]
from genai_guide.sizing import (
    decoder_params,
    encoder_params,
    training_bytes_per_param,
    weight_bytes,
)

llama = {"vocab_size": 32000, "context": 4096, "tied": False, "bias": False, "learned_positions": False,
         "gated_mlp": True, "norm": "rmsnorm"}  # the Llama 2 layout (Touvron et al. 2023)
candidates = {
    "BERT-base": encoder_params(30522, 768, 12, 12, 3072, 512),
    "GPT-2 small": decoder_params(50257, 768, 12, 12, 3072, 1024),
    "Llama-2-7B": decoder_params(d_model=4096, n_layers=32, n_heads=32, d_ff=11008, **llama),
    "Llama-2-13B": decoder_params(d_model=5120, n_layers=40, n_heads=40, d_ff=13824, **llama),
    "Llama-2-70B": decoder_params(d_model=8192, n_layers=80, n_heads=64, d_ff=28672, n_kv_heads=8, **llama),
}
adam = sum(training_bytes_per_param(mixed_precision=True).values())  # 16 bytes per parameter
fine_tuning_tokens = 10_000 * 1_000  # 10,000 examples of about 1,000 tokens
GPU_FLOPS = 4e14  # an assumed sustained rate: about 40% of an H100's dense bf16 peak
GPU_MEMORY = 80e9

print(f"\n{'model':<12} {'params':>7} {'bf16':>8} {'int4':>8} {'full FT':>9} {'80GB GPUs':>9} "
      f"{'tokens 20N':>10} {'pre-train':>14} {'fine-tune':>14}")
for name, n in candidates.items():
    gpus = -(-n * adam // GPU_MEMORY)  # ceiling: weights, gradients and Adam states, no activations
    pre_train = 6 * n * 20 * n  # compute-optimal: about 20 tokens per parameter (Hoffmann et al. 2022)
    fine_tune = 6 * n * fine_tuning_tokens
    print(f"{name:<12} {n / 1e9:>6.2f}B {weight_bytes(n, 'bf16') / 1e9:>6.1f}GB {weight_bytes(n, 'int4') / 1e9:>6.1f}GB "
          f"{n * adam / 1e9:>7.0f}GB {gpus:>9.0f} {20 * n / 1e9:>9.0f}B "
          f"{pre_train:>9.1e} FLOP {fine_tune:>9.1e} FLOP")

n7 = candidates["Llama-2-7B"]


def days(flops: float) -> float:
    return flops / GPU_FLOPS / 86_400


print(f"\nLlama-2-7B on one GPU at {GPU_FLOPS:.0e} FLOP/s: pre-training on its 2T tokens "
      f"{days(6 * n7 * 2e12):,.0f} days, fine-tuning on 10M tokens {days(6 * n7 * fine_tuning_tokens) * 24:.1f} hours")
assert 6.7e9 < n7 < 6.8e9 and 68e9 < candidates["Llama-2-70B"] < 70e9
# --8<-- [end:sizes]
