r"""Guidance and latent diffusion: classifier-free guidance, classifier guidance, a latent-diffusion loop.

The chapter [Guidance and latent diffusion](../../generative/latent_diffusion.md) explains these, and
`tests/test_guidance.py` checks each against `diffusers`:

- `classifier_free_guidance`: $\hat\epsilon = \epsilon_u + s\,(\epsilon_c - \epsilon_u)$, the line of
  `StableDiffusionPipeline.__call__` that combines the two halves of the batch (`guidance_scale` $s$);
- `cfg_weight_to_scale`, `classifier_free_guidance_ho`: Ho & Salimans' (2022) form
  $\tilde\epsilon = (1 + w)\,\epsilon(x, c) - w\,\epsilon(x)$, the same thing with $s = 1 + w$;
- `classifier_log_prob_grad`, `classifier_guided_noise`: classifier guidance of Dhariwal & Nichol
  (2021, Algorithm 2), $\hat\epsilon = \epsilon_\theta(x_t) - s\sqrt{1 - \bar\alpha_t}\,\nabla_{x_t}\log p_\phi(y \mid x_t)$;
- `encode_prompts`, `latent_diffusion_sample`: the text-to-image loop of latent diffusion
  (Rombach et al. 2022) written out by hand: encode the prompt and the negative (empty) prompt, run the
  U-Net on both, combine them with guidance, step the scheduler, and decode the latents with the VAE
  after dividing by its scaling factor. Given the same starting latents it equals
  `StableDiffusionPipeline(..., output_type="pt")`.

Example:
    >>> import torch
    >>> u, c = torch.zeros(2), torch.ones(2)
    >>> classifier_free_guidance(u, c, 7.5).tolist()
    [7.5, 7.5]
    >>> classifier_free_guidance_ho(c, u, 6.5).tolist()  # w = s - 1
    [7.5, 7.5]
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from genai_guide._checks import check_float_tensor, check_int, check_same_shape

__all__ = [
    "cfg_weight_to_scale",
    "classifier_free_guidance",
    "classifier_free_guidance_ho",
    "classifier_guided_noise",
    "classifier_log_prob_grad",
    "encode_prompts",
    "latent_diffusion_sample",
]


def _scale(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value}")
    return float(value)



# ------------------------------------------------------------------------------ classifier-free guidance


def classifier_free_guidance(noise_uncond: Tensor, noise_cond: Tensor, guidance_scale: float) -> Tensor:
    r"""Combine an unconditional and a conditional noise prediction, as `diffusers` does.

    $\hat\epsilon = \epsilon_\theta(x_t, \varnothing) + s\,\big(\epsilon_\theta(x_t, c) - \epsilon_\theta(x_t, \varnothing)\big)$.
    $s = 0$ gives the unconditional model, $s = 1$ the conditional one, $s > 1$ extrapolates past it
    (Stable Diffusion's default is 7.5). This is $\tilde\epsilon = (1 + w)\,\epsilon(x, c) - w\,\epsilon(x)$
    of Ho & Salimans (2022) with $w = s - 1$.

    Args:
        noise_uncond: $\epsilon_\theta(x_t, \varnothing)$, the prediction for the empty or negative
            prompt, any shape.
        noise_cond: $\epsilon_\theta(x_t, c)$, the shape of `noise_uncond`.
        guidance_scale: $s \ge 0$, `StableDiffusionPipeline`'s `guidance_scale`.

    Returns:
        The guided prediction, the shape of `noise_cond`.

    Raises:
        TypeError: if a prediction is not a floating tensor or the scale is not a number.
        ValueError: if the shapes differ or the scale is negative or not finite.
    """
    noise_uncond = check_float_tensor("noise_uncond", noise_uncond)
    noise_cond = check_same_shape("noise_cond", noise_cond, noise_uncond, "noise_uncond")
    s = _scale("guidance_scale", guidance_scale)
    return noise_uncond + s * (noise_cond - noise_uncond)


def cfg_weight_to_scale(w: float) -> float:
    r"""Ho & Salimans' guidance weight $w$ as `diffusers`' `guidance_scale` $s$: $s = 1 + w$.

    Args:
        w: the guidance strength $w \ge 0$ of Ho & Salimans (2022), where $w = 0$ is the plain
            conditional model.

    Returns:
        $s = 1 + w$.

    Raises:
        TypeError: if `w` is not a number.
        ValueError: if `w` is negative or not finite.
    """
    return 1.0 + _scale("w", w)


def classifier_free_guidance_ho(noise_cond: Tensor, noise_uncond: Tensor, w: float) -> Tensor:
    r"""Classifier-free guidance in the notation of Ho & Salimans (2022, equation 6).

    $\tilde\epsilon_\theta(z_\lambda, c) = (1 + w)\,\epsilon_\theta(z_\lambda, c) - w\,\epsilon_\theta(z_\lambda)$.
    Equal to `classifier_free_guidance(noise_uncond, noise_cond, 1 + w)`.

    Args:
        noise_cond: $\epsilon_\theta(z_\lambda, c)$, any shape.
        noise_uncond: $\epsilon_\theta(z_\lambda)$, the shape of `noise_cond`.
        w: the guidance strength $w \ge 0$.

    Returns:
        $\tilde\epsilon$, the shape of `noise_cond`.

    Raises:
        TypeError: if a prediction is not a floating tensor or `w` is not a number.
        ValueError: if the shapes differ or `w` is negative or not finite.
    """
    noise_cond = check_float_tensor("noise_cond", noise_cond)
    noise_uncond = check_same_shape("noise_uncond", noise_uncond, noise_cond, "noise_cond")
    w = _scale("w", w)
    return (1 + w) * noise_cond - w * noise_uncond


# ------------------------------------------------------------------------------ classifier guidance


def classifier_log_prob_grad(classifier: Callable[[Tensor, Tensor], Tensor], x_t: Tensor, t: Tensor,
                             labels: Tensor) -> Tensor:
    r"""$\nabla_{x_t} \log p_\phi(y \mid x_t, t)$ for a classifier of noisy inputs, by autograd.

    Args:
        classifier: returns logits of shape `(batch, classes)` for `(x_t, t)`; it must be trained
            on noisy inputs (Dhariwal & Nichol 2021), a classifier of clean data gives useless
            gradients at large $t$.
        x_t: noisy samples, shape `(batch, ...)`.
        t: timesteps, shape `(batch,)`, passed to the classifier as they are.
        labels: the target class $y$ of each sample, integer shape `(batch,)`.

    Returns:
        The gradient, the shape of `x_t`; computed on a detached copy, so `x_t` needs no grad.

    Raises:
        TypeError: if `x_t` is not floating or `labels` is not an integer tensor.
        ValueError: if `labels` or the logits do not match the batch.
    """
    x_t = check_float_tensor("x_t", x_t)
    if not isinstance(labels, Tensor) or labels.is_floating_point() or labels.dtype == torch.bool:
        raise TypeError("labels must be an integer tensor")
    if x_t.ndim == 0 or labels.shape != (x_t.shape[0],):
        raise ValueError(f"labels must have shape (batch,) = ({x_t.shape[0] if x_t.ndim else ''},), "
                         f"got {tuple(labels.shape)}")
    with torch.enable_grad():
        x = x_t.detach().requires_grad_(True)
        logits = classifier(x, t)
        if logits.ndim != 2 or logits.shape[0] != x.shape[0]:
            raise ValueError(f"classifier must return logits of shape (batch, classes), got {tuple(logits.shape)}")
        log_p = torch.log_softmax(logits, dim=-1).gather(1, labels[:, None]).sum()  # sum: per-sample gradients
        (grad,) = torch.autograd.grad(log_p, x)
    return grad


def classifier_guided_noise(noise_pred: Tensor, grad_log_prob: Tensor, t: int, alphas_cumprod: Tensor,
                            scale: float) -> Tensor:
    r"""Classifier guidance for a noise predictor (Dhariwal & Nichol 2021, Algorithm 2).

    $\hat\epsilon = \epsilon_\theta(x_t) - s\,\sqrt{1 - \bar\alpha_t}\;\nabla_{x_t}\log p_\phi(y \mid x_t)$:
    since $\epsilon_\theta \approx -\sqrt{1 - \bar\alpha_t}\,\nabla \log p(x_t)$, this is the noise
    of $p(x_t)\,p_\phi(y \mid x_t)^s$. Any sampler (DDIM, DDPM) then uses $\hat\epsilon$ in place of
    $\epsilon_\theta$.

    Args:
        noise_pred: $\epsilon_\theta(x_t)$ of an unconditional (or conditional) model, shape `(batch, ...)`.
        grad_log_prob: $\nabla_{x_t}\log p_\phi(y \mid x_t)$, the shape of `noise_pred`.
        t: the 0-based timestep.
        alphas_cumprod: $\bar\alpha$, shape `(T,)`.
        scale: the gradient scale $s \ge 0$; $s = 1$ samples $p(x_t \mid y)$ if the classifier is exact.

    Returns:
        $\hat\epsilon$, the shape of `noise_pred`.

    Raises:
        TypeError: if a tensor is not floating, `t` is not an int or `scale` is not a number.
        ValueError: if the shapes differ, `t` is outside `[0, T)` or `scale` is negative.
    """
    noise_pred = check_float_tensor("noise_pred", noise_pred)
    grad_log_prob = check_same_shape("grad_log_prob", grad_log_prob, noise_pred, "noise_pred")
    ab = check_float_tensor("alphas_cumprod", alphas_cumprod)
    if ab.ndim != 1:
        raise ValueError(f"alphas_cumprod must have shape (T,), got {tuple(ab.shape)}")
    t = check_int("t", t, 0)
    if t >= ab.numel():
        raise ValueError(f"t must lie in [0, {ab.numel()}), got {t}")
    s = _scale("scale", scale)
    return noise_pred - s * (1 - ab[t].to(noise_pred)) ** 0.5 * grad_log_prob


# ------------------------------------------------------------------------------ latent diffusion


@torch.no_grad()
def encode_prompts(tokenizer: Any, text_encoder: Any, prompts: list[str]) -> Tensor:
    """Token embeddings of the text encoder's last layer for each prompt, padded to the model's length.

    As `StableDiffusionPipeline.encode_prompt`: pad (or truncate) to `tokenizer.model_max_length` and
    take `text_encoder(ids)[0]`, the last hidden state of every token (not the pooled vector).

    Args:
        tokenizer: a CLIP tokenizer (`transformers.CLIPTokenizer` or compatible).
        text_encoder: a `transformers.CLIPTextModel`.
        prompts: the texts, `""` for the unconditional branch.

    Returns:
        Shape `(len(prompts), model_max_length, hidden_size)`.

    Raises:
        TypeError: if `prompts` is not a list of strings.
        ValueError: if `prompts` is empty.
    """
    if not isinstance(prompts, list) or not all(isinstance(p, str) for p in prompts):
        raise TypeError("prompts must be a list of str")
    if not prompts:
        raise ValueError("prompts must not be empty")
    ids = tokenizer(prompts, padding="max_length", max_length=tokenizer.model_max_length, truncation=True,
                    return_tensors="pt").input_ids
    return text_encoder(ids.to(text_encoder.device))[0]


@torch.no_grad()
def latent_diffusion_sample(unet: Any, vae: Any, scheduler: Any, prompt_embeds: Tensor, negative_embeds: Tensor,
                            latents: Tensor, num_inference_steps: int, guidance_scale: float) -> Tensor:
    r"""Text-to-image sampling of latent diffusion (Stable Diffusion), written out step by step.

    1. $z_T$ = `latents` $\times$ `scheduler.init_noise_sigma` (1 for DDIM/DDPM).
    2. For each timestep: run the U-Net once on the batch `[z_t, z_t]` with the text embeddings
       `[negative, prompt]` (negative first, as the pipeline), split the output into
       $\epsilon_u, \epsilon_c$, combine them with `classifier_free_guidance`, and take
       `scheduler.step`.
    3. Decode $x = D(z_0 / f)$ with the VAE's `scaling_factor` $f$ (0.18215 in Stable Diffusion 1.x),
       and map $[-1, 1]$ to $[0, 1]$.

    Guidance is skipped when `guidance_scale <= 1`, as in the pipeline.

    Args:
        unet: a `diffusers.UNet2DConditionModel`.
        vae: a `diffusers.AutoencoderKL`.
        scheduler: a `diffusers` scheduler (DDIM, PNDM, ...); `set_timesteps` is called here.
        prompt_embeds: encoded prompts, shape `(batch, tokens, dim)`.
        negative_embeds: encoded negative (usually empty) prompts, the shape of `prompt_embeds`.
        latents: the starting noise, shape `(batch, latent_channels, h, w)`.
        num_inference_steps: the number of denoising steps, at least 1.
        guidance_scale: $s \ge 0$.

    Returns:
        Images in $[0, 1]$, shape `(batch, 3, h * 2^(levels - 1), w * 2^(levels - 1))`, equal to
        `StableDiffusionPipeline(..., latents=latents, output_type="pt").images`.

    Raises:
        TypeError: if a tensor is not floating or a number has the wrong type.
        ValueError: if shapes do not match or the scale is negative.
    """
    prompt_embeds = check_float_tensor("prompt_embeds", prompt_embeds)
    negative_embeds = check_same_shape("negative_embeds", negative_embeds, prompt_embeds, "prompt_embeds")
    latents = check_float_tensor("latents", latents)
    if latents.ndim != 4 or latents.shape[0] != prompt_embeds.shape[0]:
        raise ValueError(f"latents must have shape (batch = {prompt_embeds.shape[0]}, channels, h, w), "
                         f"got {tuple(latents.shape)}")
    check_int("num_inference_steps", num_inference_steps, 1)
    s = _scale("guidance_scale", guidance_scale)
    guided = s > 1
    context = torch.cat([negative_embeds, prompt_embeds]) if guided else prompt_embeds  # (2 * batch, tokens, dim)

    scheduler.set_timesteps(num_inference_steps, device=latents.device)
    z = latents * scheduler.init_noise_sigma  # z_T
    for t in scheduler.timesteps:
        z_in = torch.cat([z, z]) if guided else z
        z_in = scheduler.scale_model_input(z_in, t)
        noise = unet(z_in, t, encoder_hidden_states=context).sample
        if guided:
            noise_uncond, noise_cond = noise.chunk(2)
            noise = classifier_free_guidance(noise_uncond, noise_cond, s)
        z = scheduler.step(noise, t, z).prev_sample  # z_{t-1}
    image = vae.decode(z / vae.config.scaling_factor).sample  # back to pixels, in about [-1, 1]
    return (image / 2 + 0.5).clamp(0, 1)
