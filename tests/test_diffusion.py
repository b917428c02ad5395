"""genai_guide.diffusion against diffusers' DDPMScheduler and DDIMScheduler, and SciPy for the Fréchet distance.

Schedules equal `.betas` and `.alphas_cumprod` (computed by diffusers in float32); `q_sample` equals
`add_noise`; `ddpm_step` equals `DDPMScheduler.step` with the noise its generator draws, for both
fixed variances, the three prediction types, with and without clipping, on every timestep of a short
schedule and on many of the 1000-step one, and after `set_timesteps` (skipped steps); `ddim_step`
equals `DDIMScheduler.step` at eta 0 and with `variance_noise` at eta > 0. To compare the step
arithmetic at float64 precision, the schedulers' `alphas_cumprod` are replaced by ours (float64).
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch
from diffusers import DDIMScheduler, DDPMScheduler

from genai_guide.diffusion import (
    NoisePredictor,
    beta_schedule,
    cumulative_alphas,
    ddim_step,
    ddim_timesteps,
    ddpm_step,
    feature_statistics,
    frechet_distance,
    posterior_mean_variance,
    predict_x0,
    q_sample,
    timestep_embedding,
)

DIFFUSERS_NAME = {"linear": "linear", "cosine": "squaredcos_cap_v2", "squaredcos_cap_v2": "squaredcos_cap_v2"}


def float64_scheduler(cls, ours: torch.Tensor, **config):
    scheduler = cls(**config)
    scheduler.alphas_cumprod = ours.clone()  # compare the arithmetic of the step, not float32 rounding
    return scheduler


@pytest.mark.parametrize("name", ["linear", "cosine", "squaredcos_cap_v2"])
@pytest.mark.parametrize("T", [1, 10, 1000])
def test_schedules_equal_diffusers(name, T):
    reference = DDPMScheduler(num_train_timesteps=T, beta_schedule=DIFFUSERS_NAME[name])
    betas = beta_schedule(name, T)
    assert betas.dtype == torch.float64 and betas.shape == (T,)
    torch.testing.assert_close(betas, reference.betas.double(), rtol=1e-6, atol=1e-9)
    torch.testing.assert_close(cumulative_alphas(betas), reference.alphas_cumprod.double(), rtol=2e-5, atol=1e-9)
    # in float32 the same operations give the same numbers
    betas32 = beta_schedule(name, T, dtype=torch.float32)
    assert torch.equal(betas32, reference.betas)
    assert torch.equal(cumulative_alphas(betas32), reference.alphas_cumprod)


def test_linear_schedule_with_other_ends_equals_diffusers():
    reference = DDPMScheduler(num_train_timesteps=50, beta_start=0.001, beta_end=0.1)
    assert torch.equal(beta_schedule("linear", 50, 0.001, 0.1, dtype=torch.float32), reference.betas)


def test_paper_values():
    ab = cumulative_alphas(beta_schedule("linear"))
    assert ab[0].item() == pytest.approx(0.9999)
    assert ab[-1].item() == pytest.approx(4.04e-5, rel=1e-2)  # x_T is almost pure noise
    cos = cumulative_alphas(beta_schedule("cosine"))
    f = lambda t: np.cos((t / 1000 + 0.008) / 1.008 * np.pi / 2) ** 2
    assert cos[499].item() == pytest.approx(f(500) / f(0), rel=1e-12)


@pytest.mark.parametrize("shape", [(5, 3), (4, 1, 8, 8), (3, 2, 5)])
def test_q_sample_equals_add_noise(shape):
    g = torch.Generator().manual_seed(0)
    ab = cumulative_alphas(beta_schedule("linear"))
    scheduler = float64_scheduler(DDPMScheduler, ab)
    for _ in range(20):
        x0, noise = torch.randn(shape, generator=g, dtype=torch.float64), torch.randn(shape, generator=g, dtype=torch.float64)
        t = torch.randint(0, 1000, (shape[0],), generator=g)
        torch.testing.assert_close(q_sample(x0, noise, t, ab), scheduler.add_noise(x0, noise, t), rtol=0, atol=1e-14)
        one = int(t[0])
        torch.testing.assert_close(q_sample(x0, noise, one, ab), scheduler.add_noise(x0, noise, t[:1].expand(shape[0])),
                                   rtol=0, atol=1e-14)


def test_q_sample_in_float32_equals_add_noise_with_its_own_schedule():
    scheduler = DDPMScheduler(beta_schedule="squaredcos_cap_v2")
    g = torch.Generator().manual_seed(1)
    x0, noise = torch.randn(16, 1, 8, 8, generator=g), torch.randn(16, 1, 8, 8, generator=g)
    t = torch.randint(0, 1000, (16,), generator=g)
    ours = q_sample(x0, noise, t, cumulative_alphas(beta_schedule("cosine")))
    assert ours.dtype == torch.float32
    torch.testing.assert_close(ours, scheduler.add_noise(x0, noise, t), rtol=1e-5, atol=1e-6)


def test_q_sample_has_the_closed_form_moments():
    ab = cumulative_alphas(beta_schedule("linear"))
    g = torch.Generator().manual_seed(2)
    x0 = torch.full((200_000,), 0.7, dtype=torch.float64)
    xt = q_sample(x0, torch.randn(200_000, generator=g, dtype=torch.float64), 300, ab)
    assert xt.mean().item() == pytest.approx(ab[300].sqrt().item() * 0.7, abs=5e-3)
    assert xt.var().item() == pytest.approx(1 - ab[300].item(), rel=1e-2)


def test_posterior_mean_variance_equal_the_paper_and_ddpm_algorithm_2():
    betas = beta_schedule("linear", 100)
    ab = cumulative_alphas(betas)
    g = torch.Generator().manual_seed(3)
    for t in [0, 1, 17, 50, 99]:
        x0, xt, eps = (torch.randn(6, 4, generator=g, dtype=torch.float64) for _ in range(3))
        mean, var = posterior_mean_variance(x0, xt, t, ab)
        ab_prev = ab[t - 1] if t > 0 else torch.tensor(1.0, dtype=torch.float64)
        expected = ab_prev.sqrt() * betas[t] / (1 - ab[t]) * x0 + (1 - betas[t]).sqrt() * (1 - ab_prev) / (1 - ab[t]) * xt
        torch.testing.assert_close(mean, expected)
        torch.testing.assert_close(var, (1 - ab_prev) / (1 - ab[t]) * betas[t])
        # with x0 estimated from the predicted noise, the mean is Algorithm 2's
        x0_hat, _ = predict_x0(eps, xt, t, ab)
        mean, _ = posterior_mean_variance(x0_hat, xt, t, ab)
        torch.testing.assert_close(mean, (xt - betas[t] / (1 - ab[t]).sqrt() * eps) / (1 - betas[t]).sqrt())


@pytest.mark.parametrize("variance_type", ["fixed_small", "fixed_large"])
@pytest.mark.parametrize("prediction_type", ["epsilon", "sample", "v_prediction"])
@pytest.mark.parametrize("clip", [True, False])
def test_ddpm_step_equals_diffusers_on_every_timestep(variance_type, prediction_type, clip):
    T = 50
    ab = cumulative_alphas(beta_schedule("cosine", T))
    scheduler = float64_scheduler(DDPMScheduler, ab, num_train_timesteps=T, beta_schedule="squaredcos_cap_v2",
                                  variance_type=variance_type, prediction_type=prediction_type, clip_sample=clip)
    g = torch.Generator().manual_seed(4)
    x = torch.randn(3, 2, 4, 4, generator=g, dtype=torch.float64) * 1.5
    for t in range(T - 1, -1, -1):
        out = torch.randn(x.shape, generator=g, dtype=torch.float64)
        reference = scheduler.step(out, t, x, generator=torch.Generator().manual_seed(t))
        noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(t), dtype=torch.float64)
        prev, x0_hat = ddpm_step(out, t, x, ab, noise, variance_type=variance_type,
                                 prediction_type=prediction_type, clip_sample=1.0 if clip else None)
        torch.testing.assert_close(x0_hat, reference.pred_original_sample, rtol=0, atol=1e-12)
        torch.testing.assert_close(prev, reference.prev_sample, rtol=0, atol=1e-12)
        x = reference.prev_sample


def test_ddpm_step_equals_diffusers_on_the_1000_step_schedule_in_float32():
    scheduler = DDPMScheduler()  # linear, fixed_small, epsilon, clip to [-1, 1]; float32 schedule
    ab = cumulative_alphas(beta_schedule("linear", dtype=torch.float32))
    assert torch.equal(ab, scheduler.alphas_cumprod)
    g = torch.Generator().manual_seed(5)
    for t in list(range(0, 1000, 37)) + [1, 999]:
        x, out = torch.randn(2, 1, 8, 8, generator=g), torch.randn(2, 1, 8, 8, generator=g)
        reference = scheduler.step(out, t, x, generator=torch.Generator().manual_seed(t)).prev_sample
        noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(t))
        torch.testing.assert_close(ddpm_step(out, t, x, ab, noise)[0], reference, rtol=0, atol=1e-6)


def test_ddpm_step_with_skipped_timesteps_equals_diffusers_after_set_timesteps():
    ab = cumulative_alphas(beta_schedule("linear"))
    scheduler = float64_scheduler(DDPMScheduler, ab)
    scheduler.set_timesteps(20)
    timesteps = scheduler.timesteps.tolist()
    g = torch.Generator().manual_seed(6)
    x = torch.randn(4, 8, generator=g, dtype=torch.float64)
    for i, t in enumerate(timesteps):
        prev_t = timesteps[i + 1] if i + 1 < len(timesteps) else -1
        out = torch.randn(x.shape, generator=g, dtype=torch.float64)
        reference = scheduler.step(out, t, x, generator=torch.Generator().manual_seed(i)).prev_sample
        noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(i), dtype=torch.float64)
        torch.testing.assert_close(ddpm_step(out, t, x, ab, noise, prev_t=prev_t)[0], reference, rtol=0, atol=1e-12)
        x = reference


@pytest.mark.parametrize("S", [1, 7, 10, 50, 1000])
def test_ddim_timesteps_equal_set_timesteps(S):
    for offset in (0, 1):
        scheduler = DDIMScheduler(steps_offset=offset)
        scheduler.set_timesteps(S)
        assert ddim_timesteps(1000, S, offset) == scheduler.timesteps.tolist()


@pytest.mark.parametrize("prediction_type", ["epsilon", "sample", "v_prediction"])
@pytest.mark.parametrize("eta", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("clip", [True, False])
@pytest.mark.parametrize("recompute", [True, False])
def test_ddim_sampling_equals_diffusers(prediction_type, eta, clip, recompute):
    ab = cumulative_alphas(beta_schedule("linear"))
    scheduler = float64_scheduler(DDIMScheduler, ab, prediction_type=prediction_type, clip_sample=clip)
    scheduler.set_timesteps(25)
    g = torch.Generator().manual_seed(7)
    x = torch.randn(3, 1, 8, 8, generator=g, dtype=torch.float64)
    for t in scheduler.timesteps.tolist():
        out = torch.randn(x.shape, generator=g, dtype=torch.float64)
        noise = torch.randn(x.shape, generator=g, dtype=torch.float64) if eta > 0 else None
        reference = scheduler.step(out * 3, t, x, eta=eta, variance_noise=noise, use_clipped_model_output=recompute)
        prev, x0_hat = ddim_step(out * 3, t, t - 1000 // 25, x, ab, eta=eta, noise=noise,
                                 prediction_type=prediction_type, clip_sample=1.0 if clip else None,
                                 use_clipped_model_output=recompute)
        torch.testing.assert_close(x0_hat, reference.pred_original_sample, rtol=0, atol=1e-12)
        torch.testing.assert_close(prev, reference.prev_sample, rtol=0, atol=1e-12)
        x = reference.prev_sample


def test_ddim_with_eta_1_has_the_ddpm_variance():
    ab = cumulative_alphas(beta_schedule("linear", 100))
    g = torch.Generator().manual_seed(8)
    x, out, z = (torch.randn(5, 3, generator=g, dtype=torch.float64) for _ in range(3))
    for t in (1, 40, 99):
        ddim, _ = ddim_step(out, t, t - 1, x, ab, eta=1.0, noise=z, clip_sample=None)
        ddpm, _ = ddpm_step(out, t, x, ab, z, clip_sample=None)
        torch.testing.assert_close(ddim, ddpm)


def test_ddim_at_eta_0_inverts_q_sample_when_the_noise_is_known():
    ab = cumulative_alphas(beta_schedule("cosine"))
    g = torch.Generator().manual_seed(9)
    x0, eps = torch.rand(4, 8, generator=g, dtype=torch.float64) * 2 - 1, torch.randn(4, 8, generator=g, dtype=torch.float64)
    x = q_sample(x0, eps, 900, ab)
    for t in ddim_timesteps(1000, 10):  # 900, 800, ..., 0, then past the end  # the exact noise keeps x_t on the same trajectory
        x, _ = ddim_step(eps, t, t - 100, x, ab)
    torch.testing.assert_close(x, x0)


# ---------------------------------------------------------------------------------------- Fréchet


def scipy_frechet(mu1, s1, mu2, s2) -> float:
    """The reference formula of pytorch-fid / TTUR: scipy.linalg.sqrtm of the product."""
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    covmean = covmean.real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def random_spd(rng: np.random.Generator, d: int) -> np.ndarray:
    a = rng.standard_normal((d, d))
    return a @ a.T / d + 0.1 * np.eye(d)


@pytest.mark.parametrize("d", [1, 2, 5, 16, 64])
def test_frechet_distance_equals_scipy_reference(d):
    rng = np.random.default_rng(d)
    for _ in range(10):
        mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d)
        s1, s2 = random_spd(rng, d), random_spd(rng, d)
        ours = frechet_distance(*(torch.from_numpy(a) for a in (mu1, s1, mu2, s2)))
        assert ours == pytest.approx(scipy_frechet(mu1, s1, mu2, s2), rel=1e-9, abs=1e-9)


def test_frechet_distance_closed_forms():
    rng = np.random.default_rng(0)
    mu, s = torch.from_numpy(rng.standard_normal(8)), torch.from_numpy(random_spd(rng, 8))
    assert frechet_distance(mu, s, mu, s) == pytest.approx(0, abs=1e-10)
    # diagonal covariances: |mu1 - mu2|^2 + sum (sqrt(a_i) - sqrt(b_i))^2
    a, b = torch.from_numpy(rng.uniform(0.1, 3, 8)), torch.from_numpy(rng.uniform(0.1, 3, 8))
    mu2 = mu + 0.5
    expected = ((mu - mu2) ** 2).sum() + ((a.sqrt() - b.sqrt()) ** 2).sum()
    assert frechet_distance(mu, torch.diag(a), mu2, torch.diag(b)) == pytest.approx(expected.item(), rel=1e-12)
    # singular covariances (constant features) stay finite and real
    singular = torch.diag(torch.tensor([1.0, 0.0, 2.0], dtype=torch.float64))
    assert frechet_distance(torch.zeros(3, dtype=torch.float64), singular, torch.zeros(3, dtype=torch.float64),
                            singular) == pytest.approx(0, abs=1e-12)


def test_feature_statistics_equal_numpy():
    rng = np.random.default_rng(1)
    f = rng.standard_normal((50, 6))
    mu, sigma = feature_statistics(torch.from_numpy(f))
    np.testing.assert_allclose(mu.numpy(), f.mean(0), rtol=1e-12)
    np.testing.assert_allclose(sigma.numpy(), np.cov(f, rowvar=False), rtol=1e-12, atol=1e-14)


# -------------------------------------------------------------------------------------- denoiser


@pytest.fixture
def float64_default():
    """What the book's programs do before building a model: torch.set_default_dtype(torch.float64)."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


@pytest.mark.parametrize("dim,max_period", [(32, 1000.0), (16, 10000.0), (2, 50.0)])
def test_timestep_embedding_equals_diffusers(dim, max_period, float64_default):
    from diffusers.models.embeddings import get_timestep_embedding

    t = torch.tensor([0, 1, 7, 250, 999])
    ours = timestep_embedding(t, dim, max_period=max_period)
    theirs = get_timestep_embedding(t, dim, downscale_freq_shift=0, max_period=max_period)  # float32
    assert ours.dtype == torch.float64 and ours.shape == (5, dim)
    torch.testing.assert_close(ours, theirs.to(torch.float64), rtol=0, atol=2e-4)  # float32 angles up to ~1000
    small = torch.tensor([0.0, 0.5, 3.0])  # small angles: float32 is exact to 1e-6
    torch.testing.assert_close(timestep_embedding(small, dim, max_period), get_timestep_embedding(
        small, dim, downscale_freq_shift=0, max_period=max_period).to(torch.float64), rtol=0, atol=1e-6)


def test_noise_predictor_uses_the_timestep_embedding(float64_default):
    torch.manual_seed(0)
    model = NoisePredictor(dim=64, hidden=128, t_dim=32)
    assert sum(p.numel() for p in model.parameters()) == (96 * 128 + 128) + (128 * 128 + 128) + (128 * 64 + 64) == 37184
    x, t = torch.randn(5, 64, dtype=torch.float64), torch.tensor([0, 3, 100, 500, 999])
    by_hand = model.net(torch.cat([x, timestep_embedding(t, 32)], dim=1))
    torch.testing.assert_close(model(x, t), by_hand, rtol=0, atol=1e-12)
    assert model(x, t).shape == (5, 64)
    assert not torch.allclose(model(x, t), model(x, t + 1))  # the output depends on t


def test_noise_predictor_learns_a_noise(float64_default):
    """A few hundred steps of L_simple on a fixed point bring the loss well below 1 (predicting zero)."""
    torch.manual_seed(0)
    model = NoisePredictor(dim=4, hidden=32, t_dim=8)
    ab = cumulative_alphas(beta_schedule("linear", 100))
    x0 = torch.tensor([[1.0, -1.0, 0.5, 0.0]], dtype=torch.float64).expand(64, 4)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(300):
        t, eps = torch.randint(0, 100, (64,)), torch.randn(64, 4, dtype=torch.float64)
        loss = torch.nn.functional.mse_loss(model(q_sample(x0, eps, t, ab), t), eps)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.2


# -------------------------------------------------------------------------------------- bad input


def test_bad_input_is_rejected_by_name():
    ab = cumulative_alphas(beta_schedule("linear", 10))
    x = torch.zeros(2, 3, dtype=torch.float64)
    with pytest.raises(ValueError, match="name must be one of"):
        beta_schedule("quadratic")
    with pytest.raises(ValueError, match="num_timesteps must be >= 1"):
        beta_schedule("linear", 0)
    with pytest.raises(TypeError, match="num_timesteps must be an int"):
        beta_schedule("linear", 10.0)
    with pytest.raises(ValueError, match="beta_start and beta_end"):
        beta_schedule("linear", 10, beta_start=0.1, beta_end=0.01)
    with pytest.raises(ValueError, match="betas must lie in"):
        cumulative_alphas(torch.tensor([0.5, 1.5]))
    with pytest.raises(TypeError, match="betas must have a floating dtype"):
        cumulative_alphas(torch.tensor([1, 2]))
    with pytest.raises(ValueError, match="noise must have the shape of x0"):
        q_sample(x, torch.zeros(2, 4, dtype=torch.float64), 3, ab)
    with pytest.raises(ValueError, match=r"t must be < 10"):
        q_sample(x, x, 10, ab)
    with pytest.raises(ValueError, match=r"t must be >= 0"):
        q_sample(x, x, -1, ab)
    with pytest.raises(ValueError, match=r"t must lie in \[0, 10\)"):
        q_sample(x, x, torch.tensor([0, 10]), ab)
    with pytest.raises(ValueError, match=r"t must be an int or have shape"):
        q_sample(x, x, torch.tensor([0, 1, 2]), ab)
    with pytest.raises(TypeError, match="t must hold integer timesteps"):
        q_sample(x, x, torch.tensor([0.0, 1.0]), ab)
    with pytest.raises(ValueError, match="alphas_cumprod must be a non-empty 1-D"):
        q_sample(x, x, 0, ab[None])
    with pytest.raises(ValueError, match="model_output must have the shape of x_t"):
        ddpm_step(torch.zeros(2, 4, dtype=torch.float64), 3, x, ab, x)
    with pytest.raises(ValueError, match="noise is required"):
        ddpm_step(x, 3, x, ab)
    with pytest.raises(ValueError, match="variance_type must be one of"):
        ddpm_step(x, 3, x, ab, x, variance_type="learned")
    with pytest.raises(ValueError, match="prediction_type must be one of"):
        ddpm_step(x, 3, x, ab, x, prediction_type="score")
    with pytest.raises(ValueError, match="clip_sample must be a positive number"):
        ddpm_step(x, 3, x, ab, x, clip_sample=0)
    with pytest.raises(ValueError, match=r"t must be < 10"):
        ddpm_step(x, 12, x, ab, x)
    with pytest.raises(ValueError, match=r"prev_t must be < 3"):
        posterior_mean_variance(x, x, 3, ab, prev_t=3)
    with pytest.raises(ValueError, match=r"prev_t must be < 5"):
        ddim_step(x, 5, 7, x, ab)
    with pytest.raises(ValueError, match="eta must be a number >= 0"):
        ddim_step(x, 5, 4, x, ab, eta=-0.1)
    with pytest.raises(ValueError, match="noise is required when eta > 0"):
        ddim_step(x, 5, 4, x, ab, eta=0.5)
    with pytest.raises(ValueError, match="num_inference_steps must be <= num_train_timesteps"):
        ddim_timesteps(10, 11)
    with pytest.raises(ValueError, match=r"features must have shape \(n, d\)"):
        feature_statistics(torch.zeros(1, 3))
    with pytest.raises(ValueError, match=r"sigma2 must have shape \(2, 2\)"):
        frechet_distance(torch.zeros(2), torch.eye(2), torch.zeros(2), torch.eye(3))
    with pytest.raises(TypeError, match="mu1 must be a torch.Tensor"):
        frechet_distance(np.zeros(2), torch.eye(2), torch.zeros(2), torch.eye(2))
    with pytest.raises(ValueError, match="dim must be even"):
        timestep_embedding(torch.tensor([1]), 3)
    with pytest.raises(ValueError, match="t must be a 1-D tensor"):
        timestep_embedding(torch.tensor(1), 4)
    with pytest.raises(TypeError, match="t must be a torch.Tensor"):
        timestep_embedding([1, 2], 4)
    with pytest.raises(ValueError, match="max_period must be a positive number"):
        timestep_embedding(torch.tensor([1]), 4, max_period=0)
    with pytest.raises(ValueError, match="t_dim must be even"):
        NoisePredictor(t_dim=5)
    with pytest.raises(ValueError, match="hidden must be >= 1"):
        NoisePredictor(hidden=0)
    with pytest.raises(ValueError, match=r"x_t must have shape \(batch, 64\)"):
        NoisePredictor()(torch.zeros(2, 63), torch.tensor([1, 2]))
    with pytest.raises(TypeError, match="x_t must have a floating dtype"):
        NoisePredictor()(torch.zeros(2, 64, dtype=torch.long), torch.tensor([1, 2]))
    with pytest.raises(ValueError, match=r"t must have shape \(batch,\) = \(2,\)"):
        NoisePredictor()(torch.zeros(2, 64), torch.tensor([1, 2, 3]))
