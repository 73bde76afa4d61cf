"""ops/rnn.py — one recurrent layer (both directions) as an autograd Function on csrc/cpu/rnn.cpp
(or csrc/cuda/rnn.cu for device arrays).

`rnn_layer(x, h0, c0, weights, mode, ...)` runs one layer of torch's RNN / LSTM / GRU over a
(S, B, I) sequence and returns (y (S, B, D*H), h_n (D, B, H), c_n (D, B, H) or None). Each
direction is one kernel call: the input projections of all steps are one GEMM, then every step is
one GEMM plus one fused gate pass; backward mirrors it and forms the weight gradients as single
GEMMs over all steps. The kernels save what backward needs in a workspace per direction.

`lengths` (B,) makes a padded batch behave like torch's packed sequences: steps t >= lengths[b]
keep the state, output zeros, and a reverse direction starts at each sequence's own end.
"""
from __future__ import annotations

import numpy as np

from .. import _C
from ..autograd import Function
from ..backend import kernels, xp

MODES = ("RNN_TANH", "RNN_RELU", "LSTM", "GRU")
GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _c(m, a):
    return None if a is None else m.ascontiguousarray(a)


class _RNNLayer(Function):
    """forward(x, h0, c0, lengths, cfg, w_ih, w_hh, b_ih, b_hh[, w_ih_reverse, ...]) -> (y, h_n, c_n)."""

    @staticmethod
    def forward(ctx, x, h0, c0, lengths, cfg, *weights):
        mode, D, op = cfg
        m = xp(x)
        k = kernels(x)
        x = m.ascontiguousarray(x)
        S, B, I = x.shape
        H = weights[1].shape[1]
        lstm = mode == "LSTM"
        y = m.empty((S, B, D * H), x.dtype)
        hn = m.empty((D, B, H), x.dtype)
        cn = m.empty((D, B, H), x.dtype) if lstm else None
        h0, c0 = _c(m, h0), _c(m, c0)
        w = [_c(m, a) for a in weights]
        size = _C.cpu.rnn_workspace_size(mode, S, B, I, H)  # the same layout on every device
        ws = []
        for d in range(D):
            wi, wh, bi, bh = w[4 * d:4 * d + 4]
            buf = m.empty(size, x.dtype)
            k.rnn_forward(y[:, :, d * H:(d + 1) * H], hn[d], cn[d] if lstm else None, buf, x, wi, wh, bi, bh,
                          None if h0 is None else h0[d], None if c0 is None else c0[d], lengths, mode, d == 1,
                          op=op)
            ws.append(buf)
        if ctx.needs_input_grad:
            ctx.save_for_backward(x, h0, c0, *w)
            ctx.ws, ctx.lengths, ctx.cfg = ws, lengths, cfg
        return y, hn, cn

    @staticmethod
    def backward(ctx, gy, ghn, gcn):
        x, h0, c0, *w = ctx.saved_tensors
        mode, D, op = ctx.cfg
        lstm = mode == "LSTM"
        m = xp(x)
        k = kernels(x)
        S, B, I = x.shape
        H = w[1].shape[1]
        gy, ghn, gcn = _c(m, gy), _c(m, ghn), _c(m, gcn)
        dx = m.empty_like(x)
        dh0 = m.empty((D, B, H), x.dtype) if h0 is not None else None
        dc0 = m.empty((D, B, H), x.dtype) if c0 is not None else None
        scratch = m.empty(_C.cpu.rnn_scratch_size(mode, S, B, I, H), x.dtype)
        dw = []
        for d in range(D):
            wi, wh, bi, bh = w[4 * d:4 * d + 4]
            g = [m.empty_like(wi), m.empty_like(wh), None if bi is None else m.empty_like(bi),
                 None if bh is None else m.empty_like(bh)]
            k.rnn_backward(dx, g[0], g[1], g[2], g[3], None if dh0 is None else dh0[d],
                           None if dc0 is None else dc0[d], scratch,
                           None if gy is None else gy[:, :, d * H:(d + 1) * H],
                           None if ghn is None else ghn[d], None if gcn is None or not lstm else gcn[d],
                           ctx.ws[d], x, wi, wh, bi, bh, None if h0 is None else h0[d],
                           None if c0 is None else c0[d], ctx.lengths, mode, d == 1, d == 1, op=op)
            dw += g
        return (dx, dh0, dc0, None, None, *dw)


def rnn_layer(x, h0, c0, weights, mode, bidirectional=False, lengths=None, op="rnn"):
    """One layer of torch's RNN / LSTM / GRU over x (S, B, I); weights: [w_ih, w_hh, b_ih, b_hh] per direction.

    h0, c0: (D, B, H) Tensors or None (zeros); c0 only for LSTM. lengths: None or an int64 array (B,)
    on the input's device. Returns (y (S, B, D*H), h_n (D, B, H), c_n (D, B, H) or None).
    """
    if mode not in MODES:
        raise ValueError(f"[{op}] mode must be one of {MODES}, got {mode!r}")
    D = 2 if bidirectional else 1
    if len(weights) != 4 * D:
        raise ValueError(f"[{op}] expected {4 * D} weights (w_ih, w_hh, b_ih, b_hh per direction), got {len(weights)}")
    y, hn, cn = _RNNLayer.apply(x, h0, c0, lengths, (mode, D, op), *weights)
    return y, hn, cn


def as_lengths(lengths, batch, steps, like, op):
    """lengths (a sequence, ndarray or Tensor of B ints) -> an int64 array on like's device, checked."""
    from ..tensor import Tensor
    arr = lengths._data if isinstance(lengths, Tensor) else lengths
    host = np.asarray(arr.get() if hasattr(arr, "get") else arr)
    if host.ndim != 1 or host.shape[0] != batch:
        raise ValueError(f"[{op}] lengths must hold one length per sequence ({batch}), got shape {host.shape}")
    if host.size and (host.dtype.kind not in "iu" or host.min() < 0 or host.max() > steps):
        raise ValueError(f"[{op}] lengths must be integers in [0, {steps}] (the padded length), got {host.tolist()}")
    host = host.astype(np.int64)
    m = xp(like)
    return host if m is np else m.asarray(host)
