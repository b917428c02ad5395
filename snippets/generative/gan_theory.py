"""The GAN game in numbers: the optimal discriminator, the value of the game at it (-log 4 + 2 JSD,
checked against scipy), and why the generator is trained with the non-saturating loss."""

# --8<-- [start:optimal]
import math

import numpy as np
import torch
from scipy.spatial.distance import jensenshannon

from genai_guide.gan import js_divergence, optimal_discriminator, optimal_value

torch.set_default_dtype(torch.float64)
p_data = torch.tensor([0.10, 0.40, 0.30, 0.20, 0.00])  # a data distribution over 5 outcomes
candidates = {
    "p_g = p_data": p_data.clone(),
    "p_g close": torch.tensor([0.15, 0.35, 0.25, 0.20, 0.05]),
    "p_g far": torch.tensor([0.40, 0.05, 0.05, 0.10, 0.40]),
    "disjoint": torch.tensor([0.00, 0.00, 0.00, 0.00, 1.00]),
}
print("D*(x) = p_data / (p_data + p_g) for 'p_g close':", optimal_discriminator(p_data, candidates["p_g close"]).numpy().round(3))
print(f"{'generator':>13} {'C(G) = max_D V':>15} {'-log 4 + 2 JSD':>15} {'JSD (nats)':>11} {'scipy distance':>15}")
for name, p_g in candidates.items():
    c = optimal_value(p_data, p_g).item()  # E_pdata[log D*] + E_pg[log(1 - D*)]
    jsd = js_divergence(p_data, p_g).item()
    distance = jensenshannon(p_data.numpy(), p_g.numpy())  # scipy: the square root of the JSD, natural log
    print(f"{name:>13} {c:>15.4f} {round(-math.log(4) + 2 * jsd, 4) + 0.0:>15.4f} {jsd:>11.4f} {distance:>15.4f}")
    assert math.isclose(c, -math.log(4) + 2 * jsd, abs_tol=1e-12)  # Theorem 1 of Goodfellow et al. 2014
    assert math.isclose(jsd, distance**2, abs_tol=1e-12)
    assert math.isclose(jsd / math.log(2), jensenshannon(p_data.numpy(), p_g.numpy(), base=2) ** 2, abs_tol=1e-12)
print(f"-log 4 = {-math.log(4):.4f} (p_g = p_data), log 2 = {math.log(2):.4f} (the largest JSD)")

# No other discriminator does better than D*: perturb it and the value drops
p_g = candidates["p_g close"]
d_star = optimal_discriminator(p_data, p_g)
rng = np.random.default_rng(0)
for _ in range(1000):
    d = (d_star + torch.from_numpy(rng.normal(0, 0.05, 5))).clamp(1e-9, 1 - 1e-9)
    value = (torch.special.xlogy(p_data, d) + torch.special.xlogy(p_g, 1 - d)).sum()
    assert value <= optimal_value(p_data, p_g) + 1e-12
# --8<-- [end:optimal]

# --8<-- [start:saturating]
from genai_guide.gan import generator_loss_non_saturating, generator_loss_saturating

# Early in training D rejects generated samples: logit l = log(D / (1 - D)) very negative.
print(f"{'D(G(z))':>8} {'logit':>7} {'d/dl log(1 - D)':>16} {'d/dl -log D':>12}")
for d in (0.5, 0.1, 1e-2, 1e-3, 1e-4):
    logit = torch.tensor([math.log(d / (1 - d))], requires_grad=True)
    (g_sat,) = torch.autograd.grad(generator_loss_saturating(logit), logit)  # minimax: -sigmoid(l)
    (g_ns,) = torch.autograd.grad(generator_loss_non_saturating(logit), logit)  # non-saturating: sigmoid(l) - 1
    print(f"{d:>8g} {logit.item():>7.2f} {g_sat.item():>16.4f} {g_ns.item():>12.4f}")
    assert math.isclose(g_sat.item(), -d, rel_tol=1e-9) and math.isclose(g_ns.item(), d - 1, rel_tol=1e-9)
# --8<-- [end:saturating]
