"""One reverse step of DDPM (posterior mean and variance, both fixed variances) and one DDIM step,
each equal to diffusers' scheduler on random inputs."""

# --8<-- [start:ddpm]
import torch
from diffusers import DDIMScheduler, DDPMScheduler

from genai_guide.diffusion import (
    beta_schedule,
    cumulative_alphas,
    ddim_step,
    ddpm_step,
    posterior_mean_variance,
)

torch.set_default_dtype(torch.float64)
betas = beta_schedule("linear", 1000)
ab = cumulative_alphas(betas)
g = torch.Generator().manual_seed(0)
x_t, eps_hat = torch.randn(4, 1, 8, 8, generator=g), torch.randn(4, 1, 8, 8, generator=g)  # a sample, a "prediction"

t = 500
x0_hat = (x_t - (1 - ab[t]).sqrt() * eps_hat) / ab[t].sqrt()  # invert q(x_t | x_0) with the predicted noise
mean, var = posterior_mean_variance(x0_hat, x_t, t, ab)  # q(x_{t-1} | x_t, x0_hat)
algorithm_2 = (x_t - betas[t] / (1 - ab[t]).sqrt() * eps_hat) / (1 - betas[t]).sqrt()  # Ho et al., Algorithm 2
assert torch.allclose(mean, algorithm_2)
print(f"t = {t}: beta_t = {betas[t]:.6f}, posterior variance beta~_t = {var:.6f}")

for variance_type in ("fixed_small", "fixed_large"):
    scheduler = DDPMScheduler(variance_type=variance_type, clip_sample=False)
    scheduler.alphas_cumprod = ab  # our float64 schedule: compare the arithmetic, not float32 rounding
    worst = 0.0
    for t in range(999, -1, -111):  # 999, 888, ..., 0 (at t = 0 no noise is added)
        theirs = scheduler.step(eps_hat, t, x_t, generator=torch.Generator().manual_seed(t)).prev_sample
        z = torch.randn(x_t.shape, generator=torch.Generator().manual_seed(t))  # the noise their generator draws
        ours, _ = ddpm_step(eps_hat, t, x_t, ab, z, variance_type=variance_type, clip_sample=None)
        worst = max(worst, (ours - theirs).abs().max().item())
    assert worst < 1e-12
    print(f"ddpm_step equals DDPMScheduler.step ({variance_type}) at t = 999, 888, ..., 0")
# --8<-- [end:ddpm]

# --8<-- [start:ddim]
scheduler = DDIMScheduler()  # eta = 0 by default: deterministic; clips x0_hat to [-1, 1]
scheduler.alphas_cumprod = ab
scheduler.set_timesteps(10)  # 10 of the 1000 steps: 900, 800, ..., 0
timesteps = scheduler.timesteps.tolist()
x_ours = x_theirs = torch.randn(4, 1, 8, 8, generator=g)
for t in timesteps:
    eps_hat = torch.randn(4, 1, 8, 8, generator=g)  # a stand-in for the network's output
    x_theirs = scheduler.step(eps_hat, t, x_theirs).prev_sample
    x_ours, _ = ddim_step(eps_hat, t, t - 100, x_ours, ab)
print("DDIM timesteps:", timesteps)
assert torch.allclose(x_ours, x_theirs, rtol=0, atol=1e-12)
print("10 ddim_step calls equal 10 DDIMScheduler.step calls (eta = 0: no noise drawn)")
# --8<-- [end:ddim]
