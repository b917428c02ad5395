"""The Transformer's sinusoidal position table, and the rotation that shifts it by k positions."""

# --8<-- [start:table]
import math

import torch

from genai_guide.positions import sinusoidal_encoding, sinusoidal_offset_matrix

torch.set_printoptions(precision=3, sci_mode=False)
seq_len, d_model = 50, 8
pe = sinusoidal_encoding(seq_len, d_model)  # (50, 8): row pos is added to the token at pos
print("PE, positions 0-3 (columns: sin, cos, sin, cos, ...):\n", pe[:4])

for pos in range(seq_len):  # the formula of section 3.5, term by term
    for i in range(d_model // 2):
        angle = pos / 10000 ** (2 * i / d_model)
        assert abs(pe[pos, 2 * i] - math.sin(angle)) < 1e-6
        assert abs(pe[pos, 2 * i + 1] - math.cos(angle)) < 1e-6
wavelengths = [2 * math.pi * 10000 ** (2 * i / d_model) for i in range(d_model // 2)]
print("wavelength of each pair, in positions:", [round(w, 1) for w in wavelengths])
# --8<-- [end:table]

# --8<-- [start:offset]
k = 3
pe64 = sinusoidal_encoding(seq_len, d_model, dtype=torch.float64)
M = sinusoidal_offset_matrix(k, d_model, dtype=torch.float64)  # block-diagonal, 2x2 rotations
print("first 4x4 corner of M_3:\n", M[:4, :4])
shifted = pe64[:-k] @ M.T  # M_3 PE(pos) for every pos = 0 .. 46 at once
same = torch.allclose(shifted, pe64[k:], atol=1e-12, rtol=0)
assert same
print("M_3 PE(pos) == PE(pos + 3) for all 47 positions:", same)
assert torch.allclose(M @ M.T, torch.eye(d_model, dtype=torch.float64))  # a rotation keeps lengths

dots = [round((pe64[p] @ pe64[p + k]).item(), 4) for p in (0, 10, 40)]
print("PE(p) . PE(p+3) for p = 0, 10, 40:", dots)  # depends on the offset only
assert max(dots) - min(dots) < 1e-9
# --8<-- [end:offset]
