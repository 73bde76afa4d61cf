"""nerve.nn.utils — gradient clipping and parameter/vector conversion (torch.nn.utils)."""
from __future__ import annotations

import math

import numpy as np

from ..autograd import no_grad
from ..tensor import Tensor


def _grads(parameters):
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p.grad for p in parameters if p.grad is not None]


def clip_grad_norm_(parameters, max_norm: float, norm_type: float = 2.0, error_if_nonfinite: bool = False) -> Tensor:
    """Scales gradients in place so their joint norm is at most max_norm; returns the norm before."""
    grads = _grads(parameters)
    max_norm, norm_type = float(max_norm), float(norm_type)
    if not grads:
        return Tensor._make(np.asarray(0.0, np.float32), False, None, 0)
    if norm_type == math.inf:
        total = max(float(np.abs(g._data).max()) if g.numel() else 0.0 for g in grads)
    else:
        total = sum(float((np.abs(g._data.astype(np.float64)) ** norm_type).sum()) for g in grads) ** (1.0 / norm_type)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"[clip_grad_norm_] the total norm of order {norm_type} for gradients is non-finite, "
                           "so it cannot be clipped; set error_if_nonfinite=False to clip anyway")
    coef = max_norm / (total + 1e-6)
    if coef < 1:
        with no_grad():
            for g in grads:
                g._data *= g._data.dtype.type(coef)
    return Tensor._make(np.asarray(total, grads[0]._data.dtype), False, None, 0)


def clip_grad_value_(parameters, clip_value: float) -> None:
    """Clamps every gradient element to [-clip_value, clip_value] in place."""
    clip_value = float(clip_value)
    for g in _grads(parameters):
        np.clip(g._data, -clip_value, clip_value, out=g._data)


def parameters_to_vector(parameters) -> Tensor:
    """One 1-D tensor holding every parameter, flattened and concatenated (outside the graph)."""
    arrays = [p._data.reshape(-1) for p in parameters]
    return Tensor._make(np.concatenate(arrays) if arrays else np.zeros(0, np.float32), False, None, 0)


def vector_to_parameters(vec: Tensor, parameters) -> None:
    """Copies consecutive slices of vec into the parameters (the inverse of parameters_to_vector)."""
    data = vec._data
    i = 0
    for p in parameters:
        n = p.numel()
        if i + n > data.size:
            raise ValueError(f"[vector_to_parameters] vector has {data.size} elements, parameters need more")
        p._data[...] = data[i:i + n].reshape(p._data.shape)
        i += n
    if i != data.size:
        raise ValueError(f"[vector_to_parameters] vector has {data.size} elements, parameters hold {i}")
