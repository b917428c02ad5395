"""The pieces of a variational autoencoder's loss, written to be read.

The chapter [Variational autoencoders](../../generative/vae.md) explains them. A VAE (Kingma and
Welling 2013; Rezende, Mohamed and Wierstra 2014) has an encoder that maps an input $x$ to a
diagonal Gaussian $q_\\phi(z \\mid x) = \\mathcal{N}(\\mu, \\operatorname{diag}\\sigma^2)$ over latent
codes, and a decoder $p_\\theta(x \\mid z)$. It is trained by maximising the evidence lower bound

$$\\mathcal{L}(x) = \\mathbb{E}_{q_\\phi(z \\mid x)}\\big[\\log p_\\theta(x \\mid z)\\big]
  - \\beta\\, \\mathrm{KL}\\big(q_\\phi(z \\mid x)\\,\\|\\,p(z)\\big) \\le \\log p_\\theta(x) \\quad (\\beta = 1),$$

with the prior $p(z) = \\mathcal{N}(0, I)$ and $\\beta = 1$ in the original VAE ($\\beta > 1$ is the
β-VAE of Higgins et al. 2017). `tests/test_vae.py` checks every function against
`torch.distributions`:

- `gaussian_kl`: the KL divergence between two diagonal Gaussians in closed form, per dimension,
  equal to `torch.distributions.kl_divergence` of two `Normal`s;
- `kl_to_standard_normal`: the special case against $\\mathcal{N}(0, 1)$ from a mean and a
  log-variance, the KL term of the ELBO (Kingma and Welling 2013 derive it in an appendix);
- `reparameterize`: $z = \\mu + \\sigma \\odot \\epsilon$, equal to `Normal(mu, sigma).rsample()`
  for the same random numbers, gradients included;
- `bernoulli_log_likelihood`: $\\log p_\\theta(x \\mid z)$ of a decoder that outputs one logit per
  pixel, equal to `Bernoulli(logits=...).log_prob(x)` summed over pixels;
- `elbo`: the three numbers a training loop logs, per example: reconstruction, KL and the
  (β-weighted) ELBO.

All functions work on any floating dtype; the book trains in float64.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from genai_guide._checks import check_float_tensor, check_same_shape

__all__ = [
    "ElboTerms",
    "bernoulli_log_likelihood",
    "elbo",
    "gaussian_kl",
    "kl_to_standard_normal",
    "reparameterize",
]



def _positive(name: str, x: Tensor) -> None:
    if x.numel() and not bool((x > 0).all()):
        raise ValueError(f"{name} must be positive (a variance), got a minimum of {x.min().item()}")


def _finite(name: str, x: Tensor) -> None:
    if x.numel() and not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} must be finite, got inf or nan")


def _latent(name: str, x: object) -> Tensor:
    x = check_float_tensor(name, x)
    if x.dim() < 1:
        raise ValueError(f"{name} must have at least 1 dimension (..., latent_dim), got shape {tuple(x.shape)}")
    return x


def gaussian_kl(mean_q: Tensor, var_q: Tensor, mean_p: Tensor | None = None, var_p: Tensor | None = None) -> Tensor:
    """KL divergence between two diagonal Gaussians, in closed form, per dimension.

    For $q = \\mathcal{N}(\\mu_q, \\sigma_q^2)$ and $p = \\mathcal{N}(\\mu_p, \\sigma_p^2)$ in one dimension,

    $$\\mathrm{KL}(q \\,\\|\\, p) = \\log\\frac{\\sigma_p}{\\sigma_q}
      + \\frac{\\sigma_q^2 + (\\mu_q - \\mu_p)^2}{2\\sigma_p^2} - \\frac12 .$$

    A diagonal Gaussian is a product of independent dimensions, so its KL is the sum of the
    per-dimension values this function returns (`.sum(-1)`). With $\\mu_p = 0$, $\\sigma_p = 1$ it
    is $\\tfrac12(\\mu_q^2 + \\sigma_q^2 - 1 - \\log\\sigma_q^2)$, the KL term of the VAE (Kingma and
    Welling 2013). Equal to `torch.distributions.kl_divergence(Normal(mean_q,
    var_q.sqrt()), Normal(mean_p, var_p.sqrt()))`.

    Args:
        mean_q: `(..., d)` means of $q$.
        var_q: `(..., d)` variances $\\sigma_q^2$ of $q$ (not standard deviations), positive.
        mean_p: means of $p$, broadcastable to `mean_q`; `None` for 0.
        var_p: variances of $p$, positive, broadcastable to `mean_q`; `None` for 1.

    Returns:
        `(..., d)` KL divergence of each dimension, in nats, never negative.

    Raises:
        TypeError: if an argument is not a floating-point tensor.
        ValueError: if shapes disagree or a variance is not positive.
    """
    mean_q, var_q = _latent("mean_q", mean_q), check_float_tensor("var_q", var_q)
    check_same_shape("var_q", var_q, mean_q, "mean_q")
    _positive("var_q", var_q)
    mean_p = torch.zeros((), dtype=mean_q.dtype) if mean_p is None else check_float_tensor("mean_p", mean_p)
    var_p = torch.ones((), dtype=mean_q.dtype) if var_p is None else check_float_tensor("var_p", var_p)
    _positive("var_p", var_p)
    for name, x in (("mean_p", mean_p), ("var_p", var_p)):
        try:
            torch.broadcast_shapes(x.shape, mean_q.shape)
        except RuntimeError:
            raise ValueError(f"{name} must broadcast to mean_q's shape {tuple(mean_q.shape)}, "
                             f"got {tuple(x.shape)}") from None
    ratio = var_q / var_p  # sigma_q^2 / sigma_p^2
    return 0.5 * (ratio + (mean_q - mean_p) ** 2 / var_p - 1 - torch.log(ratio))


def kl_to_standard_normal(mean: Tensor, logvar: Tensor) -> Tensor:
    """KL divergence from $\\mathcal{N}(\\mu, \\sigma^2)$ to $\\mathcal{N}(0, 1)$, per dimension.

    $$\\mathrm{KL}\\big(\\mathcal{N}(\\mu, \\sigma^2) \\,\\|\\, \\mathcal{N}(0, 1)\\big)
      = \\tfrac12\\big(\\mu^2 + \\sigma^2 - 1 - \\log\\sigma^2\\big),$$

    the negative of the term Kingma and Welling (2013, in an appendix) write as
    $\\tfrac12\\sum_j (1 + \\log\\sigma_j^2 - \\mu_j^2 - \\sigma_j^2)$. An encoder outputs the
    log-variance $\\log\\sigma^2$, which can be any real number, so no variance is ever negative.
    Summed over the last dimension it is the KL term of the ELBO; averaged over the data per
    dimension, it shows which latent dimensions carry information (those with KL near 0 are
    collapsed to the prior).

    Args:
        mean: `(..., d)` encoder means $\\mu$.
        logvar: `(..., d)` encoder log-variances $\\log\\sigma^2$, finite.

    Returns:
        `(..., d)` KL of each dimension, in nats.

    Raises:
        TypeError: if an argument is not a floating-point tensor.
        ValueError: if the shapes differ or `logvar` is not finite.
    """
    mean, logvar = _latent("mean", mean), check_float_tensor("logvar", logvar)
    check_same_shape("logvar", logvar, mean, "mean")
    _finite("logvar", logvar)
    return 0.5 * (mean**2 + logvar.exp() - 1 - logvar)


def reparameterize(mean: Tensor, logvar: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Draw $z \\sim \\mathcal{N}(\\mu, \\sigma^2)$ as a differentiable function of $\\mu$ and $\\log\\sigma^2$.

    The reparameterisation trick (Kingma and Welling 2013, section 2.4; Rezende et al. 2014):

    $$z = \\mu + \\sigma \\odot \\epsilon, \\qquad \\sigma = \\exp\\big(\\tfrac12 \\log\\sigma^2\\big),
      \\quad \\epsilon \\sim \\mathcal{N}(0, I).$$

    The noise $\\epsilon$ does not depend on the parameters, so gradients reach $\\mu$ and
    $\\log\\sigma^2$ through ordinary arithmetic: $\\partial z / \\partial \\mu = 1$ and
    $\\partial z / \\partial \\log\\sigma^2 = \\tfrac12 \\sigma \\epsilon$. It draws $\\epsilon$ as
    `Normal(mean, std).rsample()` does (`torch.empty(...).normal_()`), so the same seed gives the same
    sample.

    Args:
        mean: `(..., d)` means $\\mu$.
        logvar: `(..., d)` log-variances $\\log\\sigma^2$, finite.
        generator: random number generator for $\\epsilon$; `None` for torch's global one.

    Returns:
        `(..., d)` a sample $z$, differentiable with respect to `mean` and `logvar`.

    Raises:
        TypeError: if `mean` or `logvar` is not a floating-point tensor, or `generator` is not a
            `torch.Generator`.
        ValueError: if the shapes differ or `logvar` is not finite.
    """
    mean, logvar = _latent("mean", mean), check_float_tensor("logvar", logvar)
    check_same_shape("logvar", logvar, mean, "mean")
    _finite("logvar", logvar)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    eps = torch.empty(mean.shape, dtype=mean.dtype, device=mean.device).normal_(generator=generator)
    return mean + torch.exp(0.5 * logvar) * eps


def bernoulli_log_likelihood(logits: Tensor, x: Tensor) -> Tensor:
    """$\\log p_\\theta(x \\mid z)$ of a Bernoulli decoder, summed over the pixels of each example.

    The decoder outputs one logit $\\ell_i$ per pixel, $p_i = \\operatorname{sigmoid}(\\ell_i)$, and

    $$\\log p_\\theta(x \\mid z) = \\sum_i x_i \\log p_i + (1 - x_i) \\log(1 - p_i),$$

    the decoder Kingma and Welling (2013, appendix C.1) use for binary images: minus the binary
    cross-entropy. For grey levels $x_i \\in [0, 1]$ the same formula is the usual
    reconstruction term (no longer a normalised density). Computed from logits, stably.

    Args:
        logits: `(batch, ...)` decoder logits.
        x: `(batch, ...)` data in $[0, 1]$, same shape.

    Returns:
        `(batch,)` log-likelihood of each example, in nats.

    Raises:
        TypeError: if an argument is not a floating-point tensor.
        ValueError: if the shapes differ, `logits` has no batch dimension or `x` leaves $[0, 1]$.
    """
    logits, x = _latent("logits", logits), check_float_tensor("x", x)
    check_same_shape("x", x, logits, "logits")
    if x.numel() and not bool(((x >= 0) & (x <= 1)).all()):
        raise ValueError(f"x must lie in [0, 1], got values in [{x.min().item()}, {x.max().item()}]")
    nll = F.binary_cross_entropy_with_logits(logits, x, reduction="none")  # (batch, ...)
    return -nll.reshape(len(x), -1).sum(-1)


class ElboTerms(NamedTuple):
    """Per-example terms of the (β-weighted) evidence lower bound, each `(batch,)`, in nats."""

    reconstruction: Tensor
    """$\\log p_\\theta(x \\mid z)$ for one sample $z \\sim q_\\phi(z \\mid x)$."""
    kl: Tensor
    """$\\mathrm{KL}(q_\\phi(z \\mid x) \\,\\|\\, \\mathcal{N}(0, I))$, summed over latent dimensions."""
    elbo: Tensor
    """`reconstruction - beta * kl`; with β = 1, a lower bound on $\\log p_\\theta(x)$."""


def elbo(logits: Tensor, x: Tensor, mean: Tensor, logvar: Tensor, beta: float = 1.0) -> ElboTerms:
    """The evidence lower bound of a VAE with a Bernoulli decoder and a standard normal prior.

    $$\\mathcal{L}_\\beta(x) = \\log p_\\theta(x \\mid z) - \\beta \\sum_j
      \\tfrac12\\big(\\mu_j^2 + \\sigma_j^2 - 1 - \\log\\sigma_j^2\\big), \\quad
      z = \\mu + \\sigma \\odot \\epsilon,$$

    the one-sample estimate Kingma and Welling (2013) train the VAE with, the KL term in closed form
    and the reconstruction term from one reparameterised sample. The training loss is
    `-elbo(...).elbo.mean()`. β = 1 is the VAE; β > 1 is the β-VAE of Higgins et al. (2017), which
    presses the posterior harder towards the prior.

    Args:
        logits: `(batch, ...)` decoder logits for the sampled codes $z$.
        x: `(batch, ...)` data in $[0, 1]$, same shape as `logits`.
        mean: `(batch, d)` encoder means.
        logvar: `(batch, d)` encoder log-variances.
        beta: weight of the KL term, at least 0.

    Returns:
        An `ElboTerms` of `(batch,)` tensors: reconstruction, KL and ELBO.

    Raises:
        TypeError: if a tensor argument is not a floating-point tensor or `beta` is not a number.
        ValueError: if shapes or batch sizes disagree or `beta` is negative.
    """
    if isinstance(beta, bool) or not isinstance(beta, (int, float)):
        raise TypeError(f"beta must be a float, got {type(beta).__name__}")
    if not beta >= 0:
        raise ValueError(f"beta must be >= 0, got {beta}")
    reconstruction = bernoulli_log_likelihood(logits, x)  # (batch,)
    kl_per_dim = kl_to_standard_normal(mean, logvar)
    if kl_per_dim.dim() != 2 or len(kl_per_dim) != len(reconstruction):
        raise ValueError(f"mean must have shape (batch, latent_dim) with batch {len(reconstruction)}, "
                         f"got {tuple(mean.shape)}")
    kl = kl_per_dim.sum(-1)  # (batch,)
    return ElboTerms(reconstruction, kl, reconstruction - beta * kl)
