"""A tiny variational autoencoder on scikit-learn's 8x8 digits: train it on the ELBO, check the bound
against an importance-sampled log-likelihood, then decode random codes and walk between two digits."""

# --8<-- [start:model]
import torch
from sklearn.datasets import load_digits
from torch import nn

from genai_guide.vae import elbo, reparameterize

torch.set_default_dtype(torch.float64)  # float64: the same training on every CPU
torch.set_num_threads(1)
torch.manual_seed(0)
digits = load_digits()  # 1,797 images of 8 x 8 pixels, grey levels 0-16
x_all = (torch.tensor(digits.data) >= 8).double()  # (1797, 64) binary pixels: a Bernoulli decoder fits
order = torch.randperm(len(x_all))
x_train, x_test = x_all[order[:1500]], x_all[order[1500:]]  # (1500, 64), (297, 64)
LATENT = 8


class VAE(nn.Module):
    def __init__(self, latent: int = LATENT, hidden: int = 128) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(64, hidden), nn.Tanh(), nn.Linear(hidden, 2 * latent))
        self.decoder = nn.Sequential(nn.Linear(latent, hidden), nn.Tanh(), nn.Linear(hidden, 64))

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, logvar = self.encoder(x).chunk(2, dim=-1)  # q(z|x) = N(mean, exp(logvar)), each (batch, latent)
        return mean, logvar

    def forward(self, x: torch.Tensor, beta: float = 1.0):
        mean, logvar = self.encode(x)
        z = reparameterize(mean, logvar)  # z = mean + sigma * eps: gradients reach the encoder
        return elbo(self.decoder(z), x, mean, logvar, beta=beta)  # per-image reconstruction, KL, ELBO


def train(model: VAE, steps: int = 300, beta: float = 1.0) -> VAE:
    optimizer = torch.optim.Adam(model.parameters(), lr=6e-3)
    for _ in range(steps):
        batch = x_train[torch.randint(0, len(x_train), (250,))]
        loss = -model(batch, beta).elbo.mean()  # maximise the ELBO = minimise its negative
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model


model = VAE()
with torch.no_grad():
    before = model(x_test)
train(model)
with torch.no_grad():
    torch.manual_seed(1)
    after = model(x_test)
for name, t in (("before training", before), ("after training", after)):
    print(f"{name:>15}: ELBO {t.elbo.mean():7.1f} = reconstruction {t.reconstruction.mean():7.1f}"
          f" - KL {t.kl.mean():5.1f}  (nats per test image)")
assert after.elbo.mean() > before.elbo.mean() + 20
# --8<-- [end:model]

# --8<-- [start:bound]
# The ELBO is a lower bound on log p(x). Importance sampling with K codes from q gives a tighter one
# (Burda et al. 2015): log (1/K) sum_k p(x|z_k) p(z_k) / q(z_k|x), which tends to log p(x) as K grows.
from torch.distributions import Bernoulli, Normal

with torch.no_grad():
    mean, logvar = model.encode(x_test)
    q = Normal(mean, (0.5 * logvar).exp())
    z = q.sample((200,))  # (K=200, 297, latent)
    log_w = (Bernoulli(logits=model.decoder(z), validate_args=False).log_prob(x_test).sum(-1)
             + Normal(0.0, 1.0).log_prob(z).sum(-1) - q.log_prob(z).sum(-1))  # (K, 297)
    for k in (1, 10, 200):
        bound = (torch.logsumexp(log_w[:k], 0) - torch.log(torch.tensor(float(k)))).mean()
        print(f"importance-sampled bound, K = {k:>3}: {bound:7.1f}")
assert (torch.logsumexp(log_w, 0) - torch.log(torch.tensor(200.0))).mean() > after.elbo.mean()
# --8<-- [end:bound]

# --8<-- [start:samples]
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # draw to a file, no window
import matplotlib.pyplot as plt

plt.rcParams["svg.hashsalt"] = "genai-guide"  # stable ids: the same figure gives the same file
out_dir = Path(os.environ.get("GENAI_GUIDE_FIGURES", "."))
out_dir.mkdir(parents=True, exist_ok=True)


def mosaic(images: torch.Tensor, rows: int) -> torch.Tensor:
    """(n, 64) pixel probabilities -> one (rows * 9 - 1, cols * 9 - 1) picture, 1-pixel gaps."""
    cols = len(images) // rows
    canvas = torch.full((rows * 9 - 1, cols * 9 - 1), float("nan"))  # gaps drawn as background
    for i, image in enumerate(images):
        r, c = divmod(i, cols)
        canvas[r * 9 : r * 9 + 8, c * 9 : c * 9 + 8] = image.reshape(8, 8)
    return canvas.round(decimals=2)  # 2 decimals: the same picture on every CPU


with torch.no_grad():
    z = torch.randn(64, LATENT, generator=torch.Generator().manual_seed(0))  # codes from the prior N(0, I)
    samples = torch.sigmoid(model.decoder(z))  # (64, 64): each pixel's probability of being ink
fig, ax = plt.subplots(figsize=(3.6, 3.6))
ax.imshow(mosaic(samples, rows=8), cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
ax.set_title("Decoded codes z ~ N(0, I)", fontsize=10)
ax.axis("off")
fig.tight_layout()
fig.savefig(out_dir / "vae_samples.svg", metadata={"Date": None})
print("saved vae_samples.svg")
# --8<-- [end:samples]

# --8<-- [start:interpolate]
labels = torch.tensor(digits.target)[order[1500:]]  # the test images' classes
pairs = [(0, 6), (1, 7), (3, 8)]  # walk from a test image of the first digit to one of the second
steps = torch.linspace(0, 1, 9).unsqueeze(1)  # (9, 1): 0, 1/8, ..., 1
rows = []
with torch.no_grad():
    for a, b in pairs:
        xa, xb = x_test[labels == a][0], x_test[labels == b][0]
        za, zb = model.encode(torch.stack([xa, xb]))[0]  # the posterior means of the two images
        path = (1 - steps) * za + steps * zb  # (9, latent): straight line in latent space
        rows += [xa, *torch.sigmoid(model.decoder(path)), xb]  # original, 9 decoded points, original
fig, ax = plt.subplots(figsize=(5.5, 2.0))
ax.imshow(mosaic(torch.stack(rows), rows=len(pairs)), cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
ax.set_title("Inputs (first, last column) and decoded points on the line between their codes", fontsize=8)
ax.axis("off")
fig.tight_layout()
fig.savefig(out_dir / "vae_interpolation.svg", metadata={"Date": None})
print("saved vae_interpolation.svg")
# --8<-- [end:interpolate]
