"""Learn a 2-D distribution by maximum likelihood, sample from it and score it: Gaussian mixtures of
growing size fitted to eight Gaussians on a ring, compared with the true density they never see."""

# --8<-- [start:data]
import numpy as np
from scipy.special import logsumexp
from scipy.stats import multivariate_normal
from sklearn.mixture import GaussianMixture

# The "true" distribution: 8 Gaussians of standard deviation 0.15 on a circle of radius 2
angles = 2 * np.pi * np.arange(8) / 8
centres = 2 * np.stack([np.cos(angles), np.sin(angles)], axis=1)  # (8, 2)
STD = 0.15


def sample_true(n: int, rng: np.random.Generator) -> np.ndarray:
    return centres[rng.integers(0, 8, n)] + STD * rng.standard_normal((n, 2))  # (n, 2)


def log_p_true(x: np.ndarray) -> np.ndarray:
    """log p(x) = log sum_k (1/8) N(x; c_k, STD^2 I), per point."""
    per_mode = np.stack([multivariate_normal(c, STD**2 * np.eye(2)).logpdf(x) for c in centres], axis=1)
    return logsumexp(per_mode, axis=1) - np.log(8)


rng = np.random.default_rng(0)
train, test = sample_true(1000, rng), sample_true(2000, rng)
print("mean log-density, in nats per point; the true p is the best any model can do on new points")
# --8<-- [end:data]

# --8<-- [start:fit]
print(f"{'components':>10} {'train':>7} {'test':>7} {'KL(p||q)':>9} {'samples: log p_true':>20}")
print(f"{'true p':>10} {log_p_true(train).mean():>7.3f} {log_p_true(test).mean():>7.3f} {0:>9.3f}")
models = {}
for k in (1, 2, 4, 8, 32):
    q = GaussianMixture(n_components=k, covariance_type="full", random_state=0).fit(train)
    models[k] = q
    test_ll = q.score(test)  # mean log q(x) over the test points
    kl = log_p_true(test).mean() - test_ll  # Monte Carlo estimate of KL(p || q) = E_p[log p - log q]
    samples, _ = q.sample(2000)  # new points drawn from the model
    print(f"{k:>10} {q.score(train):>7.3f} {test_ll:>7.3f} {kl:>9.3f} {log_p_true(samples).mean():>20.3f}")

# score_samples is log q(x) = log sum_k w_k N(x; mu_k, Sigma_k): the same by hand
q = models[8]
by_hand = logsumexp([np.log(w) + multivariate_normal(m, c).logpdf(test)
                     for w, m, c in zip(q.weights_, q.means_, q.covariances_)], axis=0)
assert np.allclose(q.score_samples(test), by_hand, atol=1e-9)
kl = {k: log_p_true(test).mean() - m.score(test) for k, m in models.items()}
assert kl[1] > kl[2] > kl[4] > kl[8] and kl[8] < 0.05  # eight components recover the truth
assert models[32].score(train) > models[8].score(train) and kl[32] > kl[8]  # more fits train, not test
# --8<-- [end:fit]

# --8<-- [start:figure]
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # draw to a file, no window
import matplotlib.pyplot as plt

plt.rcParams["svg.hashsalt"] = "genai-guide"  # stable ids: the same figure gives the same file
fig, axes = plt.subplots(1, 3, figsize=(7.5, 2.7), sharex=True, sharey=True)
panels = [("data (1,000 points)", train), ("samples, 1 component", models[1].sample(600)[0]),
          ("samples, 8 components", models[8].sample(600)[0])]
for ax, (title, points) in zip(axes, panels):
    points = np.round(points[:600], 3)  # 3 decimals: the same picture on every CPU
    ax.scatter(points[:, 0], points[:, 1], s=2, alpha=0.5, color="tab:blue", linewidths=0)
    ax.set_title(title, fontsize=9)
    ax.set_aspect("equal")
    ax.set_xlim(-3.2, 3.2)
    ax.set_ylim(-3.2, 3.2)
    ax.tick_params(labelsize=7)
fig.tight_layout()
out_dir = Path(os.environ.get("GENAI_GUIDE_FIGURES", "."))
out_dir.mkdir(parents=True, exist_ok=True)
fig.savefig(out_dir / "genmodels_gmm.svg", metadata={"Date": None})
print("saved genmodels_gmm.svg")
# --8<-- [end:figure]
