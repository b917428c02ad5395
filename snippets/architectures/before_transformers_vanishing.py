"""Vanishing gradients: how much the last step of a recurrent network still depends on the first input."""

import torch

from genai_guide.recurrent import LSTM, RNN

torch.manual_seed(0)
d, H = 8, 32
rnn = RNN(d, H)  # tanh RNN, PyTorch's initialisation: weights uniform in +-1/sqrt(H)
lstm = LSTM(d, H)
lstm_open = LSTM(d, H)
lstm_open.load_state_dict(lstm.state_dict())
with torch.no_grad():
    lstm_open.cell.bias_ih[H:2 * H] += 3.0  # forget-gate bias +3: f starts near sigmoid(3) = 0.95
inputs = torch.randn(1, 60, d)


def first_input_gradient(model: torch.nn.Module, T: int) -> float:
    """|| d loss / d x_1 || where the loss reads only the hidden state after step T."""
    x = inputs[:, :T].clone().requires_grad_()
    output, _ = model(x)
    loss = output[:, -1].sum()  # a stand-in for a loss computed at the last step
    loss.backward()
    return x.grad[0, 0].norm().item()


print(f"{'T':>4} | {'tanh RNN':>9} | {'LSTM':>9} | LSTM, forget gate open")
norms = {}
for T in (1, 5, 10, 20, 40, 60):
    norms[T] = [first_input_gradient(m, T) for m in (rnn, lstm, lstm_open)]
    print(f"{T:4d} | {norms[T][0]:9.1e} | {norms[T][1]:9.1e} | {norms[T][2]:9.1e}")
assert norms[40][0] < 1e-9 * norms[1][0]  # the plain RNN has all but forgotten x_1
assert norms[60][2] > 1e-2 * norms[1][2]  # an open forget gate carries the gradient back
