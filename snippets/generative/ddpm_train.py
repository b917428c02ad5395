"""Train a tiny noise-prediction network on scikit-learn's 8x8 digits with DDPM's simple loss, sample it
with DDPM's 1000 steps and with DDIM's 50 and 10, and measure each sampler by a Fréchet distance."""

# --8<-- [start:model]
import torch
from sklearn.datasets import load_digits
from torch import nn

from genai_guide.diffusion import NoisePredictor, beta_schedule, cumulative_alphas, q_sample

torch.set_default_dtype(torch.float64)  # float64: the same training on every CPU
torch.set_num_threads(1)  # tiny matrices: one thread is fastest
torch.manual_seed(0)
digits = torch.tensor(load_digits().data) / 8 - 1  # (1797, 64): 8 x 8 grey levels 0-16 scaled to [-1, 1]
order = torch.randperm(len(digits))
train, held_out = digits[order[:1500]], digits[order[1500:]]  # (1500, 64), (297, 64)
T = 1000
alphas_cumprod = cumulative_alphas(beta_schedule("linear", T))  # DDPM's schedule, 1e-4 to 0.02

# eps_theta(x_t, t): the 64 noisy pixels and a 32-value sinusoidal embedding of t in, the predicted noise
# out, through two hidden layers of 128 SiLU units (genai_guide.diffusion.NoisePredictor, an MLP)
model = NoisePredictor()
print(f"noise predictor: {sum(p.numel() for p in model.parameters()):,} parameters")
# --8<-- [end:model]

# --8<-- [start:train]
steps = 1500
optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
decay = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1 - step / steps)  # linear decay to 0
for step in range(steps):
    x0 = train[torch.randint(0, len(train), (128,))]
    t = torch.randint(0, T, (128,))  # a random timestep per image
    eps = torch.randn_like(x0)
    loss = nn.functional.mse_loss(model(q_sample(x0, eps, t, alphas_cumprod), t), eps)  # L_simple
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    decay.step()

g = torch.Generator().manual_seed(1)  # a fixed test: held-out digits, timesteps and noise
t_test, eps_test = torch.randint(0, T, (len(held_out),), generator=g), torch.randn(held_out.shape, generator=g)
with torch.no_grad():
    test_loss = nn.functional.mse_loss(model(q_sample(held_out, eps_test, t_test, alphas_cumprod), t_test), eps_test)
print(f"held-out noise-prediction loss: {test_loss:.2f} (predicting zero noise: 1.00)")
assert test_loss < 0.3
# --8<-- [end:train]

# --8<-- [start:sample]
from genai_guide.diffusion import ddim_step, ddim_timesteps, ddpm_step


@torch.no_grad()
def sample(timesteps: list[int], ddim: bool, n: int = 128, seed: int = 2) -> torch.Tensor:
    """Run the reverse process from x_T ~ N(0, I) over `timesteps` (descending), DDPM or DDIM (eta = 0)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 64, generator=g)
    for i, t in enumerate(timesteps):
        prev_t = timesteps[i + 1] if i + 1 < len(timesteps) else -1
        eps_hat = model(x, torch.full((n,), t))
        if ddim:
            x, _ = ddim_step(eps_hat, t, prev_t, x, alphas_cumprod, use_clipped_model_output=True)
        else:
            x, _ = ddpm_step(eps_hat, t, x, alphas_cumprod, torch.randn(n, 64, generator=g), prev_t=prev_t)
    return x


samples = {"DDPM, 1000 steps": sample(list(range(T - 1, -1, -1)), ddim=False),
           "DDPM, 10 steps": sample(ddim_timesteps(T, 10), ddim=False),  # 900, 800, ..., 0
           "DDIM, 50 steps": sample(ddim_timesteps(T, 50), ddim=True),
           "DDIM, 10 steps": sample(ddim_timesteps(T, 10), ddim=True)}
# --8<-- [end:sample]

# --8<-- [start:fid]
from genai_guide.diffusion import feature_statistics, frechet_distance

real = feature_statistics(held_out)  # the features here are the 64 pixels themselves
noise = torch.randn(128, 64, generator=torch.Generator().manual_seed(3))
scores = {"1500 training digits": frechet_distance(*feature_statistics(train), *real),
          **{name: frechet_distance(*feature_statistics(x), *real) for name, x in samples.items()},
          "N(0, I) noise, clipped": frechet_distance(*feature_statistics(noise.clamp(-1, 1)), *real)}
print("Fréchet distance to the 297 held-out digits (pixel features):")
for name, score in scores.items():
    print(f"  {name:<24} {score:5.1f}")
assert all(scores[name] < scores["N(0, I) noise, clipped"] / 5 for name in samples)
# --8<-- [end:fid]

# --8<-- [start:figure]
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # draw to a file, no window
import matplotlib.pyplot as plt

plt.rcParams["svg.hashsalt"] = "genai-guide"  # stable ids: the same figure gives the same file


def mosaic(images: torch.Tensor, rows: int) -> torch.Tensor:
    """(n, 64) images in [-1, 1] -> one (rows * 9 - 1, cols * 9 - 1) picture with 1-pixel gaps."""
    cols = len(images) // rows
    canvas = torch.full((rows * 9 - 1, cols * 9 - 1), float("nan"))  # gaps drawn as background
    for i, image in enumerate(images):
        r, c = divmod(i, cols)
        canvas[r * 9 : r * 9 + 8, c * 9 : c * 9 + 8] = image.reshape(8, 8)
    return canvas.clamp(-1, 1).round(decimals=2)  # 2 decimals: the same picture on every CPU


shown = {"held-out digits": held_out[:36], "DDPM, 1000 steps": samples["DDPM, 1000 steps"][:36],
         "DDIM, 50 steps": samples["DDIM, 50 steps"][:36], "DDIM, 10 steps": samples["DDIM, 10 steps"][:36]}
fig, axes = plt.subplots(1, 4, figsize=(8.4, 2.5))
for ax, (name, images) in zip(axes, shown.items(), strict=True):
    ax.imshow(mosaic(images, rows=6), cmap="gray_r", vmin=-1, vmax=1, interpolation="nearest")
    ax.set_title(name, fontsize=9)
    ax.axis("off")
fig.tight_layout()
out_dir = Path(os.environ.get("GENAI_GUIDE_FIGURES", "."))
out_dir.mkdir(parents=True, exist_ok=True)
fig.savefig(out_dir / "ddpm_samples.svg", metadata={"Date": None})
print("saved ddpm_samples.svg")
# --8<-- [end:figure]
