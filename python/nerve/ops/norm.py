"""ops/norm.py — batch_norm, layer_norm (and group_norm on top of it) as autograd Functions on
csrc/cpu/norm.cpp (csrc/cuda/norm.cuh for cupy arrays).

Each op is one fused forward kernel (statistics, normalisation, affine; batch_norm also updates
the running statistics in place) and one fused backward kernel giving the input, weight and bias
gradients together. Forward saves the per-channel (or per-row) mean and 1/std the kernel used.
"""
from __future__ import annotations

import math
import numbers

from ..autograd import Function
from ..backend import is_host, kernels, xp


def _contig(a):
    return None if a is None else xp(a).ascontiguousarray(a)


def _bn_workspace(k, x):
    """float32 scratch for the CUDA batch_norm kernels (partial statistics per channel and split)."""
    m = xp(x)
    return m.empty(k.batch_norm_workspace(x.shape[0], x.shape[1], math.prod(x.shape[2:])), m.float32)


def _needs(ctx, i):
    return bool(ctx.needs_input_grad and ctx.needs_input_grad[i])


class BatchNorm(Function):
    @staticmethod
    def forward(ctx, x, running_mean, running_var, weight, bias, training, momentum, eps):
        m = xp(x)
        x, weight, bias = m.ascontiguousarray(x), _contig(weight), _contig(bias)
        C = x.shape[1]
        y = m.empty_like(x)
        mean, invstd = m.empty(C, m.float64), m.empty(C, m.float64)  # float64 whatever x is (norm.h)
        k = kernels(x)
        args = (y, mean, invstd, running_mean, running_var, x, weight, bias, training, momentum, eps)
        if is_host(x):
            k.batch_norm_forward(*args)
        else:
            k.batch_norm_forward(*args, _bn_workspace(k, x))
        ctx.save_for_backward(x, weight)
        ctx.stats, ctx.training, ctx.has_bias = (mean, invstd), training, bias is not None
        return y

    @staticmethod
    def backward(ctx, g):
        x, weight = ctx.saved_tensors
        m = xp(g)
        g = m.ascontiguousarray(g)
        C = x.shape[1]
        dx = m.empty_like(x) if _needs(ctx, 0) else None
        dw = m.empty(C, x.dtype) if weight is not None and _needs(ctx, 3) else None
        db = m.empty(C, x.dtype) if ctx.has_bias and _needs(ctx, 4) else None
        k = kernels(g)
        args = (dx, dw, db, g, x, *ctx.stats, weight, ctx.training)
        if is_host(g):
            k.batch_norm_backward(*args)
        else:
            k.batch_norm_backward(*args, _bn_workspace(k, x))
        return dx, None, None, dw, db, None, None, None


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-05):
    """torch.nn.functional.batch_norm over input (N, C, *): per-channel statistics over N and *.

    training: normalise with the batch's mean and biased variance, and update running_mean /
    running_var in place (unbiased variance, r = (1 - momentum) r + momentum stat); otherwise
    normalise with the running statistics.
    """
    op = "batch_norm"
    if input.ndim < 2:
        raise ValueError(f"[{op}] expected input with at least 2 dimensions (N, C, ...), got shape {tuple(input.shape)}")
    if training:
        n = input.shape[0] * math.prod(input.shape[2:])
        if n == 1:
            raise ValueError(f"[{op}] Expected more than 1 value per channel when training, got input size "
                             f"{tuple(input.shape)}")
    elif running_mean is None or running_var is None:
        raise RuntimeError(f"[{op}] running_mean and running_var must be defined in evaluation mode")
    if not isinstance(momentum, numbers.Real):
        raise TypeError(f"[{op}] momentum must be a number, got {type(momentum).__name__}")
    y = BatchNorm.apply(input, running_mean, running_var, weight, bias, bool(training), float(momentum), float(eps))
    if training:
        for r in (running_mean, running_var):
            if r is not None:
                r._vcell()[0] += 1  # updated in place by the kernel
    return y


class LayerNorm(Function):
    @staticmethod
    def forward(ctx, x, weight, bias, nd, eps):
        m = xp(x)
        x, weight, bias = m.ascontiguousarray(x), _contig(weight), _contig(bias)
        rows = math.prod(x.shape[:x.ndim - nd])
        y = m.empty_like(x)
        mean, rstd = m.empty(rows, m.float64), m.empty(rows, m.float64)
        kernels(x).layer_norm_forward(y, mean, rstd, x, weight, bias, nd, eps)
        ctx.save_for_backward(x, weight)
        ctx.stats, ctx.nd, ctx.bias_shape = (mean, rstd), nd, None if bias is None else bias.shape
        return y

    @staticmethod
    def backward(ctx, g):
        x, weight = ctx.saved_tensors
        m = xp(g)
        g = m.ascontiguousarray(g)
        dx = m.empty_like(x) if _needs(ctx, 0) else None
        dw = m.empty(weight.shape, x.dtype) if weight is not None and _needs(ctx, 1) else None
        db = m.empty(ctx.bias_shape, x.dtype) if ctx.bias_shape is not None and _needs(ctx, 2) else None
        k = kernels(g)
        args = (dx, dw, db, g, x, *ctx.stats, weight, ctx.nd)
        if is_host(g):
            k.layer_norm_backward(*args)
        else:
            D = math.prod(x.shape[x.ndim - ctx.nd:])
            k.layer_norm_backward(*args, m.empty(k.layer_norm_workspace(x.size // max(D, 1), D), m.float32))
        return dx, dw, db, None, None


def _shape_tuple(shape, op):
    if isinstance(shape, numbers.Integral) and not isinstance(shape, bool):
        return (int(shape),)
    try:
        return tuple(int(s) for s in shape)
    except TypeError:
        raise TypeError(f"[{op}] normalized_shape must be an int or a sequence of ints, got {shape!r}") from None


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-05):
    """torch.nn.functional.layer_norm: normalises over the trailing dims given by normalized_shape."""
    op = "layer_norm"
    ns = _shape_tuple(normalized_shape, op)
    k = len(ns)
    if k == 0 or input.ndim < k or tuple(input.shape[input.ndim - k:]) != ns:
        raise RuntimeError(f"[{op}] Given normalized_shape={list(ns)}, expected input with shape [*, "
                           f"{', '.join(map(str, ns))}], but got input of size{list(input.shape)}")
    for name, p in (("weight", weight), ("bias", bias)):
        if p is not None and tuple(p.shape) != ns:
            raise RuntimeError(f"[{op}] Expected {name} to be of same shape as normalized_shape, but got {name} of "
                               f"shape {list(p.shape)} and normalized_shape = {list(ns)}")
    return LayerNorm.apply(input, weight, bias, k, float(eps))


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-05):
    """torch.nn.functional.group_norm: layer_norm over each group of C / num_groups channels (one row
    per (sample, group)), then the per-channel affine."""
    op = "group_norm"
    if input.ndim < 2:
        raise ValueError(f"[{op}] expected input with at least 2 dimensions (N, C, ...), got shape {tuple(input.shape)}")
    N, C = input.shape[0], input.shape[1]
    if num_groups < 1 or C % num_groups:
        raise ValueError(f"[{op}] Expected number of channels in input to be divisible by num_groups, but got input "
                         f"of shape {list(input.shape)} and num_groups={num_groups}")
    rest = tuple(input.shape[2:])
    y = layer_norm(input.reshape(N, num_groups, -1), (math.prod(rest) * (C // num_groups),), None, None, eps)
    y = y.reshape(N, C, *rest)
    bshape = (1, C) + (1,) * len(rest)
    if weight is not None:
        y = y * weight.reshape(bshape)
    if bias is not None:
        y = y + bias.reshape(bshape)
    return y
