"""How the error grows as the bits fall from 8 to 2, per tensor, per channel and per group, on the
weights of a GPT-2-sized projection and on the layer's output; drawn as one figure."""

# --8<-- [start:setup]
import torch

from genai_guide.quantization import fake_quantize

torch.manual_seed(0)
d_in, d_out, tokens = 768, 768, 64  # GPT-2 small's attention output projection, a batch of 64 tokens
# A stand-in for trained weights, in float64: GPT-2's initialisation N(0, 0.02^2), each output row
# scaled by its own factor (trained rows end up with different norms), and 0.1% of the weights 4x larger.
w = torch.randn(d_out, d_in, dtype=torch.float64) * 0.02
w *= torch.exp(0.3 * torch.randn(d_out, 1, dtype=torch.float64))  # row scales, about x0.4 to x3.7
w.view(-1)[torch.randperm(w.numel())[: w.numel() // 1000]] *= 4
x = torch.randn(tokens, d_in, dtype=torch.float64)  # inputs of unit scale, as after a LayerNorm
y = x @ w.T  # the full-precision output, (64, 768)
# --8<-- [end:setup]

# --8<-- [start:sweep]
GRANULARITY = {"per tensor": {}, "per channel": {"dim": -1}, "per group of 128": {"group_size": 128}}
BITS = (8, 6, 4, 3, 2)
mse = {}
print(f"{'bits':>4s}  {'granularity':17s} {'weight MSE':>10s} {'max |error|':>11s} {'output error':>12s}")
for bits in BITS:
    for name, how in GRANULARITY.items():
        w_hat = fake_quantize(w, bits, **how)  # quantize, then read back: what the layer computes with
        error = w_hat - w
        mse[bits, name] = error.square().mean().item()
        out = ((x @ w_hat.T - y).norm() / y.norm()).item()  # relative to the output's size
        print(f"{bits:4d}  {name:17s} {mse[bits, name]:10.2e} {error.abs().max().item():11.2e} {out:12.2%}")

step = w.abs().max().item() / 127  # the per-tensor int8 step
print(f"\nint8 per tensor: step {step:.2e}; uniform rounding error predicts step^2 / 12 = {step**2 / 12:.2e}")
assert abs(mse[8, "per tensor"] / (step**2 / 12) - 1) < 0.05
for name in GRANULARITY:  # two bits fewer: a 4x coarser step, a 16x larger squared error
    assert 14 < mse[6, name] / mse[8, name] < 20
for bits in BITS:  # finer granularity, smaller error, at every width
    assert mse[bits, "per group of 128"] < mse[bits, "per channel"] < mse[bits, "per tensor"]
# --8<-- [end:sweep]

# --8<-- [start:figure]
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # draw to a file, no window
import matplotlib.pyplot as plt

plt.rcParams["svg.hashsalt"] = "genai-guide"  # stable ids: the same figure gives the same file
fig, ax = plt.subplots(figsize=(6, 3.2))
for name, style in zip(GRANULARITY, ("o-", "s-", "^-"), strict=True):
    ax.plot(BITS, [mse[b, name] for b in BITS], style, label=name)
ax.plot(BITS, [(w.abs().max().item() / (2 ** (b - 1) - 1)) ** 2 / 12 for b in BITS], "k:",
        label="step² / 12, per tensor")
ax.set_yscale("log")
ax.set_xlabel("bits per weight")
ax.set_ylabel("weight mean squared error")
ax.set_title("About 4x the error per bit removed, until the weights round to 0")
ax.invert_xaxis()
ax.legend(fontsize=8)
fig.tight_layout()
out_dir = Path(os.environ.get("GENAI_GUIDE_FIGURES", "."))
out_dir.mkdir(parents=True, exist_ok=True)
fig.savefig(out_dir / "quantization_bits.svg", metadata={"Date": None})
print("saved quantization_bits.svg")
# --8<-- [end:figure]
