"""helpers.py — check_op, the one oracle helper every op test goes through.

    check_op([(3, 4), (4,)], lambda a, b: a * b)                     # same lambda for torch and nerve
    check_op([(8, 10)], lambda x: torch.softmax(x, 1), lambda x: nerve.softmax(x, 1))
    check_op([(3, 4)], lambda x: x.exp(), gradcheck=True)            # + float64 central differences

It builds the same random inputs for both libraries (shapes become float arrays; arrays are used
as given, e.g. int64 indices), runs the op, and checks output shape, dtype and values; then it
back-propagates the same random upstream gradient through every float output and compares the
gradient of every float input. `noncontig=True` feeds strided views instead of fresh arrays.
Tolerances are explicit: |nerve - torch| <= atol + rtol * |torch|.
"""
from __future__ import annotations

import numpy as np
import torch

import nerve
from nerve.testing import assert_close, gradcheck as _gradcheck


def make_inputs(specs, dtype=np.float32, low=-2.0, high=2.0, noncontig=False, seed=0):
    rng = np.random.default_rng(seed)
    arrays = []
    for s in specs:
        if isinstance(s, np.ndarray):
            arrays.append(s)
            continue
        if isinstance(s, (int, float)) and not isinstance(s, bool):
            arrays.append(s)  # scalars pass through
            continue
        shape = tuple(s)
        if noncontig and len(shape) >= 1:
            base = rng.uniform(low, high, shape[:-1] + (2 * shape[-1] + 1,)).astype(dtype)
            arrays.append(base[..., 1::2][..., :shape[-1]])
        else:
            arrays.append(rng.uniform(low, high, shape).astype(dtype))
    return arrays


def _outputs(out):
    return list(out) if isinstance(out, (tuple, list)) else [out]


def check_op(specs, torch_fn, nerve_fn=None, *, atol=1e-5, rtol=1e-5, grad=True, grad_atol=None,
             grad_rtol=None, dtype=np.float32, low=-2.0, high=2.0, noncontig=False, gradcheck=False,
             gradcheck_specs=None, requires_grad=None, seed=0):
    """Compares nerve_fn (default: torch_fn) against torch_fn on the same inputs; returns nerve's outputs."""
    nerve_fn = nerve_fn or torch_fn
    arrays = make_inputs(specs, dtype, low, high, noncontig, seed)
    is_float = [isinstance(a, np.ndarray) and a.dtype.kind == "f" for a in arrays]
    wants = requires_grad if requires_grad is not None else [grad and f for f in is_float]

    def as_torch(a, rg):
        if not isinstance(a, np.ndarray):
            return a
        t = torch.from_numpy(np.array(a))  # torch needs its own copy; strides are re-made contiguous
        return t.requires_grad_(True) if rg else t

    def as_nerve(a, rg):
        if not isinstance(a, np.ndarray):
            return a
        t = nerve.from_numpy(a)  # keeps strides: noncontig inputs reach the kernel as views
        return t.requires_grad_(True) if rg else t

    t_in = [as_torch(a, r) for a, r in zip(arrays, wants)]
    n_in = [as_nerve(a, r) for a, r in zip(arrays, wants)]
    t_out = _outputs(torch_fn(*t_in))
    n_out = _outputs(nerve_fn(*n_in))
    assert len(t_out) == len(n_out), f"torch returned {len(t_out)} outputs, nerve {len(n_out)}"
    for i, (t, n) in enumerate(zip(t_out, n_out)):
        assert isinstance(n, nerve.Tensor), f"output {i} is {type(n).__name__}, expected nerve.Tensor"
        assert tuple(n.shape) == tuple(t.shape), f"output {i}: shape {tuple(n.shape)} vs torch {tuple(t.shape)}"
        assert str(n.dtype).split(".")[-1] == str(t.dtype).split(".")[-1], \
            f"output {i}: dtype {n.dtype} vs torch {t.dtype}"
        assert_close(n, t.detach(), atol=atol, rtol=rtol, msg=f"forward output {i}")

    if any(wants):
        rng = np.random.default_rng(seed + 1)
        t_loss, n_loss = 0, 0
        for t, n in zip(t_out, n_out):
            if t.dtype.is_floating_point and t.requires_grad:
                g = rng.uniform(-1, 1, tuple(t.shape)).astype(dtype)
                t_loss = t_loss + (t * torch.from_numpy(g)).sum()
                n_loss = n_loss + (n * nerve.from_numpy(g)).sum()
        if isinstance(t_loss, torch.Tensor):
            t_loss.backward()
            n_loss.backward()
            for i, (t, n, w) in enumerate(zip(t_in, n_in, wants)):
                if not w:
                    continue
                if t.grad is None:
                    assert n.grad is None or not n.grad.numpy().any(), f"input {i}: torch has no gradient, nerve does"
                    continue
                assert n.grad is not None, f"input {i}: nerve computed no gradient, torch did"
                assert tuple(n.grad.shape) == tuple(t.grad.shape)
                assert_close(n.grad, t.grad, atol=grad_atol if grad_atol is not None else atol,
                             rtol=grad_rtol if grad_rtol is not None else rtol, msg=f"gradient of input {i}")

    if gradcheck:
        small = make_inputs(gradcheck_specs or specs, np.float64, low, high, False, seed + 2)
        g_in = [nerve.from_numpy(a).requires_grad_(bool(w)) if isinstance(a, np.ndarray) else a
                for a, w in zip(small, wants)]
        _gradcheck(nerve_fn, g_in)
    return n_out
