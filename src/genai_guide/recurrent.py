"""Recurrent networks written to be read: the Elman RNN and the LSTM, as cells and as layers.

The chapter [Before transformers](../../architectures/before_transformers.md) explains them. The
cells follow the equations PyTorch documents for `torch.nn.RNNCell` and `torch.nn.LSTMCell` (the
LSTM of Hochreiter and Schmidhuber, *Long Short-Term Memory*, 1997, in its modern form with a
forget gate), with the same parameter names, shapes, gate order (`i, f, g, o`) and initialisation, so
that weights copied from `torch.nn.RNN` / `torch.nn.LSTM` give the same outputs. The layers are
batch-first, one layer, one direction: a Python loop over time that calls the cell once a step.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = ["LSTM", "RNN", "LSTMCell", "RNNCell"]

_NONLINEARITIES = {"tanh": torch.tanh, "relu": torch.relu}


def _check_size(name: str, n: object) -> int:
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"{name} must be a positive int, got {n!r}")
    return n


def _check_input(name: str, x: object, dims: int, size: int, dtype: torch.dtype) -> Tensor:
    """Raise a clear error unless ``x`` is a floating tensor of ``dims`` dims ending in ``size``."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must have a floating dtype, got {x.dtype}")
    if x.dtype != dtype:
        raise TypeError(f"{name} has dtype {x.dtype} but the weights have {dtype}")
    if x.dim() != dims or x.shape[-1] != size:
        shape = "(batch, seq, {})" if dims == 3 else "(batch, {})"
        raise ValueError(f"{name} must have shape {shape.format(size)}, got {tuple(x.shape)}")
    return x


def _check_state(name: str, h: object, batch: int, hidden_size: int, dtype: torch.dtype, layer: bool) -> Tensor:
    """Check a hidden (or cell) state: `(batch, H)` for a cell, `(1, batch, H)` for a layer."""
    if not isinstance(h, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(h).__name__}")
    if h.dtype != dtype:
        raise TypeError(f"{name} has dtype {h.dtype} but the weights have {dtype}")
    expected = (1, batch, hidden_size) if layer else (batch, hidden_size)
    if tuple(h.shape) != expected:
        raise ValueError(f"{name} must have shape {expected}, got {tuple(h.shape)}")
    return h


def _check_reference(reference: object, kind: type[nn.Module]) -> None:
    if not isinstance(reference, kind):
        raise TypeError(f"reference must be a {kind.__module__}.{kind.__qualname__}, got {type(reference).__name__}")


class RNNCell(nn.Module):
    """One step of an Elman recurrent network, the cell of `torch.nn.RNNCell`.

    $$h_t = \\tanh(W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh})$$

    The same weights are applied at every time step, so the network handles sequences of any length
    with a fixed number of parameters; the hidden state $h_t$ is its only memory of the past.

    Args:
        input_size: size $d$ of each input vector $x_t$.
        hidden_size: size $H$ of the hidden state $h_t$.
        bias: whether to use the biases $b_{ih}$ and $b_{hh}$.
        nonlinearity: `"tanh"` (the usual choice) or `"relu"`.

    Raises:
        ValueError: if a size is not a positive int or `nonlinearity` is unknown.
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh") -> None:
        super().__init__()
        self.input_size = _check_size("input_size", input_size)
        self.hidden_size = _check_size("hidden_size", hidden_size)
        if nonlinearity not in _NONLINEARITIES:
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        self.weight_ih = nn.Parameter(torch.empty(hidden_size, input_size))  # W_ih: (H, d)
        self.weight_hh = nn.Parameter(torch.empty(hidden_size, hidden_size))  # W_hh: (H, H)
        self.bias_ih = nn.Parameter(torch.empty(hidden_size)) if bias else None
        self.bias_hh = nn.Parameter(torch.empty(hidden_size)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw every weight from $U(-1/\\sqrt{H}, 1/\\sqrt{H})$, as PyTorch does."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        """Compute $h_t$ from $x_t$ (`input`, shape `(batch, d)`) and $h_{t-1}$ (`hx`, `(batch, H)`).

        Args:
            input: `(batch, input_size)` inputs $x_t$.
            hx: `(batch, hidden_size)` previous hidden state; zeros when omitted.

        Returns:
            The new hidden state $h_t$, `(batch, hidden_size)`.

        Raises:
            TypeError: if `input` or `hx` is not a floating tensor of the weights' dtype.
            ValueError: if `input` or `hx` has the wrong shape.
        """
        x = _check_input("input", input, 2, self.input_size, self.weight_ih.dtype)
        if hx is None:
            hx = x.new_zeros(x.shape[0], self.hidden_size)
        h = _check_state("hx", hx, x.shape[0], self.hidden_size, x.dtype, layer=False)
        ih, hh = x @ self.weight_ih.T, h @ self.weight_hh.T  # (batch, H) each
        if self.bias_ih is not None:
            ih, hh = ih + self.bias_ih, hh + self.bias_hh
        return _NONLINEARITIES[self.nonlinearity](ih + hh)

    @classmethod
    def from_torch(cls, reference: nn.RNNCell) -> RNNCell:
        """Build a copy of a `torch.nn.RNNCell` with the same weights.

        Raises:
            TypeError: if `reference` is not a `torch.nn.RNNCell`.
        """
        _check_reference(reference, nn.RNNCell)
        cell = cls(reference.input_size, reference.hidden_size, reference.bias, reference.nonlinearity)
        cell = cell.to(reference.weight_ih)
        cell.load_state_dict(reference.state_dict())
        return cell


class LSTMCell(nn.Module):
    """One step of a long short-term memory network, the cell of `torch.nn.LSTMCell`.

    $$\\begin{aligned}
    i_t &= \\sigma(W_{ii} x_t + b_{ii} + W_{hi} h_{t-1} + b_{hi}) &&\\text{input gate}\\\\
    f_t &= \\sigma(W_{if} x_t + b_{if} + W_{hf} h_{t-1} + b_{hf}) &&\\text{forget gate}\\\\
    g_t &= \\tanh(W_{ig} x_t + b_{ig} + W_{hg} h_{t-1} + b_{hg}) &&\\text{candidate cell}\\\\
    o_t &= \\sigma(W_{io} x_t + b_{io} + W_{ho} h_{t-1} + b_{ho}) &&\\text{output gate}\\\\
    c_t &= f_t \\odot c_{t-1} + i_t \\odot g_t, \\qquad h_t = o_t \\odot \\tanh(c_t)
    \\end{aligned}$$

    Hochreiter and Schmidhuber (1997) introduced the memory cell $c_t$, updated by addition so that
    error can flow back through it over long time lags, with input and output gates; the forget gate
    $f_t$ came later (Gers et al. 2000) and is part of every modern LSTM. As in PyTorch, the four
    gates' weights are stacked in one matrix in the order $i, f, g, o$: `weight_ih` is
    `(4H, d)` and `weight_hh` is `(4H, H)`.

    Args:
        input_size: size $d$ of each input vector $x_t$.
        hidden_size: size $H$ of the hidden state $h_t$ and of the cell $c_t$.
        bias: whether to use the biases.

    Raises:
        ValueError: if a size is not a positive int.
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True) -> None:
        super().__init__()
        self.input_size = _check_size("input_size", input_size)
        self.hidden_size = _check_size("hidden_size", hidden_size)
        self.weight_ih = nn.Parameter(torch.empty(4 * hidden_size, input_size))  # [W_ii; W_if; W_ig; W_io]
        self.weight_hh = nn.Parameter(torch.empty(4 * hidden_size, hidden_size))  # [W_hi; W_hf; W_hg; W_ho]
        self.bias_ih = nn.Parameter(torch.empty(4 * hidden_size)) if bias else None
        self.bias_hh = nn.Parameter(torch.empty(4 * hidden_size)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw every weight from $U(-1/\\sqrt{H}, 1/\\sqrt{H})$, as PyTorch does."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def forward(self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        """Compute $(h_t, c_t)$ from $x_t$ and $(h_{t-1}, c_{t-1})$.

        Args:
            input: `(batch, input_size)` inputs $x_t$.
            hx: `(h, c)`, each `(batch, hidden_size)`; zeros when omitted.

        Returns:
            `(h_t, c_t)`, each `(batch, hidden_size)`.

        Raises:
            TypeError: if `input`, `hx` or its members have the wrong type or dtype.
            ValueError: if `input` or a state has the wrong shape.
        """
        x = _check_input("input", input, 2, self.input_size, self.weight_ih.dtype)
        batch = x.shape[0]
        if hx is None:
            zeros = x.new_zeros(batch, self.hidden_size)
            hx = (zeros, zeros)
        if not isinstance(hx, (tuple, list)) or len(hx) != 2:
            raise TypeError(f"hx must be a tuple (h, c) of two tensors, got {type(hx).__name__}")
        h = _check_state("hx[0] (h)", hx[0], batch, self.hidden_size, x.dtype, layer=False)
        c = _check_state("hx[1] (c)", hx[1], batch, self.hidden_size, x.dtype, layer=False)
        ih, hh = x @ self.weight_ih.T, h @ self.weight_hh.T  # (batch, 4H) each: all four gates at once
        if self.bias_ih is not None:
            ih, hh = ih + self.bias_ih, hh + self.bias_hh
        i, f, g, o = (ih + hh).chunk(4, dim=-1)  # each (batch, H), in PyTorch's order
        i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
        c = f * c + i * g  # keep part of the old cell, write part of the candidate
        h = o * torch.tanh(c)  # read part of the cell out
        return h, c

    @classmethod
    def from_torch(cls, reference: nn.LSTMCell) -> LSTMCell:
        """Build a copy of a `torch.nn.LSTMCell` with the same weights.

        Raises:
            TypeError: if `reference` is not a `torch.nn.LSTMCell`.
        """
        _check_reference(reference, nn.LSTMCell)
        cell = cls(reference.input_size, reference.hidden_size, reference.bias).to(reference.weight_ih)
        cell.load_state_dict(reference.state_dict())
        return cell


def _check_layer_reference(reference: nn.RNNBase) -> None:
    if not reference.batch_first:
        raise ValueError("reference must be built with batch_first=True")
    if reference.num_layers != 1 or reference.bidirectional:
        raise ValueError("reference must have num_layers=1 and bidirectional=False")
    if getattr(reference, "proj_size", 0):
        raise ValueError("reference must not use proj_size")


def _cell_state_from_layer(layer: nn.RNNBase, cell: nn.Module) -> None:
    """Copy `weight_ih_l0`, ... of a one-layer `torch.nn.RNN`/`LSTM` into `cell`."""
    with torch.no_grad():
        cell.weight_ih.copy_(layer.weight_ih_l0)
        cell.weight_hh.copy_(layer.weight_hh_l0)
        if layer.bias:
            cell.bias_ih.copy_(layer.bias_ih_l0)
            cell.bias_hh.copy_(layer.bias_hh_l0)


def _check_sequence(input: object, input_size: int, dtype: torch.dtype) -> Tensor:
    x = _check_input("input", input, 3, input_size, dtype)
    if x.shape[1] == 0:
        raise ValueError("input must hold at least one time step, got seq = 0")
    return x


class RNN(nn.Module):
    """A one-layer, batch-first Elman RNN: `RNNCell` applied step by step, like `torch.nn.RNN`.

    $$h_t = \\tanh(W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh}), \\qquad t = 1, \\dots, T$$

    Step $t$ needs $h_{t-1}$, so the loop over time cannot run in parallel: this is the sequential
    bottleneck that attention removed.

    Args:
        input_size: size $d$ of each input vector.
        hidden_size: size $H$ of the hidden state.
        bias: whether to use biases.
        nonlinearity: `"tanh"` or `"relu"`.
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh") -> None:
        super().__init__()
        self.cell = RNNCell(input_size, hidden_size, bias, nonlinearity)
        self.input_size, self.hidden_size = input_size, hidden_size

    def forward(self, input: Tensor, hx: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Run the whole sequence.

        Args:
            input: `(batch, seq, input_size)`.
            hx: `(1, batch, hidden_size)` initial hidden state (the shape `torch.nn.RNN` uses);
                zeros when omitted.

        Returns:
            `(output, h_n)`: every hidden state `(batch, seq, H)` and the last one `(1, batch, H)`.

        Raises:
            TypeError: if `input` or `hx` is not a tensor of the weights' floating dtype.
            ValueError: if `input` is not `(batch, seq, input_size)` with seq >= 1, or `hx` has the wrong shape.
        """
        x = _check_sequence(input, self.input_size, self.cell.weight_ih.dtype)
        batch, seq, _ = x.shape
        if hx is None:
            h = x.new_zeros(batch, self.hidden_size)
        else:
            h = _check_state("hx", hx, batch, self.hidden_size, x.dtype, layer=True)[0]
        outputs = []
        for t in range(seq):  # sequential: step t waits for step t - 1
            h = self.cell(x[:, t], h)  # (batch, H)
            outputs.append(h)
        return torch.stack(outputs, dim=1), h.unsqueeze(0)

    @classmethod
    def from_torch(cls, reference: nn.RNN) -> RNN:
        """Build a copy of a one-layer, batch-first `torch.nn.RNN` with the same weights.

        Raises:
            TypeError: if `reference` is not a `torch.nn.RNN`.
            ValueError: if `reference` is not batch-first, has several layers or is bidirectional.
        """
        _check_reference(reference, nn.RNN)
        _check_layer_reference(reference)
        rnn = cls(reference.input_size, reference.hidden_size, reference.bias, reference.nonlinearity)
        rnn = rnn.to(reference.weight_ih_l0)
        _cell_state_from_layer(reference, rnn.cell)
        return rnn


class LSTM(nn.Module):
    """A one-layer, batch-first LSTM: `LSTMCell` applied step by step, like `torch.nn.LSTM`.

    $$c_t = f_t \\odot c_{t-1} + i_t \\odot g_t, \\qquad h_t = o_t \\odot \\tanh(c_t), \\qquad t = 1, \\dots, T$$

    (Hochreiter and Schmidhuber 1997; gates as in `LSTMCell`.)

    Args:
        input_size: size $d$ of each input vector.
        hidden_size: size $H$ of the hidden state and the cell.
        bias: whether to use biases.
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True) -> None:
        super().__init__()
        self.cell = LSTMCell(input_size, hidden_size, bias)
        self.input_size, self.hidden_size = input_size, hidden_size

    def forward(
        self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """Run the whole sequence.

        Args:
            input: `(batch, seq, input_size)`.
            hx: `(h_0, c_0)`, each `(1, batch, hidden_size)` as in `torch.nn.LSTM`; zeros when omitted.

        Returns:
            `(output, (h_n, c_n))`: every hidden state `(batch, seq, H)`, and the last hidden state
            and cell, each `(1, batch, H)`.

        Raises:
            TypeError: if `input`, `hx` or its members have the wrong type or dtype.
            ValueError: if `input` is not `(batch, seq, input_size)` with seq >= 1, or a state has the wrong shape.
        """
        x = _check_sequence(input, self.input_size, self.cell.weight_ih.dtype)
        batch, seq, _ = x.shape
        if hx is None:
            h = c = x.new_zeros(batch, self.hidden_size)
        else:
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise TypeError(f"hx must be a tuple (h_0, c_0) of two tensors, got {type(hx).__name__}")
            h = _check_state("hx[0] (h_0)", hx[0], batch, self.hidden_size, x.dtype, layer=True)[0]
            c = _check_state("hx[1] (c_0)", hx[1], batch, self.hidden_size, x.dtype, layer=True)[0]
        outputs = []
        for t in range(seq):  # sequential: step t waits for step t - 1
            h, c = self.cell(x[:, t], (h, c))
            outputs.append(h)
        return torch.stack(outputs, dim=1), (h.unsqueeze(0), c.unsqueeze(0))

    @classmethod
    def from_torch(cls, reference: nn.LSTM) -> LSTM:
        """Build a copy of a one-layer, batch-first `torch.nn.LSTM` with the same weights.

        Raises:
            TypeError: if `reference` is not a `torch.nn.LSTM`.
            ValueError: if `reference` is not batch-first, has several layers, is bidirectional or
                uses `proj_size`.
        """
        _check_reference(reference, nn.LSTM)
        _check_layer_reference(reference)
        lstm = cls(reference.input_size, reference.hidden_size, reference.bias).to(reference.weight_ih_l0)
        _cell_state_from_layer(reference, lstm.cell)
        return lstm
