"""In-context learning, measured: a tiny transformer learns to use examples given only in its prompt.

Every training sequence carries its own random letter map (a -> w, b -> s, ...), shown only by
examples, so the one thing that helps across sequences is reading the map off the prompt. After
training, the model gets a map it has never seen and is scored with 0 to 10 examples in its prompt.
"""

# --8<-- [start:data]
import random

import torch
import torch.nn.functional as F
from torch import nn

from genai_guide.attention import MultiHeadAttention
from genai_guide.prompting import few_shot_prompt

KEYS, VALUES = "abcdefgh", "stuvwxyz"
VOCAB = KEYS + VALUES + ";"  # 17 characters, one token each
stoi = {ch: i for i, ch in enumerate(VOCAB)}
MAX_SHOTS = 10


def make_task(rng: random.Random, n_shots: int) -> tuple[str, str, bool]:
    """A fresh random map from keys to values, n_shots examples of it and a query key."""
    mapping = {k: rng.choice(VALUES) for k in KEYS}  # a new map for every prompt
    shown = [rng.choice(KEYS) for _ in range(n_shots)]
    query = rng.choice(KEYS)
    prompt = few_shot_prompt([(k, mapping[k]) for k in shown], query, template="{input}{output}", separator=";")
    return prompt, mapping[query], query in shown  # the prompt, the right answer, whether it is shown


def encode(text: str) -> list[int]:
    return [stoi[ch] for ch in text]


rng = random.Random(0)
for n in (0, 1, 4):
    prompt, answer, shown = make_task(rng, n)
    print(f"{n} shots: {prompt!r:16} answer {answer!r}, query key shown in the prompt: {shown}")
# --8<-- [end:data]

# --8<-- [start:model]
torch.manual_seed(0)
torch.set_num_threads(1)  # the same numbers on every machine
CONTEXT = 3 * MAX_SHOTS + 1  # the longest prompt: 10 examples of 3 characters, then the query


class AttentionOnly(nn.Module):
    """Embeddings, two layers of causal self-attention with residual connections, a linear readout."""

    def __init__(self, d_model: int = 32, n_layers: int = 2) -> None:
        super().__init__()
        self.tok_emb = nn.Embedding(len(VOCAB), d_model)
        self.pos_emb = nn.Embedding(CONTEXT, d_model)
        self.layers = nn.ModuleList(MultiHeadAttention(d_model, num_heads=1) for _ in range(n_layers))
        self.readout = nn.Linear(d_model, len(VOCAB))

    def forward(self, ids: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        x = self.tok_emb(ids) + self.pos_emb(torch.arange(ids.shape[1]))  # (B, T, d)
        weights = []
        for attn in self.layers:
            out, w = attn(x, is_causal=True)  # w: (B, 1 head, T, T)
            x = x + out
            weights.append(w)
        return self.readout(x), weights  # logits (B, T, V): row t scores the token after position t


model = AttentionOnly()
print(f"{sum(p.numel() for p in model.parameters()):,} parameters")
# --8<-- [end:model]

# --8<-- [start:train]
# Train on whole sequences of 10 examples plus a query and its answer: every key is followed by its
# value, so the loss is taken at the key positions (0, 3, 6, ...). Values are only predictable from
# earlier examples of the same key in the same sequence.
optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
at_keys = torch.arange(0, CONTEXT, 3)
for step in range(401):
    texts = [p + a for p, a, _ in (make_task(rng, MAX_SHOTS) for _ in range(32))]
    ids = torch.tensor([encode(t) for t in texts])  # (32, 32)
    logits, _ = model(ids[:, :-1])
    loss = F.cross_entropy(logits[:, at_keys].reshape(-1, len(VOCAB)), ids[:, 1:][:, at_keys].reshape(-1))
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    if step % 100 == 0:
        print(f"step {step}: loss {loss.item():.2f}")
model.eval()
# --8<-- [end:train]

# --8<-- [start:measure]
@torch.no_grad()
def answers(prompts: list[str]) -> list[str]:
    """The model's greedy answer to each prompt (all of the same length)."""
    logits, _ = model(torch.tensor([encode(p) for p in prompts]))
    return [VOCAB[i] for i in logits[:, -1].argmax(-1).tolist()]


rng = random.Random(1)  # new maps, never seen in training
print("shots  accuracy  best possible  query shown  query not shown")
accuracy = []
for n in range(MAX_SHOTS + 1):
    tasks = [make_task(rng, n) for _ in range(1000)]
    right = [a == t[1] for a, t in zip(answers([t[0] for t in tasks]), tasks)]
    shown = [r for r, t in zip(right, tasks) if t[2]]
    hidden = [r for r, t in zip(right, tasks) if not t[2]]
    p_shown = 1 - (7 / 8) ** n  # chance that the query key is among n random examples
    best = p_shown + (1 - p_shown) / 8  # copy when shown, guess among 8 values when not
    accuracy.append(sum(right) / len(right))
    acc_shown = f"{sum(shown) / len(shown):.2f}" if shown else "-"
    print(f"{n:5d}  {accuracy[-1]:8.2f}  {best:13.2f}  {acc_shown:>11}  {sum(hidden) / len(hidden):15.2f}")
assert abs(accuracy[0] - 1 / 8) < 0.05  # zero-shot: chance, one in 8 (give or take sampling noise)
assert accuracy[MAX_SHOTS] > 0.7  # ten shots: far above chance
# --8<-- [end:measure]

# --8<-- [start:figure]
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # draw to a file, no window
import matplotlib.pyplot as plt

plt.rcParams["svg.hashsalt"] = "genai-guide"  # stable ids: the same figure gives the same file
shots = list(range(MAX_SHOTS + 1))
fig, ax = plt.subplots(figsize=(5, 3))
ax.plot(shots, accuracy, "o-", label="tiny transformer, new maps")
ax.plot(shots, [1 - (7 / 8) ** n * 7 / 8 for n in shots], "k--", linewidth=1, label="best possible")
ax.axhline(1 / 8, color="gray", linestyle=":", label="chance (1/8)")
ax.set_xlabel("examples in the prompt (shots)")
ax.set_ylabel("accuracy on the query")
ax.set_title("In-context learning of a random letter map")
ax.set_ylim(0, 1)
ax.legend(loc="upper left")
ax.grid(alpha=0.3)
fig.tight_layout()
out_dir = Path(os.environ.get("GENAI_GUIDE_FIGURES", "."))
out_dir.mkdir(parents=True, exist_ok=True)
fig.savefig(out_dir / "icl_accuracy_vs_shots.svg", metadata={"Date": None})
print("saved icl_accuracy_vs_shots.svg")
# --8<-- [end:figure]

# --8<-- [start:mechanism]
def task_with_query_shown(rng: random.Random, n_shots: int) -> tuple[list[tuple[str, str]], str, str]:
    """n_shots examples of a fresh map, then a query whose key is among them."""
    mapping = {k: rng.choice(VALUES) for k in KEYS}
    pairs = [(k, mapping[k]) for k in (rng.choice(KEYS) for _ in range(n_shots))]
    query = rng.choice(pairs)[0]
    return pairs, query, mapping[query]


rng = random.Random(2)
tasks = [task_with_query_shown(rng, 5) for _ in range(1000)]
prompts = [few_shot_prompt(p, q, template="{input}{output}", separator=";") for p, q, _ in tasks]
with torch.no_grad():
    _, (w1, w2) = model(torch.tensor([encode(p) for p in prompts]))  # each (1000, 1, 16, 16)
value_pos = torch.arange(1, 15, 3)  # positions of the 5 values
prev_key = w1[:, 0, value_pos, value_pos - 1].mean()  # layer 1: value -> the key just before it
is_match = torch.tensor([[p[i] == p[-1] for i in range(0, 15, 3)] for p in prompts])  # (1000, 5)
on_match = (w2[:, 0, -1, value_pos] * is_match).sum(-1).mean()  # layer 2: query -> values of its key
print(f"layer 1: a value puts {prev_key:.2f} of its attention on the key just before it")
print(f"layer 2: the query puts {on_match:.2f} of its attention on the values that follow its own key")

i = next(i for i, (pairs, _, a) in enumerate(tasks) if [v for _, v in pairs].count(a) == 1)  # a clear case
prompt, top = prompts[i], w2[i, 0, -1].argmax().item()
print(f"example {prompt!r}: the query {prompt[-1]!r} puts {w2[i, 0, -1, top]:.2f} on position {top}, "
      f"{prompt[top]!r} (after {prompt[top - 1]!r}); the model answers {answers([prompt])[0]!r}")
assert prev_key > 0.9 and on_match > 0.9
# --8<-- [end:mechanism]

# --8<-- [start:failures]
rng = random.Random(3)
tasks = [task_with_query_shown(rng, 5) for _ in range(1000)]
for sep in (";", "", ";;"):  # the same examples, written with another separator
    said = answers([few_shot_prompt(p, q, template="{input}{output}", separator=sep) for p, q, _ in tasks])
    print(f"separator {sep!r:5}: accuracy {sum(a == t[2] for a, t in zip(said, tasks)) / len(tasks):.2f}")

in_prompt = chance_in_prompt = last = 0
tasks = [make_task(rng, 5) for _ in range(4000)]
hidden = [t for t in tasks if not t[2]]  # the query key is not among the examples
for (prompt, _, _), a in zip(hidden, answers([t[0] for t in hidden])):
    values = set(prompt[1::3])
    in_prompt += a in values
    chance_in_prompt += len(values) / 8
    last += a == prompt[-3]
n = len(hidden)
print(f"query not shown ({n} prompts): the answer is a value of the prompt {in_prompt / n:.2f} "
      f"(chance {chance_in_prompt / n:.2f}), the last value {last / n:.2f} (chance {1 / 8:.2f})")

conflicts = []
for _ in range(1000):  # the query key shown twice, with two different values
    keys = rng.sample(KEYS, 4)
    query, first, second = keys[0], *rng.sample(VALUES, 2)
    pairs = [(k, rng.choice(VALUES)) for k in keys[1:]]
    i, j = sorted(rng.sample(range(5), 2))
    pairs.insert(i, (query, first))
    pairs.insert(j, (query, second))
    conflicts.append((few_shot_prompt(pairs, query, template="{input}{output}", separator=";"), first, second))
said = answers([c[0] for c in conflicts])
earlier = sum(a == c[1] for a, c in zip(said, conflicts)) / len(conflicts)
later = sum(a == c[2] for a, c in zip(said, conflicts)) / len(conflicts)
print(f"query key shown twice with different values: copies the earlier {earlier:.2f}, the later {later:.2f}")
# --8<-- [end:failures]
