"""genai_guide.vae against torch.distributions, on random inputs.

KL divergences: `torch.distributions.kl_divergence` of two `Normal`s (per dimension) and of two
`Independent` diagonal Gaussians (summed); the reparameterised sample: `Normal.rsample` with the same
seed, values and gradients; the Bernoulli decoder: `Bernoulli(logits=...).log_prob`; and a Monte Carlo
check that the ELBO is a lower bound, tight when q is the true posterior.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Bernoulli, Independent, MultivariateNormal, Normal, kl_divergence

from genai_guide.vae import (
    ElboTerms,
    bernoulli_log_likelihood,
    elbo,
    gaussian_kl,
    kl_to_standard_normal,
    reparameterize,
)


def gaussians(seed: int, shape: tuple[int, ...], dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    mean = torch.randn(shape, generator=g, dtype=dtype) * 2
    logvar = torch.randn(shape, generator=g, dtype=dtype) * 1.5
    return mean, logvar


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("shape", [(5,), (7, 3), (2, 4, 6)])
def test_gaussian_kl_equals_torch_distributions(seed, shape):
    mean_q, logvar_q = gaussians(seed, shape)
    mean_p, logvar_p = gaussians(seed + 1000, shape)
    ours = gaussian_kl(mean_q, logvar_q.exp(), mean_p, logvar_p.exp())
    theirs = kl_divergence(Normal(mean_q, (0.5 * logvar_q).exp()), Normal(mean_p, (0.5 * logvar_p).exp()))
    torch.testing.assert_close(ours, theirs, rtol=1e-10, atol=1e-12)
    assert (ours >= 0).all()
    # a diagonal Gaussian is a product of independent dimensions: its KL is the sum
    diag_q = Independent(Normal(mean_q, (0.5 * logvar_q).exp()), 1)
    diag_p = Independent(Normal(mean_p, (0.5 * logvar_p).exp()), 1)
    torch.testing.assert_close(ours.sum(-1), kl_divergence(diag_q, diag_p), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("seed", range(8))
def test_kl_to_standard_normal_equals_torch_distributions(seed):
    mean, logvar = gaussians(seed, (16, 8))
    ours = kl_to_standard_normal(mean, logvar)
    theirs = kl_divergence(Normal(mean, (0.5 * logvar).exp()), Normal(0.0, 1.0))
    torch.testing.assert_close(ours, theirs, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(ours, gaussian_kl(mean, logvar.exp()), rtol=1e-10, atol=1e-12)
    # and the full-covariance reference, dimension by dimension summed
    q = MultivariateNormal(mean, covariance_matrix=torch.diag_embed(logvar.exp()))
    p = MultivariateNormal(torch.zeros(8, dtype=torch.float64), torch.eye(8, dtype=torch.float64))
    torch.testing.assert_close(ours.sum(-1), kl_divergence(q, p), rtol=1e-9, atol=1e-10)


def test_kl_is_zero_only_at_the_prior():
    zeros = torch.zeros(3, 4, dtype=torch.float64)
    assert kl_to_standard_normal(zeros, zeros).abs().max() == 0
    assert (kl_to_standard_normal(zeros + 0.1, zeros) > 0).all()
    assert (kl_to_standard_normal(zeros, zeros - 0.1) > 0).all()


def test_float32_works_too():
    mean, logvar = gaussians(0, (4, 3), dtype=torch.float32)
    ours = kl_to_standard_normal(mean, logvar)
    assert ours.dtype == torch.float32
    torch.testing.assert_close(ours, kl_divergence(Normal(mean, (0.5 * logvar).exp()), Normal(0.0, 1.0)))


@pytest.mark.parametrize("seed", range(10))
def test_reparameterize_equals_rsample_values_and_gradients(seed):
    mean, logvar = gaussians(seed, (6, 5))
    mean.requires_grad_(True)
    logvar.requires_grad_(True)
    torch.manual_seed(seed)
    ours = reparameterize(mean, logvar)
    weights = torch.randn(6, 5, dtype=torch.float64)
    grads = torch.autograd.grad((ours * weights).sum(), (mean, logvar))

    torch.manual_seed(seed)
    theirs = Normal(mean, (0.5 * logvar).exp()).rsample()
    torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-12)
    reference = torch.autograd.grad((theirs * weights).sum(), (mean, logvar))
    for a, b in zip(grads, reference, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    # dz/dmu = 1 and dz/dlogvar = sigma * eps / 2
    eps = (ours - mean) / (0.5 * logvar).exp()
    torch.testing.assert_close(grads[0], weights)
    torch.testing.assert_close(grads[1], weights * 0.5 * (0.5 * logvar).exp() * eps)


def test_reparameterize_with_a_generator_has_the_right_moments():
    mean = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64).expand(200_000, 3)
    logvar = torch.tensor([0.0, math.log(4.0), math.log(0.25)], dtype=torch.float64).expand(200_000, 3)
    a = reparameterize(mean, logvar, generator=torch.Generator().manual_seed(0))
    b = reparameterize(mean, logvar, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a, b)
    torch.testing.assert_close(a.mean(0), mean[0], atol=0.02, rtol=0)
    torch.testing.assert_close(a.var(0), logvar[0].exp(), atol=0.02, rtol=0.01)


@pytest.mark.parametrize("seed", range(10))
def test_bernoulli_log_likelihood_equals_torch_distributions(seed):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(9, 8, 8, generator=g, dtype=torch.float64) * 4
    binary = (torch.rand(9, 8, 8, generator=g, dtype=torch.float64) < 0.4).double()
    ours = bernoulli_log_likelihood(logits, binary)
    theirs = Bernoulli(logits=logits).log_prob(binary).sum((-2, -1))
    torch.testing.assert_close(ours, theirs, rtol=1e-10, atol=1e-10)
    grey = torch.rand(9, 8, 8, generator=g, dtype=torch.float64)  # grey levels: the same formula
    theirs = Bernoulli(logits=logits, validate_args=False).log_prob(grey).sum((-2, -1))
    torch.testing.assert_close(bernoulli_log_likelihood(logits, grey), theirs, rtol=1e-10, atol=1e-10)


def test_elbo_terms_and_beta():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(5, 64, generator=g, dtype=torch.float64)
    logits = torch.randn(5, 64, generator=g, dtype=torch.float64)
    mean, logvar = gaussians(1, (5, 3))
    terms = elbo(logits, x, mean, logvar)
    assert isinstance(terms, ElboTerms) and all(t.shape == (5,) for t in terms)
    torch.testing.assert_close(terms.reconstruction, Bernoulli(logits=logits, validate_args=False).log_prob(x).sum(-1))
    torch.testing.assert_close(terms.kl, kl_divergence(Normal(mean, (0.5 * logvar).exp()), Normal(0.0, 1.0)).sum(-1))
    torch.testing.assert_close(terms.elbo, terms.reconstruction - terms.kl)
    heavy = elbo(logits, x, mean, logvar, beta=4.0)
    torch.testing.assert_close(heavy.elbo, terms.reconstruction - 4 * terms.kl)
    torch.testing.assert_close(elbo(logits, x, mean, logvar, beta=0).elbo, terms.reconstruction)


def test_elbo_is_a_lower_bound_tight_at_the_true_posterior():
    """A linear-Gaussian model where log p(x) and the posterior are known in closed form:
    z ~ N(0, 1), x | z ~ N(a z, s^2), so x ~ N(0, a^2 + s^2) and p(z | x) = N(m, v) with
    v = s^2 / (a^2 + s^2), m = a x / (a^2 + s^2). ELBO(q) = log p(x) - KL(q || p(z | x))."""
    a, s2, x = 2.0, 0.5, torch.tensor(1.3, dtype=torch.float64)
    log_px = Normal(0.0, math.sqrt(a**2 + s2)).log_prob(x)
    v, m = s2 / (a**2 + s2), a * x / (a**2 + s2)
    torch.manual_seed(0)
    for mean, var in ((m, torch.tensor(v, dtype=torch.float64)), (m + 0.5, torch.tensor(0.3, dtype=torch.float64))):
        z = reparameterize(mean.expand(400_000, 1), var.log().expand(400_000, 1))
        reconstruction = Normal(a * z, math.sqrt(s2)).log_prob(x).mean()
        bound = reconstruction - kl_to_standard_normal(mean.reshape(1, 1), var.log().reshape(1, 1)).sum()
        gap = gaussian_kl(mean.reshape(1), var.reshape(1), m.reshape(1), torch.tensor([v], dtype=torch.float64))
        torch.testing.assert_close(bound, log_px - gap.sum(), atol=3e-3, rtol=0)
    assert gaussian_kl(m.reshape(1), torch.tensor([v], dtype=torch.float64),
                       m.reshape(1), torch.tensor([v], dtype=torch.float64)).item() == 0


# ------------------------------------------------------------------------------------ bad input

F64 = torch.zeros(2, 3, dtype=torch.float64)


@pytest.mark.parametrize(
    ("call", "error", "name"),
    [
        (lambda: gaussian_kl([0.0], F64), TypeError, "mean_q"),
        (lambda: gaussian_kl(torch.zeros(2, 3, dtype=torch.long), F64), TypeError, "mean_q"),
        (lambda: gaussian_kl(F64, F64 + 1, torch.zeros(2, 3, dtype=torch.int32)), TypeError, "mean_p"),
        (lambda: gaussian_kl(F64, F64 + 1, None, 1.0), TypeError, "var_p"),
        (lambda: gaussian_kl(F64, torch.ones(3, 2, dtype=torch.float64)), ValueError, "var_q"),
        (lambda: gaussian_kl(F64, F64 - 1), ValueError, "var_q"),
        (lambda: gaussian_kl(F64, F64), ValueError, "var_q"),
        (lambda: gaussian_kl(F64, F64 + 1, None, -F64 - 1), ValueError, "var_p"),
        (lambda: gaussian_kl(F64, F64 + 1, torch.zeros(4, dtype=torch.float64)), ValueError, "mean_p"),
        (lambda: gaussian_kl(torch.tensor(0.0), torch.tensor(1.0)), ValueError, "mean_q"),
        (lambda: kl_to_standard_normal(F64, torch.zeros(2, 4, dtype=torch.float64)), ValueError, "logvar"),
        (lambda: kl_to_standard_normal(F64, F64 + float("inf")), ValueError, "logvar"),
        (lambda: kl_to_standard_normal(F64.long(), F64), TypeError, "mean"),
        (lambda: reparameterize(F64, F64.numpy()), TypeError, "logvar"),
        (lambda: reparameterize(F64, torch.zeros(3, dtype=torch.float64)), ValueError, "logvar"),
        (lambda: reparameterize(F64, F64, generator=0), TypeError, "generator"),
        (lambda: bernoulli_log_likelihood(F64, F64 + 2), ValueError, "x"),
        (lambda: bernoulli_log_likelihood(F64, torch.zeros(2, 4, dtype=torch.float64)), ValueError, "x"),
        (lambda: bernoulli_log_likelihood(F64, F64.bool()), TypeError, "x"),
        (lambda: elbo(F64, F64, F64, F64, beta=-1.0), ValueError, "beta"),
        (lambda: elbo(F64, F64, F64, F64, beta="1"), TypeError, "beta"),
        (lambda: elbo(F64, F64, torch.zeros(5, 3, dtype=torch.float64), torch.zeros(5, 3, dtype=torch.float64)),
         ValueError, "mean"),
        (lambda: elbo(F64, F64, torch.zeros(2, dtype=torch.float64), torch.zeros(2, dtype=torch.float64)),
         ValueError, "mean"),
    ],
)
def test_bad_input_fails_naming_the_argument(call, error, name):
    with pytest.raises(error, match=rf"^{name} "):
        call()
