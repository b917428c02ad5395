"""Posterior collapse, measured: the same tiny VAE trained with a growing weight β on the KL term.
Each latent dimension either carries information about the input or falls back to the prior."""

# --8<-- [start:sweep]
import torch
from sklearn.datasets import load_digits
from torch import nn

from genai_guide.vae import elbo, kl_to_standard_normal, reparameterize

torch.set_default_dtype(torch.float64)  # float64: the same training on every CPU
torch.set_num_threads(1)
torch.manual_seed(0)
x_all = (torch.tensor(load_digits().data) >= 8).double()  # (1797, 64) binary 8x8 digits
order = torch.randperm(len(x_all))
x_train, x_test = x_all[order[:1500]], x_all[order[1500:]]
BETAS = torch.tensor([0.5, 1.0, 2.0, 4.0, 8.0])
M, LATENT, HIDDEN = len(BETAS), 8, 64


def layer(n_in: int, n_out: int) -> tuple[nn.Parameter, nn.Parameter]:
    """Weights of M independent linear layers, initialised like nn.Linear: U(-1/sqrt(n_in), 1/sqrt(n_in))."""
    bound = n_in**-0.5
    return (nn.Parameter(torch.empty(M, n_in, n_out).uniform_(-bound, bound)),
            nn.Parameter(torch.empty(M, 1, n_out).uniform_(-bound, bound)))


class BetaVAEs(nn.Module):
    """M VAEs side by side, one per β (the same as training each alone, in one loop: faster)."""

    def __init__(self) -> None:
        super().__init__()
        self.enc1, self.enc2 = nn.ParameterList(layer(64, HIDDEN)), nn.ParameterList(layer(HIDDEN, 2 * LATENT))
        self.dec1, self.dec2 = nn.ParameterList(layer(LATENT, HIDDEN)), nn.ParameterList(layer(HIDDEN, 64))

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = torch.tanh(torch.baddbmm(self.enc1[1], x.expand(M, -1, -1), self.enc1[0]))  # (M, batch, HIDDEN)
        return torch.baddbmm(self.enc2[1], h, self.enc2[0]).chunk(2, dim=-1)  # mean, logvar: (M, batch, LATENT)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.dec2[1], torch.tanh(torch.baddbmm(self.dec1[1], z, self.dec1[0])), self.dec2[0])

    def forward(self, x: torch.Tensor):
        mean, logvar = self.encode(x)
        logits = self.decode(reparameterize(mean, logvar))  # (M, batch, 64)
        terms = elbo(logits.flatten(0, 1), x.expand(M, -1, -1).flatten(0, 1), mean.flatten(0, 1), logvar.flatten(0, 1))
        return terms.reconstruction.view(M, -1), terms.kl.view(M, -1)  # (M, batch) each


model = BetaVAEs()
optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)  # Adam updates each weight on its own
for step in range(500):
    reconstruction, kl = model(x_train[torch.randint(0, len(x_train), (100,))])
    loss = -(reconstruction - BETAS[:, None] * kl).mean(1).sum()  # the β-weighted ELBO of each VAE
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()

with torch.no_grad():
    torch.manual_seed(1)
    reconstruction, kl = model(x_test)  # the real ELBO (β = 1), whatever β each model trained with
    mean, logvar = model.encode(x_test)
kl_dims = kl_to_standard_normal(mean, logvar).mean(1)  # (M, LATENT): average KL of each dimension
activity = mean.var(1)  # (M, LATENT); Burda et al. 2015: unit u is active when Cov_x(E_q[z_u]) > 0.01
elbos = (reconstruction - kl).mean(1)
print(f"{'beta':>5} {'ELBO':>6} {'recon':>6} {'KL':>5} {'active':>6}  KL of each latent dimension (nats), sorted")
for i, beta in enumerate(BETAS.tolist()):
    shown = " ".join(f"{v:4.2f}" for v in kl_dims[i].sort(descending=True).values.tolist())
    print(f"{beta:>5} {elbos[i]:>6.1f} {reconstruction[i].mean():>6.1f} {kl[i].mean():>5.1f}"
          f" {int((activity[i] > 0.01).sum()):>6}  {shown}")
actives = (activity > 0.01).sum(1).tolist()
assert actives == sorted(actives, reverse=True) and actives[0] == LATENT and actives[-1] == 0  # β switches units off
assert elbos.argmax() == 1  # β = 1 maximises the ELBO itself
assert (activity[kl_dims < 0.005] < 0.01).all()  # a dimension with no KL carries no information
# --8<-- [end:sweep]
