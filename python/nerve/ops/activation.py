"""ops/activation.py — elementwise activations as autograd Functions on csrc/cpu/activation.cpp
(and csrc/cuda/activation.cu for cupy arrays), with torch.nn.functional's names and defaults.

Every op is one kernel call forward and one backward, and allocates only its result: the output
forward, the input gradient backward. Backward reads the saved output where that is exact (relu,
leaky_relu, elu, hardtanh, sigmoid, tanh), else the saved input. In-place forms (`relu_`,
`inplace=True`) run the kernel over the tensor's own storage and take over its place in the graph;
their backward then reads the overwritten storage, which is the output (an op whose gradient needs
the input, such as silu, keeps a copy of the input instead, as torch does). NaN inputs get the
gradient torch gives them (relu passes dy, elu NaN, hardtanh 0).
"""
from __future__ import annotations

from ..autograd import Function, _state
from ..backend import kernels, xp
from ..tensor import Tensor

# op -> can its backward run from the output (given parameter a)
_FROM_OUTPUT = {
    "relu": lambda a, b: True, "sigmoid": lambda a, b: True, "tanh": lambda a, b: True,
    "leaky_relu": lambda a, b: a >= 0, "elu": lambda a, b: a >= 0, "hardtanh": lambda a, b: a < b,
}
_never = lambda a, b: False  # noqa: E731


def _check(x, name):
    if not isinstance(x, Tensor):
        raise TypeError(f"[{name}] expected a Tensor as input, got {type(x).__name__}")
    if x._data.dtype.kind != "f":
        raise TypeError(f"[{name}] expected a floating point tensor, got {x.dtype.name}")


def _forward(x, op, a, b, name, out=None):
    if not x.flags.c_contiguous:
        x = xp(x).ascontiguousarray(x)
    y = xp(x).empty_like(x) if out is None else out
    kernels(x).activation_forward(y, x, op, a, b, name)
    return y


class _Activation(Function):
    @staticmethod
    def forward(ctx, x, op, a, b, name):
        if not x.flags.c_contiguous:
            x = xp(x).ascontiguousarray(x)
        y = xp(x).empty_like(x)
        kernels(x).activation_forward(y, x, op, a, b, name)
        if ctx.needs_input_grad:
            ctx.from_output = _FROM_OUTPUT.get(op, _never)(a, b)
            ctx.save_for_backward(y if ctx.from_output else x)
            ctx.args = (op, a, b)
            ctx.name = name
        return y

    @staticmethod
    def backward(ctx, g):
        (s,) = ctx.saved_tensors
        op, a, b = ctx.args
        if not g.flags.c_contiguous:
            g = xp(g).ascontiguousarray(g)
        dx = xp(g).empty_like(g)
        kernels(g).activation_backward(dx, g, s, op, a, b, ctx.from_output, ctx.name)
        return dx, None, None, None, None


class _ActivationInPlace(Function):
    """The kernel writes over x's storage. Backward reads that storage as the output when the op
    allows it, else a copy of the input taken before it was overwritten (as torch does)."""

    @staticmethod
    def forward(ctx, x, op, a, b, name, from_output):
        saved = None if from_output else x.copy()
        if x.flags.c_contiguous:
            kernels(x).activation_forward(x, x, op, a, b, name)
        else:
            x[...] = _forward(x, op, a, b, name)
        ctx.save_for_backward(x if from_output else saved)
        ctx.args, ctx.name, ctx.from_output = (op, a, b), name, from_output
        return x

    @staticmethod
    def backward(ctx, g):
        (s,) = ctx.saved_tensors
        op, a, b = ctx.args
        m = xp(g)
        g = g if g.flags.c_contiguous else m.ascontiguousarray(g)
        s = s if s.flags.c_contiguous else m.ascontiguousarray(s)
        dx = m.empty_like(g)
        kernels(g).activation_backward(dx, g, s, op, a, b, ctx.from_output, ctx.name)
        return dx, None, None, None, None, None


def _apply(x, op, a, b, name):
    _check(x, name)
    if not (x._rg and _state.enabled):  # no graph to record: skip the Function machinery
        return Tensor._make(_forward(x._data, op, a, b, name), False, None, 0)
    return _Activation.apply(x, op, a, b, name)


def _apply_(x, op, a, b, name):
    """In place: x's storage gets op(x); x takes the result's place in the graph."""
    _check(x, name)
    arr = x._data
    if not (_state.enabled and x._rg):
        if arr.flags.c_contiguous:
            kernels(arr).activation_forward(arr, arr, op, a, b, name)
        else:
            arr[...] = _forward(arr, op, a, b, name)
        x._vcell()[0] += 1
        return x
    if x.grad_fn is None:
        raise RuntimeError(f"[{name}] a leaf Variable that requires grad is being used in an in-place operation; "
                           "wrap it in nerve.no_grad() or use the out-of-place op")
    base = getattr(x, "_base", None)
    if base is not None and (base._rg or x._rg):
        raise RuntimeError(f"[{name}] in-place operations on a view of a tensor that requires grad are not "
                           "supported; use the out-of-place op")
    from_output = _FROM_OUTPUT.get(op, _never)(a, b)
    r = _ActivationInPlace.apply(x, op, a, b, name, from_output)
    cell = x._vcell()
    cell[0] += 1
    x.grad_fn, x._out_idx, x._rg = r.grad_fn, r._out_idx, True
    # what backward reads is x's storage as of now (from_output), or a private copy
    r.grad_fn._saved_versions = [(0, (cell, cell[0]))] if from_output else []
    return x


def _float(v, name, what):
    try:
        return float(v)
    except (TypeError, ValueError):
        raise TypeError(f"[{name}] {what} must be a number, got {type(v).__name__}") from None


# ---- torch.nn.functional -------------------------------------------------------------------------

def relu(input, inplace=False):
    """max(input, 0), elementwise."""
    return _apply_(input, "relu", 0.0, 0.0, "relu") if inplace else _apply(input, "relu", 0.0, 0.0, "relu")


def relu_(input):
    return _apply_(input, "relu", 0.0, 0.0, "relu_")


def leaky_relu(input, negative_slope=0.01, inplace=False):
    """input where positive, else negative_slope * input."""
    a = _float(negative_slope, "leaky_relu", "negative_slope")
    return (_apply_ if inplace else _apply)(input, "leaky_relu", a, 0.0, "leaky_relu")


def leaky_relu_(input, negative_slope=0.01):
    return _apply_(input, "leaky_relu", _float(negative_slope, "leaky_relu_", "negative_slope"), 0.0, "leaky_relu_")


def elu(input, alpha=1.0, inplace=False):
    """input where positive, else alpha * (exp(input) - 1)."""
    a = _float(alpha, "elu", "alpha")
    return (_apply_ if inplace else _apply)(input, "elu", a, 0.0, "elu")


def elu_(input, alpha=1.0):
    return _apply_(input, "elu", _float(alpha, "elu_", "alpha"), 0.0, "elu_")


def gelu(input, approximate="none"):
    """input * Phi(input) (approximate='none') or its tanh approximation (approximate='tanh')."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"[gelu] approximate must be 'none' or 'tanh', got {approximate!r}")
    return _apply(input, "gelu" if approximate == "none" else "gelu_tanh", 0.0, 0.0, "gelu")


def silu(input, inplace=False):
    """input * sigmoid(input)."""
    return (_apply_ if inplace else _apply)(input, "silu", 0.0, 0.0, "silu")


def sigmoid(input):
    return _apply(input, "sigmoid", 0.0, 0.0, "sigmoid")


def tanh(input):
    return _apply(input, "tanh", 0.0, 0.0, "tanh")


def softplus(input, beta=1.0, threshold=20.0):
    """log(1 + exp(beta * input)) / beta, and input itself where beta * input > threshold."""
    a, b = _float(beta, "softplus", "beta"), _float(threshold, "softplus", "threshold")
    return _apply(input, "softplus", a, b, "softplus")


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    """input clamped to [min_val, max_val]."""
    a, b = _float(min_val, "hardtanh", "min_val"), _float(max_val, "hardtanh", "max_val")
    if a > b:
        raise ValueError(f"[hardtanh] min_val ({a}) cannot be greater than max_val ({b})")
    return (_apply_ if inplace else _apply)(input, "hardtanh", a, b, "hardtanh")


def hardtanh_(input, min_val=-1.0, max_val=1.0):
    return hardtanh(input, min_val, max_val, inplace=True)
