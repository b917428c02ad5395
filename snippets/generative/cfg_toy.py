"""Classifier-free guidance on a 2-D toy: one noise predictor trained with and without its class label
(label dropout), sampled at growing guidance scales; class accuracy of the samples rises and their
spread falls. Then classifier guidance with the exact noisy classifier of the same data."""

# --8<-- [start:train]
import math

import torch
from torch import nn

from genai_guide.diffusion import (
    beta_schedule,
    cumulative_alphas,
    ddim_step,
    ddim_timesteps,
    q_sample,
)

torch.set_default_dtype(torch.float64)  # float64: the same training on every CPU
torch.set_num_threads(1)
torch.manual_seed(0)
K, STD = 3, 0.6  # three classes: Gaussians of std 0.6 around three points on the unit circle; they overlap
angles = torch.arange(K) * 2 * math.pi / K
centers = torch.stack([angles.cos(), angles.sin()], dim=1)  # (K, 2)


def draw(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    y = torch.randint(0, K, (n,))
    return centers[y] + STD * torch.randn(n, 2), y


T, NULL = 1000, K  # label K is the "no label" token of the unconditional branch
alphas_cumprod = cumulative_alphas(beta_schedule("linear", T))


class Denoiser(nn.Module):
    """eps_theta(x_t, t, y): 2-D point, sinusoidal timestep embedding and a label embedding (K + 1 rows)."""

    def __init__(self, hidden: int = 96) -> None:
        super().__init__()
        self.register_buffer("freqs", torch.exp(-torch.arange(8) / 8 * math.log(1000.0)))
        self.label = nn.Embedding(K + 1, 16)
        self.net = nn.Sequential(nn.Linear(2 + 16 + 16, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(),
                                 nn.Linear(hidden, 2))

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        angle = t[:, None] * self.freqs
        return self.net(torch.cat([x_t, angle.sin(), angle.cos(), self.label(y)], dim=1))


model = Denoiser()
optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
steps = 1000
decay = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1 - step / steps)
for step in range(steps):
    x0, y = draw(256)
    y = torch.where(torch.rand(256) < 0.2, NULL, y)  # label dropout: 20% of the batch trains eps(x_t, t)
    t, eps = torch.randint(0, T, (256,)), torch.randn(256, 2)
    loss = nn.functional.mse_loss(model(q_sample(x0, eps, t, alphas_cumprod), t, y), eps)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    decay.step()
print(f"one network, conditional and unconditional: {sum(p.numel() for p in model.parameters()):,} parameters")
# --8<-- [end:train]

# --8<-- [start:cfg]
from genai_guide.guidance import cfg_weight_to_scale, classifier_free_guidance


@torch.no_grad()
def sample(guide, n: int = 300, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """DDIM (eta = 0) in 25 steps with guide(x_t, t, y) -> the noise to use; n // K points per class."""
    y = torch.arange(K).repeat_interleave(n // K)
    x = torch.randn(len(y), 2, generator=torch.Generator().manual_seed(seed))
    timesteps = ddim_timesteps(T, 25)
    for i, t in enumerate(timesteps):
        prev_t = timesteps[i + 1] if i + 1 < len(timesteps) else -1
        x, _ = ddim_step(guide(x, t, y), t, prev_t, x, alphas_cumprod, clip_sample=None)
    return x, y


def cfg(s: float):
    def guide(x, t, y):
        tt = torch.full((len(x),), t)
        return classifier_free_guidance(model(x, tt, torch.full_like(y, NULL)), model(x, tt, y), s)
    return guide


def report(name: str, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """Accuracy of the Bayes classifier of the data (nearest center) and the spread around the class mean."""
    accuracy = ((x[:, None] - centers).norm(dim=-1).argmin(dim=1) == y).double().mean().item()
    spread = torch.stack([x[y == k].std(dim=0).mean() for k in range(K)]).mean().item()  # data: 0.60
    print(f"  {name:<28} accuracy {accuracy:4.2f}   spread {spread:4.2f}")
    return accuracy, spread


x_data, y_data = draw(3000)
print("samples of each class, by the data's own Bayes classifier:")
data = report("data", x_data, y_data)
drawn = {"unconditional (s = 0)": sample(cfg(0.0))}
results = {"unconditional": report("unconditional (s = 0)", *drawn["unconditional (s = 0)"])}
for w in (0, 1, 3, 8):  # Ho & Salimans' weight; diffusers' guidance_scale is s = 1 + w
    s = cfg_weight_to_scale(w)
    drawn[f"w = {w} (s = {s:g})"] = sample(cfg(s))
    results[w] = report(f"CFG w = {w} (s = {s:g})", *drawn[f"w = {w} (s = {s:g})"])
assert results[8][0] > results[0][0] + 0.1 and results[8][1] < results[0][1] / 4  # sharper, less diverse
# --8<-- [end:cfg]

# --8<-- [start:classifier]
from genai_guide.guidance import classifier_guided_noise, classifier_log_prob_grad


def noisy_classifier(x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """The exact log p(y | x_t) of this data, up to a constant: q(x_t | y) = N(sqrt(ab) mu_y, ab std^2 + 1 - ab)."""
    ab = alphas_cumprod[t][:, None]
    return -((x_t[:, None] - ab[..., None] ** 0.5 * centers) ** 2).sum(-1) / (2 * (ab * STD**2 + 1 - ab))


x = torch.randn(5, 2, generator=torch.Generator().manual_seed(2))
t, y = torch.full((5,), 300), torch.tensor([0, 1, 2, 0, 1])
grad = classifier_log_prob_grad(noisy_classifier, x, t, y)
ab, v = alphas_cumprod[300], alphas_cumprod[300] * STD**2 + 1 - alphas_cumprod[300]
p = noisy_classifier(x, t).softmax(dim=1)  # closed form: -(x - m_y) / v + sum_k p(k | x) (x - m_k) / v
closed = (-(x - ab**0.5 * centers[y]) + (p[..., None] * (x[:, None] - ab**0.5 * centers)).sum(1)) / v
assert torch.allclose(grad, closed, atol=1e-12)


def classifier_guidance(scale: float):
    def guide(x, t, y):
        eps = model(x, torch.full((len(x),), t), torch.full_like(y, NULL))  # the unconditional model only
        grad = classifier_log_prob_grad(noisy_classifier, x, torch.full((len(x),), t), y)
        return classifier_guided_noise(eps, grad, t, alphas_cumprod, scale)
    return guide


for scale in (1, 4):
    report(f"classifier guidance s = {scale}", *sample(classifier_guidance(scale)))
# --8<-- [end:classifier]

# --8<-- [start:figure]
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # draw to a file, no window
import matplotlib.pyplot as plt

plt.rcParams["svg.hashsalt"] = "genai-guide"  # stable ids: the same figure gives the same file
fig, axes = plt.subplots(1, 5, figsize=(9.5, 2.3), sharex=True, sharey=True)
for ax, (name, (x, y)) in zip(axes, drawn.items(), strict=True):
    points = x.round(decimals=2)  # 2 decimals: the same picture on every CPU
    for k, marker in zip(range(K), "o^s", strict=True):
        ax.scatter(points[y == k, 0], points[y == k, 1], s=4, marker=marker, label=f"class {k}")
    ax.set_title(name, fontsize=9)
    ax.set_xlim(-2.6, 2.6)
    ax.set_ylim(-2.6, 2.6)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
axes[0].legend(fontsize=7, loc="lower left", markerscale=2)
fig.tight_layout()
out_dir = Path(os.environ.get("GENAI_GUIDE_FIGURES", "."))
out_dir.mkdir(parents=True, exist_ok=True)
fig.savefig(out_dir / "cfg_toy.svg", metadata={"Date": None})
print("saved cfg_toy.svg")
# --8<-- [end:figure]
