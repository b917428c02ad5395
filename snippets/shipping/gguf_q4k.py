"""The Q4_K super-block: 256 values in 8 sub-blocks of 32, with 6-bit scales and mins packed into 12 bytes
under two fp16 numbers; one super-block assembled by hand and decoded by us and by the `gguf` package."""

# --8<-- [start:layout]
import numpy as np
from gguf import GGMLQuantizationType
from gguf.quants import dequantize

from genai_guide.gguf_blocks import dequantize_q4_k, q4_k_scales_mins

s = np.array([63, 40, 17, 5, 60, 33, 48, 21], dtype=np.uint8)  # 6-bit sub-block scales
m = np.array([0, 12, 63, 30, 7, 50, 25, 44], dtype=np.uint8)  # 6-bit sub-block mins
packed = np.zeros(12, dtype=np.uint8)  # packed as ggml's quantize_row_q4_K_ref does
packed[0:4] = s[:4] | ((s[4:] >> 4) << 6)  # scales 0-3, plus the top 2 bits of scales 4-7
packed[4:8] = m[:4] | ((m[4:] >> 4) << 6)  # mins 0-3, plus the top 2 bits of mins 4-7
packed[8:12] = (s[4:] & 15) | ((m[4:] & 15) << 4)  # low 4 bits of scales and mins 4-7
s_back, m_back = q4_k_scales_mins(packed[None, :])
assert np.array_equal(s_back[0], s) and np.array_equal(m_back[0], m)

rng = np.random.default_rng(0)
codes = rng.integers(0, 16, size=(8, 32), dtype=np.uint8)  # 4-bit codes of the 8 sub-blocks
qs = np.concatenate([codes[2 * c] | (codes[2 * c + 1] << 4) for c in range(4)])  # 4 chunks of 32 bytes
d, dmin = np.float16(0.0015), np.float16(0.0007)
block = np.concatenate([np.array([d, dmin], dtype="<f2").view(np.uint8), packed, qs])
print(f"Q4_K super-block: {block.size} bytes = 2 (d) + 2 (dmin) + 12 (scales, mins) + 128 (codes)"
      f" for 256 values: {8 * block.size / 256} bits per value")
print("  packed scales and mins:", packed.tobytes().hex(" "))
# --8<-- [end:layout]

# --8<-- [start:decode]
x = dequantize_q4_k(block)  # (256,) = d * s_j * q - dmin * m_j, sub-block j = value // 32
assert np.array_equal(x, dequantize(block, GGMLQuantizationType.Q4_K))  # equal to gguf's decoder
for j in range(8):
    step, low = float(d) * s[j], float(dmin) * m[j]
    sub = x[32 * j : 32 * j + 32]
    assert np.allclose(sub, step * codes[j] - low, rtol=1e-6)
    print(f"  sub-block {j}: s={s[j]:2d} m={m[j]:2d} step {step:.5f}, "
          f"range [{0.0 - low:+.4f}, {15 * step - low:+.4f}], first values {sub[0]:+.4f} {sub[1]:+.4f}")
# --8<-- [end:decode]
