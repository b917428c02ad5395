"""Memory for the weights of Llama-2-shaped 7B, 13B and 70B models at 16, 8, 4 and 3 bits, with the
scales of group-wise formats counted, from the parameter formulas of genai_guide.sizing."""

# --8<-- [start:table]
import torch

from genai_guide.quantization import group_quantize
from genai_guide.sizing import bits_per_weight, decoder_params, quantized_weight_bytes

LLAMA = {"tied": False, "bias": False, "learned_positions": False, "gated_mlp": True, "norm": "rmsnorm"}
models = {  # vocabulary, width, layers, heads, MLP width, context (Llama 2's published shapes)
    "7B": decoder_params(32000, 4096, 32, 32, 11008, 4096, **LLAMA),
    "13B": decoder_params(32000, 5120, 40, 40, 13824, 4096, **LLAMA),
    "70B": decoder_params(32000, 8192, 80, 64, 28672, 4096, n_kv_heads=8, **LLAMA),  # grouped-query
}
formats = {  # name: (bits, weights per scale); None = one scale per tensor or row, too few to count
    "bf16": (16, None), "int8": (8, None), "int4": (4, None), "int4 g128": (4, 128), "int3 g128": (3, 128),
}
print(f"{'model':5s} {'parameters':>14s}" + "".join(f"{name:>11s}" for name in formats))
print(f"{'bits per weight':20s}" + "".join(f"{bits_per_weight(*f):11.3f}" for f in formats.values()))
for name, n in models.items():
    gigabytes = [quantized_weight_bytes(n, *f) / 1e9 for f in formats.values()]
    print(f"{name:5s} {n:14,d}" + "".join(f"{gb:8.2f} GB" for gb in gigabytes))
assert bits_per_weight(4, 128) == 4 + 16 / 128 == 4.125  # an fp16 scale per 128 weights
# --8<-- [end:table]

# --8<-- [start:measured]
w = torch.randn(1024, 4096)  # one weight matrix, quantized to 4 bits in groups of 128
q, scale, _ = group_quantize(w, bits=4, group_size=128)
stored = q.numel() * 4 / 8 + scale.numel() * 2  # two 4-bit integers per byte, one fp16 scale per group
print(f"\n{tuple(w.shape)} in int4 g128: {q.numel():,d} integers and {scale.numel():,d} scales = "
      f"{stored:,.0f} bytes = {stored * 8 / w.numel():.3f} bits per weight")
assert stored == quantized_weight_bytes(w.numel(), 4, 128)
# --8<-- [end:measured]
