"""nerve.testing — assert_close and gradcheck (float64 central differences), as in torch.testing."""
from __future__ import annotations

import numpy as np

from .tensor import Tensor

_TOLS = {np.dtype(np.float16): (1e-3, 1e-5), np.dtype(np.float32): (1.3e-6, 1e-5),
         np.dtype(np.float64): (1e-7, 1e-7)}


def _arr(x):
    if isinstance(x, Tensor):
        return x.__array__()
    if hasattr(x, "detach") and hasattr(x, "numpy"):  # a torch tensor
        return x.detach().cpu().numpy()
    if hasattr(x, "get") and hasattr(x, "__cuda_array_interface__"):
        return x.get()
    return np.asarray(x)


def assert_close(actual, expected, *, rtol=None, atol=None, equal_nan=True, check_dtype=True, msg=None):
    """Raises AssertionError unless |actual - expected| <= atol + rtol * |expected| everywhere.

    Defaults follow torch.testing.assert_close for the dtype (float32: rtol 1.3e-6, atol 1e-5).
    """
    a, e = _arr(actual), _arr(expected)
    if a.shape != e.shape:
        raise AssertionError(f"{msg + ': ' if msg else ''}shapes differ: {a.shape} vs expected {e.shape}")
    if check_dtype and a.dtype != e.dtype:
        raise AssertionError(f"{msg + ': ' if msg else ''}dtypes differ: {a.dtype} vs expected {e.dtype}")
    if rtol is None or atol is None:
        dr, da = _TOLS.get(a.dtype, (0.0, 0.0))
        rtol = dr if rtol is None else rtol
        atol = da if atol is None else atol
    if a.dtype.kind in "biu" and e.dtype.kind in "biu":
        bad = a != e
    else:
        a64, e64 = a.astype(np.float64), e.astype(np.float64)
        with np.errstate(invalid="ignore"):
            bad = ~(np.abs(a64 - e64) <= atol + rtol * np.abs(e64))
        both_nan = np.isnan(a64) & np.isnan(e64)
        same_inf = np.isinf(a64) & (a64 == e64)
        bad &= ~(same_inf | (both_nan if equal_nan else False))
    if bad.any():
        idx = np.unravel_index(np.argmax(bad), bad.shape) if bad.ndim else ()
        diff = np.abs(a.astype(np.float64) - e.astype(np.float64))
        worst = np.unravel_index(np.nanargmax(np.where(bad, diff, -1)), bad.shape) if bad.ndim else ()
        raise AssertionError(
            f"{msg + ': ' if msg else ''}tensors are not close: {int(bad.sum())} / {bad.size} elements differ "
            f"(rtol={rtol}, atol={atol}); first at {tuple(int(i) for i in idx)}: {a[idx]} vs {e[idx]}; "
            f"largest difference {diff[worst]} at {tuple(int(i) for i in worst)}")


class GradcheckError(AssertionError):
    pass


def gradcheck(fn, inputs, *, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True, nondet_tol=0.0) -> bool:
    """Checks fn's analytical gradients against float64 central differences.

    inputs: a Tensor or tuple of Tensors; those with requires_grad are checked and must be float64.
    fn may return a Tensor or a tuple of Tensors. Compares the full Jacobian, column by column
    (one perturbation per input element) against rows from one backward pass per output element.
    """
    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    diff_inputs = [t for t in inputs if isinstance(t, Tensor) and t.requires_grad]
    if not diff_inputs:
        raise ValueError("[gradcheck] no input requires grad")
    for t in diff_inputs:
        if t.dtype.np != np.float64:
            raise ValueError(f"[gradcheck] inputs that require grad must be float64, got {t.dtype}")

    def outputs():
        out = fn(*inputs)
        outs = (out,) if isinstance(out, Tensor) else tuple(o for o in out if isinstance(o, Tensor))
        return [o for o in outs if o.dtype.is_floating_point]

    from .autograd import no_grad, grad as autograd_grad

    outs = outputs()
    n_out = sum(o.numel() for o in outs)
    # numerical Jacobian: d out_flat / d in_flat for each input
    numerical = []
    with no_grad():
        for t in diff_inputs:
            arr = t._data
            flat = arr.reshape(-1)  # a view when contiguous; otherwise perturb through a copy
            if flat.size and not np.shares_memory(flat, arr):
                raise ValueError("[gradcheck] inputs must be contiguous")
            J = np.zeros((n_out, flat.size))
            for j in range(flat.size):
                orig = flat[j]
                flat[j] = orig + eps
                plus = np.concatenate([o.__array__().reshape(-1) for o in outputs()]) if n_out else np.zeros(0)
                flat[j] = orig - eps
                minus = np.concatenate([o.__array__().reshape(-1) for o in outputs()]) if n_out else np.zeros(0)
                flat[j] = orig
                J[:, j] = (plus - minus) / (2 * eps)
            numerical.append(J)
    # analytical Jacobian: one backward per output element
    analytical = [np.zeros((n_out, t.numel())) for t in diff_inputs]
    row = 0
    for o in outs:
        for k in range(o.numel()):
            outs_k = outputs()
            target = outs_k[[id(x) for x in outs].index(id(o))]
            g = np.zeros(target.shape, target._data.dtype)
            g.reshape(-1)[k] = 1.0
            if target.requires_grad:
                grads = autograd_grad(target, diff_inputs, grad_outputs=Tensor._make(g, False, None, 0),
                                      allow_unused=True)
                for i, gi in enumerate(grads):
                    if gi is not None:
                        analytical[i][row] = gi.__array__().reshape(-1)
            row += 1
    for i, (Jn, Ja) in enumerate(zip(numerical, analytical)):
        bad = ~(np.abs(Ja - Jn) <= atol + rtol * np.abs(Jn))
        if bad.any():
            r, c = np.unravel_index(np.argmax(np.abs(Ja - Jn) * bad), bad.shape)
            msg = (f"[gradcheck] Jacobian mismatch for input {i} (shape {tuple(diff_inputs[i].shape)}): "
                   f"output element {r}, input element {c}: numerical {Jn[r, c]:.6g} vs analytical {Ja[r, c]:.6g}; "
                   f"{int(bad.sum())} of {bad.size} entries differ (atol={atol}, rtol={rtol})")
            if raise_exception:
                raise GradcheckError(msg)
            return False
    return True
