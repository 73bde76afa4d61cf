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
    """forward(q (N,H,L,E), k (N,H,S,E), v (N,H,S,Ev), mask (N,H,L,S) view or None, causal, scale, p, seed)."""

    @staticmethod
    def forward(ctx, q, k, v, mask, causal, scale, p, seed):
        m = xp(q)
        q, k, v = m.ascontiguousarray(q), m.ascontiguousarray(k), m.ascontiguousarray(v)
        N, H, L, _ = q.shape
        out = m.empty((N, H, L, v.shape[3]), q.dtype)
        lse = m.empty((N, H, L), q.dtype)
        kernels(q).attention_forward(out, lse, q, k, v, mask, causal, scale, p, seed, op=OP)
        if ctx.needs_input_grad:
            ctx.save_for_backward(q, k, v, out, lse)
            ctx.mask, ctx.cfg = mask, (causal, scale, p, seed)
        return out

    @staticmethod
    def backward(ctx, g):
        q, k, v, out, lse = ctx.saved_tensors
        m = xp(q)
        mask = ctx.mask
        want_mask = len(ctx.needs_input_grad) > 3 and ctx.needs_input_grad[3]
        dq, dk, dv = m.empty_like(q), m.empty_like(k), m.empty_like(v)
        dmask = m.empty(q.shape[:3] + (k.shape[2],), q.dtype) if want_mask else None
        delta = m.empty(lse.shape, q.dtype)
        kernels(q).attention_backward(dq, dk, dv, dmask, delta, m.ascontiguousarray(g), q, k, v, out, lse, mask,
                                      *ctx.cfg, op=OP)
        return dq, dk, dv, dmask, None, None, None, None


def _heads(m, x, c0, width, heads, batch_first):
    """The (N, heads, L, width // heads) view of columns [c0, c0 + width) of a contiguous (N, L, C)
    (batch_first) or (L, N, C) array: heads read in place, as the kernel's layouts allow."""
    hd = width // heads
    C, it = x.shape[2], x.itemsize
    if batch_first:
        N, L = x.shape[0], x.shape[1]
        strides = (L * C, hd, C, 1)
    else:
        L, N = x.shape[0], x.shape[1]
        strides = (C, hd, N * C, 1)
    return m.lib.stride_tricks.as_strided(x[..., c0:c0 + width], (N, heads, L, hd), tuple(st * it for st in strides))


class _HeadsAttention(Function):
    """Attention over the heads of projected sequences, for MultiheadAttention without copies.

    forward(q, k, v, mask, heads, batch_first, causal, scale, p, seed): q, k, v are (N, L, E) or
    (L, N, E) projections, or, with k and v None, q is the packed (..., 3E) projection of
    self-attention; mask is (N, heads, L, S) or None. Returns (N, L, E) or (L, N, E) in q's layout.
    Backward writes the gradients of the projections through the same head views.
    """

    @staticmethod
    def forward(ctx, q, k, v, mask, heads, batch_first, causal, scale, p, seed):
        m = xp(q)
        packed = k is None
        if packed:
            P = m.ascontiguousarray(q)
            E = P.shape[2] // 3
            arrays, cols = (P,), ((P, 0), (P, E), (P, 2 * E))
        else:
            q, k, v = m.ascontiguousarray(q), m.ascontiguousarray(k), m.ascontiguousarray(v)
            E = q.shape[2]
            arrays, cols = (q, k, v), ((q, 0), (k, 0), (v, 0))
        qh, kh, vh = (_heads(m, x, c0, E, heads, batch_first) for x, c0 in cols)
        out = m.empty(cols[0][0].shape[:2] + (E,), cols[0][0].dtype)
        oh = _heads(m, out, 0, E, heads, batch_first)
        lse = m.empty(qh.shape[:3], out.dtype)
        kernels(out).attention_forward(oh, lse, qh, kh, vh, mask, causal, scale, p, seed, op="MultiheadAttention")
        if ctx.needs_input_grad:
            ctx.save_for_backward(*arrays, out, lse)
            ctx.mask, ctx.cfg = mask, (causal, scale, p, seed)
            ctx.layout = (packed, E, heads, batch_first)
        return out

    @staticmethod
    def backward(ctx, g):
        packed, E, heads, bf = ctx.layout
        *arrays, out, lse = ctx.saved_tensors
        m = xp(out)
        grads = [m.empty_like(a) for a in arrays]
        if packed:
            cols = ((arrays[0], grads[0], 0), (arrays[0], grads[0], E), (arrays[0], grads[0], 2 * E))
        else:
            cols = tuple((a, d, 0) for a, d in zip(arrays, grads))
        views = [(_heads(m, a, c0, E, heads, bf), _heads(m, d, c0, E, heads, bf)) for a, d, c0 in cols]
        (qh, dq), (kh, dk), (vh, dv) = views
        oh = _heads(m, out, 0, E, heads, bf)
        gh = _heads(m, m.ascontiguousarray(g), 0, E, heads, bf)
        mask = ctx.mask
        want_mask = len(ctx.needs_input_grad) > 3 and ctx.needs_input_grad[3]
        dmask = m.empty(qh.shape[:3] + (kh.shape[2],), out.dtype) if want_mask else None
        delta = m.empty(lse.shape, out.dtype)
        kernels(out).attention_backward(dq, dk, dv, dmask, delta, gh, qh, kh, vh, oh, lse, mask, *ctx.cfg,
                                        op="MultiheadAttention")
        if packed:
            return grads[0], None, None, dmask, None, None, None, None, None, None
        return grads[0], grads[1], grads[2], dmask, None, None, None, None, None, None


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
    heads = lead[-1] if lead else 1
    N = int(np.prod(lead[:-1])) if len(lead) > 1 else 1

    def fold(t, rows, feats):
        if tuple(t.shape[:-2]) != lead:
            t = t.expand(*lead, rows, feats)
        return t.reshape(N, heads, rows, feats)

    q4, k4, v4 = fold(query, L, E), fold(key, S, E), fold(value, S, Ev)
    mask = None if attn_mask is None else _fold_mask(attn_mask, lead, L, S, query)
    sc = 1.0 / math.sqrt(E) if scale is None else float(scale)
    p = float(dropout_p)
    seed = kernel_seed() if p > 0 else 0
    out = _Attention.apply(q4, k4, v4, mask, bool(is_causal), sc, p, seed)
    return out.reshape(*lead, L, Ev)


# ---- multi-head attention (torch.nn.functional.multi_head_attention_forward) ----------------------

def _canonical_mask(mask, name, dtype, op):
    """A bool mask (True: masked out) becomes 0 / -inf of `dtype`; a float mask must have `dtype`."""
    if mask is None:
        return None
    if not isinstance(mask, Tensor):
        raise TypeError(f"[{op}] {name} must be a nerve.Tensor, got {type(mask).__name__}")
    kind = mask._data.dtype.kind
    if kind == "b":
        return _bool_to_float(mask, dtype)
    if kind != "f":
        raise TypeError(f"[{op}] only bool and floating types of {name} are supported, got {mask.dtype}")
    if mask.dtype != dtype:
        raise TypeError(f"[{op}] {name} is {mask.dtype} but the query is {dtype}; cast one of them")
    return mask


def _bool_to_float(mask, dtype):
    from .. import creation
    return creation.zeros(*mask.shape, dtype=dtype, device=mask.device).masked_fill(mask, float("-inf"))


def _pad_last(t, n=1):
    """Appends n zero columns on the last dimension (torch's F.pad(t, (0, n)))."""
    from .. import creation
    return creation.cat([t, t.new_zeros(*t.shape[:-1], n)], -1)


def _mha_forward(query, key, value, num_heads, in_proj_weight, in_proj_bias, bias_k, bias_v, add_zero_attn,
                 dropout_p, out_proj_weight, out_proj_bias, training, key_padding_mask, need_weights, attn_mask,
                 q_proj_weight, k_proj_weight, v_proj_weight, average_attn_weights, is_causal, op, batch_first=False):
    """torch's multi_head_attention_forward on (L, N, E) inputs, or (N, L, E) with batch_first (the
    kernel path then works in that layout: no transposes), or unbatched (L, E)."""
    from .. import creation
    from .dropout import dropout
    from .linear import linear
    from .softmax import softmax

    if query.ndim not in (2, 3) or key.ndim != query.ndim or value.ndim != query.ndim:
        raise ValueError(f"[{op}] query, key and value must all be 3-D (batched) or 2-D (unbatched), got shapes "
                         f"{tuple(query.shape)}, {tuple(key.shape)}, {tuple(value.shape)}")
    batched = query.ndim == 3
    bf = batch_first and batched
    sd, bd = (1, 0) if bf else (0, 1)  # sequence and batch dimensions
    self_attn = key is query and value is key
    if not batched:
        query = query.unsqueeze(1)
        key = query if self_attn else key.unsqueeze(1)
        value = key if value is not None and self_attn else value.unsqueeze(1)
        if key_padding_mask is not None:
            if key_padding_mask.ndim != 1:
                raise ValueError(f"[{op}] for unbatched (2-D) query, key_padding_mask must be 1-D, got shape "
                                 f"{tuple(key_padding_mask.shape)}")
            key_padding_mask = key_padding_mask.unsqueeze(0)
    L, N, E = query.shape[sd], query.shape[bd], query.shape[2]
    S = key.shape[sd]
    if key.shape[bd] != N or value.shape[bd] != N:
        raise ValueError(f"[{op}] query, key and value must have the same batch size, got {tuple(query.shape)}, "
                         f"{tuple(key.shape)}, {tuple(value.shape)}")
    if value.shape[sd] != S:
        raise ValueError(f"[{op}] key and value must have the same sequence length, got {S} and {value.shape[sd]}")
    head_dim = E // num_heads
    if head_dim * num_heads != E:
        raise ValueError(f"[{op}] embed_dim {E} not divisible by num_heads {num_heads}")
    if key_padding_mask is not None and tuple(key_padding_mask.shape) != (N, S):
        raise ValueError(f"[{op}] expected key_padding_mask of shape {(N, S)}, got {tuple(key_padding_mask.shape)}")
    key_padding_mask = _canonical_mask(key_padding_mask, "key_padding_mask", query.dtype, op)

    if is_causal and attn_mask is None:
        raise RuntimeError(f"[{op}] Need attn_mask if specifying the is_causal hint. You may use the Transformer "
                           f"module method `generate_square_subsequent_mask` to create this mask.")
    if is_causal and key_padding_mask is None and not need_weights:
        attn_mask = None  # the kernel applies the causal mask itself
    else:
        attn_mask = _canonical_mask(attn_mask, "attn_mask", query.dtype, op)
        if key_padding_mask is not None:
            is_causal = False
    if attn_mask is not None:
        if attn_mask.ndim == 2:
            if tuple(attn_mask.shape) != (L, S):
                raise RuntimeError(f"[{op}] The shape of the 2D attn_mask is {tuple(attn_mask.shape)}, but should be "
                                   f"{(L, S)}.")
            attn_mask = attn_mask.unsqueeze(0)
        elif attn_mask.ndim == 3:
            if tuple(attn_mask.shape) != (N * num_heads, L, S):
                raise RuntimeError(f"[{op}] The shape of the 3D attn_mask is {tuple(attn_mask.shape)}, but should be "
                                   f"{(N * num_heads, L, S)}.")
        else:
            raise RuntimeError(f"[{op}] attn_mask's dimension {attn_mask.ndim} is not supported")

    # input projections: one GEMM for self-attention, as torch's _in_projection_packed
    packed = None
    if in_proj_weight is not None:
        if in_proj_weight.shape[1] != E:
            raise ValueError(f"[{op}] query has {E} features, in_proj_weight expects {in_proj_weight.shape[1]}")
        if self_attn:
            packed = linear(query, in_proj_weight, in_proj_bias)
            q, k, v = packed.chunk(3, -1)
        else:
            w_q, w_kv = in_proj_weight[:E], in_proj_weight[E:]
            b_q = b_kv = None
            if in_proj_bias is not None:
                b_q, b_kv = in_proj_bias[:E], in_proj_bias[E:]
            q = linear(query, w_q, b_q)
            if value is key:
                k, v = linear(key, w_kv, b_kv).chunk(2, -1)
            else:
                k = linear(key, w_kv[:E], None if b_kv is None else b_kv[:E])
                v = linear(value, w_kv[E:], None if b_kv is None else b_kv[E:])
    else:
        b_q = b_k = b_v = None
        if in_proj_bias is not None:
            b_q, b_k, b_v = in_proj_bias[:E], in_proj_bias[E:2 * E], in_proj_bias[2 * E:]
        for name, x, w in (("key", key, k_proj_weight), ("value", value, v_proj_weight)):
            if x.shape[-1] != w.shape[1]:
                raise ValueError(f"[{op}] {name} has {x.shape[-1]} features, expected {w.shape[1]}")
        q, k, v = linear(query, q_proj_weight, b_q), linear(key, k_proj_weight, b_k), linear(value, v_proj_weight, b_v)

    # extra key / value positions, appended along the sequence
    if bias_k is not None and bias_v is not None:
        shape = (N, 1, E) if bf else (1, N, E)
        k = creation.cat([k, bias_k.reshape(1, 1, E).expand(*shape)], sd)
        v = creation.cat([v, bias_v.reshape(1, 1, E).expand(*shape)], sd)
        attn_mask = None if attn_mask is None else _pad_last(attn_mask)
        key_padding_mask = None if key_padding_mask is None else _pad_last(key_padding_mask)
        packed = None
    elif bias_k is not None or bias_v is not None:
        raise ValueError(f"[{op}] bias_k and bias_v must both be given or both be None")
    if add_zero_attn:
        zeros = k.new_zeros(*((N, 1, E) if bf else (1, N, E)))
        k, v = creation.cat([k, zeros], sd), creation.cat([v, zeros], sd)
        attn_mask = None if attn_mask is None else _pad_last(attn_mask)
        key_padding_mask = None if key_padding_mask is None else _pad_last(key_padding_mask)
        packed = None
    S = k.shape[sd]
    if key_padding_mask is not None:
        kpm = key_padding_mask.reshape(N, 1, 1, S).expand(N, num_heads, 1, S).reshape(N * num_heads, 1, S)
        attn_mask = kpm if attn_mask is None else attn_mask + kpm
    if not training:
        dropout_p = 0.0

    if need_weights:  # the weights are returned: computed explicitly, in torch's (N * heads, L, S) layout
        if bf:
            q, k, v = q.transpose(0, 1), k.transpose(0, 1), v.transpose(0, 1)
        if is_causal and attn_mask is None:
            raise RuntimeError(f"[{op}] is_causal needs attn_mask when need_weights=True")
        q = q.reshape(L, N * num_heads, head_dim).transpose(0, 1)
        k = k.reshape(S, N * num_heads, head_dim).transpose(0, 1)
        v = v.reshape(S, N * num_heads, head_dim).transpose(0, 1)
        scores = (q * math.sqrt(1.0 / head_dim)) @ k.transpose(1, 2)
        if attn_mask is not None:
            scores = scores + attn_mask
        weights = softmax(scores, -1)
        if dropout_p > 0.0:
            weights = dropout(weights, dropout_p)
        out = weights @ v                                               # (N * heads, L, head_dim)
        out = out.transpose(0, 1).reshape(L * N, E)
        out = linear(out, out_proj_weight, out_proj_bias).reshape(L, N, E)
        if bf:
            out = out.transpose(0, 1)
        weights = weights.reshape(N, num_heads, L, S)
        if average_attn_weights:
            weights = weights.mean(1)
        if not batched:
            out, weights = out.squeeze(1), weights.squeeze(0)
        return out, weights

    # the fused kernel reads every head in place from the projections and writes (L or N, ., E)
    mask = None
    if attn_mask is not None:
        mask = attn_mask.unsqueeze(0) if attn_mask.shape[0] == 1 else attn_mask.reshape(N, num_heads, -1, S)
        mask = _mask_view(mask, N, num_heads, L, S)
    seed = kernel_seed() if dropout_p > 0 else 0
    args = (mask, num_heads, bf, bool(is_causal), 1.0 / math.sqrt(head_dim), float(dropout_p), seed)
    if packed is not None:
        out = _HeadsAttention.apply(packed, None, None, *args)
    else:
        out = _HeadsAttention.apply(q, k, v, *args)
    out = linear(out, out_proj_weight, out_proj_bias)
    if not batched:
        out = out.squeeze(1)
    return out, None


def _mask_view(mask, N, H, L, S):
    """A (N, H, L, S) broadcast view of a float mask Tensor of shape (N or 1, H or 1, L or 1, S);
    a mask that requires grad is expanded through autograd."""
    if mask.requires_grad:
        return mask.expand(N, H, L, S)
    m = xp(mask._data)
    return m.broadcast_to(mask._data, (N, H, L, S))


def multi_head_attention_forward(query, key, value, embed_dim_to_check, num_heads, in_proj_weight, in_proj_bias,
                                 bias_k, bias_v, add_zero_attn, dropout_p, out_proj_weight, out_proj_bias,
                                 training=True, key_padding_mask=None, need_weights=True, attn_mask=None,
                                 use_separate_proj_weight=False, q_proj_weight=None, k_proj_weight=None,
                                 v_proj_weight=None, static_k=None, static_v=None, average_attn_weights=True,
                                 is_causal=False):
    """torch.nn.functional.multi_head_attention_forward, on (L, N, E) / (S, N, E) inputs (or unbatched)."""
    op = "multi_head_attention_forward"
    if static_k is not None or static_v is not None:
        raise NotImplementedError(f"[{op}] static_k / static_v are not supported")
    if query.shape[-1] != embed_dim_to_check:
        raise ValueError(f"[{op}] was expecting embedding dimension of {embed_dim_to_check}, but got "
                         f"{query.shape[-1]}")
    if use_separate_proj_weight:
        in_proj_weight = None
    return _mha_forward(query, key, value, num_heads, in_proj_weight, in_proj_bias, bias_k, bias_v, add_zero_attn,
                        dropout_p, out_proj_weight, out_proj_bias, training, key_padding_mask, need_weights,
                        attn_mask, q_proj_weight, k_proj_weight, v_proj_weight, average_attn_weights, is_causal, op)
