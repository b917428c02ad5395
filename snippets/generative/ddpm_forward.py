"""The forward process of DDPM: the linear and cosine noise schedules and q(x_t | x_0) in one step,
equal to diffusers' DDPMScheduler, with a figure of a digit destroyed by each schedule."""

# --8<-- [start:schedules]
import torch
from diffusers import DDPMScheduler

from genai_guide.diffusion import beta_schedule, cumulative_alphas, q_sample

T = 1000
ours = {name: cumulative_alphas(beta_schedule(name, T)) for name in ("linear", "cosine")}  # float64
theirs = {"linear": DDPMScheduler(beta_schedule="linear").alphas_cumprod,  # float32
          "cosine": DDPMScheduler(beta_schedule="squaredcos_cap_v2").alphas_cumprod}
print(f"{'t':>4}  {'alpha_bar linear':>16}  {'cosine':>8}  {'SNR linear':>10}  {'cosine':>9}")
for t in (0, 100, 250, 500, 750, 999):
    snr = {name: ab[t] / (1 - ab[t]) for name, ab in ours.items()}  # signal-to-noise ratio
    print(f"{t:>4}  {ours['linear'][t]:16.6f}  {ours['cosine'][t]:8.6f}  {snr['linear']:10.4g}  {snr['cosine']:9.4g}")
for name, alpha_bar in ours.items():
    assert torch.allclose(alpha_bar, theirs[name].double(), rtol=2e-5, atol=1e-9)
    assert torch.equal(cumulative_alphas(beta_schedule(name, T, dtype=torch.float32)), theirs[name])
print("both schedules equal DDPMScheduler's alphas_cumprod")
# --8<-- [end:schedules]

# --8<-- [start:forward]
from sklearn.datasets import load_digits

x0 = torch.tensor(load_digits().data[:1]).reshape(1, 1, 8, 8) / 8 - 1  # one digit, pixels scaled to [-1, 1]
noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
strip = [0, 50, 100, 250, 500, 999]
noisy = {name: [q_sample(x0, noise, t, ours[name]) for t in strip] for name in ours}  # x_t in one step each
reference = DDPMScheduler(beta_schedule="squaredcos_cap_v2")
ab32 = cumulative_alphas(beta_schedule("cosine", T, dtype=torch.float32))  # diffusers keeps alpha_bar in float32
for t in strip:
    assert torch.equal(q_sample(x0, noise, t, ab32), reference.add_noise(x0, noise, torch.tensor([t])))
print(f"q_sample equals DDPMScheduler.add_noise at t = {strip}")
# --8<-- [end:forward]

# --8<-- [start:figure]
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # draw to a file, no window
import matplotlib.pyplot as plt

plt.rcParams["svg.hashsalt"] = "genai-guide"  # stable ids: the same figure gives the same file
fig = plt.figure(figsize=(7.2, 3.4))
grid = fig.add_gridspec(2, 7, width_ratios=[2.6, 1, 1, 1, 1, 1, 1])
curve = fig.add_subplot(grid[:, 0])
for name, style in (("linear", "-"), ("cosine", "--")):
    curve.plot(range(T), ours[name].round(decimals=4), style, label=name)  # 4 decimals: the same on every CPU
curve.set_xlabel("timestep t")
curve.set_title(r"$\bar\alpha_t$ (signal kept)", fontsize=10)
curve.legend(fontsize=8)
for row, name in enumerate(ours):
    for col, (t, x_t) in enumerate(zip(strip, noisy[name], strict=True)):
        ax = fig.add_subplot(grid[row, col + 1])
        ax.imshow(x_t[0, 0].clamp(-1, 1).round(decimals=2), cmap="gray_r", vmin=-1, vmax=1, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        if row == 0:
            ax.set_title(f"t={t}", fontsize=8)
        if col == 0:
            ax.set_ylabel(name, fontsize=8)
fig.tight_layout()
out_dir = Path(os.environ.get("GENAI_GUIDE_FIGURES", "."))
out_dir.mkdir(parents=True, exist_ok=True)
fig.savefig(out_dir / "ddpm_forward.svg", metadata={"Date": None})
print("saved ddpm_forward.svg")
# --8<-- [end:figure]
