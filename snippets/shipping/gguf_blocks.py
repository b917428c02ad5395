"""llama.cpp's block formats Q8_0, Q4_0 and Q4_1 from scratch: one block of 32 weights laid out byte by
byte, the same bytes as the `gguf` package's reference quantizers, then bits and error on a matrix."""

# --8<-- [start:q8_0]
import numpy as np
from gguf import GGMLQuantizationType
from gguf.quants import dequantize, quantize

from genai_guide.gguf_blocks import (
    dequantize_q4_0,
    dequantize_q4_1,
    dequantize_q8_0,
    quantize_q4_0,
    quantize_q4_1,
    quantize_q8_0,
)

rng = np.random.default_rng(0)
block = (0.5 * rng.standard_normal(32)).astype(np.float32)  # one block: 32 consecutive weights of a row
block[5] = -1.6  # the value of largest magnitude is negative
print("x[:8]     ", np.array2string(block[:8], precision=3, floatmode="fixed"))

q8 = quantize_q8_0(block)  # 34 bytes: fp16 d, then 32 int8
d8 = q8[:2].view("<f2")[0]
print(f"Q8_0  {q8.size} bytes, d = max|x| / 127 = {d8:.6f} (stored as float16: {q8[:2].tobytes().hex()})")
print("  q[:8]   ", q8[2:10].view(np.int8))
print(f"  largest error {np.abs(dequantize_q8_0(q8) - block).max():.5f}")
assert np.array_equal(q8, quantize(block, GGMLQuantizationType.Q8_0))  # byte for byte
assert np.array_equal(dequantize_q8_0(q8), dequantize(q8, GGMLQuantizationType.Q8_0))
# --8<-- [end:q8_0]

# --8<-- [start:q4]
q4 = quantize_q4_0(block)  # 18 bytes: fp16 d, then 16 bytes holding 32 nibbles
d4 = q4[:2].view("<f2")[0]
codes = np.concatenate([q4[2:] & 0x0F, q4[2:] >> 4])  # low nibbles: values 0-15, high: 16-31
print(f"Q4_0  {q4.size} bytes, d = -1.6 / -8 = {d4:.6f}")
print("  codes    " + "".join(f"{c:x}" for c in codes), "(hex digits, 8 means 0)")
x4 = dequantize_q4_0(q4)  # d * (code - 8)
print(f"  x[5] = {block[5]:.3f} -> code {codes[5]} -> {x4[5]:.4f}; codes reach {d4 * -8:.2f} .. {d4 * 7:.2f}")
print(f"  largest error {np.abs(x4 - block).max():.5f}")
assert np.array_equal(q4, quantize(block, GGMLQuantizationType.Q4_0))
assert np.array_equal(x4, dequantize(q4, GGMLQuantizationType.Q4_0))

q41 = quantize_q4_1(block)  # 20 bytes: fp16 d, fp16 m = min, then the nibbles
d41, m41 = q41[:4].view("<f2")
print(f"Q4_1  {q41.size} bytes, d = (max - min) / 15 = {d41:.6f}, m = min = {m41:.4f}")
print(f"  largest error {np.abs(dequantize_q4_1(q41) - block).max():.5f}")
assert np.array_equal(q41, quantize(block, GGMLQuantizationType.Q4_1))
assert np.array_equal(dequantize_q4_1(q41), dequantize(q41, GGMLQuantizationType.Q4_1))
# --8<-- [end:q4]

# --8<-- [start:matrix]
w = (0.02 * rng.standard_normal((256, 1024))).astype(np.float32)  # a weight matrix, rows of 1,024
print(f"{'format':6s} {'bytes':>8s} {'bits/weight':>12s} {'rel. RMS error':>15s}")
for name, quant, dequant in [
    ("Q8_0", quantize_q8_0, dequantize_q8_0),
    ("Q4_1", quantize_q4_1, dequantize_q4_1),
    ("Q4_0", quantize_q4_0, dequantize_q4_0),
]:
    data = quant(w)  # (256, 1024 / 32 * bytes per block)
    qtype = GGMLQuantizationType[name]
    assert np.array_equal(data, quantize(w, qtype))
    w_hat = dequant(data)
    assert np.array_equal(w_hat, dequantize(data, qtype))
    rel = np.sqrt(np.mean((w_hat - w).astype(np.float64) ** 2) / np.mean(w.astype(np.float64) ** 2))
    print(f"{name:6s} {data.nbytes:8,d} {8 * data.nbytes / w.size:12.2f} {rel:15.4f}")
print(f"{'F16':6s} {w.astype(np.float16).nbytes:8,d} {16.0:12.2f}")
# --8<-- [end:matrix]
