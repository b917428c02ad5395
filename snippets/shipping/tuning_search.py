"""Grid, random and Bayesian (TPE) search with Optuna over a learning rate and a weight decay, on an
objective that is exact: the validation loss of a linear classifier of scikit-learn's digits after 30
steps of full-batch gradient descent, in closed form."""

# --8<-- [start:objective]
import numpy as np
import optuna
from sklearn.datasets import load_digits

from genai_guide.tuning import log_grid

optuna.logging.set_verbosity(optuna.logging.WARNING)  # no line per trial

X, y = load_digits(return_X_y=True)  # 1,797 images of 8x8 pixels, shipped with scikit-learn
X, Y = X / 16.0, np.eye(10)[y]  # pixels in [0, 1]; one-hot targets
X_train, Y_train, X_val, Y_val = X[:1000], Y[:1000], X[1000:], Y[1000:]
STEPS = 30  # full-batch gradient descent steps on the squared error, from W = 0

# Gradient descent on L(W) = |X W - Y|^2 / 2n + wd |W|^2 / 2 multiplies each eigen-direction of
# A = X^T X / n + wd I by (1 - lr a) per step: after K steps W = Q diag((1 - (1 - lr a)^K) / a) Q^T X^T Y / n.
eigenvalues, Q = np.linalg.eigh(X_train.T @ X_train / len(X_train))
B = X_train.T @ Y_train / len(X_train)


def val_loss(lr: float, wd: float) -> float:
    a = eigenvalues + wd
    W = Q @ (((1 - (1 - lr * a) ** STEPS) / a)[:, None] * (Q.T @ B))  # (64, 10)
    loss = float(np.mean(np.sum((X_val @ W - Y_val) ** 2, axis=1)))
    return round(min(loss, 1.0), 6)  # a diverged run scores 1.0, the loss of W = 0; 6 decimals on every CPU


W = np.zeros((64, 10))  # the closed form is gradient descent, step for step:
for _ in range(STEPS):
    W -= 0.1 * (X_train.T @ (X_train @ W - Y_train) / len(X_train) + 0.01 * W)
assert abs(val_loss(0.1, 0.01) - np.mean(np.sum((X_val @ W - Y_val) ** 2, axis=1))) < 1e-6
print(f"gradient descent diverges above lr = 2 / largest eigenvalue = {2 / eigenvalues.max():.3f}")
for lr in (0.01, 0.1, 0.18, 0.2):
    print(f"lr {lr:<4}: validation loss {val_loss(lr, 1e-4):.4f} (wd 1e-4), {val_loss(lr, 0.1):.4f} (wd 0.1)")


def objective(trial: optuna.Trial) -> float:
    lr = trial.suggest_float("lr", 1e-3, 1.0, log=True)  # log scale: every decade gets the same share
    wd = trial.suggest_float("wd", 1e-4, 1e-1, log=True)
    return val_loss(lr, wd)
# --8<-- [end:objective]


# --8<-- [start:grid_random]
def search(sampler: optuna.samplers.BaseSampler, n_trials: int) -> optuna.Study:
    study = optuna.create_study(direction="minimize", sampler=sampler)
    study.optimize(objective, n_trials=n_trials)
    return study


grid_space = {"lr": log_grid(1e-3, 1.0, 3), "wd": log_grid(1e-4, 1e-1, 3)}
grid = search(optuna.samplers.GridSampler(grid_space, seed=0), n_trials=9)
assert sorted((t.params["lr"], t.params["wd"]) for t in grid.trials) == sorted(
    (lr, wd) for lr in grid_space["lr"] for wd in grid_space["wd"])  # exactly the 3 x 3 grid
random = search(optuna.samplers.RandomSampler(seed=0), n_trials=9)
for name, study in (("grid", grid), ("random", random)):
    lrs = sorted({t.params["lr"] for t in study.trials})
    print(f"{name:>6}: {len(lrs)} distinct learning rates {[f'{lr:.3g}' for lr in lrs]}")
    print(f"{'':>6}  best {study.best_value:.4f} at lr {study.best_params['lr']:.3g}, wd {study.best_params['wd']:.3g}")

# Not luck: the same 9-trial budget, 20 random searches with other seeds.
bests = [search(optuna.samplers.RandomSampler(seed=s), n_trials=9).best_value for s in range(20)]
wins = sum(b < grid.best_value for b in bests)
print(f"random search beats the grid in {wins} of 20 seeds; median best {np.median(bests):.4f}")
assert wins >= 15
# --8<-- [end:grid_random]

# --8<-- [start:tpe]
random_bests, tpe_bests = [], []
for seed in range(10):
    random_bests.append(search(optuna.samplers.RandomSampler(seed=seed), n_trials=30).best_value)
    tpe_bests.append(search(optuna.samplers.TPESampler(seed=seed), n_trials=30).best_value)  # 10 random, then TPE
print(f"30 trials, median best of 10 seeds: random {np.median(random_bests):.4f}, TPE {np.median(tpe_bests):.4f}")
print(f"TPE better in {sum(t < r for t, r in zip(tpe_bests, random_bests, strict=True))} of 10 seeds")
tpe = search(optuna.samplers.TPESampler(seed=0), n_trials=30)
again = search(optuna.samplers.TPESampler(seed=0), n_trials=30)
assert [t.params for t in tpe.trials] == [t.params for t in again.trials]  # a seeded sampler repeats itself
scan = min((val_loss(lr, 1e-4), lr) for lr in log_grid(0.1, 0.2, 400))  # wd barely matters: its smallest
print(f"TPE seed 0: best {tpe.best_value:.4f} at lr {tpe.best_params['lr']:.3g}, wd {tpe.best_params['wd']:.2g}; "
      f"a fine scan of lr: {scan[0]:.4f} at lr {scan[1]:.3g}")
# --8<-- [end:tpe]
