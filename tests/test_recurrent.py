"""genai_guide.recurrent against PyTorch: RNN and LSTM cells and layers equal torch.nn.RNNCell,
LSTMCell, RNN and LSTM (batch_first=True, weights copied) within 1e-6 in float32 on random shapes,
gradients included; bad input is rejected with an error naming the argument."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from genai_guide.recurrent import LSTM, RNN, LSTMCell, RNNCell

TOL = {"atol": 1e-6, "rtol": 0}
SHAPES = [  # (batch, seq, input_size, hidden_size)
    (1, 1, 1, 1),
    (3, 7, 5, 8),
    (4, 20, 16, 32),
    (2, 50, 33, 64),
    (5, 12, 3, 128),
]


def _close(ours, ref, what: str) -> None:
    torch.testing.assert_close(ours, ref, **TOL, msg=lambda m: f"{what}: {m}")


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_rnn_layer_equals_torch(shape, bias, nonlinearity):
    batch, seq, d, hidden = shape
    gen = torch.Generator().manual_seed(sum(shape))
    torch.manual_seed(sum(shape))
    ref = nn.RNN(d, hidden, bias=bias, nonlinearity=nonlinearity, batch_first=True)
    ours = RNN.from_torch(ref)
    x = torch.randn(batch, seq, d, generator=gen)
    h0 = torch.randn(1, batch, hidden, generator=gen)
    for hx in (None, h0):
        out, h_n = ours(x, hx)
        ref_out, ref_h_n = ref(x, hx)
        _close(out, ref_out, "output")
        _close(h_n, ref_h_n, "h_n")
    assert out.shape == (batch, seq, hidden) and h_n.shape == (1, batch, hidden)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_lstm_layer_equals_torch(shape, bias):
    batch, seq, d, hidden = shape
    gen = torch.Generator().manual_seed(sum(shape))
    torch.manual_seed(sum(shape))
    ref = nn.LSTM(d, hidden, bias=bias, batch_first=True)
    ours = LSTM.from_torch(ref)
    x = torch.randn(batch, seq, d, generator=gen)
    state = (torch.randn(1, batch, hidden, generator=gen), torch.randn(1, batch, hidden, generator=gen))
    for hx in (None, state):
        out, (h_n, c_n) = ours(x, hx)
        ref_out, (ref_h_n, ref_c_n) = ref(x, hx)
        _close(out, ref_out, "output")
        _close(h_n, ref_h_n, "h_n")
        _close(c_n, ref_c_n, "c_n")


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_cells_equal_torch_cells(shape):
    batch, _, d, hidden = shape
    gen = torch.Generator().manual_seed(7 + sum(shape))
    torch.manual_seed(sum(shape))
    x = torch.randn(batch, d, generator=gen)
    h, c = torch.randn(batch, hidden, generator=gen), torch.randn(batch, hidden, generator=gen)

    ref_rnn = nn.RNNCell(d, hidden)
    _close(RNNCell.from_torch(ref_rnn)(x, h), ref_rnn(x, h), "RNNCell")
    _close(RNNCell.from_torch(ref_rnn)(x), ref_rnn(x), "RNNCell, zero state")

    ref_lstm = nn.LSTMCell(d, hidden)
    ours_h, ours_c = LSTMCell.from_torch(ref_lstm)(x, (h, c))
    ref_h, ref_c = ref_lstm(x, (h, c))
    _close(ours_h, ref_h, "LSTMCell h")
    _close(ours_c, ref_c, "LSTMCell c")


def test_lstm_gates_are_in_torch_order():
    """Only the forget gate's bias set high: c_t = c_{t-1} exactly if the order is i, f, g, o."""
    cell = LSTMCell(3, 4)
    with torch.no_grad():
        cell.weight_ih.zero_()
        cell.weight_hh.zero_()
        cell.bias_hh.zero_()
        cell.bias_ih.copy_(torch.cat([torch.full((4,), -30.0), torch.full((4,), 30.0),
                                      torch.zeros(4), torch.zeros(4)]))  # i shut, f open
    c = torch.randn(2, 4)
    _, c_next = cell(torch.randn(2, 3), (torch.randn(2, 4), c))
    torch.testing.assert_close(c_next, c)


def test_gradients_equal_torch():
    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    for ref_cls, ours_cls in ((nn.RNN, RNN), (nn.LSTM, LSTM)):
        ref = ref_cls(6, 16, batch_first=True)
        ours = ours_cls.from_torch(ref)
        x = torch.randn(3, 15, 6, generator=gen)
        x_ref, x_ours = x.clone().requires_grad_(), x.clone().requires_grad_()
        ref(x_ref)[0].square().sum().backward()
        ours(x_ours)[0].square().sum().backward()
        torch.testing.assert_close(x_ours.grad, x_ref.grad, atol=1e-5, rtol=1e-5)
        ref_grads = dict(ref.named_parameters())
        for name, p in ours.cell.named_parameters():
            torch.testing.assert_close(p.grad, ref_grads[f"{name}_l0"].grad, atol=1e-5, rtol=1e-5)


def test_float64_matches_closely():
    torch.manual_seed(1)
    ref = nn.LSTM(5, 9, batch_first=True).double()
    ours = LSTM.from_torch(ref)
    x = torch.randn(2, 30, 5, dtype=torch.float64)
    torch.testing.assert_close(ours(x)[0], ref(x)[0], atol=1e-12, rtol=0)


def test_initialisation_matches_torch_range():
    for module in (RNNCell(4, 25), LSTMCell(4, 25)):
        for p in module.parameters():
            assert p.abs().max() <= 1 / 5 and p.abs().max() > 0.15  # U(-1/sqrt(H), 1/sqrt(H))
    assert LSTMCell(4, 25).weight_ih.shape == nn.LSTMCell(4, 25).weight_ih.shape == (100, 4)


@pytest.mark.parametrize(
    "call,error,argument",
    [
        (lambda: RNN(0, 4), ValueError, "input_size"),
        (lambda: LSTM(3, -1), ValueError, "hidden_size"),
        (lambda: RNNCell(3, 4, nonlinearity="sigmoid"), ValueError, "nonlinearity"),
        (lambda: RNN(3, 4)([[1.0, 2.0, 3.0]]), TypeError, "input"),
        (lambda: RNN(3, 4)(torch.ones(2, 5, 3, dtype=torch.long)), TypeError, "input"),
        (lambda: RNN(3, 4)(torch.ones(2, 5, 3, dtype=torch.float64)), TypeError, "input"),
        (lambda: RNN(3, 4)(torch.ones(5, 3)), ValueError, "input"),
        (lambda: LSTM(3, 4)(torch.ones(2, 5, 2)), ValueError, "input"),
        (lambda: LSTM(3, 4)(torch.ones(2, 0, 3)), ValueError, "input"),
        (lambda: RNN(3, 4)(torch.ones(2, 5, 3), torch.zeros(2, 4)), ValueError, "hx"),
        (lambda: LSTM(3, 4)(torch.ones(2, 5, 3), torch.zeros(1, 2, 4)), TypeError, "hx"),
        (lambda: LSTM(3, 4)(torch.ones(2, 5, 3), (torch.zeros(1, 2, 4), torch.zeros(1, 3, 4))), ValueError, "c_0"),
        (lambda: LSTMCell(3, 4)(torch.ones(2, 3), (torch.zeros(2, 4), torch.zeros(2, 5))), ValueError, "hx"),
        (lambda: RNNCell(3, 4)(torch.ones(2, 5, 3)), ValueError, "input"),
        (lambda: RNN.from_torch(nn.LSTM(3, 4, batch_first=True)), TypeError, "reference"),
        (lambda: RNN.from_torch(nn.RNN(3, 4)), ValueError, "batch_first"),
        (lambda: LSTM.from_torch(nn.LSTM(3, 4, num_layers=2, batch_first=True)), ValueError, "num_layers"),
        (lambda: LSTM.from_torch(nn.LSTM(3, 4, bidirectional=True, batch_first=True)), ValueError, "bidirectional"),
        (lambda: LSTM.from_torch(nn.LSTM(3, 4, proj_size=2, batch_first=True)), ValueError, "proj_size"),
        (lambda: LSTMCell.from_torch(nn.RNNCell(3, 4)), TypeError, "reference"),
    ],
)
def test_bad_input_is_rejected(call, error, argument):
    with pytest.raises(error, match=argument):
        call()
