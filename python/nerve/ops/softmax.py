"""ops/softmax.py — softmax and log_softmax over any dim as autograd Functions on csrc/cpu/softmax.cpp
(csrc/cuda/softmax.cu for cupy arrays), with torch.nn.functional's signatures.

The kernels walk the array as (outer, dim, inner) around the axis, so a softmax over dim 1 of an
NCHW tensor reads it in place, without a transposed copy. Forward allocates the output, backward
the input gradient, and backward runs from the saved output.
"""
from __future__ import annotations

import warnings

from ..autograd import Function, _state
from ..backend import kernels, xp
from ..tensor import Tensor


class _Softmax(Function):
    @staticmethod
    def forward(ctx, x, dim, log, name):
        if not x.flags.c_contiguous:
            x = xp(x).ascontiguousarray(x)
        y = xp(x).empty_like(x)
        kernels(x).softmax_forward(y, x, dim, log, name)
        ctx.save_for_backward(y)
        ctx.args = (dim, log, name)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        dim, log, name = ctx.args
        if not g.flags.c_contiguous:
            g = xp(g).ascontiguousarray(g)
        dx = xp(g).empty_like(g)
        kernels(g).softmax_backward(dx, g, y, dim, log, name)
        return dx, None, None, None


def _softmax_dim(ndim, name, stacklevel):
    """torch's implicit choice when dim is None (deprecated there too)."""
    warnings.warn(f"Implicit dimension choice for {name} has been deprecated. Change the call to include dim=X "
                  "as an argument.", stacklevel=stacklevel)
    return 0 if ndim in (0, 1, 3) else 1


def _run(input, dim, dtype, log, name, stacklevel):
    if not isinstance(input, Tensor):
        raise TypeError(f"[{name}] expected a Tensor as input, got {type(input).__name__}")
    if dim is None:
        dim = _softmax_dim(input.ndim, name, stacklevel + 1)
    elif not isinstance(dim, int) or isinstance(dim, bool):
        if hasattr(dim, "__index__"):
            dim = int(dim)
        else:
            raise TypeError(f"[{name}] dim must be an int, got {type(dim).__name__}")
    nd = max(input.ndim, 1)
    if not -nd <= dim < nd:
        raise IndexError(f"[{name}] dim {dim} is out of range for a tensor of {input.ndim} dimensions (expected it "
                         f"in [{-nd}, {nd - 1}])")
    if dtype is not None:
        input = input.to(dtype)
    if input._data.dtype.kind != "f":
        raise TypeError(f"[{name}] expected a floating point tensor, got {input.dtype.name}")
    if not (input._rg and _state.enabled):
        x = input._data
        if not x.flags.c_contiguous:
            x = xp(x).ascontiguousarray(x)
        y = xp(x).empty_like(x)
        kernels(x).softmax_forward(y, x, dim, log, name)
        return Tensor._make(y, False, None, 0)
    return _Softmax.apply(input, dim, log, name)


def softmax(input, dim=None, _stacklevel=3, dtype=None):
    """exp(input) / sum(exp(input)) along dim (torch.nn.functional.softmax)."""
    return _run(input, dim, dtype, False, "softmax", _stacklevel)


def log_softmax(input, dim=None, _stacklevel=3, dtype=None):
    """input - log(sum(exp(input))) along dim (torch.nn.functional.log_softmax)."""
    return _run(input, dim, dtype, True, "log_softmax", _stacklevel)
