"""A character-level LSTM language model trained on the harbour story in a few seconds on CPU."""

# --8<-- [start:train]
import math

import torch
from torch import nn

from genai_guide.texts import read_text

torch.set_num_threads(1)  # the same numbers on every machine, and no slowdown on a busy CPU
torch.set_default_dtype(torch.float64)  # a tiny model trains in float64: the same numbers on every CPU
torch.manual_seed(0)
text = read_text("harbour")
chars = sorted(set(text))  # the vocabulary: every character of the story
char_id = {ch: i for i, ch in enumerate(chars)}
data = torch.tensor([char_id[ch] for ch in text])
V, H, seq, batch = len(chars), 64, 32, 32


class CharLSTM(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(V, H)
        self.lstm = nn.LSTM(H, H, batch_first=True)  # genai_guide.recurrent.LSTM: same maths, slower
        self.head = nn.Linear(H, V)  # hidden state -> logits over the next character

    def forward(self, ids, state=None):
        out, state = self.lstm(self.embed(ids), state)  # out: (batch, seq, H)
        return self.head(out), state


model = CharLSTM()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
for step in range(300):
    starts = torch.randint(0, len(data) - seq - 1, (batch,)).tolist()
    x = torch.stack([data[s:s + seq] for s in starts])  # (batch, seq) windows of the story
    y = torch.stack([data[s + 1:s + seq + 1] for s in starts])  # the same windows shifted by one
    logits, _ = model(x)
    loss = nn.functional.cross_entropy(logits.reshape(-1, V), y.reshape(-1))
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    if step == 0:
        first = loss.item()
print(f"{len(text):,} characters of text, {V} distinct")
print(f"loss at step 0: {first:.2f} (chance: ln {V} = {math.log(V):.2f}); after 300 steps: {loss.item():.2f}")
assert loss.item() < first / 3
# --8<-- [end:train]

# --8<-- [start:generate]
prompt = "The keeper "
with torch.no_grad():
    logits, state = model(torch.tensor([[char_id[ch] for ch in prompt]]))  # read the prompt
    generated = []
    for _ in range(60):
        next_id = logits[0, -1].argmax().item()  # greedy: the most likely next character
        generated.append(chars[next_id])
        logits, state = model(torch.tensor([[next_id]]), state)  # one step: the state carries the past
print(repr(prompt + "".join(generated)))
# --8<-- [end:generate]
