"""Runs tracked with TensorBoard: three Hugging Face Trainer runs of a float64 MLP on scikit-learn's
digits (SGD, linear warmup then cosine decay) write event files; EventAccumulator reads them back,
the schedule is checked against its formula, and the curves are drawn to a figure."""

# --8<-- [start:trainer]
import math
import tempfile
from pathlib import Path

import torch
import transformers
from sklearn.datasets import load_digits
from transformers import Trainer, TrainingArguments
from transformers.trainer_callback import PrinterCallback

transformers.logging.set_verbosity_error()
torch.set_num_threads(1)  # the same numbers on every machine

X, y = load_digits(return_X_y=True)
rows = [{"x": torch.tensor(image / 16.0), "labels": int(label)}  # float64 pixels
        for image, label in zip(X[:1000], y[:1000], strict=True)]


class MLP(torch.nn.Module):
    """The 64-32-10 tanh MLP; Trainer needs a forward that takes the batch's keys and returns a loss."""

    def __init__(self) -> None:
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.Tanh(), torch.nn.Linear(32, 10))

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        logits = self.net(x)
        return {"loss": torch.nn.functional.cross_entropy(logits, labels), "logits": logits}


STEPS, WARMUP = 40, 8
logs = Path(tempfile.mkdtemp())  # a reader would keep this folder: `tensorboard --logdir <it>`
for lr in (0.1, 0.5, 2.0):
    torch.manual_seed(0)
    args = TrainingArguments(
        output_dir=str(logs / f"lr={lr}"),  # TensorBoard files go to <output_dir>/runs/<date>_<host>/
        report_to=["tensorboard"], logging_steps=4,  # log loss, learning rate, grad norm every 4 steps
        optim="sgd", learning_rate=lr, lr_scheduler_type="cosine", warmup_steps=WARMUP,
        max_steps=STEPS, per_device_train_batch_size=32, seed=0,
        use_cpu=True, save_strategy="no", disable_tqdm=True, remove_unused_columns=False,
    )
    trainer = Trainer(model=MLP().double(), args=args, train_dataset=rows)
    trainer.remove_callback(PrinterCallback)  # it would print the logs and timings
    trainer.train()
print(sorted(p.parent.relative_to(logs).parts[0] for p in logs.rglob("events.out.tfevents.*")))
# --8<-- [end:trainer]

# --8<-- [start:read]
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

curves = {}  # run -> tag -> [(step, value)]
for events in sorted(logs.rglob("events.out.tfevents.*")):
    run = EventAccumulator(str(events)).Reload()  # reads every event of the file
    curves[events.relative_to(logs).parts[0]] = {
        tag: [(e.step, e.value) for e in run.Scalars(tag)] for tag in run.Tags()["scalars"]}
print("scalars:", sorted(curves["lr=0.5"]))
for name, tags in curves.items():
    print(f"{name:>6} loss: " + " ".join(f"{v:.2f}" for _, v in tags["train/loss"]))


def scheduled(step: int, lr: float) -> float:
    """The learning rate of optimizer step `step` (1-based): linear warmup from 0, then cosine decay to 0."""
    s = step - 1
    if s < WARMUP:
        return lr * s / WARMUP
    return lr * 0.5 * (1 + math.cos(math.pi * (s - WARMUP) / (STEPS - WARMUP)))


logged = curves["lr=0.5"]["train/learning_rate"]
assert all(abs(v - scheduled(step, 0.5)) < 1e-6 for step, v in logged)  # TensorBoard stores float32
print("learning rate, lr=0.5:", " ".join(f"{step}:{v:.3f}" for step, v in logged))
# --8<-- [end:read]

# --8<-- [start:figure]
import os

import matplotlib

matplotlib.use("Agg")  # draw to a file, no window
import matplotlib.pyplot as plt

plt.rcParams["svg.hashsalt"] = "genai-guide"  # stable ids: the same figure gives the same file
fig, (left, right) = plt.subplots(1, 2, figsize=(7, 3))
for name, tags in curves.items():
    left.plot(*zip(*tags["train/loss"], strict=True), "o-", markersize=3, label=name)
    right.plot(*zip(*[(s, v / float(name[3:])) for s, v in tags["train/learning_rate"]], strict=True),
               "o-", markersize=3, label=name)
left.set_xlabel("step")
left.set_ylabel("training loss (logged every 4 steps)")
left.legend(fontsize=8)
right.set_xlabel("step")
right.set_ylabel("learning rate / peak")
right.set_title("8 warmup steps, then cosine", fontsize=10)
fig.tight_layout()
out_dir = Path(os.environ.get("GENAI_GUIDE_FIGURES", "."))
out_dir.mkdir(parents=True, exist_ok=True)
fig.savefig(out_dir / "tuning_runs.svg", metadata={"Date": None})
print("saved tuning_runs.svg")
# --8<-- [end:figure]
