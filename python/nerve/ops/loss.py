"""ops/loss.py — losses as autograd Functions on csrc/cpu/loss.cpp (csrc/cuda/loss.cu for cupy
arrays), with torch.nn.functional's names, signatures and semantics.

cross_entropy is one fused pass — log-sum-exp and NLL together, saving only each sample's (max,
log-sum) pair — and one fused backward that recomputes the softmax from it; the (N, C) softmax is
never stored. Reductions follow torch exactly: 'mean' of class-index targets divides by the sum
of the (non-ignored) targets' weights and is NaN when that is 0; label smoothing mixes in the
uniform distribution with the class weights as torch does. On the CPU the kernels hand back the
sums themselves (no per-sample array is allocated for 'mean'/'sum'); on CUDA they write per-sample
values that cupy reduces, and targets are range-checked before the launch.
"""
from __future__ import annotations

import warnings

import numpy as np

from ..autograd import Function, xp_broadcast_sum
from ..backend import is_host, kernels, xp
from ..tensor import Tensor

_NAN = float("nan")


def _reduction(size_average, reduce, reduction, name):
    """torch's _Reduction.legacy_get_string: the deprecated flags override `reduction`."""
    if size_average is not None or reduce is not None:
        warnings.warn("size_average and reduce args will be deprecated, please use reduction='mean'/'sum'/'none' "
                      "instead.", stacklevel=3)
        size_average = True if size_average is None else size_average
        reduce = True if reduce is None else reduce
        reduction = "mean" if (size_average and reduce) else ("sum" if reduce else "none")
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"[{name}] {reduction!r} is not a valid value for reduction; expected 'none', 'mean' or "
                         "'sum'")
    return reduction


def _arr(t, name, what, optional=False):
    if t is None and optional:
        return None
    if not isinstance(t, Tensor):
        raise TypeError(f"[{name}] expected {what} to be a Tensor, got {type(t).__name__}")
    return t


def _contig(a):
    return a if a is None or a.flags.c_contiguous else xp(a).ascontiguousarray(a)


def _scalar(v, like):
    """A 0-d array of like's dtype (and device)."""
    if is_host(like):
        return np.asarray(v, dtype=like.dtype)
    return xp(like).asarray(v, dtype=like.dtype)


def _sample_shape(x):
    return tuple(x.shape[:1]) + tuple(x.shape[2:]) if x.ndim >= 2 else ()


def _check_targets_device(x, target, ignore_index, name):
    """CUDA kernels cannot raise: check class indices before launching (one synchronisation)."""
    if target.dtype != np.int64 or target.size == 0:
        return
    C = x.shape[1] if x.ndim >= 2 else x.shape[0]
    bad = (target != ignore_index) & ((target < 0) | (target >= C))
    if bool(bad.any()):
        t = int(target[bad].ravel()[0])
        raise ValueError(f"[{name}] target {t} is out of bounds: class indices must lie in [0, {C}) or equal "
                         "ignore_index")


# ---- cross_entropy ---------------------------------------------------------------------------------

class _CrossEntropy(Function):
    @staticmethod
    def forward(ctx, x, target, weight, ignore_index, reduction, eps, name):
        x, target, weight = _contig(x), _contig(target), _contig(weight)
        m = xp(x)
        need = bool(ctx.needs_input_grad) and (ctx.needs_input_grad[0] or ctx.needs_input_grad[1])
        shape = _sample_shape(x)
        prob = target.dtype.kind == "f"
        stats = m.empty(shape + (2,), x.dtype) if need else None
        if is_host(x):
            loss = m.empty(shape, x.dtype) if reduction == "none" else None
            total, denom = kernels(x).cross_entropy_forward(loss, stats, x, target, weight, ignore_index, eps, name)
            wsum = None
            out = loss if loss is not None else _scalar(
                total if reduction == "sum" else (total / denom if denom else _NAN), x)
        else:
            _check_targets_device(x, target, ignore_index, name)
            loss = m.empty(shape, x.dtype)
            wt = m.empty(shape, x.dtype) if reduction == "mean" and not prob else None
            wsum = weight.sum() if weight is not None and eps > 0 and not prob else None
            kernels(x).cross_entropy_forward(loss, wt, stats, x, target, weight, wsum, ignore_index, eps, name)
            denom = (wt.sum() if wt is not None else loss.size) if reduction == "mean" else None
            out = loss if reduction == "none" else (loss.sum() if reduction == "sum" else loss.sum() / denom)
        if need:
            ctx.save_for_backward(x, target, weight, stats)
            ctx.args = (ignore_index, reduction, eps, name, denom, wsum, prob)
        return out

    @staticmethod
    def backward(ctx, g):
        x, target, weight, stats = ctx.saved_tensors
        ignore_index, reduction, eps, name, denom, wsum, prob = ctx.args
        m = xp(x)
        dx = m.empty_like(x)
        dt = m.empty_like(target) if prob and ctx.needs_input_grad[1] else None
        g = _contig(g)
        if is_host(x):
            scale = 1.0
            if reduction == "mean":
                scale = 1.0 / denom if denom else float("inf")
            kernels(x).cross_entropy_backward(dx, x, stats, target, weight, g, scale, ignore_index, eps, name, dt)
        else:
            if reduction == "mean":
                g = g / denom
            kernels(x).cross_entropy_backward(dx, x, stats, target, weight, wsum, g, 1.0, ignore_index, eps, name, dt)
        return (dx if ctx.needs_input_grad[0] else None), dt, None, None, None, None, None


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean",
                  label_smoothing=0.0):
    """torch.nn.functional.cross_entropy: log_softmax over dim 1 (dim 0 for a (C,) input) and NLL, fused.

    target holds class indices (int64, shape (N,) / (N, d1, ...) / ()) or class probabilities (the
    input's shape and dtype)."""
    name = "cross_entropy"
    _arr(input, name, "input")
    _arr(target, name, "target")
    _arr(weight, name, "weight", optional=True)
    reduction = _reduction(size_average, reduce, reduction, name)
    eps = float(label_smoothing)
    if not 0.0 <= eps <= 1.0:
        raise ValueError(f"[{name}] label_smoothing must be between 0.0 and 1.0, got {label_smoothing}")
    if input._data.dtype.kind != "f":
        raise TypeError(f"[{name}] expected a floating point input, got {input.dtype.name}")
    return _CrossEntropy.apply(input, target, weight, int(ignore_index), reduction, eps, name)


# ---- nll_loss ----------------------------------------------------------------------------------------

class _NLLLoss(Function):
    @staticmethod
    def forward(ctx, x, target, weight, ignore_index, reduction, name):
        x, target, weight = _contig(x), _contig(target), _contig(weight)
        m = xp(x)
        shape = _sample_shape(x)
        if is_host(x):
            loss = m.empty(shape, x.dtype) if reduction == "none" else None
            total, denom = kernels(x).nll_loss_forward(loss, x, target, weight, ignore_index, name)
            out = loss if loss is not None else _scalar(
                total if reduction == "sum" else (total / denom if denom else _NAN), x)
        else:
            _check_targets_device(x, target, ignore_index, name)
            loss = m.empty(shape, x.dtype)
            wt = m.empty(shape, x.dtype) if reduction == "mean" else None
            kernels(x).nll_loss_forward(loss, wt, x, target, weight, ignore_index, name)
            denom = wt.sum() if wt is not None else None
            out = loss if reduction == "none" else (loss.sum() if reduction == "sum" else loss.sum() / denom)
        if ctx.needs_input_grad:
            ctx.save_for_backward(target, weight)
            ctx.args = (x.shape, x.dtype, ignore_index, reduction, name, denom)
        return out

    @staticmethod
    def backward(ctx, g):
        target, weight = ctx.saved_tensors
        shape, dtype, ignore_index, reduction, name, denom = ctx.args
        m = xp(g)
        dx = m.empty(shape, dtype)
        g = _contig(g)
        if is_host(g):
            scale = (1.0 / denom if denom else float("inf")) if reduction == "mean" else 1.0
            kernels(g).nll_loss_backward(dx, target, weight, g, scale, ignore_index, name)
        else:
            kernels(g).nll_loss_backward(dx, target, weight, g / denom if reduction == "mean" else g, 1.0,
                                         ignore_index, name)
        return dx, None, None, None, None, None


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean"):
    """torch.nn.functional.nll_loss: -input[n, target[n]] (log-probabilities in), weighted, reduced."""
    name = "nll_loss"
    _arr(input, name, "input")
    _arr(target, name, "target")
    _arr(weight, name, "weight", optional=True)
    reduction = _reduction(size_average, reduce, reduction, name)
    if input._data.dtype.kind != "f":
        raise TypeError(f"[{name}] expected a floating point input, got {input.dtype.name}")
    return _NLLLoss.apply(input, target, weight, int(ignore_index), reduction, name)


# ---- pointwise: mse, l1, bce, bce with logits -------------------------------------------------------------

class _PointLoss(Function):
    @staticmethod
    def forward(ctx, x, t, w, pw, kind, reduction, name):
        m = xp(x)
        xs, ts = x.shape, t.shape
        if xs != ts or (w is not None and w.shape != xs) or (pw is not None and pw.shape != xs):
            parts = m.broadcast_arrays(*[a for a in (x, t, w, pw) if a is not None])
            it = iter(parts)
            x, t = next(it), next(it)
            w = next(it) if w is not None else None
            pw = next(it) if pw is not None else None
        x, t, w, pw = (m.ascontiguousarray(a) if a is not None and not a.flags.c_contiguous else a
                       for a in (x, t, w, pw))
        if is_host(x):
            loss = m.empty_like(x) if reduction == "none" else None
            total = kernels(x).pointwise_loss_forward(loss, x, t, w, pw, kind, name)
            out = loss if loss is not None else _scalar(
                total if reduction == "sum" else (total / x.size if x.size else _NAN), x)
        else:
            if kind == "bce":
                if bool(((x < 0) | (x > 1) | m.isnan(x)).any()):
                    raise ValueError(f"[{name}] all elements of input should be between 0 and 1")
                if bool(((t < 0) | (t > 1) | m.isnan(t)).any()):
                    raise ValueError(f"[{name}] all elements of target should be between 0 and 1")
            loss = m.empty_like(x)
            kernels(x).pointwise_loss_forward(loss, x, t, w, pw, kind, name)
            out = loss if reduction == "none" else (loss.sum() if reduction == "sum" else loss.sum() / loss.size)
        if ctx.needs_input_grad:
            ctx.save_for_backward(x, t, w, pw)
            ctx.args = (kind, reduction, name, xs, ts)
        return out

    @staticmethod
    def backward(ctx, g):
        x, t, w, pw = ctx.saved_tensors
        kind, reduction, name, xs, ts = ctx.args
        m = xp(x)
        need_x, need_t = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        dx = m.empty_like(x) if need_x else None
        dt = m.empty_like(t) if need_t else None
        g = _contig(g)
        scale = 1.0
        if reduction == "mean":
            scale = 1.0 / x.size if x.size else float("inf")
        kernels(x).pointwise_loss_backward(dx, dt, x, t, w, pw, g, scale, kind, name)
        if dx is not None and dx.shape != xs:
            dx = xp_broadcast_sum(dx, xs)
        if dt is not None and dt.shape != ts:
            dt = xp_broadcast_sum(dt, ts)
        return dx, dt, None, None, None, None, None


def _point(input, target, weight, pos_weight, kind, reduction, name):
    _arr(input, name, "input")
    _arr(target, name, "target")
    if input._data.dtype.kind != "f":
        raise TypeError(f"[{name}] expected a floating point input, got {input.dtype.name}")
    if target._data.dtype != input._data.dtype:
        raise TypeError(f"[{name}] target has dtype {target.dtype.name}, expected {input.dtype.name} (the input's)")
    return _PointLoss.apply(input, target, weight, pos_weight, kind, reduction, name)


def _size_warning(input, target):
    if tuple(target.shape) != tuple(input.shape):
        warnings.warn(f"Using a target size ({target.shape}) that is different to the input size ({input.shape}). "
                      "This will likely lead to incorrect results due to broadcasting. Please ensure they have the "
                      "same size.", stacklevel=3)


def _weighted(errors, weight, input, reduction, name):
    """torch's weighted mse/l1: errors * weight, 'mean' divided by the weights' sum."""
    _arr(weight, name, "weight")
    if tuple(weight.shape) != tuple(input.shape):
        raise ValueError(f"[{name}] weights and input must have the same size, got {tuple(weight.shape)} and "
                         f"{tuple(input.shape)}")
    e = errors * weight
    if reduction == "none":
        return e
    return e.sum() if reduction == "sum" else e.sum() / weight.sum()


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    """torch.nn.functional.mse_loss: (input - target)^2, optionally weighted, reduced."""
    name = "mse_loss"
    _arr(input, name, "input")
    _arr(target, name, "target")
    _size_warning(input, target)
    reduction = _reduction(size_average, reduce, reduction, name)
    if weight is not None:
        d = input - target
        return _weighted(d * d, weight, input, reduction, name)
    return _point(input, target, None, None, "mse", reduction, name)


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    """torch.nn.functional.l1_loss: |input - target|, optionally weighted, reduced."""
    name = "l1_loss"
    _arr(input, name, "input")
    _arr(target, name, "target")
    _size_warning(input, target)
    reduction = _reduction(size_average, reduce, reduction, name)
    if weight is not None:
        return _weighted((input - target).abs(), weight, input, reduction, name)
    return _point(input, target, None, None, "l1", reduction, name)


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None, reduction="mean"):
    """torch.nn.functional.binary_cross_entropy on probabilities (logs clamped at -100, as torch)."""
    name = "binary_cross_entropy"
    _arr(input, name, "input")
    _arr(target, name, "target")
    _arr(weight, name, "weight", optional=True)
    reduction = _reduction(size_average, reduce, reduction, name)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"[{name}] using a target size {tuple(target.shape)} that is different to the input size "
                         f"{tuple(input.shape)} is not supported; please ensure they have the same size")
    if weight is not None:
        try:
            if np.broadcast_shapes(tuple(weight.shape), tuple(input.shape)) != tuple(input.shape):
                raise ValueError
        except ValueError:
            raise ValueError(f"[{name}] weight of shape {tuple(weight.shape)} does not broadcast to the input's "
                             f"shape {tuple(input.shape)}") from None
    return _point(input, target, weight, None, "bce", reduction, name)


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None, reduction="mean",
                                     pos_weight=None):
    """torch.nn.functional.binary_cross_entropy_with_logits: sigmoid and BCE fused, stable for any logit."""
    name = "binary_cross_entropy_with_logits"
    _arr(input, name, "input")
    _arr(target, name, "target")
    _arr(weight, name, "weight", optional=True)
    _arr(pos_weight, name, "pos_weight", optional=True)
    reduction = _reduction(size_average, reduce, reduction, name)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"[{name}] target size {tuple(target.shape)} must be the same as input size "
                         f"{tuple(input.shape)}")
    for what, v in (("weight", weight), ("pos_weight", pos_weight)):
        if v is None:
            continue
        try:
            if np.broadcast_shapes(tuple(v.shape), tuple(input.shape)) != tuple(input.shape):
                raise ValueError
        except ValueError:
            raise ValueError(f"[{name}] {what} of shape {tuple(v.shape)} does not broadcast to the input's shape "
                             f"{tuple(input.shape)}") from None
    return _point(input, target, weight, pos_weight, "bce_logits", reduction, name)
