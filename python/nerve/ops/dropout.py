"""ops/dropout.py — dropout as an autograd Function on csrc/cpu/dropout.cpp (csrc/cuda/dropout.cuh
for cupy arrays).

Each call draws a fresh seed from nerve's generator (nerve.manual_seed makes runs repeatable);
the kernels turn (seed, element index) into a Philox4x32-10 word, so the mask does not depend on
the thread count or the device. The forward keeps a 1-bit-per-element mask for backward when a
gradient is needed. As in torch: p = 0 or eval mode returns the input itself, p = 1 multiplies by
zero (inf and NaN become NaN), and p outside [0, 1] raises.
"""
from __future__ import annotations

import numbers

from .. import random as _random
from ..autograd import Function, is_grad_enabled
from ..backend import kernels, xp


def _mask_bytes(n: int) -> int:
    return (n + 63) // 64 * 8  # philox::dropout_mask_bytes: whole 64-element blocks


def _check_p(p, op: str) -> float:
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0.0 <= p <= 1.0:
        raise ValueError(f"[{op}] dropout probability has to be between 0 and 1, but got {p}")
    return float(p)


class Dropout(Function):
    """y = x * keep / (1 - p) for 0 < p < 1, keep drawn from `seed`."""

    @staticmethod
    def forward(ctx, x, p, seed):
        m = xp(x)
        x = m.ascontiguousarray(x)
        y = m.empty_like(x)
        need = bool(ctx.needs_input_grad and ctx.needs_input_grad[0])
        mask = m.empty(_mask_bytes(x.size), m.uint8) if need else None
        kernels(x).dropout_forward(y, mask, x, p, seed, 0)
        ctx.mask, ctx.p = mask, p
        return y

    @staticmethod
    def backward(ctx, g):
        m = xp(g)
        g = m.ascontiguousarray(g)
        dx = m.empty_like(g)
        kernels(g).dropout_backward(dx, g, ctx.mask, ctx.p)
        return dx, None, None


def dropout(input, p: float = 0.5, training: bool = True, inplace: bool = False):
    """torch.nn.functional.dropout: zeroes each element with probability p, scales the rest by 1/(1-p)."""
    p = _check_p(p, "dropout")
    if not training or p == 0.0 or input.numel() == 0:
        return input
    if p == 1.0:
        return input.mul_(0.0) if inplace else input * 0.0
    seed = _random.kernel_seed()
    if not inplace:
        return Dropout.apply(input, p, seed)
    data = input._data
    recording = is_grad_enabled() and input.requires_grad
    if not recording and data.flags.c_contiguous:
        kernels(data).dropout_forward(data, None, data, p, seed, 0)  # the kernel runs in place
        input._vcell()[0] += 1
        return input
    return input._inplace_result(Dropout.apply(input, p, seed), "dropout_")
