"""A ControlNet block from scratch (Zhang et al. 2023, equation 2) on scikit-learn's digits: Sobel edge maps
checked against SciPy, the zero convolution's gradient, and a locked denoiser that learns to follow edge maps."""

# --8<-- [start:edges]
import torch
from scipy import ndimage
from sklearn.datasets import load_digits
from torch import nn

from genai_guide.controlnet import ControlledBlock, sobel_edges, zero_conv

torch.set_default_dtype(torch.float64)  # float64: the same training on every CPU
torch.manual_seed(0)
x0 = torch.tensor(load_digits().images)[:, None] / 8 - 1  # (1797, 1, 8, 8) grey digits in [-1, 1]
big = nn.functional.interpolate(x0, scale_factor=2, mode="bilinear")  # (1797, 1, 16, 16)
magnitude = sobel_edges(big)
img = big[0, 0].numpy()
reference = torch.tensor((ndimage.sobel(img, axis=0) ** 2 + ndimage.sobel(img, axis=1) ** 2) ** 0.5)
assert torch.allclose(magnitude[0, 0], reference, rtol=0, atol=1e-12)  # equal to SciPy's Sobel filter
edges = sobel_edges(big, threshold=0.5)  # 1 where |G| > 0.5 max |G|: a binary edge map
cond = nn.functional.avg_pool2d(edges, 2)  # (1797, 1, 8, 8): the condition at the features' size
print(f"Sobel magnitude equal to scipy.ndimage.sobel; edge maps {tuple(edges.shape)}, "
      f"{edges.mean().item():.0%} edge pixels")
# --8<-- [end:edges]

# --8<-- [start:zero]
z = zero_conv(4)  # 1 x 1, W = 0, b = 0
h = torch.randn(2, 4, 3, 3)  # what reaches it from the trainable copy
upstream = torch.randn(2, 4, 3, 3)  # dL/dy arriving from the loss
y = z(h)
y.backward(upstream)  # L = sum(upstream * y)
closed_w = torch.einsum("bohw,bihw->oi", upstream, h)  # dL/dW = sum over pixels of dL/dy h^T
print(f"output {y.abs().max().item()}, |dL/dW| {z.weight.grad.norm().item():.2f}, "
      f"|dL/db| {z.bias.grad.norm().item():.2f}, dL/dh = W^T dL/dy = 0")
assert not y.any() and torch.allclose(z.weight.grad[..., 0, 0], closed_w, atol=1e-12)
assert torch.allclose(z.bias.grad, upstream.sum(dim=(0, 2, 3)), atol=1e-12)
# --8<-- [end:zero]

# --8<-- [start:train]
ALPHA_BAR = 0.1  # one heavy noise level: x_t = sqrt(0.1) x_0 + sqrt(0.9) noise
train, val = torch.arange(1500), torch.arange(1500, 1797)
g = torch.Generator().manual_seed(1)
noise = torch.randn(x0.shape, generator=g)
x_t = ALPHA_BAR**0.5 * x0 + (1 - ALPHA_BAR) ** 0.5 * noise


def denoiser() -> nn.Module:  # F: a noisy digit (batch, 1, 8, 8) -> an estimate of the clean digit, same shape
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 64), nn.SiLU(), nn.Linear(64, 64), nn.Unflatten(1, (1, 8, 8)))


def fit(model: nn.Module, forward, steps: int = 100) -> None:
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=1e-2)
    for _ in range(steps):
        idx = train[torch.randint(0, len(train), (64,), generator=g)]  # a minibatch
        loss = ((forward(idx) - x0[idx]) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


base = denoiser()
fit(base, lambda i: base(x_t[i]))  # "pretraining", without any condition
block = ControlledBlock(base, in_channels=1, out_channels=1, cond_channels=1)  # locks base, copies it
mse = lambda out: ((out - x0[val]) ** 2).mean().item()
with torch.no_grad():
    before = base(x_t[val])
    assert torch.equal(block(x_t[val], cond[val]), before)  # zero convolutions: exactly F(x) at step 0
fit(block, lambda i: block(x_t[i], cond[i]))  # trains the copy and the zero convolutions only
with torch.no_grad():
    right = block(x_t[val], cond[val])
    wrong = block(x_t[val], cond[torch.roll(val, 1)])  # another digit's edge map
    off = block.locked(x_t[val])
print(f"held-out MSE to the clean digits: locked denoiser {mse(before):.3f} (still {mse(off):.3f} after)")
print(f"  with ControlNet and the digit's own edges {mse(right):.3f}, with another digit's edges {mse(wrong):.3f}")
assert torch.equal(off, before) and mse(right) < mse(before) < mse(wrong)
# --8<-- [end:train]

# --8<-- [start:figure]
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # draw to a file, no window
import matplotlib.pyplot as plt

plt.rcParams["svg.hashsalt"] = "genai-guide"  # stable ids: the same figure gives the same file
show = slice(0, 8)  # the first 8 held-out digits
rows = {"clean digit": (x0[val] + 1) / 2, "edge map (16 x 16; the block reads it pooled to 8 x 8)": edges[val], "noisy input": (x_t[val] + 1) / 2,
        "locked denoiser": (before + 1) / 2, "ControlNet, own edges": (right + 1) / 2,
        "ControlNet, another digit's edges": (wrong + 1) / 2}
fig, axes = plt.subplots(len(rows), 1, figsize=(4.8, 5.2))
for ax, (name, images) in zip(axes, rows.items(), strict=True):
    side = images.shape[-1]  # 8, or 16 for the edge maps
    strip = torch.full((side, 8 * (side + 1) - 1), float("nan"))  # 8 images side by side, 1-pixel gaps
    for k, image in enumerate(images[show, 0].clamp(0, 1)):
        strip[:, (side + 1) * k : (side + 1) * k + side] = image
    ax.imshow(strip.round(decimals=2), cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")  # same on every CPU
    ax.set_title(name, fontsize=8)
    ax.axis("off")
fig.tight_layout()
out_dir = Path(os.environ.get("GENAI_GUIDE_FIGURES", "."))
out_dir.mkdir(parents=True, exist_ok=True)
fig.savefig(out_dir / "controlnet_digits.svg", metadata={"Date": None})
print("saved controlnet_digits.svg")
# --8<-- [end:figure]
