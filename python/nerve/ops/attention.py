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
                 q_proj_weight, k_proj_weight, v_proj_weight, average_attn_weights, is_causal, op):
    from .. import creation
    from .dropout import dropout
    from .linear import linear
    from .softmax import softmax

    batched = query.ndim == 3
    if query.ndim not in (2, 3) or key.ndim != query.ndim or value.ndim != query.ndim:
        raise ValueError(f"[{op}] query, key and value must all be 3-D (batched) or 2-D (unbatched), got shapes "
                         f"{tuple(query.shape)}, {tuple(key.shape)}, {tuple(value.shape)}")
    if not batched:
        query, key, value = query.unsqueeze(1), key.unsqueeze(1), value.unsqueeze(1)
        if key_padding_mask is not None:
            if key_padding_mask.ndim != 1:
                raise ValueError(f"[{op}] for unbatched (2-D) query, key_padding_mask must be 1-D, got shape "
                                 f"{tuple(key_padding_mask.shape)}")
            key_padding_mask = key_padding_mask.unsqueeze(0)
    L, N, E = query.shape
    S = key.shape[0]
    if key.shape[1] != N or value.shape[1] != N:
        raise ValueError(f"[{op}] query, key and value must have the same batch size, got {tuple(query.shape)}, "
                         f"{tuple(key.shape)}, {tuple(value.shape)}")
    if value.shape[0] != S:
        raise ValueError(f"[{op}] key and value must have the same sequence length, got {S} and {value.shape[0]}")
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

    # input projections: one GEMM for self-attention, as torch's _in_projection_packed
    if in_proj_weight is not None:
        if in_proj_weight.shape[1] != E:
            raise ValueError(f"[{op}] query has {E} features, in_proj_weight expects {in_proj_weight.shape[1]}")
        if key is query and value is key:
            q, k, v = linear(query, in_proj_weight, in_proj_bias).chunk(3, -1)
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

    if bias_k is not None and bias_v is not None:
        k = creation.cat([k, bias_k.expand(1, N, E)], 0)
        v = creation.cat([v, bias_v.expand(1, N, E)], 0)
        attn_mask = None if attn_mask is None else _pad_last(attn_mask)
        key_padding_mask = None if key_padding_mask is None else _pad_last(key_padding_mask)
    elif bias_k is not None or bias_v is not None:
        raise ValueError(f"[{op}] bias_k and bias_v must both be given or both be None")

    # (L, N, E) -> (N * heads, L, head_dim), torch's head layout
    q = q.reshape(L, N * num_heads, head_dim).transpose(0, 1)
    k = k.reshape(k.shape[0], N * num_heads, head_dim).transpose(0, 1)
    v = v.reshape(v.shape[0], N * num_heads, head_dim).transpose(0, 1)
    if add_zero_attn:
        k = creation.cat([k, k.new_zeros(N * num_heads, 1, head_dim)], 1)
        v = creation.cat([v, v.new_zeros(N * num_heads, 1, head_dim)], 1)
        attn_mask = None if attn_mask is None else _pad_last(attn_mask)
        key_padding_mask = None if key_padding_mask is None else _pad_last(key_padding_mask)
    S = k.shape[1]
    if key_padding_mask is not None:
        kpm = key_padding_mask.reshape(N, 1, 1, S).expand(N, num_heads, 1, S).reshape(N * num_heads, 1, S)
        attn_mask = kpm if attn_mask is None else attn_mask + kpm
    if not training:
        dropout_p = 0.0

    if need_weights:
        if is_causal and attn_mask is None:
            raise RuntimeError(f"[{op}] is_causal needs attn_mask when need_weights=True")
        scores = (q * math.sqrt(1.0 / head_dim)) @ k.transpose(1, 2)
        if attn_mask is not None:
            scores = scores + attn_mask
        weights = softmax(scores, -1)
        if dropout_p > 0.0:
            weights = dropout(weights, dropout_p)
        out = weights @ v                                               # (N * heads, L, head_dim)
        out = out.transpose(0, 1).reshape(L * N, E)
        out = linear(out, out_proj_weight, out_proj_bias).reshape(L, N, E)
        weights = weights.reshape(N, num_heads, L, S)
        if average_attn_weights:
            weights = weights.mean(1)
        if not batched:
            out, weights = out.squeeze(1), weights.squeeze(0)
        return out, weights

    if attn_mask is not None:
        attn_mask = attn_mask.unsqueeze(0) if attn_mask.shape[0] == 1 else attn_mask.reshape(N, num_heads, -1, S)
    q = q.reshape(N, num_heads, L, head_dim)
    k = k.reshape(N, num_heads, S, head_dim)
    v = v.reshape(N, num_heads, S, head_dim)
    out = scaled_dot_product_attention(q, k, v, attn_mask, dropout_p, is_causal)  # (N, heads, L, head_dim)
    out = out.permute(2, 0, 1, 3).reshape(L * N, E)
    out = linear(out, out_proj_weight, out_proj_bias).reshape(L, N, E)
    if not batched:
        out = out.squeeze(1)
    return out, None


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
