"""A tiny GAN on eight Gaussians on a ring: with a generator that learns faster than its
discriminator it collapses onto one mode; with the balance reversed it covers all eight."""

# --8<-- [start:setup]
import math

import torch
from torch import nn

from genai_guide.gan import discriminator_loss, generator_loss_non_saturating

torch.set_default_dtype(torch.float64)  # float64 BEFORE building models: the same training on every CPU
torch.set_num_threads(1)
STD, RADIUS = 0.1, 2.0
angles = 2 * math.pi * torch.arange(8) / 8
centres = RADIUS * torch.stack([angles.cos(), angles.sin()], dim=1)  # (8, 2): the modes


def sample_data(n: int, gen: torch.Generator) -> torch.Tensor:
    return centres[torch.randint(0, 8, (n,), generator=gen)] + STD * torch.randn(n, 2, generator=gen)  # (n, 2)


def modes_covered(x: torch.Tensor) -> tuple[int, float]:
    """A sample within 3 STD of a centre lands in that mode; a mode is covered when >= 1% of samples land in it."""
    distance, nearest = torch.cdist(x, centres).min(dim=1)  # (n,), (n,)
    good = distance < 3 * STD
    counts = torch.bincount(nearest[good], minlength=8)
    return int((counts >= 0.01 * len(x)).sum()), good.double().mean().item()


def mlp(n_in: int, n_out: int, hidden: int = 32) -> nn.Sequential:
    return nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                         nn.Linear(hidden, n_out))


def train_gan(lr_d: float, lr_g: float, steps: int = 1000, batch: int = 128, seed: int = 0):
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    G, D = mlp(2, 2), mlp(2, 1)  # generator: noise z in R^2 -> point; discriminator: point -> logit
    opt_g = torch.optim.Adam(G.parameters(), lr=lr_g, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=lr_d, betas=(0.5, 0.999))
    for _ in range(steps):
        real, fake = sample_data(batch, gen), G(torch.randn(batch, 2, generator=gen))
        loss_d = discriminator_loss(D(real), D(fake.detach()))  # D: real -> 1, generated -> 0
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        loss_g = generator_loss_non_saturating(D(G(torch.randn(batch, 2, generator=gen))))  # G: be called real
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
    with torch.no_grad():
        return G(torch.randn(2000, 2, generator=torch.Generator().manual_seed(123)))  # (2000, 2) samples
# --8<-- [end:setup]

# --8<-- [start:train]
data = sample_data(2000, torch.Generator().manual_seed(1))
print(f"{'setup':>43} {'modes covered':>14} {'samples in a mode':>18}")
print(f"{'data':>43} {modes_covered(data)[0]:>11} / 8 {modes_covered(data)[1]:>18.0%}")
samples = {}
for name, lr_d, lr_g in [("generator faster (lr_D 1e-4, lr_G 1e-3)", 1e-4, 1e-3),
                         ("discriminator faster (lr_D 2e-3, lr_G 5e-4)", 2e-3, 5e-4)]:
    samples[name] = train_gan(lr_d, lr_g)
    covered, in_mode = modes_covered(samples[name])
    print(f"{name:>43} {covered:>11} / 8 {round(in_mode, 1):>18.0%}")
collapsed, balanced = (modes_covered(s)[0] for s in samples.values())
assert collapsed <= 2 and balanced == 8
# --8<-- [end:train]

# --8<-- [start:figure]
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # draw to a file, no window
import matplotlib.pyplot as plt

plt.rcParams["svg.hashsalt"] = "genai-guide"  # stable ids: the same figure gives the same file
fig, axes = plt.subplots(1, 3, figsize=(7.5, 2.8), sharex=True, sharey=True)
panels = [("data", data), ("G faster: collapse", samples[next(iter(samples))]),
          ("D faster: 8 modes", samples[list(samples)[1]])]
for ax, (title, points) in zip(axes, panels):
    points = points[:500].numpy().round(2)  # 2 decimals: the same picture on every CPU
    ax.scatter(centres[:, 0], centres[:, 1], s=60, facecolors="none", edgecolors="tab:gray", linewidths=0.8)
    ax.scatter(points[:, 0], points[:, 1], s=2, alpha=0.5, color="tab:orange", linewidths=0)
    ax.set_title(title, fontsize=9)
    ax.set_aspect("equal")
    ax.set_xlim(-3, 3)
    ax.set_ylim(-3, 3)
    ax.tick_params(labelsize=7)
fig.tight_layout()
out_dir = Path(os.environ.get("GENAI_GUIDE_FIGURES", "."))
out_dir.mkdir(parents=True, exist_ok=True)
fig.savefig(out_dir / "gan_ring.svg", metadata={"Date": None})
print("saved gan_ring.svg")
# --8<-- [end:figure]
