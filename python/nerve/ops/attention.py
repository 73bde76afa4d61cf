"""ops/attention.py — torch.nn.functional.scaled_dot_product_attention on the fused kernel of
csrc/cpu/attention.cpp (csrc/cuda/attention.cu for device arrays).

The kernel walks blocks of keys with an online softmax, so the (L, S) attention matrix is never
stored; it saves one log-sum-exp per query row and backward recomputes the probabilities from it.
All leading dimensions fold into one batch; a mask broadcasts over them through zero strides (no
copy). Dropout uses a counter-based hash of a seed drawn from nerve's generator per call, so
backward regenerates the same mask. A float mask that requires grad receives its gradient.
"""
from __future__ import annotations

import math

import numpy as np

from ..autograd import Function
from ..backend import kernels, xp
from ..random import kernel_seed
from ..tensor import Tensor

OP = "scaled_dot_product_attention"


class _Attention(Function):
    """forward(q (B,L,E), k (B,S,E), v (B,S,Ev), mask (N,heads,L,S) view or None, causal, scale, p, seed)."""

    @staticmethod
    def forward(ctx, q, k, v, mask, causal, scale, p, seed):
        m = xp(q)
        q, k, v = m.ascontiguousarray(q), m.ascontiguousarray(k), m.ascontiguousarray(v)
        B, L, _ = q.shape
        out = m.empty((B, L, v.shape[2]), q.dtype)
        lse = m.empty((B, L), q.dtype)
        kernels(q).attention_forward(out, lse, q, k, v, mask, causal, scale, p, seed, op=OP)
        if ctx.needs_input_grad:
            ctx.save_for_backward(q, k, v, out, lse)
            ctx.mask, ctx.cfg = mask, (causal, scale, p, seed)
        return out

    @staticmethod
    def backward(ctx, g):
        q, k, v, out, lse = ctx.saved_tensors
        m = xp(q)
        B, L, _ = q.shape
        mask = ctx.mask
        want_mask = len(ctx.needs_input_grad) > 3 and ctx.needs_input_grad[3]
        dq, dk, dv = m.empty_like(q), m.empty_like(k), m.empty_like(v)
        dmask = m.empty((B, L, k.shape[1]), q.dtype) if want_mask else None
        delta = m.empty((B, L), q.dtype)
        kernels(q).attention_backward(dq, dk, dv, dmask, delta, m.ascontiguousarray(g), q, k, v, out, lse, mask,
                                      *ctx.cfg, op=OP)
        if dmask is not None:
            dmask = dmask.reshape(mask.shape)
        return dq, dk, dv, dmask, None, None, None, None


def _fold_mask(mask, lead, L, S, q):
    """attn_mask (bool or float, broadcastable to lead + (L, S)) -> a (N, heads, L, S) view or Tensor."""
    heads = lead[-1] if lead else 1
    N = int(np.prod(lead[:-1])) if len(lead) > 1 else 1
    shape = tuple(lead) + (L, S)
    if not isinstance(mask, Tensor):
        raise TypeError(f"[{OP}] attn_mask must be a nerve.Tensor, got {type(mask).__name__}")
    kind = mask._data.dtype.kind
    if kind not in "bf":
        raise TypeError(f"[{OP}] attn_mask must be bool or float, got {mask.dtype}")
    if kind == "f" and mask._data.dtype != q._data.dtype:
        raise TypeError(f"[{OP}] Expected attn_mask dtype to be bool or to match query dtype, got attn_mask "
                        f"{mask.dtype} and query {q.dtype}")
    try:
        np.broadcast_shapes(tuple(mask.shape), shape)
        if len(mask.shape) > len(shape) or np.broadcast_shapes(tuple(mask.shape), shape) != shape:
            raise ValueError
    except ValueError:
        raise ValueError(f"[{OP}] attn_mask of shape {tuple(mask.shape)} does not broadcast to "
                         f"{shape} (batch..., L, S)") from None
    if kind == "f" and mask.requires_grad:  # differentiable: expand/reshape through autograd
        return mask.expand(*shape).reshape(N, heads, L, S)
    m = xp(mask._data)
    a = m.broadcast_to(mask._data, shape)
    try:
        return m.reshape(a, (N, heads, L, S), copy=False)
    except (ValueError, TypeError):
        return m.ascontiguousarray(a).reshape(N, heads, L, S)


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
                                 enable_gqa=False):
    """torch.nn.functional.scaled_dot_product_attention.

    query (..., L, E), key (..., S, E), value (..., S, Ev) with the same leading dims (broadcast like
    matmul); attn_mask broadcastable to (..., L, S): bool (True takes part) or float (added to the
    scores); is_causal keeps key j <= query i (top-left aligned), and excludes attn_mask, as in torch;
    scale defaults to 1/sqrt(E).
    Dropout (dropout_p > 0) is applied whenever asked, as in torch (pass 0.0 in eval mode).
    Rows with every key masked return zeros. Returns (..., L, Ev).
    """
    for name, t in (("query", query), ("key", key), ("value", value)):
        if not isinstance(t, Tensor):
            raise TypeError(f"[{OP}] {name} must be a nerve.Tensor, got {type(t).__name__}")
        if t.ndim < 2:
            raise ValueError(f"[{OP}] {name} must have at least 2 dimensions (..., seq, features), got shape "
                             f"{tuple(t.shape)}")
        if not t.is_floating_point():
            raise TypeError(f"[{OP}] {name} must be floating point, got {t.dtype}")
    if not (query.dtype == key.dtype == value.dtype):
        raise TypeError(f"[{OP}] Expected query, key, and value to have the same dtype, but got query.dtype: "
                        f"{query.dtype}, key.dtype: {key.dtype}, and value.dtype: {value.dtype} instead.")
    if key.shape[-1] != query.shape[-1]:
        raise ValueError(f"[{OP}] key has {key.shape[-1]} features, query has {query.shape[-1]}")
    if value.shape[-2] != key.shape[-2]:
        raise ValueError(f"[{OP}] value has {value.shape[-2]} positions, key has {key.shape[-2]}")
    if attn_mask is not None and is_causal:
        raise ValueError(f"[{OP}] Explicit attn_mask should not be set when is_causal=True (as in torch)")
    if not 0.0 <= float(dropout_p) <= 1.0:
        raise ValueError(f"[{OP}] dropout_p must be in [0, 1], got {dropout_p}")
    L, E = query.shape[-2], query.shape[-1]
    S, Ev = key.shape[-2], value.shape[-1]
    if enable_gqa and query.ndim >= 3 and key.shape[-3] != query.shape[-3]:
        hq, hk = query.shape[-3], key.shape[-3]
        if hq % hk:
            raise ValueError(f"[{OP}] enable_gqa: {hq} query heads are not a multiple of {hk} key/value heads")
        g = hq // hk

        def repeat(t):
            lead = tuple(t.shape[:-3])
            return t.unsqueeze(-3).expand(*lead, hk, g, *t.shape[-2:]).reshape(*lead, hq, *t.shape[-2:])
        key, value = repeat(key), repeat(value)
    try:
        lead = tuple(np.broadcast_shapes(tuple(query.shape[:-2]), tuple(key.shape[:-2]), tuple(value.shape[:-2])))
    except ValueError:
        raise ValueError(f"[{OP}] query, key and value batch dimensions do not broadcast: {tuple(query.shape)}, "
                         f"{tuple(key.shape)}, {tuple(value.shape)}") from None
    B = int(np.prod(lead)) if lead else 1

    def fold(t, rows, feats):
        if tuple(t.shape[:-2]) != lead:
            t = t.expand(*lead, rows, feats)
        return t.reshape(B, rows, feats)

    q3, k3, v3 = fold(query, L, E), fold(key, S, E), fold(value, S, Ev)
    mask = None if attn_mask is None else _fold_mask(attn_mask, lead, L, S, query)
    sc = 1.0 / math.sqrt(E) if scale is None else float(scale)
    p = float(dropout_p)
    seed = kernel_seed() if p > 0 else 0
    out = _Attention.apply(q3, k3, v3, mask, bool(is_causal), sc, p, seed)
    return out.reshape(*lead, L, Ev)
