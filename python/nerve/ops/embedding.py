"""ops/embedding.py — embedding (a gather of weight rows) as an autograd Function on
csrc/cpu/embedding.cpp (csrc/cuda/embedding.cuh for cupy arrays).

Backward scatter-adds grad_out into a zeroed weight gradient, deterministically (each row sums its
contributions in index order, on every thread count and on CUDA). padding_idx rows get no gradient;
max_norm renormalises the looked-up rows of weight in place first, as torch.
"""
from __future__ import annotations

import numbers

from ..autograd import Function, no_grad
from ..backend import is_host, kernels, xp


class Embedding(Function):
    @staticmethod
    def forward(ctx, indices, weight, padding_idx, scale_grad_by_freq):
        m = xp(weight)
        w, ix = m.ascontiguousarray(weight), m.ascontiguousarray(indices)
        out = m.empty(ix.shape + (w.shape[1],), w.dtype)
        if is_host(w):
            kernels(w).embedding_forward(out, w, ix)
        else:
            status = m.zeros(1, m.int64)
            kernels(w).embedding_forward(out, w, ix, status)
            bad = int(status[0])  # n - first bad position; reading it syncs, the price of raising on bad input
            if bad:
                pos = ix.size - bad
                raise IndexError(f"[embedding] index {int(ix.ravel()[pos])} at position {pos} is out of range for "
                                 f"{w.shape[0]} embeddings")
        ctx.ix, ctx.wshape, ctx.args = ix, w.shape, (padding_idx, scale_grad_by_freq)
        return out

    @staticmethod
    def backward(ctx, g):
        m = xp(g)
        g = m.ascontiguousarray(g)
        dw = m.zeros(ctx.wshape, g.dtype)  # calloc'd: rows no index touches cost nothing
        if is_host(g):
            kernels(g).embedding_backward(dw, g, ctx.ix, *ctx.args)
        else:
            k = kernels(g)
            work = m.empty(k.embedding_workspace(ctx.ix.size, ctx.wshape[0]), m.int32)
            k.embedding_backward(dw, g, ctx.ix, work, *ctx.args)
        return None, dw, None, None


def _padding_idx(padding_idx, num, op):
    if padding_idx is None:
        return -1
    if isinstance(padding_idx, bool) or not isinstance(padding_idx, numbers.Integral):
        raise TypeError(f"[{op}] padding_idx must be an int or None, got {padding_idx!r}")
    if not -num <= padding_idx < num:
        raise ValueError(f"[{op}] Padding_idx must be within num_embeddings ({num}), got {padding_idx}")
    return int(padding_idx) % num


def _renorm_(weight, indices, max_norm, norm_type, op):
    """torch.embedding_renorm_: rows of weight that indices name, scaled to norm <= max_norm."""
    m = xp(weight._data)
    ix = m.unique(indices._data.ravel())
    V = weight.shape[0]
    if ix.size and (int(ix[0]) < 0 or int(ix[-1]) >= V):
        bad = int(ix[0]) if int(ix[0]) < 0 else int(ix[-1])
        raise IndexError(f"[{op}] index {bad} is out of range for {V} embeddings")
    with no_grad():
        rows = weight._data[ix]
        norms = m.linalg.norm(rows.astype(m.float64), ord=norm_type, axis=1)
        scale = m.where(norms > max_norm, max_norm / (norms + 1e-7), 1.0).astype(rows.dtype)
        weight._data[ix] = rows * scale[:, None]
        weight._vcell()[0] += 1


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0, scale_grad_by_freq=False, sparse=False):
    """torch.nn.functional.embedding: weight[input] for integer input of any shape."""
    op = "embedding"
    if weight.ndim != 2:
        raise ValueError(f"[{op}] expected weight of 2 dimensions (num_embeddings, embedding_dim), got shape "
                         f"{tuple(weight.shape)}")
    if sparse:
        raise NotImplementedError(f"[{op}] sparse gradients are not supported; use sparse=False")
    pad = _padding_idx(padding_idx, weight.shape[0], op)
    if max_norm is not None:
        _renorm_(weight, input, float(max_norm), float(norm_type), op)
    return Embedding.apply(input, weight, pad, bool(scale_grad_by_freq))
