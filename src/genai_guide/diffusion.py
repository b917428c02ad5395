r"""Denoising diffusion from scratch: noise schedules, the forward process, the reverse step, DDIM, FID.

The chapter [Denoising diffusion (DDPM)](../../generative/ddpm.md) explains these. Each function
reproduces the arithmetic of `diffusers` (Hugging Face), and `tests/test_diffusion.py` checks it on
random inputs and many timesteps:

- `beta_schedule`, `cumulative_alphas`: the linear schedule of DDPM (Ho et al. 2020) and the cosine
  schedule of improved DDPM (Nichol & Dhariwal 2021), equal to `DDPMScheduler(beta_schedule="linear")`
  and `DDPMScheduler(beta_schedule="squaredcos_cap_v2")` (`.betas`, `.alphas_cumprod`);
- `q_sample`: the forward process in closed form, equal to `DDPMScheduler.add_noise`;
- `predict_x0`, `posterior_mean_variance`, `ddpm_step`: one ancestral sampling step of DDPM, equal to
  `DDPMScheduler.step` (variance types `"fixed_small"` and `"fixed_large"`, prediction types
  `"epsilon"`, `"sample"` and `"v_prediction"`, clipping of the predicted $x_0$);
- `ddim_timesteps`, `ddim_step`: the DDIM update (Song, Meng & Ermon 2020), deterministic at
  $\eta = 0$, equal to `DDIMScheduler.set_timesteps` and `DDIMScheduler.step`;
- `timestep_embedding`, `NoisePredictor`: the sinusoidal embedding of the timestep, equal to
  `diffusers`' `get_timestep_embedding`, and a small noise-prediction network
  $\epsilon_\theta(x_t, t)$ (an MLP) that trains on 8x8 digits in seconds on a CPU;
- `feature_statistics`, `frechet_distance`: the Fréchet distance between two Gaussians fitted to
  features, the formula of FID (Heusel et al. 2017), equal to SciPy's `sqrtm`-based reference.

Timesteps are 0-based, as in `diffusers`: index `t` of `alphas_cumprod` holds the paper's
$\bar\alpha_{t+1}$, so the paper's $t = 1, \dots, T$ are the indices $0, \dots, T-1$.

Example:
    >>> ab = cumulative_alphas(beta_schedule("linear", 1000))
    >>> round(float(ab[0]), 6), round(float(ab[-1]), 6)
    (0.9999, 4e-05)
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from genai_guide._checks import check_float_tensor, check_int, check_same_shape

__all__ = [
    "PREDICTION_TYPES",
    "SCHEDULES",
    "VARIANCE_TYPES",
    "NoisePredictor",
    "beta_schedule",
    "cumulative_alphas",
    "ddim_step",
    "ddim_timesteps",
    "ddpm_step",
    "feature_statistics",
    "frechet_distance",
    "posterior_mean_variance",
    "predict_x0",
    "q_sample",
    "timestep_embedding",
]

SCHEDULES: tuple[str, ...] = ("linear", "cosine", "squaredcos_cap_v2")
"""Schedule names: `"squaredcos_cap_v2"` is `diffusers`' name of the cosine schedule."""

PREDICTION_TYPES: tuple[str, ...] = ("epsilon", "sample", "v_prediction")
"""What the network predicts: the noise $\\epsilon$, the clean sample $x_0$, or the velocity $v$."""

VARIANCE_TYPES: tuple[str, ...] = ("fixed_small", "fixed_large")
r"""Reverse-step variances of DDPM: $\sigma_t^2 = \tilde\beta_t$ (`"fixed_small"`) or $\beta_t$ (`"fixed_large"`)."""


# ----------------------------------------------------------------------------------------- checks


def _choice(name: str, value: object, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return value  # type: ignore[return-value]


def _schedule(alphas_cumprod: object) -> Tensor:
    ab = check_float_tensor("alphas_cumprod", alphas_cumprod)
    if ab.ndim != 1 or ab.numel() == 0:
        raise ValueError(f"alphas_cumprod must be a non-empty 1-D tensor, got shape {tuple(ab.shape)}")
    return ab


def _timestep(name: str, t: object, num_timesteps: int, minimum: int = 0) -> int:
    if isinstance(t, Tensor) and t.ndim == 0 and not t.is_floating_point() and t.dtype != torch.bool:
        t = int(t)
    check_int(name, t, minimum)
    if t >= num_timesteps:  # type: ignore[operator]
        raise ValueError(f"{name} must be < {num_timesteps} (the number of timesteps), got {t}")
    return t  # type: ignore[return-value]



def _clip(name: str, value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{name} must be a positive number or None, got {value!r}")
    return float(value)


# -------------------------------------------------------------------------------------- schedules


def beta_schedule(name: str = "linear", num_timesteps: int = 1000, beta_start: float = 1e-4,
                  beta_end: float = 0.02, max_beta: float = 0.999, dtype: torch.dtype = torch.float64) -> Tensor:
    r"""The noise variances $\beta_1, \dots, \beta_T$ of the forward process.

    - `"linear"` (Ho et al. 2020): $\beta_t$ evenly spaced from `beta_start` ($10^{-4}$) to
      `beta_end` ($0.02$) over $T = 1000$ steps.
    - `"cosine"`, alias `"squaredcos_cap_v2"` (Nichol & Dhariwal 2021): $\bar\alpha_t = f(t)/f(0)$
      with $f(t) = \cos^2\!\big(\tfrac{t/T + s}{1 + s}\cdot\tfrac{\pi}{2}\big)$, $s = 0.008$, and
      $\beta_t = \min\big(1 - \bar\alpha_t / \bar\alpha_{t-1},\ \text{max\_beta}\big)$.

    Equal to `DDPMScheduler(beta_schedule=...).betas` (which are computed in float32).

    Args:
        name: `"linear"`, `"cosine"` or `"squaredcos_cap_v2"`.
        num_timesteps: $T$, at least 1.
        beta_start: $\beta_1$ of the linear schedule.
        beta_end: $\beta_T$ of the linear schedule.
        max_beta: the cap of the cosine schedule's $\beta_t$ (the last ones would reach 1).
        dtype: floating dtype of the result.

    Returns:
        $\beta$, shape `(num_timesteps,)`.

    Raises:
        ValueError: if `name` is not a known schedule, `num_timesteps < 1` or a beta is outside (0, 1).
        TypeError: if `num_timesteps` is not an int.
    """
    _choice("name", name, SCHEDULES)
    check_int("num_timesteps", num_timesteps, 1)
    if name == "linear":
        if not 0 < beta_start <= beta_end < 1:
            raise ValueError(f"beta_start and beta_end must satisfy 0 < beta_start <= beta_end < 1, "
                             f"got {beta_start} and {beta_end}")
        return torch.linspace(beta_start, beta_end, num_timesteps, dtype=dtype)
    if not 0 < max_beta < 1:
        raise ValueError(f"max_beta must be in (0, 1), got {max_beta}")

    def f(t: float) -> float:  # the cosine schedule's \bar\alpha before normalising by f(0)
        return math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2

    T = num_timesteps
    betas = [min(1 - f((i + 1) / T) / f(i / T), max_beta) for i in range(T)]
    return torch.tensor(betas, dtype=torch.float64).to(dtype)


def cumulative_alphas(betas: Tensor) -> Tensor:
    r"""$\bar\alpha_t = \prod_{s \le t} \alpha_s$ with $\alpha_s = 1 - \beta_s$ (Ho et al. 2020, section 2).

    Equal to `DDPMScheduler.alphas_cumprod`.

    Args:
        betas: $\beta$, shape `(T,)`, each in (0, 1).

    Returns:
        $\bar\alpha$, shape `(T,)`, decreasing from $1 - \beta_1$ towards 0.

    Raises:
        TypeError: if `betas` is not a floating tensor.
        ValueError: if `betas` is not 1-D or has a value outside (0, 1).
    """
    check_float_tensor("betas", betas)
    if betas.ndim != 1 or betas.numel() == 0:
        raise ValueError(f"betas must be a non-empty 1-D tensor, got shape {tuple(betas.shape)}")
    if not bool(((betas > 0) & (betas < 1)).all()):
        raise ValueError("betas must lie in (0, 1)")
    return torch.cumprod(1.0 - betas, dim=0)


# ------------------------------------------------------------------------------ forward process


def q_sample(x0: Tensor, noise: Tensor, t: int | Tensor, alphas_cumprod: Tensor) -> Tensor:
    r"""Sample $x_t \sim q(x_t \mid x_0)$ in one step, with the noise given.

    $q(x_t \mid x_0) = \mathcal{N}\big(x_t;\ \sqrt{\bar\alpha_t}\,x_0,\ (1 - \bar\alpha_t)\,I\big)$
    (Ho et al. 2020, section 2), so $x_t = \sqrt{\bar\alpha_t}\,x_0 + \sqrt{1 - \bar\alpha_t}\,\epsilon$.
    Equal to `DDPMScheduler.add_noise(x0, noise, t)`.

    Args:
        x0: clean samples, shape `(batch, ...)`.
        noise: $\epsilon \sim \mathcal{N}(0, I)$, the shape of `x0`.
        t: one 0-based timestep for the whole batch, or an integer tensor of shape `(batch,)`.
        alphas_cumprod: $\bar\alpha$, shape `(T,)`.

    Returns:
        $x_t$, the shape and dtype of `x0`.

    Raises:
        TypeError: if a tensor is not floating or `t` is not an integer (tensor).
        ValueError: if `noise` has another shape than `x0`, `t` has another length than the batch,
            or a timestep is outside `[0, T)`.
    """
    x0 = check_float_tensor("x0", x0)
    noise = check_same_shape("noise", noise, x0, "x0")
    ab = _schedule(alphas_cumprod).to(device=x0.device, dtype=x0.dtype)
    if isinstance(t, Tensor) and t.ndim > 0:
        if t.is_floating_point() or t.dtype == torch.bool:
            raise TypeError(f"t must hold integer timesteps, got dtype {t.dtype}")
        if x0.ndim == 0 or t.shape != (x0.shape[0],):
            raise ValueError(f"t must be an int or have shape (batch,) = ({x0.shape[0] if x0.ndim else ''},), "
                             f"got {tuple(t.shape)}")
        if bool((t < 0).any()) or bool((t >= ab.numel()).any()):
            raise ValueError(f"t must lie in [0, {ab.numel()}), got values from {int(t.min())} to {int(t.max())}")
        shape = (-1,) + (1,) * (x0.ndim - 1)  # broadcast one \bar\alpha per sample
        a = ab[t.to(x0.device)].reshape(shape)
    else:
        a = ab[_timestep("t", t, ab.numel())]
    return a**0.5 * x0 + (1 - a) ** 0.5 * noise


# ------------------------------------------------------------------------------ reverse process


def _alpha_prev(ab: Tensor, prev_t: int, final: float = 1.0) -> Tensor:
    return ab[prev_t] if prev_t >= 0 else torch.tensor(final, dtype=ab.dtype, device=ab.device)


def predict_x0(model_output: Tensor, x_t: Tensor, t: int, alphas_cumprod: Tensor,
               prediction_type: str = "epsilon") -> tuple[Tensor, Tensor]:
    r"""The clean sample $\hat x_0$ and the noise $\hat\epsilon$ implied by the network's output at step `t`.

    Inverting $x_t = \sqrt{\bar\alpha_t}\,x_0 + \sqrt{1 - \bar\alpha_t}\,\epsilon$ (Ho et al. 2020, eq. 15):

    - `"epsilon"`: $\hat x_0 = (x_t - \sqrt{1 - \bar\alpha_t}\,\hat\epsilon) / \sqrt{\bar\alpha_t}$;
    - `"sample"`: the output is $\hat x_0$, and $\hat\epsilon = (x_t - \sqrt{\bar\alpha_t}\,\hat x_0) / \sqrt{1 - \bar\alpha_t}$;
    - `"v_prediction"` (Salimans & Ho 2022): $v = \sqrt{\bar\alpha_t}\,\epsilon - \sqrt{1 - \bar\alpha_t}\,x_0$, so
      $\hat x_0 = \sqrt{\bar\alpha_t}\,x_t - \sqrt{1 - \bar\alpha_t}\,\hat v$ and
      $\hat\epsilon = \sqrt{\bar\alpha_t}\,\hat v + \sqrt{1 - \bar\alpha_t}\,x_t$.

    Args:
        model_output: the network's output, the shape of `x_t`.
        x_t: the current sample.
        t: the 0-based timestep.
        alphas_cumprod: $\bar\alpha$, shape `(T,)`.
        prediction_type: one of `PREDICTION_TYPES`.

    Returns:
        `(x0_hat, eps_hat)`, each the shape of `x_t` (not clipped).

    Raises:
        TypeError: if a tensor is not floating or `t` not an int.
        ValueError: if the shapes differ, `t` is outside `[0, T)` or `prediction_type` is unknown.
    """
    x_t = check_float_tensor("x_t", x_t)
    model_output = check_same_shape("model_output", model_output, x_t, "x_t")
    ab = _schedule(alphas_cumprod)
    t = _timestep("t", t, ab.numel())
    _choice("prediction_type", prediction_type, PREDICTION_TYPES)
    a, b = ab[t], 1 - ab[t]  # \bar\alpha_t and 1 - \bar\alpha_t
    if prediction_type == "epsilon":
        return (x_t - b**0.5 * model_output) / a**0.5, model_output
    if prediction_type == "sample":
        return model_output, (x_t - a**0.5 * model_output) / b**0.5
    return a**0.5 * x_t - b**0.5 * model_output, a**0.5 * model_output + b**0.5 * x_t


def posterior_mean_variance(x0: Tensor, x_t: Tensor, t: int, alphas_cumprod: Tensor,
                            prev_t: int | None = None) -> tuple[Tensor, Tensor]:
    r"""Mean and variance of the forward-process posterior $q(x_{t-1} \mid x_t, x_0)$ (Ho et al. 2020, eqs. 6-7).

    $$\tilde\mu_t(x_t, x_0) = \frac{\sqrt{\bar\alpha_{t-1}}\,\beta_t}{1 - \bar\alpha_t}\,x_0
      + \frac{\sqrt{\alpha_t}\,(1 - \bar\alpha_{t-1})}{1 - \bar\alpha_t}\,x_t, \qquad
      \tilde\beta_t = \frac{1 - \bar\alpha_{t-1}}{1 - \bar\alpha_t}\,\beta_t,$$

    with $\bar\alpha_{t-1} = 1$ at the first step. With `prev_t` (a skipped schedule, as after
    `DDPMScheduler.set_timesteps`), $t-1$ is replaced by `prev_t` and $\beta_t$ by
    $1 - \bar\alpha_t / \bar\alpha_{\text{prev}}$, exactly as `DDPMScheduler.step` does.

    Args:
        x0: the clean sample (or the network's estimate of it).
        x_t: the current sample, the shape of `x0`.
        t: the 0-based timestep.
        alphas_cumprod: $\bar\alpha$, shape `(T,)`.
        prev_t: the timestep stepped to, `t - 1` by default; `-1` means past the last step.

    Returns:
        `(mean, variance)`: $\tilde\mu_t$, the shape of `x_t`, and $\tilde\beta_t$, a 0-d tensor.

    Raises:
        TypeError: if a tensor is not floating or a timestep not an int.
        ValueError: if the shapes differ or a timestep is out of range (`prev_t` must be in `[-1, t)`).
    """
    x_t = check_float_tensor("x_t", x_t)
    x0 = check_same_shape("x0", x0, x_t, "x_t")
    ab = _schedule(alphas_cumprod)
    t = _timestep("t", t, ab.numel())
    prev_t = t - 1 if prev_t is None else _timestep("prev_t", prev_t, t, minimum=-1)
    a_t, a_prev = ab[t], _alpha_prev(ab, prev_t)
    alpha_t = a_t / a_prev  # \alpha_t, or the product of the alphas skipped over
    beta_t = 1 - alpha_t
    mean = (a_prev**0.5 * beta_t) / (1 - a_t) * x0 + alpha_t**0.5 * (1 - a_prev) / (1 - a_t) * x_t
    return mean, (1 - a_prev) / (1 - a_t) * beta_t


def ddpm_step(model_output: Tensor, t: int, x_t: Tensor, alphas_cumprod: Tensor, noise: Tensor | None = None, *,
              variance_type: str = "fixed_small", prediction_type: str = "epsilon",
              clip_sample: float | None = 1.0, prev_t: int | None = None) -> tuple[Tensor, Tensor]:
    r"""One DDPM sampling step: draw $x_{t-1} \sim p_\theta(x_{t-1} \mid x_t) = \mathcal{N}(\tilde\mu_t(x_t, \hat x_0), \sigma_t^2 I)$.

    The network's output gives $\hat x_0$ (`predict_x0`), clipped to $[-c, c]$ when `clip_sample` is
    $c$; the mean is the posterior mean $\tilde\mu_t(x_t, \hat x_0)$ (`posterior_mean_variance`),
    which for `"epsilon"` without clipping equals Ho et al.'s Algorithm 2,
    $\frac{1}{\sqrt{\alpha_t}}\big(x_t - \frac{\beta_t}{\sqrt{1 - \bar\alpha_t}}\,\epsilon_\theta(x_t, t)\big)$.
    The variance is $\sigma_t^2 = \tilde\beta_t$ (`"fixed_small"`, floored at $10^{-20}$) or
    $\beta_t$ (`"fixed_large"`), the two choices Ho et al. compare; no noise is added at $t = 0$.
    Equal to `DDPMScheduler.step` when `noise` is the tensor its `generator` draws.

    Args:
        model_output: the network's output at `(x_t, t)`, the shape of `x_t`.
        t: the 0-based timestep.
        x_t: the current sample.
        alphas_cumprod: $\bar\alpha$, shape `(T,)`.
        noise: $z \sim \mathcal{N}(0, I)$, the shape of `x_t`; required when `t > 0`.
        variance_type: `"fixed_small"` or `"fixed_large"`.
        prediction_type: one of `PREDICTION_TYPES`.
        clip_sample: clip $\hat x_0$ to `[-clip_sample, clip_sample]`; `None` does not clip.
        prev_t: the timestep stepped to, `t - 1` by default (see `posterior_mean_variance`).

    Returns:
        `(x_prev, x0_hat)`: the sample at `prev_t` and the (clipped) estimate of $x_0$.

    Raises:
        TypeError: if a tensor is not floating or a timestep not an int.
        ValueError: if shapes differ, a timestep is out of range, a type name is unknown, `clip_sample`
            is not positive, or `noise` is missing when `t > 0`.
    """
    _choice("variance_type", variance_type, VARIANCE_TYPES)
    clip = _clip("clip_sample", clip_sample)
    ab = _schedule(alphas_cumprod)
    t = _timestep("t", t, ab.numel())
    x0_hat, _ = predict_x0(model_output, x_t, t, ab, prediction_type)
    if clip is not None:
        x0_hat = x0_hat.clamp(-clip, clip)
    prev = t - 1 if prev_t is None else _timestep("prev_t", prev_t, t, minimum=-1)
    mean, variance = posterior_mean_variance(x0_hat, x_t, t, ab, prev)
    if t == 0:
        return mean, x0_hat
    if noise is None:
        raise ValueError("noise is required when t > 0 (a tensor of standard normal draws, the shape of x_t)")
    noise = check_same_shape("noise", noise, x_t, "x_t")
    if variance_type == "fixed_small":
        variance = variance.clamp(min=1e-20)
    else:
        variance = 1 - ab[t] / _alpha_prev(ab, prev)  # \beta_t
    return mean + variance**0.5 * noise, x0_hat


def ddim_timesteps(num_train_timesteps: int, num_inference_steps: int, steps_offset: int = 0) -> list[int]:
    r"""The timesteps a DDIM sampler visits: every $k$-th, $k = \lfloor T / S \rfloor$, from high to low.

    The `"leading"` spacing of `DDIMScheduler.set_timesteps`: $t_i = i k + \text{offset}$ for
    $i = S-1, \dots, 0$ (Song et al. 2020 call the visited subsequence $\tau$).

    Args:
        num_train_timesteps: $T$.
        num_inference_steps: $S$, in `[1, T]`.
        steps_offset: added to every timestep (`DDIMScheduler`'s `steps_offset`).

    Returns:
        The $S$ timesteps, descending.

    Raises:
        TypeError: if an argument is not an int.
        ValueError: if `num_inference_steps` is outside `[1, T]` or `steps_offset` negative.
    """
    check_int("num_train_timesteps", num_train_timesteps, 1)
    check_int("num_inference_steps", num_inference_steps, 1)
    check_int("steps_offset", steps_offset, 0)
    if num_inference_steps > num_train_timesteps:
        raise ValueError(f"num_inference_steps must be <= num_train_timesteps ({num_train_timesteps}), "
                         f"got {num_inference_steps}")
    k = num_train_timesteps // num_inference_steps
    return [i * k + steps_offset for i in range(num_inference_steps - 1, -1, -1)]


def ddim_step(model_output: Tensor, t: int, prev_t: int, x_t: Tensor, alphas_cumprod: Tensor, *, eta: float = 0.0,
              noise: Tensor | None = None, prediction_type: str = "epsilon", clip_sample: float | None = 1.0,
              use_clipped_model_output: bool = False, final_alpha_cumprod: float = 1.0) -> tuple[Tensor, Tensor]:
    r"""One DDIM step from timestep `t` to `prev_t` (Song, Meng & Ermon 2020, eq. 12).

    $$\begin{aligned}
      x_{\text{prev}} &= \sqrt{\bar\alpha_{\text{prev}}}\,\hat x_0
        + \sqrt{1 - \bar\alpha_{\text{prev}} - \sigma_t^2}\;\hat\epsilon + \sigma_t z,\\
      \sigma_t &= \eta\,\sqrt{\frac{1 - \bar\alpha_{\text{prev}}}{1 - \bar\alpha_t}}\,
        \sqrt{1 - \frac{\bar\alpha_t}{\bar\alpha_{\text{prev}}}}\quad\text{(eq. 16)}.
      \end{aligned}$$

    At $\eta = 0$ the step is deterministic (DDIM proper); at $\eta = 1$ it has DDPM's
    `"fixed_small"` variance. $\hat x_0$ is clipped when `clip_sample` is set; with
    `use_clipped_model_output`, $\hat\epsilon$ is then recomputed from the clipped $\hat x_0$,
    $\hat\epsilon = (x_t - \sqrt{\bar\alpha_t}\,\hat x_0) / \sqrt{1 - \bar\alpha_t}$ (as GLIDE does), so the
    two terms of the update agree; an imperfect network's deterministic path can drift without it.
    Past the last step (`prev_t < 0`), $\bar\alpha_{\text{prev}}$ is `final_alpha_cumprod`.
    Equal to `DDIMScheduler.step(..., eta=eta, variance_noise=noise)`.

    Args:
        model_output: the network's output at `(x_t, t)`, the shape of `x_t`.
        t: the current 0-based timestep.
        prev_t: the timestep stepped to, in `[-T, t)` (`t - T // S` in `DDIMScheduler`).
        x_t: the current sample.
        alphas_cumprod: $\bar\alpha$, shape `(T,)`.
        eta: $\eta \ge 0$, the amount of fresh noise.
        noise: $z \sim \mathcal{N}(0, I)$, the shape of `x_t`; required when `eta > 0`.
        prediction_type: one of `PREDICTION_TYPES`.
        clip_sample: clip $\hat x_0$ to `[-clip_sample, clip_sample]`; `None` does not clip.
        use_clipped_model_output: recompute $\hat\epsilon$ from the clipped $\hat x_0$.
        final_alpha_cumprod: $\bar\alpha$ used past the last step (1 is `set_alpha_to_one=True`).

    Returns:
        `(x_prev, x0_hat)`.

    Raises:
        TypeError: if a tensor is not floating or a timestep not an int.
        ValueError: if shapes differ, a timestep is out of range, `eta < 0`, `noise` is missing when
            `eta > 0`, or a type name is unknown.
    """
    clip = _clip("clip_sample", clip_sample)
    if isinstance(eta, bool) or not isinstance(eta, (int, float)) or eta < 0:
        raise ValueError(f"eta must be a number >= 0, got {eta!r}")
    ab = _schedule(alphas_cumprod)
    t = _timestep("t", t, ab.numel())
    x0_hat, eps_hat = predict_x0(model_output, x_t, t, ab, prediction_type)
    prev_t = _timestep("prev_t", prev_t, t, minimum=-ab.numel())
    if clip is not None:
        x0_hat = x0_hat.clamp(-clip, clip)
    a_t, a_prev = ab[t], _alpha_prev(ab, prev_t, final_alpha_cumprod)
    if use_clipped_model_output:
        eps_hat = (x_t - a_t**0.5 * x0_hat) / (1 - a_t) ** 0.5
    sigma = eta * ((1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev)) ** 0.5  # eq. 16
    x_prev = a_prev**0.5 * x0_hat + (1 - a_prev - sigma**2) ** 0.5 * eps_hat
    if eta > 0:
        if noise is None:
            raise ValueError("noise is required when eta > 0 (a tensor of standard normal draws, the shape of x_t)")
        x_prev = x_prev + sigma * check_same_shape("noise", noise, x_t, "x_t")
    return x_prev, x0_hat


# ------------------------------------------------------------------------------------- denoiser


def _frequencies(half: int, max_period: float) -> Tensor:
    """The frequencies max_period ** (-i / half) for i = 0, ..., half - 1, in the default dtype."""
    return torch.exp(-torch.arange(half) / half * torch.log(torch.tensor(max_period)))


def timestep_embedding(t: Tensor, dim: int, max_period: float = 1000.0) -> Tensor:
    r"""The sinusoidal embedding of timesteps, $[\sin(t\,\omega_i), \cos(t\,\omega_i)]$ with
    $\omega_i = P^{-i/(d/2)}$ for $i = 0, \dots, d/2 - 1$ and $P$ = `max_period`.

    The positional encoding of the Transformer (Vaswani et al. 2017) applied to the timestep, as DDPM
    does (Ho et al. 2020, appendix B). Equal to `diffusers`' `get_timestep_embedding(t, dim,
    downscale_freq_shift=0, max_period=max_period)` (which computes in float32).

    Args:
        t: timesteps, shape `(batch,)`, integer or floating.
        dim: $d$, the embedding size, even and at least 2.
        max_period: $P$, the longest period is $2\pi P$.

    Returns:
        `(batch, dim)`: the sines, then the cosines, in the default floating dtype (or `t`'s if floating).

    Raises:
        TypeError: if `t` is not a tensor or `dim` not an int.
        ValueError: if `t` is not 1-D, `dim` is odd or below 2, or `max_period` is not positive.
    """
    check_int("dim", dim, 2)
    if dim % 2:
        raise ValueError(f"dim must be even, got {dim}")
    if isinstance(max_period, bool) or not isinstance(max_period, (int, float)) or not max_period > 0:
        raise ValueError(f"max_period must be a positive number, got {max_period!r}")
    t = _timesteps(t)
    angles = t[:, None] * _frequencies(dim // 2, float(max_period)).to(t.device)  # (batch, dim / 2)
    return torch.cat([angles.sin(), angles.cos()], dim=1)


def _timesteps(t: object) -> Tensor:
    if not isinstance(t, Tensor):
        raise TypeError(f"t must be a torch.Tensor of timesteps, got {type(t).__name__}")
    if t.ndim != 1 or t.dtype == torch.bool:
        raise ValueError(f"t must be a 1-D tensor of timesteps, one per sample, got shape {tuple(t.shape)} "
                         f"and dtype {t.dtype}")
    return t


class NoisePredictor(nn.Module):
    r"""A small noise predictor $\epsilon_\theta(x_t, t)$ for flattened images: an MLP.

    The noisy image (`dim` values) and the sinusoidal embedding of $t$ (`timestep_embedding`, `t_dim`
    values) are concatenated and mapped by two hidden layers of `hidden` units (SiLU) to the predicted
    noise, the shape of the image. It is trained with DDPM's simple loss
    $\lVert \epsilon - \epsilon_\theta(\sqrt{\bar\alpha_t}\,x_0 + \sqrt{1 - \bar\alpha_t}\,\epsilon,\ t)\rVert^2$
    (Ho et al. 2020, Algorithm 1). A stand-in with the interface of DDPM's U-Net (`UNet2DModel` takes
    the same two inputs) that trains on the 64 pixels of 8x8 digits in seconds on a CPU.

    Args:
        dim: pixels of a flattened image (64 for 8x8).
        hidden: width of the two hidden layers.
        t_dim: size of the timestep embedding, even.
        max_period: the embedding's longest period over $2\pi$ (see `timestep_embedding`).

    Raises:
        TypeError: if a size is not an int.
        ValueError: if a size is below 1 or `t_dim` is odd or below 2.

    Example:
        >>> model = NoisePredictor()
        >>> sum(p.numel() for p in model.parameters())
        37184
    """

    def __init__(self, dim: int = 64, hidden: int = 128, t_dim: int = 32, max_period: float = 1000.0) -> None:
        super().__init__()
        check_int("dim", dim, 1)
        check_int("hidden", hidden, 1)
        check_int("t_dim", t_dim, 2)
        if t_dim % 2:
            raise ValueError(f"t_dim must be even, got {t_dim}")
        self.dim = dim
        self.register_buffer("freqs", _frequencies(t_dim // 2, float(max_period)))  # (t_dim / 2,)
        self.net = nn.Sequential(nn.Linear(dim + t_dim, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(),
                                 nn.Linear(hidden, dim))

    def forward(self, x_t: Tensor, t: Tensor) -> Tensor:
        """The predicted noise: `x_t` of shape `(batch, dim)` and `t` of shape `(batch,)` in, `(batch, dim)` out."""
        x_t = check_float_tensor("x_t", x_t)
        if x_t.ndim != 2 or x_t.shape[1] != self.dim:
            raise ValueError(f"x_t must have shape (batch, {self.dim}), got {tuple(x_t.shape)}")
        t = _timesteps(t)
        if t.shape[0] != x_t.shape[0]:
            raise ValueError(f"t must have shape (batch,) = ({x_t.shape[0]},), got {tuple(t.shape)}")
        angles = t[:, None] * self.freqs  # (batch, t_dim / 2), as the Transformer's positions
        return self.net(torch.cat([x_t, angles.sin(), angles.cos()], dim=1))  # (batch, dim)


# -------------------------------------------------------------------------------------- Fréchet


def feature_statistics(features: Tensor) -> tuple[Tensor, Tensor]:
    r"""Mean and unbiased covariance of a set of feature vectors: $\mu = \frac1n\sum_i f_i$,
    $\Sigma = \frac{1}{n-1}\sum_i (f_i - \mu)(f_i - \mu)^\top$ (`numpy.cov(features, rowvar=False)`).

    Args:
        features: shape `(n, d)`, `n >= 2`.

    Returns:
        `(mu, sigma)`, shapes `(d,)` and `(d, d)`.

    Raises:
        TypeError: if `features` is not a floating tensor.
        ValueError: if `features` is not 2-D with at least 2 rows.
    """
    features = check_float_tensor("features", features)
    if features.ndim != 2 or features.shape[0] < 2:
        raise ValueError(f"features must have shape (n, d) with n >= 2, got {tuple(features.shape)}")
    mu = features.mean(0)
    centred = features - mu
    return mu, centred.T @ centred / (features.shape[0] - 1)


def _sqrt_psd(matrix: Tensor) -> Tensor:
    """Square root of a symmetric positive semi-definite matrix by its eigendecomposition."""
    w, v = torch.linalg.eigh((matrix + matrix.T) / 2)
    return (v * w.clamp(min=0).sqrt()) @ v.T


def frechet_distance(mu1: Tensor, sigma1: Tensor, mu2: Tensor, sigma2: Tensor) -> float:
    r"""The Fréchet (2-Wasserstein) distance between $\mathcal{N}(\mu_1, \Sigma_1)$ and $\mathcal{N}(\mu_2, \Sigma_2)$.

    $$d^2 = \lVert \mu_1 - \mu_2 \rVert^2 + \operatorname{tr}\big(\Sigma_1 + \Sigma_2 - 2\,(\Sigma_1 \Sigma_2)^{1/2}\big)$$

    (Dowson & Landau 1982), the formula of FID (Heusel et al. 2017) when the Gaussians are fitted to
    Inception-v3 features of real and generated images. The trace of the matrix square root is
    computed without one: $\operatorname{tr}(\Sigma_1\Sigma_2)^{1/2} = \sum_i \sqrt{\lambda_i}$ with
    $\lambda_i$ the eigenvalues of the symmetric $\Sigma_1^{1/2}\,\Sigma_2\,\Sigma_1^{1/2}$ (similar to
    $\Sigma_1\Sigma_2$), so the result is real even for singular covariances. Computed in float64.
    Returns $d^2$, which is what FID reports.

    Args:
        mu1: mean of the first set, shape `(d,)`.
        sigma1: its covariance, shape `(d, d)`, symmetric positive semi-definite.
        mu2: mean of the second set, shape `(d,)`.
        sigma2: its covariance, shape `(d, d)`.

    Returns:
        $d^2 \ge 0$ as a float.

    Raises:
        TypeError: if an argument is not a floating tensor.
        ValueError: if the shapes do not match `(d,)` and `(d, d)`.
    """
    mu1, mu2 = check_float_tensor("mu1", mu1), check_float_tensor("mu2", mu2)
    sigma1, sigma2 = check_float_tensor("sigma1", sigma1), check_float_tensor("sigma2", sigma2)
    if mu1.ndim != 1:
        raise ValueError(f"mu1 must be 1-D, got shape {tuple(mu1.shape)}")
    d = mu1.shape[0]
    for name, x, shape in (("mu2", mu2, (d,)), ("sigma1", sigma1, (d, d)), ("sigma2", sigma2, (d, d))):
        if tuple(x.shape) != shape:
            raise ValueError(f"{name} must have shape {shape} to match mu1, got {tuple(x.shape)}")
    mu1, mu2, sigma1, sigma2 = (x.to(torch.float64) for x in (mu1, mu2, sigma1, sigma2))
    root1 = _sqrt_psd(sigma1)
    middle = root1 @ sigma2 @ root1
    trace_sqrt = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp(min=0).sqrt().sum()
    d2 = (mu1 - mu2).square().sum() + torch.trace(sigma1) + torch.trace(sigma2) - 2 * trace_sqrt
    return max(float(d2), 0.0)
