"""Seed variance: the MLP of tuning_sweep.py (same code) trained with 10 seeds at two learning rates;
mean, standard deviation and standard error per configuration, Welch's t-test between them (checked
against SciPy), the seeds a comparison needs, and the paired comparison that shared seeds allow."""

# --8<-- [start:model]
import numpy as np
from sklearn.datasets import load_digits

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


# --8<-- [start:seeds]
from scipy import stats

from genai_guide.tuning import runs_needed, seed_summary, welch_t_test

SEEDS = range(10)  # each seed: other initial weights, other minibatches
runs = {lr: [train(lr, batch_size=32, seed=s) for s in SEEDS] for lr in (0.5, 0.7)}
for lr, losses in runs.items():
    s = seed_summary(losses)
    print(f"lr {lr}: seed 0 {losses[0]:.3f}; over {s.n} seeds {s.mean:.3f} +- {s.std:.3f} "
          f"(range {min(losses):.3f} to {max(losses):.3f}), standard error {s.sem:.3f}")

a, b = runs[0.5], runs[0.7]
same = welch_t_test(a[:5], a[5:])  # one configuration against itself: seeds 0-4 against 5-9
print(f"lr 0.5 against itself: difference {same.difference:+.3f}, t = {same.t:+.2f}")
test = welch_t_test(b, a)
reference = stats.ttest_ind(b, a, equal_var=False)
assert abs(test.t - reference.statistic) < 1e-9 and abs(test.p_value - reference.pvalue) < 1e-9
print(f"lr 0.7 - lr 0.5: {test.difference:+.3f} +- {test.standard_error:.3f} (standard error), "
      f"t = {test.t:+.2f}, df = {test.df:.1f}, p = {test.p_value:.2f}: under 2 standard errors")
spread = (seed_summary(a).std ** 2 / 2 + seed_summary(b).std ** 2 / 2) ** 0.5
print(f"seeds per configuration for this difference to be 2 standard errors: {runs_needed(spread, test.difference)}")

# The same 10 seeds in both configurations: compare seed by seed, and the shared noise cancels.
d = [lb - la for la, lb in zip(a, b, strict=True)]
paired = seed_summary(d)
assert abs(paired.mean / paired.sem - stats.ttest_rel(b, a).statistic) < 1e-9
print(f"paired by seed: lr 0.7 lower on {sum(x < 0 for x in d)} of 10 seeds, {paired.mean:+.3f} +- "
      f"{paired.sem:.3f}, t = {paired.mean / paired.sem:+.2f}")
# --8<-- [end:seeds]
