"""ops/conv.py — conv1d, conv2d, conv_transpose1d/2d as autograd Functions on csrc/cpu/conv.cpp.

Everything runs on the three conv2d kernels (forward, input-gradient, weight-gradient) plus the
bias-gradient: a 1-D convolution is a 2-D one of height 1, and a transposed convolution's forward
is conv2d's input-gradient (its backward: conv2d forward for the input, the weight-gradient kernel
with input and grad_out swapped for the weight). Unbatched inputs get a batch of one.
"""
from __future__ import annotations

from ..autograd import Function
from ..backend import kernels, xp


def _kernel(a, name, op):
    fn = getattr(kernels(a), name, None)
    if fn is None:
        raise NotImplementedError(f"[{op}] has no kernel for {type(a).__module__}.{type(a).__name__} arrays yet")
    return fn


def _tuple(v, n, name, op, lo=None):
    """n ints from an int or a sequence of n ints, each >= lo when given."""
    if isinstance(v, int) and not isinstance(v, bool):
        t = (v,) * n
    elif isinstance(v, (tuple, list)) and len(v) == n and all(isinstance(i, int) and not isinstance(i, bool) for i in v):
        t = tuple(v)
    else:
        raise ValueError(f"[{op}] {name} must be an int or a tuple of {n} ints, got {v!r}")
    if lo is not None and min(t) < lo:
        raise ValueError(f"[{op}] {name} must be >= {lo}, got {v!r}")
    return t


def _check_dtypes(op, x, weight, bias):
    if x.dtype != weight.dtype or (bias is not None and bias.dtype != x.dtype):
        name = lambda t: str(t.dtype).split(".")[-1]  # noqa: E731
        raise TypeError(f"[{op}] input is {name(x)} but weight is {name(weight)}"
                        + (f" and bias {name(bias)}" if bias is not None else "") + "; cast them to one dtype")


def _padding(padding, kernel, stride, dilation, op):
    """(top, bottom, left, right) from an int, a tuple, 'valid' or 'same' (extra odd pixel at the end, as torch)."""
    n = len(kernel)
    if isinstance(padding, str):
        if padding == "valid":
            return (0,) * (2 * n)
        if padding != "same":
            raise ValueError(f"[{op}] padding must be 'same', 'valid', an int or a tuple of {n} ints, got {padding!r}")
        if any(s != 1 for s in stride):
            raise ValueError(f"[{op}] padding='same' is not supported for strided convolutions")
        pads = []
        for k, d in zip(kernel, dilation):
            total = d * (k - 1)
            pads += [total // 2, total - total // 2]
        return tuple(pads)
    p = _tuple(padding, n, "padding", op, 0)
    return tuple(v for i in p for v in (i, i))


class _Conv(Function):
    """y = conv(x, weight) + bias over 4-D arrays; args: stride, padding (t, b, l, r), dilation, groups, op."""

    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding, dilation, groups, op):
        N, C, H, W = x.shape
        K, _, R, S = weight.shape
        OH = (H + padding[0] + padding[1] - dilation[0] * (R - 1) - 1) // stride[0] + 1
        OW = (W + padding[2] + padding[3] - dilation[1] * (S - 1) - 1) // stride[1] + 1
        if OH < 1 or OW < 1:
            span = (dilation[0] * (R - 1) + 1, dilation[1] * (S - 1) + 1)
            raise ValueError(f"[{op}] kernel {R}x{S} with dilation {dilation[0]}x{dilation[1]} spans {span[0]}x{span[1]}, "
                             f"larger than the padded input {H + padding[0] + padding[1]}x{W + padding[2] + padding[3]}")
        m = xp(x)
        x, weight = m.ascontiguousarray(x), m.ascontiguousarray(weight)
        bias = None if bias is None else m.ascontiguousarray(bias)
        y = m.empty((N, K, OH, OW), x.dtype)
        _kernel(x, "conv2d_forward", op)(y, x, weight, bias, stride, padding, dilation, groups, False, op)
        ctx.save_for_backward(x, weight)
        ctx.args = (stride, padding, dilation, groups, False, op)
        ctx.has_bias = bias is not None
        return y

    @staticmethod
    def backward(ctx, g):
        x, weight = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        m = xp(g)
        g = m.ascontiguousarray(g)
        op = ctx.args[-1]
        dx = dw = db = None
        if need_x:
            dx = m.empty_like(x)
            _kernel(g, "conv2d_backward_input", op)(dx, g, weight, *ctx.args)
        if need_w:
            dw = m.zeros_like(weight)
            _kernel(g, "conv2d_backward_weight", op)(dw, g, x, *ctx.args)
        if need_b and ctx.has_bias:
            db = m.zeros(weight.shape[0], g.dtype)
            _kernel(g, "conv2d_backward_bias", op)(db, g, op)
        return dx, dw, db, None, None, None, None, None


class _ConvTranspose(Function):
    """y = conv_transpose(x, weight) + bias over 4-D arrays; padding is (t, b, l, r) of the matching conv2d."""

    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding, output_padding, dilation, groups, op):
        N, Cin, H, W = x.shape
        _, Cg, R, S = weight.shape
        OH = (H - 1) * stride[0] - padding[0] - padding[1] + dilation[0] * (R - 1) + output_padding[0] + 1
        OW = (W - 1) * stride[1] - padding[2] - padding[3] + dilation[1] * (S - 1) + output_padding[1] + 1
        if OH < 1 or OW < 1:
            raise ValueError(f"[{op}] output size would be {OH}x{OW}: padding is too large for input {H}x{W}")
        m = xp(x)
        x, weight = m.ascontiguousarray(x), m.ascontiguousarray(weight)
        y = m.empty((N, Cg * groups, OH, OW), x.dtype)
        args = (stride, padding, dilation, groups, False, op)
        _kernel(x, "conv2d_backward_input", op)(y, x, weight, *args)
        if bias is not None:
            y += bias.reshape(-1, 1, 1)
        ctx.save_for_backward(x, weight)
        ctx.args = args
        ctx.has_bias = bias is not None
        return y

    @staticmethod
    def backward(ctx, g):
        x, weight = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        m = xp(g)
        g = m.ascontiguousarray(g)
        op = ctx.args[-1]
        dx = dw = db = None
        if need_x:
            dx = m.empty_like(x)
            _kernel(g, "conv2d_forward", op)(dx, g, weight, None, *ctx.args)
        if need_w:
            dw = m.zeros_like(weight)
            _kernel(g, "conv2d_backward_weight", op)(dw, x, g, *ctx.args)
        if need_b and ctx.has_bias:
            db = m.zeros(g.shape[1], g.dtype)
            _kernel(g, "conv2d_backward_bias", op)(db, g, op)
        return dx, dw, db, None, None, None, None, None, None


def _batched(input, nd, op):
    """(input as N, C, *spatial; whether a batch dim was added)."""
    if input.ndim == nd + 2:
        return input, False
    if input.ndim == nd + 1:
        return input.unsqueeze(0), True
    dims = "(N, C, L)" if nd == 1 else "(N, C, H, W)"
    raise ValueError(f"[{op}] expected input of {nd + 1} (unbatched) or {nd + 2} dimensions {dims}, "
                     f"got shape {tuple(input.shape)}")


def _check_weight(weight, nd, op):
    if weight.ndim != nd + 2:
        raise ValueError(f"[{op}] expected weight of {nd + 2} dimensions, got shape {tuple(weight.shape)}")


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """torch.nn.functional.conv2d: input (N, C, H, W) or (C, H, W), weight (K, C/groups, kH, kW)."""
    op = "conv2d"
    x, added = _batched(input, 2, op)
    _check_weight(weight, 2, op)
    _check_dtypes(op, x, weight, bias)
    stride, dilation = _tuple(stride, 2, "stride", op, 1), _tuple(dilation, 2, "dilation", op, 1)
    pad = _padding(padding, tuple(weight.shape[2:]), stride, dilation, op)
    y = _Conv.apply(x, weight, bias, stride, pad, dilation, groups, op)
    return y.squeeze(0) if added else y


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """torch.nn.functional.conv1d: input (N, C, L) or (C, L), weight (K, C/groups, k); a conv2d of height 1."""
    op = "conv1d"
    x, added = _batched(input, 1, op)
    _check_weight(weight, 1, op)
    _check_dtypes(op, x, weight, bias)
    stride, dilation = _tuple(stride, 1, "stride", op, 1), _tuple(dilation, 1, "dilation", op, 1)
    pad = _padding(padding, tuple(weight.shape[2:]), stride, dilation, op)
    y = _Conv.apply(x.unsqueeze(2), weight.unsqueeze(2), bias, (1,) + stride, (0, 0) + pad, (1,) + dilation,
                    groups, op).squeeze(2)
    return y.squeeze(0) if added else y


def _transpose_checks(op, x, weight, bias, groups, stride, output_padding, dilation):
    if x.shape[1] != weight.shape[0]:
        raise ValueError(f"[{op}] input has {x.shape[1]} channels, weight expects {weight.shape[0]}")
    if not isinstance(groups, int) or groups < 1 or weight.shape[0] % groups:
        raise ValueError(f"[{op}] groups={groups} must be a positive divisor of the input's {weight.shape[0]} channels")
    if bias is not None and tuple(bias.shape) != (weight.shape[1] * groups,):
        raise ValueError(f"[{op}] bias has shape {tuple(bias.shape)}, expected ({weight.shape[1] * groups},)")
    for o, s, d in zip(output_padding, stride, dilation):
        if o < 0 or o >= max(s, d):
            raise ValueError(f"[{op}] output_padding must be smaller than either stride or dilation, got "
                             f"output_padding={output_padding}, stride={stride}, dilation={dilation}")
        if o >= s:
            raise ValueError(f"[{op}] output_padding >= stride (possible in torch with a larger dilation) is not "
                             f"supported, got output_padding={output_padding}, stride={stride}")


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """torch.nn.functional.conv_transpose2d: input (N, Cin, H, W), weight (Cin, Cout/groups, kH, kW)."""
    op = "conv_transpose2d"
    x, added = _batched(input, 2, op)
    _check_weight(weight, 2, op)
    _check_dtypes(op, x, weight, bias)
    stride, dilation = _tuple(stride, 2, "stride", op, 1), _tuple(dilation, 2, "dilation", op, 1)
    output_padding = _tuple(output_padding, 2, "output_padding", op)
    if isinstance(padding, str):
        raise ValueError(f"[{op}] padding must be an int or a tuple of 2 ints, got {padding!r}")
    pad = _padding(padding, tuple(weight.shape[2:]), stride, dilation, op)
    _transpose_checks(op, x, weight, bias, groups, stride, output_padding, dilation)
    y = _ConvTranspose.apply(x, weight, bias, stride, pad, output_padding, dilation, groups, op)
    return y.squeeze(0) if added else y


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """torch.nn.functional.conv_transpose1d: input (N, Cin, L), weight (Cin, Cout/groups, k)."""
    op = "conv_transpose1d"
    x, added = _batched(input, 1, op)
    _check_weight(weight, 1, op)
    _check_dtypes(op, x, weight, bias)
    stride, dilation = _tuple(stride, 1, "stride", op, 1), _tuple(dilation, 1, "dilation", op, 1)
    output_padding = _tuple(output_padding, 1, "output_padding", op)
    if isinstance(padding, str):
        raise ValueError(f"[{op}] padding must be an int or a tuple of 1 int, got {padding!r}")
    pad = _padding(padding, tuple(weight.shape[2:]), stride, dilation, op)
    _transpose_checks(op, x, weight, bias, groups, stride, output_padding, dilation)
    y = _ConvTranspose.apply(x.unsqueeze(2), weight.unsqueeze(2), bias, (1,) + stride, (0, 0) + pad,
                             (0,) + output_padding, (1,) + dilation, groups, op).squeeze(2)
    return y.squeeze(0) if added else y
