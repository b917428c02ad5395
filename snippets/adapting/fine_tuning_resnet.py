"""Transfer learning with a small image model: a tiny ResNet learns the ten digits of scikit-learn's
load_digits, then gets a new head for a new task (odd or even?) with 10 labelled images, against the
same 10 images from random weights."""

# --8<-- [start:pretrain]
import tempfile

import torch
from sklearn.datasets import load_digits
from transformers import AutoModelForImageClassification, ResNetConfig, ResNetForImageClassification
from transformers.utils import logging

logging.set_verbosity_error()  # from_pretrained reports the new head; we know
logging.disable_progress_bar()
torch.set_num_threads(1)
digits = load_digits()
images = torch.tensor(digits.images)[:, None] / 16  # (1797, 1, 8, 8) in [0, 1], float64 like the models
digit = torch.tensor(digits.target)
g = torch.Generator().manual_seed(0)
order = torch.randperm(len(digit), generator=g)
test, train = order[:360], order[360:]


def fit(model: torch.nn.Module, rows: torch.Tensor, labels: torch.Tensor, steps: int, groups: list[dict]) -> None:
    optimizer = torch.optim.AdamW(groups)  # one learning rate per group of parameters
    for _ in range(steps):
        batch = rows[torch.randint(0, len(rows), (64,), generator=g)]
        loss = model(pixel_values=images[batch], labels=labels[batch]).loss  # cross-entropy
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def accuracy(model: torch.nn.Module, labels: torch.Tensor) -> float:
    model.eval()  # batch norm uses its running statistics
    with torch.no_grad():
        return (model(pixel_values=images[test]).logits.argmax(-1) == labels[test]).float().mean().item()


torch.manual_seed(0)
config = ResNetConfig(num_channels=1, embedding_size=16, hidden_sizes=[16, 32], depths=[1, 1],
                      layer_type="basic", num_labels=10)  # two stages of basic residual blocks
# ResNetForImageClassification in float64: in float32, each CPU's rounding would grow into other results.
backbone = AutoModelForImageClassification.from_config(config, dtype=torch.float64)
print(f"ResNet: {sum(p.numel() for p in backbone.parameters()):,} parameters")
before = accuracy(backbone, digit)
backbone.train()
fit(backbone, train, digit, steps=150, groups=[{"params": backbone.parameters(), "lr": 3e-3}])
print(f"digits 0-9, {len(test)} test images: accuracy {before:.2f} untrained -> {accuracy(backbone, digit):.2f} "
      f"after 150 steps on {len(train):,} images")
# --8<-- [end:pretrain]

# --8<-- [start:transfer]
odd = digit % 2  # the new task: 0 = even, 1 = odd
few = torch.cat([train[odd[train] == c][:5] for c in (0, 1)])  # 10 labelled images
saved = tempfile.TemporaryDirectory()
backbone.save_pretrained(saved.name)  # a local "checkpoint"; nothing is downloaded


def new_model(source: str) -> ResNetForImageClassification:
    torch.manual_seed(1)  # the same new head in every run
    if source == "random":
        return AutoModelForImageClassification.from_config(ResNetConfig(**{**config.to_dict(), "num_labels": 2}),
                                                           dtype=torch.float64)
    # The 10-way head does not fit 2 labels: it is dropped and a new one initialised. The weights load
    # in float64, the dtype they were saved in.
    return ResNetForImageClassification.from_pretrained(saved.name, num_labels=2, ignore_mismatched_sizes=True)


results = {}
for name, source, backbone_lr in (("from random weights", "random", 1e-2),
                                  ("frozen backbone, new head", "pre-trained", None),
                                  ("all weights, small backbone lr", "pre-trained", 3e-4)):
    model = new_model(source)
    before = accuracy(model, odd)
    head = {"params": model.classifier.parameters(), "lr": 1e-2}
    model.train()
    if backbone_lr is None:  # frozen: no gradients, and batch norm keeps its running statistics
        model.resnet.requires_grad_(False).eval()
        fit(model, few, odd, steps=30, groups=[head])
    else:
        fit(model, few, odd, steps=30, groups=[{"params": model.resnet.parameters(), "lr": backbone_lr}, head])
    results[name] = accuracy(model, odd)
    print(f"{name:>30}: odd-or-even accuracy {before:.2f} -> {results[name]:.2f}")
saved.cleanup()
assert min(results["frozen backbone, new head"], results["all weights, small backbone lr"]) > results["from random weights"] + 0.05
# --8<-- [end:transfer]
