"""A learning-rate sweep: a small MLP on scikit-learn's digits, trained by minibatch SGD in float64
NumPy for 100 steps at 13 learning rates and two batch sizes, with the curve drawn to a figure."""

# --8<-- [start:model]
import numpy as np
from sklearn.datasets import load_digits

from genai_guide.tuning import log_grid

X, y = load_digits(return_X_y=True)  # 1,797 images of 8x8 pixels, shipped with scikit-learn
X = X / 16.0  # pixels in [0, 1]
X_train, y_train, X_val, y_val = X[:1000], y[:1000], X[1000:], y[1000:]


def cross_entropy(logits: np.ndarray, labels: np.ndarray) -> float:
    z = logits - logits.max(axis=1, keepdims=True)
    return float(np.mean(np.log(np.exp(z).sum(axis=1)) - z[np.arange(len(labels)), labels]))


def train(lr: float, batch_size: int = 32, steps: int = 100, seed: int = 0) -> float:
    """A 64-32-10 tanh MLP trained by minibatch SGD; returns the validation loss, or inf if the run blew
    up. The seed draws the initial weights and the order of the minibatches."""
    rng = np.random.default_rng(seed)
    W1, b1 = rng.normal(0, 64**-0.5, (64, 32)), np.zeros(32)
    W2, b2 = rng.normal(0, 32**-0.5, (32, 10)), np.zeros(10)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):  # a blowing-up run may overflow
        for _ in range(steps):
            i = rng.integers(0, len(X_train), batch_size)
            x, t = X_train[i], y_train[i]
            h = np.tanh(x @ W1 + b1)
            logits = h @ W2 + b2
            p = np.exp(logits - logits.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            if -np.mean(np.log(p[np.arange(batch_size), t])) > 3 * np.log(10):  # 3x a uniform guess's loss
                return float("inf")  # blew up: what follows is chaotic, other CPUs would print other numbers
            p[np.arange(batch_size), t] -= 1  # d loss / d logits = softmax - one-hot, per example
            p /= batch_size
            dh = (p @ W2.T) * (1 - h**2)
            W2 -= lr * h.T @ p
            b2 -= lr * p.sum(axis=0)
            W1 -= lr * x.T @ dh
            b1 -= lr * dh.sum(axis=0)
        return cross_entropy(np.tanh(X_val @ W1 + b1) @ W2 + b2, y_val)
# --8<-- [end:model]


# --8<-- [start:sweep]
lrs = log_grid(0.01, 10.0, 13)  # 4 values a decade
sweep = {bs: [train(lr, batch_size=bs) for lr in lrs] for bs in (8, 64)}
print("lr        " + " ".join(f"{lr:>6.3g}" for lr in lrs))
for bs, losses in sweep.items():
    print(f"batch {bs:<3} " + " ".join(f"{v:>6.3f}" if np.isfinite(v) else "  div." for v in losses))
best = {bs: lrs[int(np.argmin(losses))] for bs, losses in sweep.items()}
edge = {bs: lrs[next(i for i, v in enumerate(losses) if not np.isfinite(v))] for bs, losses in sweep.items()}
print(f"best lr: {best[8]:.3g} at batch 8, {best[64]:.3g} at batch 64; "
      f"first divergence: {edge[8]:.3g} and {edge[64]:.3g}")
assert best[64] > best[8] and edge[64] > edge[8]  # a larger batch takes a larger learning rate
# --8<-- [end:sweep]

# --8<-- [start:figure]
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # draw to a file, no window
import matplotlib.pyplot as plt

plt.rcParams["svg.hashsalt"] = "genai-guide"  # stable ids: the same figure gives the same file
fig, ax = plt.subplots(figsize=(6, 3.2))
for (bs, losses), style in zip(sweep.items(), ("o-", "s-"), strict=True):
    shown = [min(v, 2.5) for v in losses]  # diverged runs drawn at the top
    ax.plot(lrs, shown, style, label=f"batch {bs}")
ax.axhline(np.log(10), color="k", linestyle=":", label="uniform guess, ln 10")
ax.set_xscale("log")
ax.set_ylim(0, 2.55)
ax.set_xlabel("learning rate")
ax.set_ylabel("validation loss after 100 steps")
ax.set_title("Too small learns slowly, too large diverges (drawn at 2.5)")
ax.legend(fontsize=8)
fig.tight_layout()
out_dir = Path(os.environ.get("GENAI_GUIDE_FIGURES", "."))
out_dir.mkdir(parents=True, exist_ok=True)
fig.savefig(out_dir / "tuning_lr_sweep.svg", metadata={"Date": None})
print("saved tuning_lr_sweep.svg")
# --8<-- [end:figure]
