"""The game a generative adversarial network plays, and its losses, written to be read.

The chapter [Generative adversarial networks](../../generative/gans.md) explains them. A GAN
(Goodfellow et al. 2014) trains a generator $G$ that maps noise $z \\sim p_z$ to samples and a
discriminator $D$ that outputs the probability that its input is real, in the two-player minimax game

$$\\min_G \\max_D V(D, G) = \\mathbb{E}_{x \\sim p_{\\text{data}}(x)}[\\log D(x)]
  + \\mathbb{E}_{z \\sim p_z(z)}[\\log(1 - D(G(z)))].$$

For a fixed generator with sample distribution $p_g$ the best discriminator is
$D^*(x) = p_{\\text{data}}(x) / (p_{\\text{data}}(x) + p_g(x))$, and the game's value at $D^*$ is
$C(G) = -\\log 4 + 2\\,\\mathrm{JSD}(p_{\\text{data}} \\,\\|\\, p_g)$, minimal exactly when $p_g = p_{\\text{data}}$
(the paper's Proposition 1 and Theorem 1). `tests/test_gan.py` checks every function against `scipy`
or `torch`:

- `optimal_discriminator`, `value_function`, `optimal_value` and `js_divergence`: the theory, on
  densities or on discrete distributions; `js_divergence` equals the square of
  `scipy.spatial.distance.jensenshannon` (which returns the Jensen-Shannon *distance*);
- `discriminator_loss`, `generator_loss_saturating` and `generator_loss_non_saturating`: the losses a
  training loop minimises, computed from the discriminator's logits (its output before the sigmoid) for
  numerical stability, equal to `torch.nn.functional.binary_cross_entropy_with_logits` forms.

All functions work on any floating dtype; the book trains in float64.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from genai_guide._checks import check_float_tensor, check_same_shape

__all__ = [
    "discriminator_loss",
    "generator_loss_non_saturating",
    "generator_loss_saturating",
    "js_divergence",
    "optimal_discriminator",
    "optimal_value",
    "value_function",
]



def _non_negative(name: str, x: Tensor) -> None:
    if x.numel() and not bool((x >= 0).all()):
        raise ValueError(f"{name} must be non-negative (a density), got a minimum of {x.min().item()}")


def _probabilities(name: str, x: Tensor) -> None:
    if x.numel() and not bool(((x >= 0) & (x <= 1)).all()):
        raise ValueError(f"{name} must hold probabilities in [0, 1], got values in "
                         f"[{x.min().item()}, {x.max().item()}]")


def _distribution(name: str, p: Tensor) -> None:
    """A discrete distribution along the last axis: entries in [0, 1] that sum to 1."""
    if p.dim() == 0 or p.shape[-1] == 0:
        raise ValueError(f"{name} must have at least one outcome along its last axis, got shape {tuple(p.shape)}")
    _probabilities(name, p)
    total = p.sum(-1)
    tolerance = math.sqrt(torch.finfo(p.dtype).eps) * p.shape[-1]
    if not bool(((total - 1).abs() <= tolerance).all()):
        raise ValueError(f"{name} must sum to 1 along its last axis, got sums in "
                         f"[{total.min().item()}, {total.max().item()}]")


def _logits(name: str, logits: Tensor) -> Tensor:
    check_float_tensor(name, logits)
    if logits.numel() == 0:
        raise ValueError(f"{name} must not be empty")
    return logits


def optimal_discriminator(p_data: Tensor, p_g: Tensor) -> Tensor:
    """The best discriminator against a fixed generator, pointwise.

    $$D^*(x) = \\frac{p_{\\text{data}}(x)}{p_{\\text{data}}(x) + p_g(x)}$$

    (Goodfellow et al. 2014, Proposition 1). Where both densities are zero, no sample ever reaches $x$
    and $D^*$ is undefined; this function returns 1/2 there.

    Args:
        p_data: Density (or probability) of the data at some points, any shape, non-negative.
        p_g: Density of the generator's samples at the same points, same shape, non-negative.

    Returns:
        $D^*$ at each point, in [0, 1], shape of `p_data`.

    Raises:
        TypeError: If an argument is not a floating-point tensor.
        ValueError: If the shapes differ or a density is negative.
    """
    check_float_tensor("p_data", p_data)
    check_float_tensor("p_g", p_g)
    check_same_shape("p_g", p_g, p_data, "p_data")
    _non_negative("p_data", p_data)
    _non_negative("p_g", p_g)
    total = p_data + p_g
    return torch.where(total > 0, p_data / total.clamp_min(torch.finfo(total.dtype).tiny), 0.5)


def value_function(d_real: Tensor, d_fake: Tensor) -> Tensor:
    """The GAN value function estimated on samples.

    $$V(D, G) = \\mathbb{E}_{x \\sim p_{\\text{data}}}[\\log D(x)] + \\mathbb{E}_{z \\sim p_z}[\\log(1 - D(G(z)))]$$

    (Goodfellow et al. 2014, Eq. 1), the mean over the given samples. The discriminator maximises it,
    the generator minimises it.

    Args:
        d_real: $D(x)$ on real samples, probabilities in [0, 1], shape (n_real,) or any shape.
        d_fake: $D(G(z))$ on generated samples, probabilities in [0, 1], any shape.

    Returns:
        A scalar tensor, at most 0 (and $-\\infty$ when a real sample gets $D = 0$ or a fake one $D = 1$).

    Raises:
        TypeError: If an argument is not a floating-point tensor.
        ValueError: If an argument is empty or holds values outside [0, 1].
    """
    for name, d in (("d_real", d_real), ("d_fake", d_fake)):
        check_float_tensor(name, d)
        if d.numel() == 0:
            raise ValueError(f"{name} must not be empty")
        _probabilities(name, d)
    return torch.log(d_real).mean() + torch.log1p(-d_fake).mean()


def js_divergence(p: Tensor, q: Tensor) -> Tensor:
    """Jensen-Shannon divergence between discrete distributions, in nats.

    $$\\mathrm{JSD}(p \\,\\|\\, q) = \\tfrac12 \\mathrm{KL}(p \\,\\|\\, m) + \\tfrac12 \\mathrm{KL}(q \\,\\|\\, m),
      \\qquad m = \\tfrac12 (p + q),$$

    with $0 \\log 0 = 0$. It is symmetric, between 0 and $\\log 2$, and 0 only when $p = q$.
    `scipy.spatial.distance.jensenshannon(p, q)` returns its square root (a metric), so
    `js_divergence(p, q)` equals `jensenshannon(p, q) ** 2`; divide by $\\log 2$ for bits
    (scipy's `base=2`).

    Args:
        p: Probabilities along the last axis (summing to 1), any leading batch shape.
        q: Same shape as `p`.

    Returns:
        The divergence per distribution, shape `p.shape[:-1]`.

    Raises:
        TypeError: If an argument is not a floating-point tensor.
        ValueError: If the shapes differ, a probability lies outside [0, 1] or a distribution does not
            sum to 1.
    """
    check_float_tensor("p", p)
    check_float_tensor("q", q)
    check_same_shape("q", q, p, "p")
    _distribution("p", p)
    _distribution("q", q)
    m = 0.5 * (p + q)
    kl_pm = torch.special.xlogy(p, p) - torch.special.xlogy(p, m)  # 0 log 0 = 0; m > 0 wherever p > 0
    kl_qm = torch.special.xlogy(q, q) - torch.special.xlogy(q, m)
    return 0.5 * (kl_pm.sum(-1) + kl_qm.sum(-1))


def optimal_value(p_data: Tensor, p_g: Tensor) -> Tensor:
    """The value of the game when the discriminator is optimal, $C(G) = \\max_D V(D, G)$, for discrete distributions.

    $$C(G) = \\mathbb{E}_{p_{\\text{data}}}[\\log D^*(x)] + \\mathbb{E}_{p_g}[\\log(1 - D^*(x))]
      = -\\log 4 + 2\\,\\mathrm{JSD}(p_{\\text{data}} \\,\\|\\, p_g)$$

    (Goodfellow et al. 2014, Theorem 1). This function computes the left-hand side, the expectation
    over the outcomes with $D^*$ from `optimal_discriminator`; the tests check the right-hand side.

    Args:
        p_data: The data distribution over outcomes, along the last axis (sums to 1).
        p_g: The generator's distribution, same shape.

    Returns:
        $C(G)$ per distribution, shape `p_data.shape[:-1]`, in $[-\\log 4, 0]$.

    Raises:
        TypeError: If an argument is not a floating-point tensor.
        ValueError: If the shapes differ, a probability lies outside [0, 1] or a distribution does not
            sum to 1.
    """
    check_float_tensor("p_data", p_data)
    check_float_tensor("p_g", p_g)
    check_same_shape("p_g", p_g, p_data, "p_data")
    _distribution("p_data", p_data)
    _distribution("p_g", p_g)
    d_star = optimal_discriminator(p_data, p_g)
    return (torch.special.xlogy(p_data, d_star) + torch.special.xlogy(p_g, 1 - d_star)).sum(-1)


def discriminator_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """The discriminator's loss, $-V(D, G)$ on a batch, from logits.

    With $D = \\sigma(\\ell)$: $-\\log \\sigma(\\ell) = \\operatorname{softplus}(-\\ell)$ and
    $-\\log(1 - \\sigma(\\ell)) = \\operatorname{softplus}(\\ell)$, so

    $$L_D = \\operatorname{mean}\\,\\operatorname{softplus}(-\\ell_{\\text{real}})
      + \\operatorname{mean}\\,\\operatorname{softplus}(\\ell_{\\text{fake}}),$$

    equal to `binary_cross_entropy_with_logits(real_logits, ones) + binary_cross_entropy_with_logits(fake_logits, zeros)`:
    binary cross-entropy with label 1 for real, 0 for generated samples (Goodfellow et al. 2014).
    Logits keep it finite where $\\log \\sigma$ would underflow.

    Args:
        real_logits: The discriminator's logits on real samples, any non-empty shape.
        fake_logits: Its logits on generated samples, any non-empty shape.

    Returns:
        A scalar tensor, non-negative.

    Raises:
        TypeError: If an argument is not a floating-point tensor.
        ValueError: If an argument is empty.
    """
    _logits("real_logits", real_logits)
    _logits("fake_logits", fake_logits)
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def generator_loss_saturating(fake_logits: Tensor) -> Tensor:
    """The generator's loss of the minimax game, $\\mathbb{E}_z[\\log(1 - D(G(z)))]$, from logits.

    $$L_G^{\\text{minimax}} = \\operatorname{mean} \\log(1 - \\sigma(\\ell))
      = -\\operatorname{mean}\\,\\operatorname{softplus}(\\ell),$$

    equal to `-binary_cross_entropy_with_logits(fake_logits, zeros)`. It saturates: when the
    discriminator rejects the samples confidently ($\\ell \\ll 0$, early in training), its gradient
    $-\\sigma(\\ell)$ with respect to $\\ell$ vanishes (Goodfellow et al. 2014, Section 3).

    Args:
        fake_logits: The discriminator's logits on generated samples, any non-empty shape.

    Returns:
        A scalar tensor, non-positive.

    Raises:
        TypeError: If `fake_logits` is not a floating-point tensor.
        ValueError: If `fake_logits` is empty.
    """
    _logits("fake_logits", fake_logits)
    return -F.softplus(fake_logits).mean()


def generator_loss_non_saturating(fake_logits: Tensor) -> Tensor:
    """The non-saturating generator loss, $-\\mathbb{E}_z[\\log D(G(z))]$, from logits.

    $$L_G^{\\text{NS}} = -\\operatorname{mean} \\log \\sigma(\\ell) = \\operatorname{mean}\\,\\operatorname{softplus}(-\\ell),$$

    equal to `binary_cross_entropy_with_logits(fake_logits, ones)`: the generator trains its samples
    to be labelled real. It has the same fixed point as the minimax loss, but its gradient
    $\\sigma(\\ell) - 1$ is close to $-1$ where the discriminator rejects the samples, so the generator
    learns early in training (Goodfellow et al. 2014, Section 3).

    Args:
        fake_logits: The discriminator's logits on generated samples, any non-empty shape.

    Returns:
        A scalar tensor, non-negative.

    Raises:
        TypeError: If `fake_logits` is not a floating-point tensor.
        ValueError: If `fake_logits` is empty.
    """
    _logits("fake_logits", fake_logits)
    return F.softplus(-fake_logits).mean()
