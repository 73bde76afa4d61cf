"""ops/linear.py — y = x @ W^T + b as one Function on nerve's GEMM (csrc/cpu/gemm.cpp).

W^T is a strided view, never a copy; leading batch dims of x are folded into the GEMM's rows, so
a (B, T, in) input is one (B*T, in) x (in, out) product forward and one per gradient backward.
"""
from __future__ import annotations

from ..autograd import Function
from ..functional import matmul_arrays, xp


class Linear(Function):
    @staticmethod
    def forward(ctx, x, weight, bias):
        if weight.ndim != 2:
            raise ValueError(f"[linear] weight must be 2-D (out_features, in_features), got shape {tuple(weight.shape)}")
        if x.ndim == 0 or x.shape[-1] != weight.shape[1]:
            raise ValueError(f"[linear] input has {x.shape[-1] if x.ndim else 0} features (shape {tuple(x.shape)}), "
                             f"weight expects {weight.shape[1]}")
        if bias is not None and tuple(bias.shape) != (weight.shape[0],):
            raise ValueError(f"[linear] bias has shape {tuple(bias.shape)}, expected ({weight.shape[0]},)")
        if x.dtype != weight.dtype:
            raise TypeError(f"[linear] input is {x.dtype} but weight is {weight.dtype}; cast one of them")
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        y = matmul_arrays(x, weight.T)
        if bias is not None:
            y += bias
        return y

    @staticmethod
    def backward(ctx, g):
        x, weight = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad
        gx = matmul_arrays(g, weight) if need_x else None
        g2 = g.reshape(-1, g.shape[-1])
        gw = matmul_arrays(g2.T, x.reshape(-1, x.shape[-1])) if need_w else None
        gb = g2.sum(axis=0) if ctx.has_bias and need_b else None
        return gx, gw, gb


def linear(input, weight, bias=None):
    """torch.nn.functional.linear: input (*, in) @ weight(out, in)^T + bias(out)."""
    return Linear.apply(input, weight, bias)
