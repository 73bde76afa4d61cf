"""functional.py — the differentiable tensor ops numpy/cupy already do well: arithmetic with
broadcasting, elementwise math, reductions, reshapes and indexing, and matmul on nerve's GEMM.

Each op is a Function over raw arrays (see autograd.py); `xp` is numpy or cupy, picked per array.
Gradients of broadcast inputs are summed back to the input's shape (`_unbroadcast`) and cast back
to the input's dtype, so mixed-dtype arithmetic still yields each input's own gradient dtype.
Kernel-backed ops (activations, losses, convolution, ...) live in nerve/ops/<stem>.py instead.
"""
from __future__ import annotations

import numbers

import numpy as np

from . import dtypes
from .autograd import Function, xp_broadcast_sum
from .backend import kernels, xp as _xp

_ndarray = np.ndarray


def xp(a):
    return np if type(a) is _ndarray or isinstance(a, np.generic) else _xp(a)


def _unbroadcast(g, shape, dtype):
    if g.shape != shape:
        g = xp_broadcast_sum(g, shape)
    if g.dtype != dtype:
        g = g.astype(dtype)
    return g


def _is_array(x) -> bool:
    return type(x) is _ndarray or hasattr(x, "__cuda_array_interface__")


def _promote(a, b):
    """Casts two operands (arrays or Python scalars) to torch's result dtype."""
    if type(b) is _ndarray or hasattr(b, "__cuda_array_interface__"):
        if a.dtype != b.dtype:
            dt = dtypes.result_type(a, b)
            if a.dtype != dt:
                a = a.astype(dt)
            if b.dtype != dt:
                b = b.astype(dt)
        return a, b
    # Python scalar: only lifts the category (int tensor * 0.5 -> default float; bool + 1 -> int64)
    k = a.dtype.kind
    if k != "f":
        if isinstance(b, float):
            a = a.astype(dtypes.get_default_dtype().np)
        elif k == "b" and not isinstance(b, bool) and isinstance(b, numbers.Integral):
            a = a.astype(np.int64)
    return a, b


def _shape(x):
    return x.shape if _is_array(x) else None


# ---- arithmetic ----------------------------------------------------------------------------------

class Add(Function):
    @staticmethod
    def forward(ctx, a, b):
        a2, b2 = _promote(a, b)
        ctx.meta = (a.shape, a.dtype, _shape(b), getattr(b, "dtype", None))
        return a2 + b2

    @staticmethod
    def backward(ctx, g):
        sa, da, sb, db = ctx.meta
        return _unbroadcast(g, sa, da), (None if sb is None else _unbroadcast(g, sb, db))


class Sub(Function):
    @staticmethod
    def forward(ctx, a, b):
        a2, b2 = _promote(a, b)
        ctx.meta = (a.shape, a.dtype, _shape(b), getattr(b, "dtype", None))
        return a2 - b2

    @staticmethod
    def backward(ctx, g):
        sa, da, sb, db = ctx.meta
        return _unbroadcast(g, sa, da), (None if sb is None else _unbroadcast(-g, sb, db))


class RSub(Function):  # scalar - tensor
    @staticmethod
    def forward(ctx, a, s):
        a2, s = _promote(a, s)
        return s - a2

    @staticmethod
    def backward(ctx, g):
        return -g, None


class Mul(Function):
    @staticmethod
    def forward(ctx, a, b):
        a2, b2 = _promote(a, b)
        ctx.meta = (a.shape, a.dtype, _shape(b), getattr(b, "dtype", None))
        need = ctx.needs_input_grad
        if need:
            ctx.save_for_backward(a2 if len(need) > 1 and need[1] else None, b2 if need[0] else None)
        return a2 * b2

    @staticmethod
    def backward(ctx, g):
        sa, da, sb, db = ctx.meta
        a, b = ctx.saved_tensors
        ga = _unbroadcast(g * b, sa, da) if ctx.needs_input_grad[0] else None
        gb = _unbroadcast(g * a, sb, db) if sb is not None and ctx.needs_input_grad[1] else None
        return ga, gb


class Div(Function):
    @staticmethod
    def forward(ctx, a, b):
        a2, b2 = _promote(a, b)
        if a2.dtype.kind != "f":  # true division of integers gives the default float dtype
            a2 = a2.astype(dtypes.get_default_dtype().np)
        ctx.meta = (a.shape, a.dtype, _shape(b), getattr(b, "dtype", None))
        out = a2 / b2
        if ctx.needs_input_grad:
            ctx.save_for_backward(b2, out)
        return out

    @staticmethod
    def backward(ctx, g):
        sa, da, sb, db = ctx.meta
        b, out = ctx.saved_tensors
        ga = _unbroadcast(g / b, sa, da) if ctx.needs_input_grad[0] else None
        gb = _unbroadcast(-g * out / b, sb, db) if sb is not None and ctx.needs_input_grad[1] else None
        return ga, gb


class RDiv(Function):  # scalar / tensor
    @staticmethod
    def forward(ctx, a, s):
        a2, s = _promote(a, s)
        if a2.dtype.kind != "f":
            a2 = a2.astype(dtypes.get_default_dtype().np)
        out = s / a2
        ctx.save_for_backward(a2, out)
        return out

    @staticmethod
    def backward(ctx, g):
        a, out = ctx.saved_tensors
        return -g * out / a, None


class Neg(Function):
    @staticmethod
    def forward(ctx, a):
        return -a

    @staticmethod
    def backward(ctx, g):
        return -g


class Pow(Function):
    @staticmethod
    def forward(ctx, a, b):
        a2, b2 = _promote(a, b)
        ctx.meta = (a.shape, a.dtype, _shape(b), getattr(b, "dtype", None))
        out = a2 ** b2
        if ctx.needs_input_grad:
            ctx.save_for_backward(a2, b2 if _is_array(b2) else None, out)
            ctx.exponent = b2
        return out

    @staticmethod
    def backward(ctx, g):
        sa, da, sb, db = ctx.meta
        a, b_arr, out = ctx.saved_tensors
        b = b_arr if b_arr is not None else ctx.exponent
        m = xp(a)
        ga = gb = None
        if ctx.needs_input_grad[0]:
            if isinstance(b, numbers.Number) and b == 0:
                ga = m.zeros_like(a)
            else:
                ga = _unbroadcast(g * b * a ** (b - 1), sa, da)
        if sb is not None and ctx.needs_input_grad[1]:
            with np.errstate(divide="ignore", invalid="ignore"):
                # d(a**b)/db = a**b * log(a); taken as 0 where a**b is 0 (a == 0, b > 0), as torch does
                gb = _unbroadcast(m.where(out == 0, 0, g * out * m.log(a)), sb, db)
        return ga, gb


class RPow(Function):  # scalar ** tensor
    @staticmethod
    def forward(ctx, a, s):
        a2, s = _promote(a, s)
        if a2.dtype.kind != "f":
            a2 = a2.astype(dtypes.get_default_dtype().np)
        out = xp(a2).asarray(s, dtype=a2.dtype) ** a2
        ctx.save_for_backward(out)
        ctx.base = s
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return g * out * float(np.log(ctx.base)), None


# ---- elementwise math ----------------------------------------------------------------------------

def _float_input(a, op):
    if a.dtype.kind != "f":
        return a.astype(dtypes.get_default_dtype().np)
    return a


class Exp(Function):
    @staticmethod
    def forward(ctx, a):
        out = xp(a).exp(_float_input(a, "exp"))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return g * out


class Log(Function):
    @staticmethod
    def forward(ctx, a):
        a = _float_input(a, "log")
        ctx.save_for_backward(a)
        with np.errstate(divide="ignore", invalid="ignore"):
            return xp(a).log(a)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        with np.errstate(divide="ignore", invalid="ignore"):
            return g / a


class Sqrt(Function):
    @staticmethod
    def forward(ctx, a):
        with np.errstate(invalid="ignore"):
            out = xp(a).sqrt(_float_input(a, "sqrt"))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        with np.errstate(divide="ignore"):
            return g / (2 * out)


class Abs(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return xp(a).abs(a)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return g * xp(a).sign(a)


class Sin(Function):
    @staticmethod
    def forward(ctx, a):
        a = _float_input(a, "sin")
        ctx.save_for_backward(a)
        return xp(a).sin(a)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return g * xp(a).cos(a)


class Cos(Function):
    @staticmethod
    def forward(ctx, a):
        a = _float_input(a, "cos")
        ctx.save_for_backward(a)
        return xp(a).cos(a)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return -g * xp(a).sin(a)


class Clamp(Function):
    @staticmethod
    def forward(ctx, a, lo, hi):
        if lo is None and hi is None:
            raise ValueError("[clamp] at least one of min and max must be given")
        ctx.save_for_backward(a)
        ctx.bounds = (lo, hi)
        m = xp(a)
        out = a
        if lo is not None:
            out = m.maximum(out, lo if not _is_array(lo) else lo.astype(a.dtype, copy=False))
        if hi is not None:
            out = m.minimum(out, hi if not _is_array(hi) else hi.astype(a.dtype, copy=False))
        if out is a:
            out = a.copy()
        return out.astype(a.dtype, copy=False) if a.dtype.kind == "f" else out

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        lo, hi = ctx.bounds
        keep = xp(a).ones(a.shape, bool)
        if lo is not None:
            keep &= a >= lo
        if hi is not None:
            keep &= a <= hi
        return g * keep, None, None


class Maximum(Function):
    @staticmethod
    def forward(ctx, a, b):
        a2, b2 = _promote(a, b)
        ctx.save_for_backward(a2, b2)
        ctx.meta = (a.shape, a.dtype, b.shape, b.dtype)
        return xp(a2).maximum(a2, b2)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        sa, da, sb, db = ctx.meta
        wa = (a > b) + 0.5 * (a == b)  # ties split the gradient evenly, as in torch
        return _unbroadcast(g * wa, sa, da), _unbroadcast(g * (1 - wa), sb, db)


class Minimum(Function):
    @staticmethod
    def forward(ctx, a, b):
        a2, b2 = _promote(a, b)
        ctx.save_for_backward(a2, b2)
        ctx.meta = (a.shape, a.dtype, b.shape, b.dtype)
        return xp(a2).minimum(a2, b2)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        sa, da, sb, db = ctx.meta
        wa = (a < b) + 0.5 * (a == b)
        return _unbroadcast(g * wa, sa, da), _unbroadcast(g * (1 - wa), sb, db)


class Where(Function):
    @staticmethod
    def forward(ctx, cond, a, b):
        if not _is_array(cond) or cond.dtype != np.bool_:
            raise TypeError(f"[where] condition must be a bool tensor, got {getattr(cond, 'dtype', type(cond))}")
        m = xp(cond)
        if _is_array(a) and _is_array(b):
            a2, b2 = _promote(a, b)
        elif _is_array(a):
            a2, b2 = a, b
        elif _is_array(b):
            b2, a2 = b, a
        else:
            a2 = m.asarray(a, dtype=dtypes.result_type(a, b))
            b2 = b
        ctx.save_for_backward(cond)
        ctx.meta = (_shape(a), getattr(a, "dtype", None), _shape(b), getattr(b, "dtype", None))
        return m.where(cond, a2, b2)

    @staticmethod
    def backward(ctx, g):
        (cond,) = ctx.saved_tensors
        sa, da, sb, db = ctx.meta
        zero = g.dtype.type(0)
        m = xp(g)
        ga = _unbroadcast(m.where(cond, g, zero), sa, da) if sa is not None else None
        gb = _unbroadcast(m.where(cond, zero, g), sb, db) if sb is not None else None
        return None, ga, gb


class Cast(Function):
    @staticmethod
    def forward(ctx, a, dt):
        ctx.src = a.dtype
        return a.astype(dt)

    @staticmethod
    def backward(ctx, g):
        return (g.astype(ctx.src) if ctx.src.kind == "f" else None), None


class Clone(Function):
    @staticmethod
    def forward(ctx, a):
        return a.copy()

    @staticmethod
    def backward(ctx, g):
        return g


# ---- reductions ----------------------------------------------------------------------------------

def norm_dims(dim, ndim, op):
    """dim (None, int or sequence) -> sorted tuple of non-negative axes; checks range."""
    if dim is None:
        return tuple(range(ndim))
    dims = (dim,) if isinstance(dim, numbers.Integral) else tuple(dim)
    out = []
    lim = max(ndim, 1)
    for d in dims:
        if not isinstance(d, numbers.Integral):
            raise TypeError(f"[{op}] dim must be an int or a tuple of ints, got {d!r}")
        if not -lim <= d < lim:
            raise IndexError(f"[{op}] dim {d} is out of range for a tensor with {ndim} dimensions "
                             f"(expected in [{-lim}, {lim - 1}])")
        out.append(d % lim)
    if len(set(out)) != len(out):
        raise ValueError(f"[{op}] dim {dim} names a dimension twice")
    return tuple(sorted(out)) if ndim else ()


def _expand_reduced(g, shape, axes, keepdim):
    if not keepdim and axes:
        g = xp(g).expand_dims(g, axes)
    return g


class Sum(Function):
    @staticmethod
    def forward(ctx, a, dim, keepdim, dtype):
        axes = norm_dims(dim, a.ndim, "sum")
        ctx.meta = (a.shape, a.dtype, axes, keepdim)
        if dtype is None and a.dtype.kind in "bi":
            dtype = np.int64
        return a.sum(axis=axes, keepdims=keepdim, dtype=dtype)

    @staticmethod
    def backward(ctx, g):
        shape, dt, axes, keepdim = ctx.meta
        g = _expand_reduced(g, shape, axes, keepdim)
        return xp(g).broadcast_to(g.astype(dt, copy=False), shape), None, None, None


class Mean(Function):
    @staticmethod
    def forward(ctx, a, dim, keepdim):
        if a.dtype.kind != "f":
            raise TypeError(f"[mean] expected a floating point tensor, got {dtypes.from_numpy_dtype(a.dtype)}; "
                            "cast it first (e.g. x.float().mean())")
        axes = norm_dims(dim, a.ndim, "mean")
        n = 1
        for ax in axes:
            n *= a.shape[ax]
        ctx.meta = (a.shape, axes, keepdim, n)
        with np.errstate(invalid="ignore", divide="ignore"):
            return a.mean(axis=axes, keepdims=keepdim)

    @staticmethod
    def backward(ctx, g):
        shape, axes, keepdim, n = ctx.meta
        g = _expand_reduced(g, shape, axes, keepdim)
        return xp(g).broadcast_to(g / max(n, 1) if n else g * np.nan, shape), None, None


class Var(Function):
    @staticmethod
    def forward(ctx, a, dim, correction, keepdim):
        if a.dtype.kind != "f":
            raise TypeError(f"[var] expected a floating point tensor, got {dtypes.from_numpy_dtype(a.dtype)}")
        axes = norm_dims(dim, a.ndim, "var")
        n = 1
        for ax in axes:
            n *= a.shape[ax]
        mean = a.mean(axis=axes, keepdims=True)
        centered = a - mean
        denom = n - correction
        with np.errstate(invalid="ignore", divide="ignore"):
            out = (centered * centered).sum(axis=axes, keepdims=keepdim) / (denom if denom > 0 else np.nan)
        ctx.save_for_backward(centered)
        ctx.meta = (a.shape, axes, keepdim, denom)
        return out.astype(a.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        (centered,) = ctx.saved_tensors
        shape, axes, keepdim, denom = ctx.meta
        g = _expand_reduced(g, shape, axes, keepdim)
        with np.errstate(invalid="ignore", divide="ignore"):
            return (2.0 / (denom if denom > 0 else np.nan)) * g * centered, None, None, None


class MaxMin(Function):
    """max/min over all elements (gradient split evenly among ties, as torch's amax/amin)."""

    @staticmethod
    def forward(ctx, a, dims, keepdim, is_max):
        op = "max" if is_max else "min"
        axes = norm_dims(dims, a.ndim, op)
        if a.size == 0:
            raise RuntimeError(f"[{op}] cannot reduce an empty tensor of shape {a.shape}: the operation has no identity")
        out = a.max(axis=axes, keepdims=True) if is_max else a.min(axis=axes, keepdims=True)
        ctx.save_for_backward(a, out)
        ctx.meta = (axes, keepdim)
        return out if keepdim else out.reshape([s for i, s in enumerate(a.shape) if i not in axes])

    @staticmethod
    def backward(ctx, g):
        a, out = ctx.saved_tensors
        axes, keepdim = ctx.meta
        g = _expand_reduced(g, a.shape, axes, keepdim)
        mask = a == out
        return g * mask / mask.sum(axis=axes, keepdims=True), None, None, None


class MaxMinDim(Function):
    """max/min along one dim: (values, indices); the gradient goes to the selected index."""

    @staticmethod
    def forward(ctx, a, dim, keepdim, is_max):
        op = "max" if is_max else "min"
        (d,) = norm_dims(dim, a.ndim, op) or (0,)
        if a.ndim and a.shape[d] == 0:
            raise IndexError(f"[{op}] cannot reduce over dim {dim} of size 0 (shape {a.shape})")
        m = xp(a)
        if a.ndim == 0:
            idx = m.zeros((), np.int64)
            vals = a.copy()
        else:
            idx = (m.argmax(a, axis=d, keepdims=True) if is_max else m.argmin(a, axis=d, keepdims=True)).astype(np.int64)
            vals = m.take_along_axis(a, idx, axis=d)
            if not keepdim:
                idx, vals = idx.squeeze(d), vals.squeeze(d)
        ctx.meta = (a.shape, a.dtype, d, keepdim)
        ctx.save_for_backward(idx)
        ctx.mark_non_differentiable(idx)
        return vals, idx

    @staticmethod
    def backward(ctx, g, _gi):
        shape, dt, d, keepdim = ctx.meta
        (idx,) = ctx.saved_tensors
        m = xp(g)
        if not shape:
            return g, None, None, None
        if not keepdim:
            g, idx = m.expand_dims(g, d), m.expand_dims(idx, d)
        out = m.zeros(shape, dt)
        m.put_along_axis(out, idx, g, axis=d)
        return out, None, None, None


class LogSumExp(Function):
    @staticmethod
    def forward(ctx, a, dim, keepdim):
        axes = norm_dims(dim, a.ndim, "logsumexp")
        m = xp(a)
        mx = a.max(axis=axes, keepdims=True)
        mx = m.where(m.isfinite(mx), mx, 0)
        with np.errstate(divide="ignore"):
            out = m.log(m.exp(a - mx).sum(axis=axes, keepdims=True)) + mx
        ctx.save_for_backward(a, out)
        ctx.meta = (axes, keepdim)
        return out if keepdim else out.reshape([s for i, s in enumerate(a.shape) if i not in axes])

    @staticmethod
    def backward(ctx, g):
        a, out = ctx.saved_tensors
        axes, keepdim = ctx.meta
        g = _expand_reduced(g, a.shape, axes, keepdim)
        return g * xp(a).exp(a - out), None, None


# ---- shapes and views ----------------------------------------------------------------------------

class Reshape(Function):
    is_view = True  # when numpy can view; otherwise the output is a copy that no one else sees

    @staticmethod
    def forward(ctx, a, shape):
        ctx.shape = a.shape
        return a.reshape(shape)

    @staticmethod
    def backward(ctx, g):
        return g.reshape(ctx.shape), None


class View(Reshape):
    @staticmethod
    def forward(ctx, a, shape):
        ctx.shape = a.shape
        try:
            return xp(a).reshape(a, shape, copy=False)
        except ValueError:
            raise RuntimeError(f"[view] view size is not compatible with input tensor's size and stride "
                               f"(shape {tuple(a.shape)}, strides {tuple(s // a.itemsize for s in a.strides)}) "
                               f"for target shape {tuple(shape)}; use .reshape(...) instead") from None


class Permute(Function):
    is_view = True

    @staticmethod
    def forward(ctx, a, axes):
        ctx.axes = axes
        return a.transpose(axes)

    @staticmethod
    def backward(ctx, g):
        return g.transpose(np.argsort(ctx.axes)), None


class Expand(Function):
    is_view = True

    @staticmethod
    def forward(ctx, a, shape):
        ctx.shape = a.shape
        return xp(a).broadcast_to(a, shape)

    @staticmethod
    def backward(ctx, g):
        return xp_broadcast_sum(g, ctx.shape), None


class Contiguous(Function):
    @staticmethod
    def forward(ctx, a):
        return xp(a).ascontiguousarray(a)

    @staticmethod
    def backward(ctx, g):
        return g


def _has_tensor_index(idx) -> bool:
    return any(_is_array(i) or isinstance(i, (list, np.ndarray)) for i in idx)


class Index(Function):
    """a[idx] for ints, slices, None, Ellipsis, integer arrays and boolean masks."""

    @staticmethod
    def forward(ctx, a, idx):
        ctx.meta = (a.shape, a.dtype, idx)
        try:
            return a[idx]
        except IndexError as e:
            raise IndexError(f"[index] {e} (tensor shape {tuple(a.shape)})") from None

    @staticmethod
    def backward(ctx, g):
        shape, dt, idx = ctx.meta
        m = xp(g)
        out = m.zeros(shape, dt)
        if _has_tensor_index(idx):
            m.add.at(out, idx, g)  # repeated indices accumulate
        else:
            out[idx] = g
        return out, None


class BasicIndex(Index):
    is_view = True


class IndexPut(Function):
    """out = a with out[idx] = v (the out-of-place half of a[idx] = v)."""

    @staticmethod
    def forward(ctx, a, idx, v):
        out = a.copy()
        try:
            out[idx] = v.astype(a.dtype, copy=False) if _is_array(v) else v
        except (IndexError, ValueError) as e:
            raise type(e)(f"[index_put] {e} (tensor shape {tuple(a.shape)})") from None
        ctx.meta = (idx, _shape(v), getattr(v, "dtype", None))
        return out

    @staticmethod
    def backward(ctx, g):
        idx, sv, dv = ctx.meta
        ga = g.copy()
        ga[idx] = 0
        gv = None
        if sv is not None and ctx.needs_input_grad[2]:
            gv = _unbroadcast(g[idx], sv, dv)
        return ga, None, gv


class Cat(Function):
    @staticmethod
    def forward(ctx, dim, *arrays):
        ctx.meta = (dim, [a.shape[dim] for a in arrays], [a.dtype for a in arrays])
        dt = arrays[0].dtype
        for a in arrays[1:]:
            dt = dtypes.result_type(np.empty(0, dt), a) if a.dtype != dt else dt
        return xp(arrays[0]).concatenate([a.astype(dt, copy=False) for a in arrays], axis=dim)

    @staticmethod
    def backward(ctx, g):
        dim, sizes, dts = ctx.meta
        out, start = [], 0
        for n, dt in zip(sizes, dts):
            sl = [slice(None)] * g.ndim
            sl[dim] = slice(start, start + n)
            out.append(g[tuple(sl)].astype(dt, copy=False))
            start += n
        return (None, *out)


class Stack(Function):
    @staticmethod
    def forward(ctx, dim, *arrays):
        ctx.meta = (dim, len(arrays), [a.dtype for a in arrays])
        dt = arrays[0].dtype
        for a in arrays[1:]:
            dt = dtypes.result_type(np.empty(0, dt), a) if a.dtype != dt else dt
        return xp(arrays[0]).stack([a.astype(dt, copy=False) for a in arrays], axis=dim)

    @staticmethod
    def backward(ctx, g):
        dim, n, dts = ctx.meta
        m = xp(g)
        return (None, *[m.take(g, i, axis=dim).astype(dt, copy=False) for i, dt in zip(range(n), dts)])


class Split(Function):
    is_view = True

    @staticmethod
    def forward(ctx, a, sizes, dim):
        ctx.meta = (a.shape, a.dtype, sizes, dim)
        outs, start = [], 0
        for n in sizes:
            sl = [slice(None)] * a.ndim
            sl[dim] = slice(start, start + n)
            outs.append(a[tuple(sl)])
            start += n
        return tuple(outs)

    @staticmethod
    def backward(ctx, *grads):
        shape, dt, sizes, dim = ctx.meta
        m = xp(grads[0])
        return m.concatenate(grads, axis=dim).astype(dt, copy=False), None, None


class Gather(Function):
    @staticmethod
    def forward(ctx, a, dim, index):
        if not _is_array(index) or index.dtype != np.int64:
            raise TypeError(f"[gather] index must be an int64 tensor, got {getattr(index, 'dtype', type(index))}")
        if index.ndim != a.ndim:
            raise ValueError(f"[gather] index has {index.ndim} dimensions, input has {a.ndim}; they must match")
        for d in range(a.ndim):
            if d != dim and index.shape[d] > a.shape[d]:
                raise ValueError(f"[gather] index shape {tuple(index.shape)} exceeds input shape {tuple(a.shape)} "
                                 f"in dim {d}")
        if index.size and (index.min() < -a.shape[dim] or index.max() >= a.shape[dim]):
            raise IndexError(f"[gather] index out of range for dim {dim} of size {a.shape[dim]} "
                             f"(got values in [{int(index.min())}, {int(index.max())}])")
        sub = a[tuple(slice(0, index.shape[d]) if d != dim else slice(None) for d in range(a.ndim))]
        ctx.meta = (a.shape, a.dtype, dim)
        ctx.save_for_backward(index)
        return xp(a).take_along_axis(sub, index, axis=dim)

    @staticmethod
    def backward(ctx, g):
        shape, dt, dim = ctx.meta
        (index,) = ctx.saved_tensors
        return _scatter_add(xp(g).zeros(shape, dt), dim, index, g), None, None


def _scatter_add(out, dim, index, src):
    """out[..., index[i, j], ...] += src[i, j] along dim, accumulating repeats."""
    m = xp(out)
    grids = list(m.indices(index.shape, sparse=True))
    grids[dim] = index
    m.add.at(out, tuple(grids), src[tuple(slice(0, s) for s in index.shape)])
    return out


class ScatterAdd(Function):
    @staticmethod
    def forward(ctx, a, dim, index, src):
        if not _is_array(index) or index.dtype != np.int64:
            raise TypeError(f"[scatter_add] index must be an int64 tensor, got {getattr(index, 'dtype', type(index))}")
        if index.ndim != a.ndim or src.ndim != a.ndim:
            raise ValueError(f"[scatter_add] input, index and src must have the same number of dimensions, got "
                             f"{a.ndim}, {index.ndim} and {src.ndim}")
        if index.size and (index.min() < -a.shape[dim] or index.max() >= a.shape[dim]):
            raise IndexError(f"[scatter_add] index out of range for dim {dim} of size {a.shape[dim]}")
        ctx.save_for_backward(index)
        ctx.meta = (dim, src.shape, src.dtype)
        return _scatter_add(a.copy(), dim, index, src.astype(a.dtype, copy=False))

    @staticmethod
    def backward(ctx, g):
        (index,) = ctx.saved_tensors
        dim, ss, sd = ctx.meta
        m = xp(g)
        gs = m.zeros(ss, sd)
        sub = tuple(slice(0, s) for s in index.shape)
        gs[sub] = m.take_along_axis(g[tuple(slice(0, s) if d != dim else slice(None)
                                            for d, s in enumerate(index.shape))], index, axis=dim)
        return g, None, None, gs


class MaskedFill(Function):
    @staticmethod
    def forward(ctx, a, mask, value):
        if not _is_array(mask) or mask.dtype != np.bool_:
            raise TypeError(f"[masked_fill] mask must be a bool tensor, got {getattr(mask, 'dtype', type(mask))}")
        ctx.save_for_backward(mask)
        ctx.shape = a.shape
        return xp(a).where(mask, a.dtype.type(value), a)

    @staticmethod
    def backward(ctx, g):
        (mask,) = ctx.saved_tensors
        return _unbroadcast(xp(g).where(mask, 0, g), ctx.shape, g.dtype), None, None


# ---- matmul --------------------------------------------------------------------------------------

def _gemm(a, b):
    """a @ b for 2-D or 3-D (batched, equal batch) float arrays with any strides, via nerve's GEMM."""
    out = xp(a).empty(a.shape[:-1] + (b.shape[-1],), a.dtype)
    kernels(a).gemm(out, a, b)
    return out


def matmul_arrays(a, b):
    """numpy.matmul semantics (1-D promotion, broadcast batches) on nerve's GEMM for float32/64."""
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"[matmul] both arguments must have at least 1 dimension, got shapes {a.shape} and {b.shape}")
    ka, kb = a.shape[-1], b.shape[0] if b.ndim == 1 else b.shape[-2]
    if ka != kb:
        raise ValueError(f"[matmul] inner dimensions differ: a is {tuple(a.shape)}, b is {tuple(b.shape)} "
                         f"({ka} != {kb})")
    if a.dtype != b.dtype or a.dtype.kind != "f" or a.dtype.itemsize < 4:
        a, b = _promote(a, b)
        if a.dtype.kind != "f" or a.dtype.itemsize < 4:
            return xp(a).matmul(a, b)
    m = xp(a)
    a2 = a[None, :] if a.ndim == 1 else a
    b2 = b[:, None] if b.ndim == 1 else b
    if a2.ndim <= 2 and b2.ndim <= 2:
        out = _gemm(a2, b2)
    elif b2.ndim == 2:
        # (..., M, K) @ (K, N): fold the batch into M when a's rows are evenly strided (Linear layers).
        try:
            flat = m.reshape(a2, (-1, a2.shape[-1]), copy=False)
            out = _gemm(flat, b2).reshape(a2.shape[:-1] + (b2.shape[-1],))
        except ValueError:
            out = _batched(m, a2, b2)
    else:
        out = _batched(m, a2, b2)
    if a.ndim == 1:
        out = out[..., 0, :]
    if b.ndim == 1:
        out = out[..., 0]
    return out


def _batched(m, a, b):
    batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    a3 = m.broadcast_to(a, batch + a.shape[-2:])
    b3 = m.broadcast_to(b, batch + b.shape[-2:])

    def as3(x):
        try:
            return m.reshape(x, (-1,) + x.shape[-2:], copy=False)
        except ValueError:
            return m.ascontiguousarray(x).reshape((-1,) + x.shape[-2:])

    return _gemm(as3(a3), as3(b3)).reshape(batch + (a.shape[-2], b.shape[-1]))


class Matmul(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return matmul_arrays(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        # the gradient in the 2-D-promoted shape (1-D operands gained a unit dim)
        g2 = g.reshape(np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2]) + (a2.shape[-2], b2.shape[-1]))
        ga = gb = None
        if need_a:
            ga = matmul_arrays(g2, xp(b2).swapaxes(b2, -1, -2))
            ga = xp_broadcast_sum(ga, a2.shape).reshape(a.shape).astype(a.dtype, copy=False)
        if need_b:
            if b2.ndim == 2 and a2.ndim > 2:
                # sum over all batch rows at once: (K, rows) @ (rows, N)
                af = a2.reshape(-1, a2.shape[-1])
                gf = g2.reshape(-1, g2.shape[-1])
                gb = matmul_arrays(af.T, gf)
            else:
                gb = matmul_arrays(xp(a2).swapaxes(a2, -1, -2), g2)
                gb = xp_broadcast_sum(gb, b2.shape)
            gb = gb.reshape(b.shape).astype(b.dtype, copy=False)
        return ga, gb
