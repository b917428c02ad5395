"""How temperature, top-k, top-p and the repetition penalty reshape one next-token distribution,
checked against transformers' logits processors, drawn as one figure, then used to sample text.

The "model" is a bigram table counted from the harbour story: its logits depend only on the last
word, which makes the distributions easy to read.
"""

# --8<-- [start:distribution]
import re
from collections import Counter
from itertools import pairwise
from pathlib import Path

import torch
from transformers.generation import (
    RepetitionPenaltyLogitsProcessor,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

from genai_guide.decoding import (
    apply_repetition_penalty,
    apply_temperature,
    sample,
    top_k_filter,
    top_p_filter,
)
from genai_guide.texts import read_text

lines = read_text("harbour").splitlines()
WORD = re.compile(r"\w+(?:'\w+)?|[^\w\s]")
vocab = ["<eos>", *sorted({w for line in lines for w in WORD.findall(line)})]
EOS, stoi = 0, {w: i for i, w in enumerate(vocab)}


def encode(text: str) -> list[int]:
    return [stoi[w] for w in WORD.findall(text)]


def decode(ids: list[int]) -> str:
    return re.sub(r" (?=[,.:;!?])", "", " ".join(vocab[i] for i in ids if i != EOS))


# Count which word follows which. The model's probabilities mix the counts (90%) with plain word
# frequencies (10%), so that every word stays possible, as with a real model.
ids = [i for line in lines for i in [*encode(line), EOS]]
counts = torch.zeros(len(vocab), len(vocab))
for (a, b), n in Counter(pairwise(ids)).items():
    counts[a, b] = n
unigram = counts.sum(0) / counts.sum()  # (V,) how often each word occurs
bigram_probs = 0.9 * counts / counts.sum(1, keepdim=True) + 0.1 * unigram  # (V, V), rows sum to 1
bigram_logits = bigram_probs.log()  # (V, V): row a scores the word after a

logits = bigram_logits[stoi["the"]][None, :]  # (1, V): what follows "the"?
seen = torch.tensor([encode("The keeper climbed the tower, cleaned the lamp, and the")])  # for the penalty
settings = {  # name: (ours, the transformers processor it must equal)
    "original": (logits, logits),
    "temperature 0.5": (apply_temperature(logits, 0.5), TemperatureLogitsWarper(0.5)(seen, logits)),
    "temperature 1.5": (apply_temperature(logits, 1.5), TemperatureLogitsWarper(1.5)(seen, logits)),
    "top-k 5": (top_k_filter(logits, 5), TopKLogitsWarper(5)(seen, logits)),
    "top-p 0.9": (top_p_filter(logits, 0.9), TopPLogitsWarper(0.9)(seen, logits)),
    "repetition 1.5": (apply_repetition_penalty(logits, seen, 1.5),
                       RepetitionPenaltyLogitsProcessor(1.5)(seen, logits.clone())),
}
probs = {}
for name, (ours, theirs) in settings.items():
    assert torch.equal(ours, theirs)
    p = ours.softmax(-1)[0]  # (V,)
    probs[name] = p
    top = p.topk(4)
    words = ", ".join(f"{vocab[i]} {v:.3f}" for v, i in zip(top.values.tolist(), top.indices.tolist()))
    tail = p[counts[stoi["the"]] == 0].sum().item()  # mass of the words the story never puts after "the"
    print(f"{name:16} {int((p > 0).sum()):3} tokens  tail {tail:.3f}  {words}")
# --8<-- [end:distribution]

# --8<-- [start:figure]
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

plt.rcParams["svg.hashsalt"] = "genai-guide"
order = probs["original"].topk(12).indices  # the 12 most likely words after "the", in that order
fig, axes = plt.subplots(2, 3, figsize=(9, 5.4), sharey=True)
original = probs["original"][order].tolist()
for ax, (name, p) in zip(axes.flat, probs.items()):
    shown = p[order]  # the new probabilities of the same 12 words
    ax.bar(range(12), shown.tolist(), color="tab:blue", alpha=0.85, label="after the setting")
    ax.bar(range(12), original, color="none", edgecolor="black", linestyle=":", label="original")
    ax.set_xticks(range(12), [vocab[i] for i in order.tolist()], rotation=60, fontsize=7)
    ax.set_title(f"{name}: {int((p > 0).sum())} tokens kept", fontsize=9)
    ax.text(0.97, 0.9, f"other words: {1 - shown.sum().item():.2f}", transform=ax.transAxes, ha="right", fontsize=8)
    ax.grid(axis="y", alpha=0.3)
axes[0, 0].legend(loc="center right", fontsize=7, frameon=False)
for ax in axes[:, 0]:
    ax.set_ylabel("p(next word | 'the')")
fig.suptitle("One next-token distribution under six settings (bigram model of the harbour story)", fontsize=10)
fig.tight_layout()
out_dir = Path(os.environ.get("GENAI_GUIDE_FIGURES", "."))
out_dir.mkdir(parents=True, exist_ok=True)
fig.savefig(out_dir / "decoding_settings.svg", metadata={"Date": None})
print("saved decoding_settings.svg")
# --8<-- [end:figure]

# --8<-- [start:sample]
def bigram_model(ids: torch.Tensor) -> torch.Tensor:
    """(batch, seq) ids -> (batch, seq, V) logits: a 'language model' that only sees the last word."""
    return bigram_logits[ids]


prompt = torch.tensor([encode("The keeper")] * 3)  # three copies: three samples at once
for kwargs in ({"temperature": 0.5}, {"temperature": 1.0}, {"temperature": 1.5}, {"temperature": 1.0, "top_p": 0.9}):
    gen = torch.Generator().manual_seed(0)  # the same seed for every setting
    out = sample(bigram_model, prompt, 12, generator=gen, eos_token_id=EOS, **kwargs)
    new = out[:, 1:]  # each generated word with the word before it
    pairs = [(a, b) for row in new.tolist() for a, b in pairwise(row) if a != EOS and b != EOS]
    unseen = sum(counts[a, b].item() == 0 for a, b in pairs)  # word pairs the story never contains
    print(f"{kwargs}: {unseen} of {len(pairs)} word pairs never occur in the story")
    for row in out.tolist():
        print("   ", repr(decode(row)))

# One step by hand: the same seed gives the same draw as torch.multinomial on transformers' processing.
step = sample(bigram_model, prompt, 1, temperature=1.5, top_p=0.9, generator=torch.Generator().manual_seed(0))
z = TopPLogitsWarper(0.9)(prompt, TemperatureLogitsWarper(1.5)(prompt, bigram_model(prompt)[:, -1]))
draw = torch.multinomial(z.softmax(-1), 1, generator=torch.Generator().manual_seed(0))
assert torch.equal(step[:, -1:], draw)
# --8<-- [end:sample]
