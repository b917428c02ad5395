"""An RNN and an LSTM step by step, then the book's layers checked against torch.nn.RNN and torch.nn.LSTM."""

# --8<-- [start:rnn]
import torch
from torch import nn

torch.manual_seed(0)
batch, seq, d, H = 2, 5, 3, 4  # 2 sequences of 5 steps, 3 features in, hidden state of 4
x = torch.randn(batch, seq, d)
reference = nn.RNN(d, H, batch_first=True)  # random weights to copy
W_ih, W_hh = reference.weight_ih_l0, reference.weight_hh_l0  # (H, d) and (H, H)
b_ih, b_hh = reference.bias_ih_l0, reference.bias_hh_l0

with torch.no_grad():
    h = torch.zeros(batch, H)  # h_0
    states = []
    for t in range(seq):  # the loop: step t cannot start before step t - 1 has finished
        h = torch.tanh(x[:, t] @ W_ih.T + b_ih + h @ W_hh.T + b_hh)  # (batch, H)
        states.append(h)
    by_hand = torch.stack(states, dim=1)  # (batch, seq, H)
    torch_out, torch_h_n = reference(x)

assert torch.allclose(by_hand, torch_out, atol=1e-6, rtol=0)
print("hidden states:", tuple(by_hand.shape), "last one:", [round(v, 3) for v in h[0].tolist()])
# --8<-- [end:rnn]

# --8<-- [start:lstm]
lstm_ref = nn.LSTM(d, H, batch_first=True)
with torch.no_grad():
    h = c = torch.zeros(batch, H)  # hidden state and memory cell
    for t in range(seq):
        gates = (x[:, t] @ lstm_ref.weight_ih_l0.T + lstm_ref.bias_ih_l0
                 + h @ lstm_ref.weight_hh_l0.T + lstm_ref.bias_hh_l0)  # (batch, 4H): four gates at once
        i, f, g, o = gates.chunk(4, dim=-1)  # PyTorch's order: input, forget, cell candidate, output
        i, f, g, o = i.sigmoid(), f.sigmoid(), g.tanh(), o.sigmoid()
        c = f * c + i * g  # keep a fraction of the old memory, add a fraction of the new candidate
        h = o * c.tanh()  # expose a fraction of the memory
    _, (torch_h, torch_c) = lstm_ref(x)
assert torch.allclose(h, torch_h[0], atol=1e-6, rtol=0)
assert torch.allclose(c, torch_c[0], atol=1e-6, rtol=0)
print("LSTM gates at the last step, first sequence:")
for name, gate in zip("ifgo", (i, f, g, o)):
    print(f"  {name}: {[round(v, 2) for v in gate[0].tolist()]}")
# --8<-- [end:lstm]

# --8<-- [start:check]
from genai_guide.recurrent import LSTM, RNN

gen = torch.Generator().manual_seed(1)
for batch, seq, d, H in [(1, 1, 1, 1), (3, 7, 5, 8), (4, 50, 16, 64), (2, 20, 33, 128)]:
    for cls, ref_cls in ((RNN, nn.RNN), (LSTM, nn.LSTM)):
        ref = ref_cls(d, H, batch_first=True)
        ours = cls.from_torch(ref)  # same weights, our Python loop
        x = torch.randn(batch, seq, d, generator=gen)
        with torch.no_grad():
            assert torch.allclose(ours(x)[0], ref(x)[0], atol=1e-6, rtol=0)
print("genai_guide.recurrent RNN and LSTM equal torch.nn.RNN and torch.nn.LSTM within 1e-6")

for H in (64, 256):
    n_rnn = sum(p.numel() for p in nn.RNN(H, H).parameters())
    n_lstm = sum(p.numel() for p in nn.LSTM(H, H).parameters())
    print(f"input and hidden size {H}: RNN {n_rnn:,} parameters, LSTM {n_lstm:,} ({n_lstm // n_rnn}x)")
# --8<-- [end:check]
