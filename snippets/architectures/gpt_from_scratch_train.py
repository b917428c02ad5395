"""Train the book's GPT on a 20-line story, one character per token, draw the loss, and generate.

Tiny on purpose (2 blocks, d_model 64, 4 heads, context 64): in float64, it trains on a CPU in about
four seconds.
"""

# --8<-- [start:data]
import math
from collections import Counter
from itertools import pairwise
from pathlib import Path

import torch
import torch.nn.functional as F

from genai_guide.gpt import GPT, GPTConfig, generate_greedy
from genai_guide.texts import read_text

text = read_text("harbour")
chars = sorted(set(text))  # the vocabulary: every character of the story
stoi = {ch: i for i, ch in enumerate(chars)}  # character -> id


def encode(s: str) -> list[int]:
    return [stoi[ch] for ch in s]


def decode(ids: list[int]) -> str:
    return "".join(chars[i] for i in ids)


data = torch.tensor(encode(text))  # the whole story as one long sequence of ids
print(f"{len(text)} characters, vocabulary of {len(chars)}")
# --8<-- [end:data]

# --8<-- [start:train]
torch.set_num_threads(1)  # the same numbers on every machine, and no slowdown on a busy CPU
torch.set_default_dtype(torch.float64)  # a tiny model trains in float64: the same numbers on every CPU
torch.manual_seed(0)
config = GPTConfig(vocab_size=len(chars), context_length=64, d_model=64, n_layers=2, n_heads=4)
model = GPT(config)
print(f"{sum(p.numel() for p in model.parameters()):,} parameters")

# Adam, written out (torch.optim.Adam computes the same): each parameter moves along a running mean
# of its gradient, divided by the root of a running mean of the squared gradient.
lr, beta1, beta2, eps = 3e-3, 0.9, 0.999, 1e-8
params = list(model.parameters())
mean = [torch.zeros_like(p) for p in params]
mean_sq = [torch.zeros_like(p) for p in params]

T, batch_size, steps = config.context_length, 16, 150
losses = []
for step in range(steps + 1):
    starts = torch.randint(0, len(data) - T - 1, (batch_size,))
    x = torch.stack([data[s : s + T] for s in starts])  # (B, T) inputs
    y = torch.stack([data[s + 1 : s + T + 1] for s in starts])  # (B, T) the same, shifted by one
    logits = model(x)  # (B, T, V)
    loss = F.cross_entropy(logits.reshape(-1, config.vocab_size), y.reshape(-1))
    model.zero_grad()
    loss.backward()
    with torch.no_grad():
        for p, m, v in zip(params, mean, mean_sq):
            m.lerp_(p.grad, 1 - beta1)  # m = beta1 m + (1 - beta1) g
            v.lerp_(p.grad.square(), 1 - beta2)  # v = beta2 v + (1 - beta2) g^2
            m_hat, v_hat = m / (1 - beta1 ** (step + 1)), v / (1 - beta2 ** (step + 1))  # unbias
            p -= lr * m_hat / (v_hat.sqrt() + eps)
    losses.append(loss.item())

print(f"step 0: loss {losses[0]:.2f} (uniform guess: ln {len(chars)} = {torch.log(torch.tensor(len(chars))):.2f})")
print(f"step {steps}: loss {losses[-1]:.2f}")
assert losses[-1] < 0.5 * losses[0]

# Two baselines on the same text: predict from character frequencies alone (unigram), or from a
# table of which character follows which (bigram). Their losses are the entropies of those tables.
first, pair = Counter(text[:-1]), Counter(pairwise(text))
n = len(text) - 1
unigram = -sum(c / n * math.log(c / n) for c in first.values())
bigram = -sum(c / n * math.log(c / first[a]) for (a, _), c in pair.items())
print(f"baselines: unigram {unigram:.2f}, bigram {bigram:.2f}")
assert losses[-1] < bigram  # the model uses more than the previous character
# --8<-- [end:train]

# --8<-- [start:figure]
import os

import matplotlib

matplotlib.use("Agg")  # draw to a file, no window
import matplotlib.pyplot as plt

plt.rcParams["svg.hashsalt"] = "genai-guide"  # stable ids: the same figure gives the same file
fig, ax = plt.subplots(figsize=(5, 3))
ax.plot(losses, linewidth=1, label="GPT, training batches")
ax.axhline(unigram, color="gray", linestyle=":", label=f"unigram baseline ({unigram:.2f})")
ax.axhline(bigram, color="gray", linestyle="--", label=f"bigram baseline ({bigram:.2f})")
ax.legend()
ax.set_xlabel("training step")
ax.set_ylabel("cross-entropy loss (nats)")
ax.set_title("A 2-block GPT learning the harbour story")
ax.grid(alpha=0.3)
fig.tight_layout()
out_dir = Path(os.environ.get("GENAI_GUIDE_FIGURES", "."))
out_dir.mkdir(parents=True, exist_ok=True)
fig.savefig(out_dir / "gpt_loss_curve.svg", metadata={"Date": None})
print("saved gpt_loss_curve.svg")
# --8<-- [end:figure]

# --8<-- [start:generate]
prompt = "The keeper"
ids = torch.tensor([encode(prompt)])  # (1, 10)
out = generate_greedy(model, ids, max_new_tokens=60)
print(repr(decode(out[0].tolist())))
# --8<-- [end:generate]
