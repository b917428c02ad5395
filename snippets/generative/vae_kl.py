"""The two formulas that make a VAE trainable: the KL term in closed form (equal to
torch.distributions.kl_divergence) and the reparameterised sample that gradients can pass through."""

# --8<-- [start:kl]
import torch
from torch.distributions import Normal, kl_divergence

from genai_guide.vae import gaussian_kl, kl_to_standard_normal

torch.manual_seed(0)
mean = torch.randn(4, 3, dtype=torch.float64)  # an encoder's output for 4 inputs, 3 latent dimensions
logvar = torch.randn(4, 3, dtype=torch.float64)

ours = kl_to_standard_normal(mean, logvar)  # (4, 3): 0.5 * (mu^2 + sigma^2 - 1 - log sigma^2)
theirs = kl_divergence(Normal(mean, (0.5 * logvar).exp()), Normal(0.0, 1.0))
print("KL to N(0, 1) per dimension, first input:", [round(v, 4) for v in ours[0].tolist()])
print("summed over dimensions (the ELBO's KL term):", [round(v, 4) for v in ours.sum(-1).tolist()])
print("equal to torch.distributions.kl_divergence:", torch.allclose(ours, theirs, rtol=1e-12, atol=1e-14))
assert torch.allclose(ours, theirs, rtol=1e-12, atol=1e-14)

# The general case, two Gaussians N(mu_q, var_q) and N(mu_p, var_p); not symmetric
mu_q, var_q, mu_p, var_p = (torch.tensor([v], dtype=torch.float64) for v in (1.0, 0.25, 0.0, 1.0))
forward, backward = gaussian_kl(mu_q, var_q, mu_p, var_p), gaussian_kl(mu_p, var_p, mu_q, var_q)
print(f"KL(N(1, 0.25) || N(0, 1)) = {forward.item():.4f}, KL(N(0, 1) || N(1, 0.25)) = {backward.item():.4f}")
assert torch.allclose(forward, kl_divergence(Normal(mu_q, var_q.sqrt()), Normal(mu_p, var_p.sqrt())))
assert torch.allclose(backward, kl_divergence(Normal(mu_p, var_p.sqrt()), Normal(mu_q, var_q.sqrt())))

# The closed form is the expectation E_q[log q(z) - log p(z)]; a Monte Carlo average approaches it
q, p = Normal(mu_q, var_q.sqrt()), Normal(mu_p, var_p.sqrt())
z = q.sample((200_000,))
estimate = (q.log_prob(z) - p.log_prob(z)).mean()
print(f"Monte Carlo estimate from 200,000 samples: {estimate.item():.2f}")
assert abs(estimate - forward) < 0.01
# --8<-- [end:kl]

# --8<-- [start:reparam]
from genai_guide.vae import reparameterize

mean = torch.tensor([0.5, -1.0], dtype=torch.float64, requires_grad=True)
logvar = torch.tensor([0.0, -2.0], dtype=torch.float64, requires_grad=True)

z_plain = Normal(mean, (0.5 * logvar).exp()).sample()  # an ordinary draw: cut off from the graph
print("sample() keeps a gradient path:", z_plain.requires_grad)

torch.manual_seed(1)
z = reparameterize(mean, logvar)  # z = mean + exp(logvar / 2) * eps, eps ~ N(0, I)
z.sum().backward()
print("reparameterised z:", [round(v, 4) for v in z.tolist()])
print("dz/dmean:", mean.grad.tolist(), " dz/dlogvar:", [round(v, 4) for v in logvar.grad.tolist()])

torch.manual_seed(1)
eps = torch.randn(2, dtype=torch.float64)  # the same noise
assert torch.allclose(logvar.grad, 0.5 * (0.5 * logvar).exp() * eps)  # d/dlogvar (mean + sigma eps) = sigma eps / 2
torch.manual_seed(1)
assert torch.equal(z, Normal(mean, (0.5 * logvar).exp()).rsample())  # what torch calls rsample
# --8<-- [end:reparam]
