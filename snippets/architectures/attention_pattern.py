"""Train a one-layer attention model to reverse digits, then draw where it looks.

The offline answer to a bertviz-style view: the attention weights of a tiny trained model, drawn
as a heatmap. To reverse a sequence, output position i must copy input position n-1-i, so a model
that has learned the task attends along the anti-diagonal.
"""

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # draw to a file, no window
import matplotlib.pyplot as plt
import torch
from torch import nn

from genai_guide.attention import MultiHeadAttention

# --8<-- [start:model]
torch.manual_seed(0)
n, vocab, d = 8, 10, 32  # reverse 8 digits; model width 32


class Reverser(nn.Module):
    """Learned output-position queries cross-attend to the embedded input digits."""

    def __init__(self) -> None:
        super().__init__()
        self.tok = nn.Embedding(vocab, d)
        self.pos = nn.Parameter(torch.randn(n, d) * 0.1)  # input positions
        self.queries = nn.Parameter(torch.randn(n, d) * 0.1)  # one query per output position
        self.attn = MultiHeadAttention(d, num_heads=1)
        self.head = nn.Linear(d, vocab)

    def forward(self, digits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        memory = self.tok(digits) + self.pos  # (batch, n, d)
        q = self.queries.expand(digits.shape[0], n, d)  # (batch, n, d)
        out, weights = self.attn(q, memory, memory)  # weights: (batch, 1, n, n)
        return self.head(out), weights[:, 0]


model = Reverser()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
for step in range(301):
    digits = torch.randint(0, vocab, (128, n))
    logits, _ = model(digits)
    loss = nn.functional.cross_entropy(logits.reshape(-1, vocab), digits.flip(1).reshape(-1))
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    if step == 0:
        print(f"step 0: loss {loss.item():.2f} (chance: ln 10 = 2.30)")
# --8<-- [end:model]

# --8<-- [start:look]
torch.manual_seed(1)
test = torch.randint(0, vocab, (1000, n))
with torch.no_grad():
    logits, weights = model(test)
accuracy = (logits.argmax(-1) == test.flip(1)).float().mean().item()
looks_at = weights.mean(0).argmax(-1).tolist()  # most-attended input position per output position
print(f"accuracy on 1000 new sequences: {accuracy:.3f}")
print("output position i looks at input position:", looks_at)
assert accuracy > 0.99 and looks_at == list(range(n - 1, -1, -1))

example = test[:1]
w = weights[0].round(decimals=3)  # (n, n) for the first test sequence; 3 decimals: the same colours on every CPU
fig, ax = plt.subplots(figsize=(4.2, 3.6))
image = ax.imshow(w, cmap="viridis", vmin=0, vmax=1)
ax.set_xticks(range(n), [str(t) for t in example[0].tolist()])
ax.set_yticks(range(n), [str(t) for t in example[0].flip(0).tolist()])
ax.set_xlabel("input digit (key)")
ax.set_ylabel("output digit (query)")
ax.set_title("Attention weights of a trained reverser")
fig.colorbar(image, ax=ax, fraction=0.046)
fig.tight_layout()

plt.rcParams["svg.hashsalt"] = "genai-guide"  # stable ids: the same figure gives the same file
out_dir = Path(os.environ.get("GENAI_GUIDE_FIGURES", "."))
out_dir.mkdir(parents=True, exist_ok=True)
fig.savefig(out_dir / "attention_pattern.svg", metadata={"Date": None})
print("saved attention_pattern.svg")
# --8<-- [end:look]
