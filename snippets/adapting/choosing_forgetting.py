"""Catastrophic forgetting, for real: a small network learns digits (task A), then the same digits with
their pixels shuffled (task B). Trained on B alone it forgets A; replaying a few A examples, or
elastic weight consolidation (Kirkpatrick et al. 2016), keeps it."""

# --8<-- [start:tasks]
import copy

import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch import nn

torch.set_num_threads(1)  # the same numbers on every run
digits = load_digits()  # 1,797 images of 8 x 8 pixels, digits 0-9
x = torch.tensor(digits.data) / 16  # (1797, 64) float64, pixels scaled to [0, 1]
y = torch.tensor(digits.target)  # (1797,)
g = torch.Generator().manual_seed(0)
order = torch.randperm(len(y), generator=g)
test, train = order[:400], order[400:]
shuffle = torch.randperm(64, generator=g)  # task B: the same digits, pixels in a fixed random order
inputs = {"A": x, "B": x[:, shuffle]}


def accuracy(model: nn.Module, task: str) -> float:
    with torch.no_grad():
        return (model(inputs[task][test]).argmax(-1) == y[test]).float().mean().item()


def batch(task: str, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    rows = train[torch.randint(0, len(train), (size,), generator=g)]
    return inputs[task][rows], y[rows]


def train_steps(model: nn.Module, steps: int, mix: dict[str, int], penalty=None, lr: float = 0.5) -> list[float]:
    """Gradient descent on batches drawn from the tasks in `mix` (task -> examples per batch);
    returns the accuracy on A every 10 steps."""
    curve = []
    for step in range(1, steps + 1):
        xb, yb = map(torch.cat, zip(*(batch(task, n) for task, n in mix.items() if n)))
        loss = F.cross_entropy(model(xb), yb) + (penalty(model) if penalty else 0)
        model.zero_grad()
        loss.backward()
        with torch.no_grad():
            for p in model.parameters():
                p -= lr * p.grad  # plain SGD
        if step % 10 == 0:
            curve.append(accuracy(model, "A"))
    return curve


torch.manual_seed(0)
model_a = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))  # 4,810 parameters
model_a.double()  # a tiny network trains in float64: in float32, each CPU's rounding changes the results
train_steps(model_a, 300, {"A": 32})
print(f"after training on A: accuracy on A {accuracy(model_a, 'A'):.2f}, on B {accuracy(model_a, 'B'):.2f}")
# --8<-- [end:tasks]

# --8<-- [start:forget]
results, curves = {}, {}
for name, replay in (("B only", 0), ("B + 6% replay of A", 2), ("B + 20% replay of A", 8)):
    model = copy.deepcopy(model_a)  # every run starts from the same task-A model
    curves[name] = train_steps(model, 600, {"B": 32, "A": replay})
    results[name] = (accuracy(model, "A"), accuracy(model, "B"))
# --8<-- [end:forget]

# --8<-- [start:ewc]
# Elastic weight consolidation: the diagonal Fisher information F_i says how much task A's
# log-likelihood depends on weight i; moving an important weight away from its task-A value costs
# (lambda / 2) F_i (theta_i - theta_A,i)^2.
theta_a = [p.detach().clone() for p in model_a.parameters()]
fisher = [torch.zeros_like(p) for p in model_a.parameters()]
for row in train:  # one example at a time: the mean of squared per-example gradients
    model_a.zero_grad()
    F.cross_entropy(model_a(inputs["A"][row : row + 1]), y[row : row + 1]).backward()
    for f, p in zip(fisher, model_a.parameters()):
        f += p.grad**2 / len(train)


def ewc_penalty(model: nn.Module, strength: float = 100.0) -> torch.Tensor:
    return strength / 2 * sum((f * (p - p_a) ** 2).sum() for f, p, p_a in zip(fisher, model.parameters(), theta_a))


model = copy.deepcopy(model_a)
curves["B + EWC"] = train_steps(model, 600, {"B": 32}, penalty=ewc_penalty)
results["B + EWC"] = (accuracy(model, "A"), accuracy(model, "B"))

print(f"\nafter 600 steps on B{'':14} accuracy on A   on B")
for name, (acc_a, acc_b) in results.items():
    print(f"{name:<33} {acc_a:>8.2f} {acc_b:>6.2f}")
assert results["B only"][0] < accuracy(model_a, "A") - 0.3  # forgetting: task A collapses
assert all(acc_a > 0.85 and acc_b > 0.85 for name, (acc_a, acc_b) in results.items() if name != "B only")
# --8<-- [end:ewc]

# --8<-- [start:figure]
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # draw to a file, no window
import matplotlib.pyplot as plt

plt.rcParams["svg.hashsalt"] = "genai-guide"  # stable ids: the same figure gives the same file
fig, ax = plt.subplots(figsize=(5, 3))
for name, curve in curves.items():
    ax.plot(range(10, 10 * len(curve) + 1, 10), curve, linewidth=1, label=name)
ax.axhline(accuracy(model_a, "A"), color="gray", linestyle=":", label="before training on B")
ax.set_xlabel("training step on task B")
ax.set_ylabel("accuracy on task A")
ax.set_ylim(0, 1)
ax.set_title("Forgetting task A while learning task B")
ax.legend(fontsize=8, loc="lower left")
ax.grid(alpha=0.3)
fig.tight_layout()
out_dir = Path(os.environ.get("GENAI_GUIDE_FIGURES", "."))
out_dir.mkdir(parents=True, exist_ok=True)
fig.savefig(out_dir / "forgetting.svg", metadata={"Date": None})
print("saved forgetting.svg")
# --8<-- [end:figure]
