"""rnn.py — recurrent layers shaped like torch.nn: RNN, LSTM, GRU, RNNCell, LSTMCell, GRUCell, and
torch.nn.utils.rnn's helpers for variable-length batches (PackedSequence, pack_padded_sequence,
pad_packed_sequence, pad_sequence, pack_sequence).

Parameter names, shapes, gate order (LSTM i, f, g, o; GRU r, z, n) and initialisation
(U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))) are PyTorch's, so torch state dicts load as they are.
Every layer and direction runs as one call of the fused kernels in csrc/cpu/rnn.cpp (ops/rnn.py).

Variable lengths, two ways: `pack_padded_sequence(x, lengths)` gives a PackedSequence that the layers
accept and return (then `pad_packed_sequence`), as in torch; or pass `lengths=` to forward with a
padded batch. Either way steps past a sequence's length leave its state alone and output zeros,
h_n holds each sequence's state at its own last step, and the reverse direction starts there.
nerve's PackedSequence keeps the padded batch and its lengths (the kernels walk padded memory);
`.data` and `.batch_sizes` give torch's packed layout when asked for.
"""
from __future__ import annotations

import math
import warnings
from typing import List, Optional

import numpy as np

from .. import creation
from ..ops.rnn import GATES, as_lengths, rnn_layer
from ..tensor import Tensor
from . import init
from .module import Module
from .parameter import Parameter


# ---- variable-length batches (torch.nn.utils.rnn) -----------------------------------------------

class PackedSequence:
    """A padded batch plus the length of each sequence (what torch's PackedSequence stands for).

    Attributes: `padded` (T, B, *) time-major Tensor, `lengths` (B,) int64 numpy array in batch order,
    `sorted_indices` / `unsorted_indices` (None unless packed with enforce_sorted=False, as in torch).
    `data` and `batch_sizes` compute torch's packed layout (sequences by decreasing length).
    """

    def __init__(self, padded, lengths, sorted_indices=None, unsorted_indices=None):
        self.padded, self.lengths = padded, np.asarray(lengths, np.int64)
        self.sorted_indices, self.unsorted_indices = sorted_indices, unsorted_indices

    @property
    def batch_sizes(self):
        steps = int(self.lengths.max()) if self.lengths.size else 0
        return creation.tensor([int((self.lengths > t).sum()) for t in range(steps)], dtype="int64")

    @property
    def data(self):
        from ..creation import cat
        order = np.argsort(-self.lengths, kind="stable")
        steps = int(self.lengths.max()) if self.lengths.size else 0
        rows = [self.padded[t][creation.tensor(order[:int((self.lengths > t).sum())])] for t in range(steps)]
        return cat(rows, 0)

    def _with(self, padded):
        return PackedSequence(padded, self.lengths, self.sorted_indices, self.unsorted_indices)

    def __repr__(self):
        return f"PackedSequence(padded shape={tuple(self.padded.shape)}, lengths={self.lengths.tolist()})"


def pack_padded_sequence(input, lengths, batch_first: bool = False, enforce_sorted: bool = True) -> PackedSequence:
    """torch.nn.utils.rnn.pack_padded_sequence: input (T, B, *) or (B, T, *) padded; lengths (B,)."""
    arr = lengths._data if isinstance(lengths, Tensor) else lengths
    lens = np.asarray(arr.get() if hasattr(arr, "get") else arr).astype(np.int64).reshape(-1)
    x = input.transpose(0, 1) if batch_first else input
    if lens.shape[0] != x.shape[1]:
        raise ValueError(f"[pack_padded_sequence] expected {x.shape[1]} lengths (one per sequence), got {lens.shape[0]}")
    if lens.size and lens.min() <= 0:
        raise RuntimeError("[pack_padded_sequence] Length of all samples has to be greater than 0, but found an "
                           "element in 'lengths' that is <= 0")
    if lens.size and lens.max() > x.shape[0]:
        raise ValueError(f"[pack_padded_sequence] a length ({lens.max()}) exceeds the padded length {x.shape[0]}")
    sorted_idx = unsorted_idx = None
    if enforce_sorted:
        if np.any(np.diff(lens) > 0):
            raise RuntimeError("[pack_padded_sequence] `lengths` array must be sorted in decreasing order when "
                               "`enforce_sorted` is True. You can pass `enforce_sorted=False` to "
                               "pack_padded_sequence and/or pack_sequence to sidestep this requirement if you do "
                               "not need ONNX exportability.")
    else:
        order = np.argsort(-lens, kind="stable")
        sorted_idx = creation.tensor(order, dtype="int64")
        unsorted_idx = creation.tensor(np.argsort(order, kind="stable"), dtype="int64")
    return PackedSequence(x, lens, sorted_idx, unsorted_idx)


def pad_packed_sequence(sequence: PackedSequence, batch_first: bool = False, padding_value: float = 0.0,
                        total_length: Optional[int] = None):
    """torch.nn.utils.rnn.pad_packed_sequence: (padded (T, B, *) or (B, T, *), lengths int64 Tensor)."""
    lens = sequence.lengths
    steps = int(lens.max()) if lens.size else 0
    if total_length is not None:
        if total_length < steps:
            raise ValueError(f"[pad_packed_sequence] Expected total_length to be at least the length of the "
                             f"longest sequence in input, but got total_length={total_length} and max sequence "
                             f"length being {steps}")
        steps = total_length
    x = sequence.padded
    if steps <= x.shape[0]:
        x = x[:steps]
    else:
        x = creation.cat([x, x.new_zeros(steps - x.shape[0], *x.shape[1:])], 0)
    mask = np.arange(steps)[:, None] >= lens[None, :]          # (T, B): padding positions
    if padding_value != 0.0 or mask.any():
        m = creation.tensor(mask.reshape(mask.shape + (1,) * (x.ndim - 2)))
        x = x.masked_fill(m, padding_value)
    if batch_first:
        x = x.transpose(0, 1)
    return x, creation.tensor(lens, dtype="int64")


def pad_sequence(sequences, batch_first: bool = False, padding_value: float = 0.0, padding_side: str = "right"):
    """torch.nn.utils.rnn.pad_sequence: a list of (L_i, *) Tensors -> (T, B, *) or (B, T, *)."""
    if padding_side not in ("left", "right"):
        raise ValueError(f"[pad_sequence] padding_side must be 'left' or 'right', got {padding_side!r}")
    if not sequences:
        raise ValueError("[pad_sequence] received an empty list of sequences")
    steps = max(s.shape[0] for s in sequences)
    rows = []
    for s in sequences:
        pad = steps - s.shape[0]
        if pad:
            fill = s.new_full((pad,) + tuple(s.shape[1:]), padding_value)
            s = creation.cat([s, fill] if padding_side == "right" else [fill, s], 0)
        rows.append(s)
    return creation.stack(rows, 0 if batch_first else 1)


def pack_sequence(sequences, enforce_sorted: bool = True) -> PackedSequence:
    """torch.nn.utils.rnn.pack_sequence: a list of (L_i, *) Tensors -> PackedSequence."""
    return pack_padded_sequence(pad_sequence(sequences), [s.shape[0] for s in sequences],
                                enforce_sorted=enforce_sorted)


# ---- multi-layer recurrent networks --------------------------------------------------------------

class RNNBase(Module):
    """Shared by RNN, LSTM and GRU (torch.nn.RNNBase): parameters, checks and the layer loop."""

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, proj_size: int = 0,
                 device=None, dtype=None):
        super().__init__()
        name = {"RNN_TANH": "RNN", "RNN_RELU": "RNN"}.get(mode, mode)
        if not isinstance(dropout, (int, float)) or isinstance(dropout, bool) or not 0 <= dropout <= 1:
            raise ValueError(f"[{name}] dropout should be a number in range [0, 1] representing the probability "
                             f"of an element being zeroed, got {dropout!r}")
        if not isinstance(hidden_size, int) or hidden_size <= 0:
            raise ValueError(f"[{name}] hidden_size must be a positive integer, got {hidden_size!r}")
        if not isinstance(num_layers, int) or num_layers <= 0:
            raise ValueError(f"[{name}] num_layers must be a positive integer, got {num_layers!r}")
        if not isinstance(input_size, int) or input_size < 0:
            raise ValueError(f"[{name}] input_size must be a non-negative integer, got {input_size!r}")
        if proj_size:
            raise ValueError(f"[{name}] proj_size (LSTM projections) is not supported by nerve")
        if dropout > 0 and num_layers == 1:
            warnings.warn(f"dropout option adds dropout after all but last recurrent layer, so non-zero dropout "
                          f"expects num_layers greater than 1, but got dropout={dropout} and num_layers={num_layers}")
        self.mode, self._name = mode, name
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, float(dropout)
        self.bidirectional, self.proj_size = bidirectional, 0
        D = 2 if bidirectional else 1
        gate = GATES[mode] * hidden_size
        self._flat_weights_names: List[str] = []
        for layer in range(num_layers):
            layer_in = input_size if layer == 0 else hidden_size * D
            for d in range(D):
                sfx = f"_l{layer}" + ("_reverse" if d == 1 else "")
                shapes = [("weight_ih", (gate, layer_in)), ("weight_hh", (gate, hidden_size))]
                if bias:
                    shapes += [("bias_ih", (gate,)), ("bias_hh", (gate,))]
                for pname, shape in shapes:
                    setattr(self, pname + sfx, Parameter(creation.empty(*shape, dtype=dtype, device=device)))
                    self._flat_weights_names.append(pname + sfx)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for w in self.parameters():
            init.uniform_(w, -stdv, stdv)

    @property
    def all_weights(self):
        return [[getattr(self, n) for n in self._layer_names(layer, d)] for layer in range(self.num_layers)
                for d in range(2 if self.bidirectional else 1)]

    def _layer_names(self, layer, d):
        sfx = f"_l{layer}" + ("_reverse" if d == 1 else "")
        names = ["weight_ih" + sfx, "weight_hh" + sfx]
        return names + (["bias_ih" + sfx, "bias_hh" + sfx] if self.bias else [])

    def _layer_weights(self, layer):
        out = []
        for d in range(2 if self.bidirectional else 1):
            sfx = f"_l{layer}" + ("_reverse" if d == 1 else "")
            out += [getattr(self, "weight_ih" + sfx), getattr(self, "weight_hh" + sfx)]
            out += [getattr(self, "bias_ih" + sfx), getattr(self, "bias_hh" + sfx)] if self.bias else [None, None]
        return out

    def _check_hidden(self, h, expected, what):
        if tuple(h.shape) != expected:
            raise ValueError(f"[{self._name}] Expected {what} size {expected}, got {tuple(h.shape)}")

    def forward(self, input, hx=None, lengths=None):
        """input (L, N, H_in) (batch_first: (N, L, H_in)), unbatched (L, H_in), or a PackedSequence.

        hx: h_0 (num_layers * D, N, H) (LSTM: a tuple (h_0, c_0)); None means zeros. lengths: optional
        (N,) ints for a padded batch (see the module docstring). Returns (output, h_n) — LSTM:
        (output, (h_n, c_n)) — with output a PackedSequence when the input was one.
        """
        name, lstm = self._name, self.mode == "LSTM"
        packed = isinstance(input, PackedSequence)
        if packed:
            if lengths is not None:
                raise ValueError(f"[{name}] pass lengths either through a PackedSequence or as lengths=, not both")
            x, lens_host, batch_first = input.padded, input.lengths, False
        else:
            if not isinstance(input, Tensor):
                raise TypeError(f"[{name}] input must be a nerve.Tensor or PackedSequence, got {type(input).__name__}")
            x, lens_host, batch_first = input, lengths, self.batch_first
        if x.ndim not in (2, 3):
            raise ValueError(f"[{name}] Expected input to be 2D (unbatched) or 3D, got {x.ndim}D instead "
                             f"(shape {tuple(x.shape)})")
        batched = x.ndim == 3
        if not batched and packed:
            raise ValueError(f"[{name}] a PackedSequence must hold a 3-D batch")
        if x.shape[-1] != self.input_size:
            raise ValueError(f"[{name}] input.size(-1) must be equal to input_size. Expected {self.input_size}, "
                             f"got {x.shape[-1]}")
        if x.dtype != self.weight_ih_l0.dtype:
            raise TypeError(f"[{name}] input is {x.dtype} but the weights are {self.weight_ih_l0.dtype}; cast one")
        if not batched:
            x = x.unsqueeze(1)
        elif batch_first:
            x = x.transpose(0, 1)
        S, B = x.shape[0], x.shape[1]
        D = 2 if self.bidirectional else 1
        expected = (self.num_layers * D, B, self.hidden_size) if batched else (self.num_layers * D, self.hidden_size)
        h0 = c0 = None
        if hx is not None:
            if lstm:
                if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                    raise ValueError(f"[{name}] hx must be a tuple (h_0, c_0) for LSTM, got {type(hx).__name__}")
                h0, c0 = hx
                self._check_hidden(h0, expected, "hidden")
                self._check_hidden(c0, expected, "cell")
            else:
                if isinstance(hx, (tuple, list)):
                    raise ValueError(f"[{name}] hx must be a Tensor, got a {type(hx).__name__}")
                h0 = hx
                self._check_hidden(h0, expected, "hidden")
            if not batched:
                h0 = h0.unsqueeze(1)
                c0 = c0.unsqueeze(1) if c0 is not None else None
        lens = None if lens_host is None else as_lengths(lens_host, B, S, x._data, name)
        if lens is not None and packed is False and not batched:
            raise ValueError(f"[{name}] lengths need a batched (3-D) input")

        hs, cs = [], []
        layer_in = x
        for layer in range(self.num_layers):
            sl = slice(layer * D, (layer + 1) * D)
            y, hn, cn = rnn_layer(layer_in, None if h0 is None else h0[sl], None if c0 is None else c0[sl],
                                  self._layer_weights(layer), self.mode, self.bidirectional, lens, op=name)
            hs.append(hn)
            cs.append(cn)
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                from . import functional as F
                y = F.dropout(y, self.dropout, training=True)
            layer_in = y
        h_n = hs[0] if len(hs) == 1 else creation.cat(hs, 0)
        c_n = (cs[0] if len(cs) == 1 else creation.cat(cs, 0)) if lstm else None
        out = layer_in
        if packed:
            out = input._with(out)
        elif not batched:
            out = out.squeeze(1)
            h_n = h_n.squeeze(1)
            c_n = c_n.squeeze(1) if lstm else None
        elif batch_first:
            out = out.transpose(0, 1)
        return (out, (h_n, c_n)) if lstm else (out, h_n)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.mode == "RNN_RELU":
            s += ", nonlinearity='relu'"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        return s


class RNN(RNNBase):
    """Elman RNN, h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh) (or relu) (torch.nn.RNN).

    Args: input_size, hidden_size, num_layers=1, nonlinearity='tanh', bias=True, batch_first=False,
    dropout=0.0, bidirectional=False. Shape: see RNNBase.forward.

    Example::

        >>> import nerve
        >>> out, h = nerve.nn.RNN(10, 20, 2)(nerve.randn(5, 3, 10))
        >>> tuple(out.shape), tuple(h.shape)
        ((5, 3, 20), (2, 3, 20))
    """

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"[RNN] Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'.")
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", input_size, hidden_size, num_layers,
                         bias, batch_first, dropout, bidirectional, device=device, dtype=dtype)
        self.nonlinearity = nonlinearity


class LSTM(RNNBase):
    """Long short-term memory (torch.nn.LSTM): gates i, f, g, o; c' = f c + i g, h' = o tanh(c').

    Args: input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
    bidirectional=False. forward(input, (h_0, c_0)=None) -> output, (h_n, c_n).

    Example::

        >>> import nerve
        >>> lstm = nerve.nn.LSTM(10, 20, 2, batch_first=True, bidirectional=True)
        >>> out, (h, c) = lstm(nerve.randn(3, 5, 10))
        >>> tuple(out.shape), tuple(h.shape)
        ((3, 5, 40), (4, 3, 20))
    """

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, proj_size=0, device=None, dtype=None):
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         proj_size, device, dtype)


class GRU(RNNBase):
    """Gated recurrent unit (torch.nn.GRU): gates r, z, n; h' = (1 - z) n + z h.

    Args: input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
    bidirectional=False. forward(input, h_0=None) -> output, h_n.

    Example::

        >>> import nerve
        >>> out, h = nerve.nn.GRU(8, 16)(nerve.randn(7, 2, 8))
        >>> tuple(out.shape), tuple(h.shape)
        ((7, 2, 16), (1, 2, 16))
    """

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, device=None, dtype=None):
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         device=device, dtype=dtype)


# ---- single cells --------------------------------------------------------------------------------

class RNNCellBase(Module):
    """Shared by RNNCell, LSTMCell and GRUCell: weight_ih, weight_hh, bias_ih, bias_hh; one time step."""

    def __init__(self, mode: str, name: str, input_size: int, hidden_size: int, bias: bool = True, device=None,
                 dtype=None):
        super().__init__()
        if not isinstance(hidden_size, int) or hidden_size <= 0:
            raise ValueError(f"[{name}] hidden_size must be a positive integer, got {hidden_size!r}")
        self.mode, self._name = mode, name
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        gate = GATES[mode] * hidden_size
        self.weight_ih = Parameter(creation.empty(gate, input_size, dtype=dtype, device=device))
        self.weight_hh = Parameter(creation.empty(gate, hidden_size, dtype=dtype, device=device))
        if bias:
            self.bias_ih = Parameter(creation.empty(gate, dtype=dtype, device=device))
            self.bias_hh = Parameter(creation.empty(gate, dtype=dtype, device=device))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for w in self.parameters():
            init.uniform_(w, -stdv, stdv)

    def _step(self, input, hx):
        name = self._name
        if not isinstance(input, Tensor) or input.ndim not in (1, 2):
            raise ValueError(f"[{name}] Expected input to be 1D or 2D, got "
                             f"{input.ndim if isinstance(input, Tensor) else type(input).__name__}D instead")
        if input.shape[-1] != self.input_size:
            raise ValueError(f"[{name}] input has {input.shape[-1]} features (shape {tuple(input.shape)}), "
                             f"expected input_size {self.input_size}")
        batched = input.ndim == 2
        x = input if batched else input.unsqueeze(0)
        expected = (x.shape[0], self.hidden_size) if batched else (self.hidden_size,)
        states = [] if hx is None else (list(hx) if isinstance(hx, (tuple, list)) else [hx])
        if self.mode == "LSTM" and hx is not None and len(states) != 2:
            raise ValueError(f"[{name}] hx must be a tuple (h_0, c_0)")
        for s, what in zip(states, ("hidden", "cell")):
            if tuple(s.shape) != expected:
                raise ValueError(f"[{name}] Expected {what} state of shape {expected}, got {tuple(s.shape)}")
        states = [(s if batched else s.unsqueeze(0)).unsqueeze(0) for s in states]
        h0 = states[0] if states else None
        c0 = states[1] if len(states) > 1 else None
        _, hn, cn = rnn_layer(x.unsqueeze(0), h0, c0, [self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh],
                              self.mode, op=name)
        hn = hn[0] if batched else hn[0, 0]
        if self.mode != "LSTM":
            return hn
        return hn, (cn[0] if batched else cn[0, 0])

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if not self.bias:
            s += ", bias=False"
        if self.mode == "RNN_RELU":
            s += ", nonlinearity='relu'"
        return s


class RNNCell(RNNCellBase):
    """One Elman step, h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh) (torch.nn.RNNCell).

    Example::

        >>> import nerve
        >>> tuple(nerve.nn.RNNCell(10, 20)(nerve.randn(3, 10)).shape)
        (3, 20)
    """

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"[RNNCell] Unknown nonlinearity: {nonlinearity}")
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", "RNNCell", input_size, hidden_size,
                         bias, device, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        return self._step(input, hx)


class LSTMCell(RNNCellBase):
    """One LSTM step (torch.nn.LSTMCell): forward(input, (h, c)=None) -> (h', c').

    Example::

        >>> import nerve
        >>> h, c = nerve.nn.LSTMCell(10, 20)(nerve.randn(3, 10))
        >>> tuple(h.shape), tuple(c.shape)
        ((3, 20), (3, 20))
    """

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__("LSTM", "LSTMCell", input_size, hidden_size, bias, device, dtype)

    def forward(self, input, hx=None):
        return self._step(input, hx)


class GRUCell(RNNCellBase):
    """One GRU step (torch.nn.GRUCell): forward(input, h=None) -> h'.

    Example::

        >>> import nerve
        >>> tuple(nerve.nn.GRUCell(10, 20)(nerve.randn(3, 10)).shape)
        (3, 20)
    """

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__("GRU", "GRUCell", input_size, hidden_size, bias, device, dtype)

    def forward(self, input, hx=None):
        return self._step(input, hx)
