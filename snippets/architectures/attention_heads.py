"""Every head of every layer: a two-layer, four-head model trained to continue a repeated sequence.

The offline counterpart of BertViz's model view: one small heatmap per head and layer, drawn for one
input. The task needs two steps, so the heads of the two layers learn different jobs: in layer 1 a
head looks at the previous token, in layer 2 the heads look just after the earlier copy of the
current token (induction heads).
"""

# --8<-- [start:train]
import torch
import torch.nn.functional as F
from torch import nn

from genai_guide.attention import MultiHeadAttention

torch.set_num_threads(1)  # the same numbers on every machine, and no slowdown on a busy CPU
torch.set_default_dtype(torch.float64)  # float64 from the initialisation on: the same training on every CPU
torch.manual_seed(0)
V, T, d_model, n_layers, n_heads = 16, 20, 32, 2, 4
LETTERS = "abcdefghijklmnop"  # the 16 token ids, shown as letters


def make_batch(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """n sequences of T random tokens whose last k repeat the k before them (k from 4 to 9)."""
    k = torch.randint(4, 10, (n,))
    pos = torch.arange(T)
    source = torch.where(pos >= T - k[:, None], pos - k[:, None], pos)  # the copy reads k back
    return torch.randint(0, V, (n, T)).gather(1, source), T - k  # ids (n, T), where each copy starts


class AttentionOnly(nn.Module):
    """Token and position embeddings, causal multi-head self-attention layers with residuals, a readout."""

    def __init__(self) -> None:
        super().__init__()
        self.tok_emb = nn.Embedding(V, d_model)
        self.pos_emb = nn.Embedding(T, d_model)
        self.layers = nn.ModuleList(MultiHeadAttention(d_model, n_heads) for _ in range(n_layers))
        self.readout = nn.Linear(d_model, V)

    def forward(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.tok_emb(ids) + self.pos_emb(torch.arange(ids.shape[1]))  # (B, T, d)
        weights = []
        for attn in self.layers:
            out, w = attn(x, is_causal=True)  # w: (B, heads, T, T), one pattern per head
            x = x + out
            weights.append(w)
        return self.readout(x), torch.stack(weights, 1)  # logits (B, T, V), weights (B, layers, heads, T, T)


model = AttentionOnly()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
for step in range(301):
    ids, copy_start = make_batch(32)
    logits, _ = model(ids[:, :-1])
    targets = ids[:, 1:].masked_fill(torch.arange(T - 1) < copy_start[:, None], -100)  # score the copy only
    loss = F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1))
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
# --8<-- [end:train]

# --8<-- [start:score]
torch.manual_seed(1)
ids, copy_start = make_batch(1000)  # new sequences
x = ids[:, :-1]
with torch.no_grad():
    logits, w = model(x)  # w: (1000, 2, 4, 19, 19)
in_copy = torch.arange(T - 1) >= copy_start[:, None]  # query positions whose next token is a copy
accuracy = (logits.argmax(-1) == ids[:, 1:])[in_copy].double().mean().item()
print(f"next token inside the copy: accuracy {accuracy:.2f} (chance 1/{V} = {1 / V:.2f})")
assert accuracy > 0.8

previous = w.diagonal(offset=-1, dim1=-2, dim2=-1).mean((0, -1))  # weight on the token just before
follows_same = torch.zeros(len(x), T - 1, T - 1, dtype=torch.bool)  # key j comes right after a copy
follows_same[:, :, 1:] = x[:, :, None] == x[:, None, :-1]  # of the query's own token: x[j-1] == x[t]
induction = ((w * follows_same[:, None, None]).sum(-1) * in_copy[:, None, None]).sum((0, -1)) / in_copy.sum()
print("layer  head  on the previous token  just after an earlier copy of the current token")
for layer in range(n_layers):
    for head in range(n_heads):
        print(f"{layer + 1:5d}  {head + 1:4d}  {previous[layer, head]:21.2f}  {induction[layer, head]:47.2f}")
print(f"layer 1 averaged over its heads, as torch.nn.MultiheadAttention returns it: {previous[0].mean():.2f} "
      "on the previous token")
assert previous[0].max() > 0.6  # layer 1 has a previous-token head
assert induction[1].min() > 0.7  # every head of layer 2 is an induction head
# --8<-- [end:score]

# --8<-- [start:figure]
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # draw to a file, no window
import matplotlib.pyplot as plt

plt.rcParams["svg.hashsalt"] = "genai-guide"  # stable ids: the same figure gives the same file
example = ids[T - copy_start == 7][0]  # one input whose last 7 tokens repeat the 7 before them
with torch.no_grad():
    _, w_example = model(example[None])  # (1, 2, 4, 20, 20)
labels = [LETTERS[t] for t in example.tolist()]
fig, axes = plt.subplots(n_layers, n_heads, figsize=(9, 4.8), sharex=True, sharey=True, layout="constrained")
for layer in range(n_layers):
    for head in range(n_heads):
        ax = axes[layer, head]
        weights = w_example[0, layer, head].round(decimals=3)  # 3 decimals: the same colours on every CPU
        image = ax.imshow(weights, cmap="viridis", vmin=0, vmax=1)
        ax.set_title(f"layer {layer + 1}, head {head + 1}", fontsize=9)
        ax.set_xticks(range(T), labels, fontsize=5)
        ax.set_yticks(range(T), labels, fontsize=5)
        ax.axhline(T - 7 - 0.5, color="white", linewidth=0.6, linestyle=":")  # below: queries in the copy
for ax in axes[-1]:
    ax.set_xlabel("key", fontsize=8)
for ax in axes[:, 0]:
    ax.set_ylabel("query", fontsize=8)
fig.suptitle(f"Every head of a 2-layer model; the input repeats its last 7 tokens: {''.join(labels)}",
             fontsize=10)
fig.colorbar(image, ax=axes, fraction=0.02)
out_dir = Path(os.environ.get("GENAI_GUIDE_FIGURES", "."))
out_dir.mkdir(parents=True, exist_ok=True)
fig.savefig(out_dir / "attention_heads.svg", metadata={"Date": None})
print("saved attention_heads.svg")
# --8<-- [end:figure]
