"""The NF4 code book from normal quantiles, and why it beats evenly spaced 4-bit levels on normal weights."""

# --8<-- [start:code]
import torch

from genai_guide.nf4 import NF4_OFFSET, dequantize_nf4, nf4_code, quantize_nf4, unpack_4bit

code = nf4_code()  # 16 levels: 7 negative, 0, 8 positive
print("NF4 levels:", " ".join(f"{v:+.4f}" for v in code.tolist()))
print(f"outermost probability {NF4_OFFSET} = mean of 1 - 1/30 and 1 - 1/32: {(2 - 1 / 30 - 1 / 32) / 2:.7f}")
assert code[7] == 0 and code[0] == -1 and code[15] == 1  # zero is exact; the ends are +-1
# --8<-- [end:code]

# --8<-- [start:compare]
torch.manual_seed(0)
# Drawn in float64, then stored as float32: CPU kernels draw float32 normals with different last bits.
w = torch.randn(1024, 256, dtype=torch.float64).float() * 0.02  # normal "weights", 4 096 blocks of 64
packed, absmax = quantize_nf4(w, blocksize=64)  # 4-bit NF4 indices, two per byte
w_nf4 = dequantize_nf4(packed, absmax, w.shape)

blocks = w.view(-1, 64)  # the same blocks, rounded to int4 absmax levels k/7, k = -7..7
scale = blocks.abs().amax(dim=1, keepdim=True)
int4 = torch.round(blocks / scale * 7)
w_int4 = (int4 / 7 * scale).view_as(w)


def entropy_bits(indices: torch.Tensor) -> float:
    """Entropy of how often each level is used: 4 bits if all 16 are used equally."""
    p = torch.bincount(indices.flatten()).float()
    p = p[p > 0] / p.sum()
    return float(-(p * p.log2()).sum())


print(f"\n{'4-bit code':12s} {'mean squared error':>19s} {'levels used (entropy)':>22s}")
for name, approx, idx in [("int4 absmax", w_int4, (int4 + 7).long()), ("NF4", w_nf4, unpack_4bit(packed))]:
    mse = (approx - w).square().mean().item()
    print(f"{name:12s} {mse:19.3e} {entropy_bits(idx):17.2f} bits")
assert (w_nf4 - w).square().mean() < 0.8 * (w_int4 - w).square().mean()
# --8<-- [end:compare]

# --8<-- [start:figure]
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # draw to a file, no window
import matplotlib.pyplot as plt

plt.rcParams["svg.hashsalt"] = "genai-guide"  # stable ids: the same figure gives the same file
fig, ax = plt.subplots(figsize=(6, 2.8))
scaled = (blocks / scale).flatten()  # every weight divided by its block's absmax
ax.hist(scaled.numpy(), bins=120, range=(-1, 1), density=True, color="#cccccc", label="weights / block absmax")
for i, v in enumerate(code.tolist()):
    ax.axvline(v, color="C0", linewidth=1.2, label="NF4 levels" if i == 0 else None)
for i, v in enumerate(torch.arange(-7, 8).div(7).tolist()):
    ax.axvline(v, ymax=0.25, color="C3", linestyle=":", linewidth=1.2, label="int4 levels k/7" if i == 0 else None)
ax.set_xlabel("normalised value")
ax.set_ylabel("density")
ax.set_title("NF4 puts its 16 levels where normal weights are dense")
ax.legend(loc="upper right", fontsize=7)
fig.tight_layout()
out_dir = Path(os.environ.get("GENAI_GUIDE_FIGURES", "."))
out_dir.mkdir(parents=True, exist_ok=True)
fig.savefig(out_dir / "nf4_levels.svg", metadata={"Date": None})
print("\nsaved nf4_levels.svg")
# --8<-- [end:figure]
