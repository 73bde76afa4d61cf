"""ops/pool.py — max / average / adaptive pooling as autograd Functions on csrc/cpu/pool.cpp.

The 1-D forms are the 2-D kernels at height 1; unbatched inputs get a batch of one. Max pooling
always computes the argmax indices when a gradient is needed (backward scatters through them) and
returns them when asked (return_indices), as int64 positions in the input plane, like torch.
On CUDA arrays the max-pool backward is also told the forward's window, so that it can gather
(reproducible) instead of scattering with atomics.
"""
from __future__ import annotations

from ..autograd import Function
from ..backend import is_host, xp
from .conv import _batched, _kernel, _tuple


def _pooled_size(n, k, pad, stride, dil, ceil_mode):
    """torch's pooling_output_shape; the binding checks the same."""
    span = n + 2 * pad - dil * (k - 1) - 1 + (stride - 1 if ceil_mode else 0)
    out = span // stride + 1
    if ceil_mode and (out - 1) * stride >= n + pad:
        out -= 1
    return out


def _window(kernel_size, stride, padding, dilation, nd, op):
    k = _tuple(kernel_size, nd, "kernel_size", op, 1)
    empty = stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0)
    s = k if empty else _tuple(stride, nd, "stride", op, 1)
    p = _tuple(padding, nd, "padding", op, 0)
    d = _tuple(dilation, nd, "dilation", op, 1)
    if nd == 1:
        k, s, p, d = (1,) + k, (1,) + s, (0,) + p, (1,) + d
    if p[0] > k[0] // 2 or p[1] > k[1] // 2:
        raise ValueError(f"[{op}] padding {padding!r} must be at most half the kernel size {kernel_size!r}")
    return k, s, p, d


def _out_shape(x, k, s, p, d, ceil_mode, op):
    oh = _pooled_size(x.shape[2], k[0], p[0], s[0], d[0], ceil_mode)
    ow = _pooled_size(x.shape[3], k[1], p[1], s[1], d[1], ceil_mode)
    if oh < 1 or ow < 1:
        raise ValueError(f"[{op}] input {x.shape[2]}x{x.shape[3]} is too small for kernel {k[0]}x{k[1]} "
                         f"(dilation {d[0]}x{d[1]}, padding {p[0]}x{p[1]}): output would be {oh}x{ow}")
    return (x.shape[0], x.shape[1], oh, ow)


class _MaxPool(Function):
    @staticmethod
    def forward(ctx, x, k, s, p, d, ceil_mode, return_indices, op):
        m = xp(x)
        x = m.ascontiguousarray(x)
        shape = _out_shape(x, k, s, p, d, ceil_mode, op)
        y = m.empty(shape, x.dtype)
        keep = return_indices or bool(ctx.needs_input_grad and ctx.needs_input_grad[0])
        idx = m.empty(shape, m.int64) if keep else None
        _kernel(x, "max_pool2d_forward", op)(y, idx, x, k, s, p, d, ceil_mode, False, op)
        ctx.x_shape, ctx.indices, ctx.op = x.shape, idx, op
        ctx.window = dict(kernel_size=list(k), stride=list(s), padding=list(p), dilation=list(d), ceil_mode=ceil_mode)
        return (y, idx) if return_indices else y

    @staticmethod
    def backward(ctx, g, *_):
        m = xp(g)
        dx = m.empty(ctx.x_shape, g.dtype)
        window = {} if is_host(g) else ctx.window
        _kernel(g, "max_pool2d_backward", ctx.op)(dx, m.ascontiguousarray(g), ctx.indices, ctx.op, **window)
        return dx, None, None, None, None, None, None, None


class _AvgPool(Function):
    @staticmethod
    def forward(ctx, x, k, s, p, ceil_mode, count_include_pad, divisor, op):
        m = xp(x)
        x = m.ascontiguousarray(x)
        y = m.empty(_out_shape(x, k, s, p, (1, 1), ceil_mode, op), x.dtype)
        args = (k, s, p, ceil_mode, count_include_pad, divisor, False, op)
        _kernel(x, "avg_pool2d_forward", op)(y, x, *args)
        ctx.x_shape, ctx.args = x.shape, args
        return y

    @staticmethod
    def backward(ctx, g):
        m = xp(g)
        dx = m.empty(ctx.x_shape, g.dtype)
        _kernel(g, "avg_pool2d_backward", ctx.args[-1])(dx, m.ascontiguousarray(g), *ctx.args)
        return dx, None, None, None, None, None, None, None


class _AdaptiveAvgPool(Function):
    @staticmethod
    def forward(ctx, x, size, op):
        m = xp(x)
        x = m.ascontiguousarray(x)
        y = m.empty(x.shape[:2] + size, x.dtype)
        _kernel(x, "adaptive_avg_pool2d_forward", op)(y, x, False, op)
        ctx.x_shape, ctx.op = x.shape, op
        return y

    @staticmethod
    def backward(ctx, g):
        m = xp(g)
        dx = m.empty(ctx.x_shape, g.dtype)
        _kernel(g, "adaptive_avg_pool2d_backward", ctx.op)(dx, m.ascontiguousarray(g), ctx.op)
        return dx, None, None


class _AdaptiveMaxPool(Function):
    @staticmethod
    def forward(ctx, x, size, return_indices, op):
        m = xp(x)
        x = m.ascontiguousarray(x)
        y = m.empty(x.shape[:2] + size, x.dtype)
        keep = return_indices or bool(ctx.needs_input_grad and ctx.needs_input_grad[0])
        idx = m.empty(y.shape, m.int64) if keep else None
        _kernel(x, "adaptive_max_pool2d_forward", op)(y, idx, x, False, op)
        ctx.x_shape, ctx.indices, ctx.op = x.shape, idx, op
        return (y, idx) if return_indices else y

    @staticmethod
    def backward(ctx, g, *_):
        m = xp(g)
        dx = m.empty(ctx.x_shape, g.dtype)
        window = {} if is_host(g) else {"adaptive": True}
        _kernel(g, "max_pool2d_backward", ctx.op)(dx, m.ascontiguousarray(g), ctx.indices, ctx.op, **window)
        return dx, None, None, None


def _unbatch(out, added, nd):
    """Drops the height-1 axis of 1-D pooling and the batch axis added for unbatched inputs."""
    def fix(t):
        if nd == 1:
            t = t.squeeze(2)
        return t.squeeze(0) if added else t
    return tuple(fix(t) for t in out) if isinstance(out, tuple) else fix(out)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """torch.nn.functional.max_pool2d on (N, C, H, W) or (C, H, W)."""
    op = "max_pool2d"
    x, added = _batched(input, 2, op)
    k, s, p, d = _window(kernel_size, stride, padding, dilation, 2, op)
    return _unbatch(_MaxPool.apply(x, k, s, p, d, bool(ceil_mode), bool(return_indices), op), added, 2)


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """torch.nn.functional.max_pool1d on (N, C, L) or (C, L)."""
    op = "max_pool1d"
    x, added = _batched(input, 1, op)
    k, s, p, d = _window(kernel_size, stride, padding, dilation, 1, op)
    out = _MaxPool.apply(x.unsqueeze(2), k, s, p, d, bool(ceil_mode), bool(return_indices), op)
    return _unbatch(out, added, 1)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """torch.nn.functional.avg_pool2d on (N, C, H, W) or (C, H, W)."""
    op = "avg_pool2d"
    x, added = _batched(input, 2, op)
    k, s, p, _ = _window(kernel_size, stride, padding, 1, 2, op)
    if divisor_override is not None and (not isinstance(divisor_override, int) or divisor_override < 1):
        raise ValueError(f"[{op}] divisor_override must be a positive int, got {divisor_override!r}")
    y = _AvgPool.apply(x, k, s, p, bool(ceil_mode), bool(count_include_pad), divisor_override or 0, op)
    return _unbatch(y, added, 2)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """torch.nn.functional.avg_pool1d on (N, C, L) or (C, L)."""
    op = "avg_pool1d"
    x, added = _batched(input, 1, op)
    k, s, p, _ = _window(kernel_size, stride, padding, 1, 1, op)
    y = _AvgPool.apply(x.unsqueeze(2), k, s, p, bool(ceil_mode), bool(count_include_pad), 0, op)
    return _unbatch(y, added, 1)


def _adaptive_size(output_size, x, op):
    """(oh, ow) from an int or a pair whose None entries keep the input's size."""
    if isinstance(output_size, int) and not isinstance(output_size, bool):
        size = (output_size, output_size)
    else:
        size = tuple(output_size) if isinstance(output_size, (tuple, list)) else ()
        if len(size) != 2:
            raise ValueError(f"[{op}] output_size must be an int or a tuple of 2 (int or None), got {output_size!r}")
        size = tuple(x.shape[2 + i] if v is None else v for i, v in enumerate(size))
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in size):
        raise ValueError(f"[{op}] output_size must hold positive ints, got {output_size!r}")
    return size


def adaptive_avg_pool2d(input, output_size):
    """torch.nn.functional.adaptive_avg_pool2d on (N, C, H, W) or (C, H, W); None keeps that input size."""
    op = "adaptive_avg_pool2d"
    x, added = _batched(input, 2, op)
    return _unbatch(_AdaptiveAvgPool.apply(x, _adaptive_size(output_size, x, op), op), added, 2)


def adaptive_max_pool2d(input, output_size, return_indices=False):
    """torch.nn.functional.adaptive_max_pool2d on (N, C, H, W) or (C, H, W)."""
    op = "adaptive_max_pool2d"
    x, added = _batched(input, 2, op)
    out = _AdaptiveMaxPool.apply(x, _adaptive_size(output_size, x, op), bool(return_indices), op)
    return _unbatch(out, added, 2)
