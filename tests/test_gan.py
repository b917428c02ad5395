"""genai_guide.gan against scipy and torch on random inputs, and its input checks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.spatial.distance import jensenshannon

from genai_guide.gan import (
    discriminator_loss,
    generator_loss_non_saturating,
    generator_loss_saturating,
    js_divergence,
    optimal_discriminator,
    optimal_value,
    value_function,
)


def random_distributions(gen: torch.Generator, batch: int, k: int, zeros: bool = True) -> torch.Tensor:
    w = torch.rand(batch, k, generator=gen, dtype=torch.float64) ** 3
    if zeros:  # some outcomes impossible: the 0 log 0 = 0 convention must hold
        w = w * (torch.rand(batch, k, generator=gen, dtype=torch.float64) > 0.3)
        w[:, 0] += 1e-3  # at least one possible outcome
    return w / w.sum(-1, keepdim=True)


@pytest.mark.parametrize("k", [1, 2, 7, 50])
def test_js_divergence_is_the_square_of_scipys_jensenshannon(k: int):
    gen = torch.Generator().manual_seed(k)
    p, q = random_distributions(gen, 64, k), random_distributions(gen, 64, k)
    ours = js_divergence(p, q)
    assert ours.shape == (64,)
    ref = jensenshannon(p.numpy(), q.numpy(), axis=-1) ** 2  # scipy returns the distance, sqrt(JSD)
    np.testing.assert_allclose(ours.numpy(), ref, rtol=1e-10, atol=1e-12)
    ref_bits = jensenshannon(p.numpy(), q.numpy(), axis=-1, base=2) ** 2
    np.testing.assert_allclose((ours / math.log(2)).numpy(), ref_bits, rtol=1e-10, atol=1e-12)
    assert bool((ours >= -1e-15).all()) and bool((ours <= math.log(2) + 1e-12).all())
    torch.testing.assert_close(js_divergence(q, p), ours)  # symmetric


def test_js_divergence_extremes():
    p = torch.tensor([1.0, 0.0], dtype=torch.float64)
    q = torch.tensor([0.0, 1.0], dtype=torch.float64)
    assert js_divergence(p, q).item() == pytest.approx(math.log(2))  # disjoint supports: log 2
    assert js_divergence(p, p).item() == 0.0


def test_optimal_value_is_minus_log4_plus_twice_the_jsd():
    gen = torch.Generator().manual_seed(0)
    p_data, p_g = random_distributions(gen, 100, 10), random_distributions(gen, 100, 10)
    c = optimal_value(p_data, p_g)
    ref = -math.log(4) + 2 * jensenshannon(p_data.numpy(), p_g.numpy(), axis=-1) ** 2
    np.testing.assert_allclose(c.numpy(), ref, rtol=1e-10, atol=1e-12)
    assert optimal_value(p_data, p_data).numpy() == pytest.approx(-math.log(4))  # the global minimum


def test_optimal_discriminator_maximises_the_value_pointwise():
    gen = torch.Generator().manual_seed(1)
    p_data, p_g = random_distributions(gen, 1, 6, zeros=False)[0], random_distributions(gen, 1, 6, zeros=False)[0]
    d_star = optimal_discriminator(p_data, p_g)
    torch.testing.assert_close(d_star, p_data / (p_data + p_g))

    def value(d: torch.Tensor) -> torch.Tensor:
        return (p_data * torch.log(d) + p_g * torch.log1p(-d)).sum()

    best = value(d_star)
    for _ in range(200):  # any other discriminator does worse
        other = (d_star + 0.05 * torch.randn(6, generator=gen, dtype=torch.float64)).clamp(1e-6, 1 - 1e-6)
        assert value(other) <= best + 1e-15
    torch.testing.assert_close(best, optimal_value(p_data, p_g))
    d = d_star.clone().requires_grad_(True)
    value(d).backward()
    torch.testing.assert_close(d.grad, torch.zeros(6, dtype=torch.float64), atol=1e-12, rtol=0)  # a stationary point


def test_optimal_discriminator_where_both_densities_vanish():
    d = optimal_discriminator(torch.tensor([0.0, 2.0, 0.0]), torch.tensor([0.0, 0.0, 3.0]))
    assert d.tolist() == [0.5, 1.0, 0.0]


def test_value_function_equals_minus_bce():
    gen = torch.Generator().manual_seed(2)
    d_real = torch.rand(30, generator=gen, dtype=torch.float64)
    d_fake = torch.rand(20, generator=gen, dtype=torch.float64)
    ref = -(F.binary_cross_entropy(d_real, torch.ones(30, dtype=torch.float64))
            + F.binary_cross_entropy(d_fake, torch.zeros(20, dtype=torch.float64)))
    torch.testing.assert_close(value_function(d_real, d_fake), ref)


def test_losses_equal_binary_cross_entropy_with_logits():
    gen = torch.Generator().manual_seed(3)
    real = 10 * torch.randn(40, 1, generator=gen, dtype=torch.float64)
    fake = 10 * torch.randn(25, 1, generator=gen, dtype=torch.float64)
    bce = F.binary_cross_entropy_with_logits
    torch.testing.assert_close(discriminator_loss(real, fake),
                               bce(real, torch.ones_like(real)) + bce(fake, torch.zeros_like(fake)))
    torch.testing.assert_close(generator_loss_saturating(fake), -bce(fake, torch.zeros_like(fake)))
    torch.testing.assert_close(generator_loss_non_saturating(fake), bce(fake, torch.ones_like(fake)))
    # and the value function: L_D = -V(D, G) with D = sigmoid(logit)
    torch.testing.assert_close(discriminator_loss(real, fake),
                               -value_function(torch.sigmoid(real), torch.sigmoid(fake)), rtol=1e-6, atol=1e-6)


def test_losses_stay_finite_for_extreme_logits():
    logits = torch.tensor([-800.0, 800.0], dtype=torch.float64)
    for loss in (discriminator_loss(logits, logits), generator_loss_saturating(logits),
                 generator_loss_non_saturating(logits)):
        assert torch.isfinite(loss)


def test_gradients_saturate_only_for_the_minimax_loss():
    logit = torch.tensor([-8.0], dtype=torch.float64, requires_grad=True)  # D(G(z)) = sigmoid(-8): rejected
    generator_loss_saturating(logit).backward()
    assert abs(logit.grad.item()) < 1e-3  # -sigmoid(-8) = -0.000335
    logit.grad = None
    generator_loss_non_saturating(logit).backward()
    assert logit.grad.item() == pytest.approx(torch.sigmoid(torch.tensor(-8.0)).item() - 1)


def test_bad_inputs_are_rejected_with_the_argument_named():
    p = torch.tensor([0.5, 0.5])
    with pytest.raises(ValueError, match="q must have the shape"):
        js_divergence(p, torch.tensor([0.2, 0.3, 0.5]))
    with pytest.raises(ValueError, match="q must sum to 1"):
        js_divergence(p, torch.tensor([0.2, 0.3]))
    with pytest.raises(ValueError, match=r"p must hold probabilities in \[0, 1\]"):
        js_divergence(torch.tensor([1.5, -0.5]), p)
    with pytest.raises(ValueError, match="p_g must sum to 1"):
        optimal_value(p, torch.tensor([0.9, 0.9]))
    with pytest.raises(ValueError, match="p_g must have the shape"):
        optimal_discriminator(p, torch.tensor([0.1]))
    with pytest.raises(ValueError, match="p_data must be non-negative"):
        optimal_discriminator(torch.tensor([-0.1, 1.0]), p)
    with pytest.raises(ValueError, match="d_fake must hold probabilities"):
        value_function(p, torch.tensor([1.2]))
    with pytest.raises(ValueError, match="d_real must not be empty"):
        value_function(torch.tensor([]), p)
    with pytest.raises(TypeError, match="fake_logits must be a torch.Tensor"):
        generator_loss_non_saturating([0.0])
    with pytest.raises(TypeError, match="real_logits must have a floating dtype"):
        discriminator_loss(torch.tensor([1, 2]), p)
    with pytest.raises(ValueError, match="fake_logits must not be empty"):
        generator_loss_saturating(torch.tensor([]))
