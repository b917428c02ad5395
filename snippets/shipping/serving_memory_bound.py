"""Why decoding is memory-bound: FLOPs per byte of a prefill and of a decoding step for a 7B model at
16 bits, from the book's sizing formulas, against the ratio of an accelerator's compute to its memory
bandwidth; and the ceiling that reading the weights puts on tokens per second."""

# --8<-- [start:intensity]
from genai_guide.serving import arithmetic_intensity
from genai_guide.sizing import decoder_params, kv_cache_bytes, weight_bytes

# Llama 2 7B's shape (Touvron et al. 2023): 32 layers, d = 4096, 32 heads of 128, SwiGLU MLP of 11,008
n = decoder_params(32000, 4096, 32, 32, 11008, 4096, tied=False, bias=False, learned_positions=False,
                   gated_mlp=True, norm="rmsnorm")
w = weight_bytes(n, "bf16")  # every step reads all of them once
kv_per_token = kv_cache_bytes(32, 32, 128, tokens=1)  # bytes of keys and values per cached token
print(f"{n:,} parameters, {w / 2**30:.1f} GiB of 16-bit weights, {kv_per_token / 2**20:.2f} MiB of KV cache per token")

# An H100 SXM: 989.4 TFLOP/s of dense BF16 matrix math, 3.35 TB/s of HBM3 bandwidth
flops_per_s, bytes_per_s, memory = 989.4e12, 3.35e12, 80e9
ridge = flops_per_s / bytes_per_s  # below this many FLOPs per byte, memory is the bottleneck
print(f"accelerator: {ridge:.0f} FLOPs per byte at full speed of both")

print(f"prefill of 1,024 prompt tokens: {arithmetic_intensity(n, 1024):.0f} FLOPs/byte (compute-bound)")
for batch in (1, 8, 32, 64, 128):
    flops = 2 * n * batch  # one new token per sequence
    bytes_read = w + batch * 1024 * kv_per_token  # the weights, and each sequence's 1,024 cached tokens
    intensity = arithmetic_intensity(n, batch, other_bytes=batch * 1024 * kv_per_token)
    assert abs(intensity - flops / bytes_read) < 1e-9 * intensity
    step_s = max(flops / flops_per_s, bytes_read / bytes_per_s)  # the slower of the two sets the pace
    print(f"decode, batch {batch:3d}: {intensity:6.1f} FLOPs/byte, reads {bytes_read / 2**30:6.1f} GiB a step, "
          f"at most {batch / step_s:5,.0f} tokens/s in all, {1 / step_s:3.0f} per sequence"
          + ("" if bytes_read <= memory else " (does not fit in 80 GB)"))
# --8<-- [end:intensity]

# --8<-- [start:ceiling]
print(f"one sequence, weights only: at most {bytes_per_s / w:.0f} tokens/s = bandwidth / weight bytes")
assert arithmetic_intensity(n, 1) == 1.0  # 2 FLOPs per weight, 2 bytes per weight
assert arithmetic_intensity(n, 1024) > ridge > arithmetic_intensity(n, 64)
# --8<-- [end:ceiling]
