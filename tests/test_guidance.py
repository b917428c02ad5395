"""genai_guide.guidance against diffusers.

`classifier_free_guidance` equals the line of `StableDiffusionPipeline.__call__` that combines the two
halves of the batch, and Ho & Salimans' form equals it with s = 1 + w; classifier guidance equals
Dhariwal & Nichol's Algorithm 2 and its gradient a closed form; the hand-written latent-diffusion loop
equals a tiny `StableDiffusionPipeline` (float64, DDIM and PNDM, with and without guidance).
"""

from __future__ import annotations

import math

import pytest
import torch
from diffusers import (
    DDIMScheduler,
    PNDMScheduler,
    StableDiffusionPipeline,
    UNet2DConditionModel,
)

from genai_guide.diffusion import beta_schedule, cumulative_alphas
from genai_guide.guidance import (
    cfg_weight_to_scale,
    classifier_free_guidance,
    classifier_free_guidance_ho,
    classifier_guided_noise,
    classifier_log_prob_grad,
    encode_prompts,
    latent_diffusion_sample,
)
from tests.tiny_sd import tiny_text_encoder_and_vae


def _randn(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize("scale", [0.0, 1.0, 2.5, 7.5, 20.0])
def test_cfg_equals_diffusers_formula(scale):
    u, c = _randn(2, 4, 8, 8, seed=1), _randn(2, 4, 8, 8, seed=2)
    noise_pred = torch.cat([u, c])  # the pipeline's batch: negative prompt first
    noise_pred_uncond, noise_pred_text = noise_pred.chunk(2)
    theirs = noise_pred_uncond + scale * (noise_pred_text - noise_pred_uncond)  # StableDiffusionPipeline.__call__
    assert torch.equal(classifier_free_guidance(u, c, scale), theirs)


@pytest.mark.parametrize("w", [0.0, 0.5, 1.0, 3.0, 6.5])
def test_ho_salimans_form_is_scale_one_plus_w(w):
    u, c = _randn(3, 5, seed=3), _randn(3, 5, seed=4)
    assert cfg_weight_to_scale(w) == 1 + w
    assert torch.allclose(classifier_free_guidance_ho(c, u, w), classifier_free_guidance(u, c, 1 + w), atol=1e-12)


def test_cfg_scale_zero_and_one():
    u, c = _randn(4, seed=5), _randn(4, seed=6)
    assert torch.equal(classifier_free_guidance(u, c, 0.0), u)
    assert torch.allclose(classifier_free_guidance(u, c, 1.0), c, rtol=0, atol=1e-15)  # u + (c - u): rounding only
    assert torch.equal(classifier_free_guidance_ho(c, u, 0.0), c)


def test_cfg_rejects_bad_input():
    u = _randn(2, 3)
    with pytest.raises(ValueError, match="guidance_scale"):
        classifier_free_guidance(u, u, -1.0)
    with pytest.raises(ValueError, match="guidance_scale"):
        classifier_free_guidance(u, u, math.inf)
    with pytest.raises(ValueError, match="noise_cond"):
        classifier_free_guidance(u, _randn(2, 4), 2.0)
    with pytest.raises(TypeError, match="noise_uncond"):
        classifier_free_guidance(torch.zeros(2, 3, dtype=torch.long), u, 2.0)
    with pytest.raises(TypeError, match="guidance_scale"):
        classifier_free_guidance(u, u, "7.5")
    with pytest.raises(ValueError, match="w"):
        cfg_weight_to_scale(-0.5)
    with pytest.raises(ValueError, match="noise_uncond"):
        classifier_free_guidance_ho(u, _randn(3, 2), 1.0)


# ---------------------------------------------------------------------------- classifier guidance

CENTERS = torch.tensor([[1.0, 0.0], [-0.5, 0.8], [-0.5, -0.8]], dtype=torch.float64)
AB = cumulative_alphas(beta_schedule("linear", 1000))


def _mixture_classifier(x_t, t):
    ab = AB[t][:, None]
    return -((x_t[:, None] - ab[..., None] ** 0.5 * CENTERS) ** 2).sum(-1) / (2 * (ab * 0.25 + 1 - ab))


@pytest.mark.parametrize("t", [0, 300, 999])
def test_classifier_gradient_equals_closed_form(t):
    x, y = _randn(6, 2, seed=7), torch.tensor([0, 1, 2, 2, 1, 0])
    tt = torch.full((6,), t)
    grad = classifier_log_prob_grad(_mixture_classifier, x, tt, y)
    ab = AB[t]
    v = ab * 0.25 + 1 - ab
    p = _mixture_classifier(x, tt).softmax(dim=1)
    closed = (-(x - ab**0.5 * CENTERS[y]) + (p[..., None] * (x[:, None] - ab**0.5 * CENTERS)).sum(1)) / v
    assert torch.allclose(grad, closed, atol=1e-12)
    assert not x.requires_grad


@pytest.mark.parametrize(("t", "scale"), [(0, 1.0), (500, 3.0), (999, 10.0)])
def test_classifier_guided_noise_is_algorithm_2(t, scale):
    eps, grad = _randn(4, 2, seed=8), _randn(4, 2, seed=9)
    expected = eps - scale * math.sqrt(1 - AB[t].item()) * grad  # Dhariwal & Nichol 2021, Algorithm 2 (scaled)
    assert torch.allclose(classifier_guided_noise(eps, grad, t, AB, scale), expected, atol=1e-14)
    assert torch.equal(classifier_guided_noise(eps, grad, t, AB, 0.0), eps)


def test_classifier_guidance_rejects_bad_input():
    eps = _randn(4, 2)
    with pytest.raises(ValueError, match="scale"):
        classifier_guided_noise(eps, eps, 10, AB, -1.0)
    with pytest.raises(ValueError, match="grad_log_prob"):
        classifier_guided_noise(eps, _randn(4, 3), 10, AB, 1.0)
    with pytest.raises(ValueError, match="t must lie"):
        classifier_guided_noise(eps, eps, 1000, AB, 1.0)
    with pytest.raises(TypeError, match="labels"):
        classifier_log_prob_grad(_mixture_classifier, eps, torch.zeros(4, dtype=torch.long), torch.zeros(4))
    with pytest.raises(ValueError, match="labels"):
        classifier_log_prob_grad(_mixture_classifier, eps, torch.zeros(4, dtype=torch.long),
                                 torch.zeros(3, dtype=torch.long))


# ---------------------------------------------------------------------------- latent diffusion loop


@pytest.fixture(scope="module")
def tiny_parts():
    torch.manual_seed(0)
    tokenizer, text_encoder, vae = tiny_text_encoder_and_vae("a photo of red blue circle", max_length=12)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        unet = UNet2DConditionModel(
            sample_size=4, in_channels=4, out_channels=4, block_out_channels=(8, 16), layers_per_block=1,
            down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
            up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=16, attention_head_dim=2,
            norm_num_groups=4).eval()
    finally:
        torch.set_default_dtype(previous)
    return tokenizer, text_encoder, vae, unet


def _scheduler(kind):
    config = {"beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012, "steps_offset": 1,
              "set_alpha_to_one": False}
    if kind == "ddim":
        return DDIMScheduler(clip_sample=False, **config)
    return PNDMScheduler(skip_prk_steps=True, **config)


@pytest.mark.parametrize(("kind", "scale", "prompt", "negative"),
                         [("ddim", 7.5, "a red circle", None), ("ddim", 1.0, "a blue photo", None),
                          ("pndm", 4.0, "a photo of a circle", None), ("ddim", 3.0, "a red circle", "blue")])
def test_loop_equals_stable_diffusion_pipeline(tiny_parts, kind, scale, prompt, negative):
    tokenizer, text_encoder, vae, unet = tiny_parts
    scheduler = _scheduler(kind)
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                                   scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    latents = _randn(2, 4, 4, 4, seed=10)
    theirs = pipe([prompt] * 2, negative_prompt=None if negative is None else [negative] * 2, height=8, width=8,
                  num_inference_steps=4, guidance_scale=scale, latents=latents, output_type="pt").images
    cond = encode_prompts(tokenizer, text_encoder, [prompt] * 2)
    uncond = encode_prompts(tokenizer, text_encoder, [negative or ""] * 2)
    ours = latent_diffusion_sample(unet, vae, _scheduler(kind), cond, uncond, latents, 4, scale)
    assert ours.dtype == torch.float64 and ours.shape == (2, 3, 8, 8)
    assert torch.allclose(ours, theirs, rtol=0, atol=1e-12)


def test_encode_prompts_matches_pipeline(tiny_parts):
    tokenizer, text_encoder, vae, unet = tiny_parts
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                                   scheduler=_scheduler("ddim"), safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
    cond, uncond = pipe.encode_prompt("a red circle", "cpu", 1, True)
    assert torch.equal(encode_prompts(tokenizer, text_encoder, ["a red circle"]), cond)
    assert torch.equal(encode_prompts(tokenizer, text_encoder, [""]), uncond)


def test_loop_rejects_bad_input(tiny_parts):
    tokenizer, text_encoder, vae, unet = tiny_parts
    e = encode_prompts(tokenizer, text_encoder, ["a"])
    z = _randn(1, 4, 4, 4)
    with pytest.raises(ValueError, match="guidance_scale"):
        latent_diffusion_sample(unet, vae, _scheduler("ddim"), e, e, z, 2, -3.0)
    with pytest.raises(ValueError, match="negative_embeds"):
        latent_diffusion_sample(unet, vae, _scheduler("ddim"), e, e[:, :5], z, 2, 3.0)
    with pytest.raises(ValueError, match="latents"):
        latent_diffusion_sample(unet, vae, _scheduler("ddim"), e, e, _randn(2, 4, 4, 4), 2, 3.0)
    with pytest.raises(ValueError, match="num_inference_steps"):
        latent_diffusion_sample(unet, vae, _scheduler("ddim"), e, e, z, 0, 3.0)
    with pytest.raises(ValueError, match="prompts"):
        encode_prompts(tokenizer, text_encoder, [])
    with pytest.raises(TypeError, match="prompts"):
        encode_prompts(tokenizer, text_encoder, "a")
