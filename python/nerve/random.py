"""random.py — nerve's global random state: manual_seed, rand/randn/randint and their _like forms.

One numpy Generator (PCG64) drives every host-side draw (init, shuffling, augmentation); kernels
with their own counter-based RNG (dropout) draw their seed from it, so manual_seed(s) makes a run
repeatable end to end, whatever the thread count.
"""
from __future__ import annotations

import numpy as np

from . import dtypes

_generator = np.random.Generator(np.random.PCG64(0))


class Generator:
    """torch.Generator's shape: an independent stream, seeded with manual_seed."""

    def __init__(self, device="cpu"):
        self._g = np.random.Generator(np.random.PCG64())

    def manual_seed(self, seed: int) -> "Generator":
        self._g = np.random.Generator(np.random.PCG64(int(seed)))
        return self

    def seed(self) -> int:
        s = int(np.random.SeedSequence().entropy % (2 ** 63))
        self.manual_seed(s)
        return s


def manual_seed(seed: int) -> None:
    """Seeds nerve's global generator (host draws and kernel RNG seeds)."""
    global _generator
    if not isinstance(seed, (int, np.integer)):
        raise TypeError(f"[manual_seed] expected an int seed, got {type(seed).__name__}")
    _generator = np.random.Generator(np.random.PCG64(int(seed) & ((1 << 64) - 1)))
    try:
        from .backend import cuda
        if cuda._cupy is not None:
            cuda._cupy.random.seed(int(seed) & 0xFFFFFFFF)
    except Exception:
        pass


def seed() -> int:
    s = int(np.random.SeedSequence().entropy % (2 ** 63))
    manual_seed(s)
    return s


def _gen(generator=None) -> np.random.Generator:
    if generator is None:
        return _generator
    return generator._g if isinstance(generator, Generator) else generator


def kernel_seed(generator=None) -> int:
    """A fresh 63-bit seed for a counter-based kernel RNG, drawn from the generator."""
    return int(_gen(generator).integers(0, 2 ** 63 - 1))


def _float_dtype(dtype):
    d = dtypes.to_numpy_dtype(dtype)
    if d.kind != "f":
        raise TypeError(f"[rand] expected a floating point dtype, got {dtypes.from_numpy_dtype(d)}")
    return d


def rand(*size, generator=None, dtype=None, device=None, requires_grad=False):
    from .creation import _finish, _size
    d = _float_dtype(dtype)
    g = _gen(generator)
    arr = g.random(_size(size, "rand"), dtype=d) if d in (np.float32, np.float64) else \
        g.random(_size(size, "rand")).astype(d)
    return _finish(arr, device, requires_grad, "rand")


def randn(*size, generator=None, dtype=None, device=None, requires_grad=False):
    from .creation import _finish, _size
    d = _float_dtype(dtype)
    g = _gen(generator)
    arr = g.standard_normal(_size(size, "randn"), dtype=d) if d in (np.float32, np.float64) else \
        g.standard_normal(_size(size, "randn")).astype(d)
    return _finish(arr, device, requires_grad, "randn")


def randint(low, high=None, size=None, *, generator=None, dtype=None, device=None):
    from .creation import _finish, _size
    if high is None:
        low, high = 0, low
    if size is None:
        raise TypeError("[randint] size is required, e.g. randint(0, 10, (3,))")
    if high <= low:
        raise ValueError(f"[randint] expected low < high, got low={low}, high={high}")
    d = dtypes.to_numpy_dtype(dtype or dtypes.int64)
    return _finish(_gen(generator).integers(low, high, _size((size,), "randint")).astype(d, copy=False), device, False,
                   "randint")


def randperm(n, *, generator=None, dtype=None, device=None):
    from .creation import _finish
    d = dtypes.to_numpy_dtype(dtype or dtypes.int64)
    return _finish(_gen(generator).permutation(n).astype(d), device, False, "randperm")


def rand_like(t, dtype=None, device=None, requires_grad=False):
    return rand(*t.shape, dtype=dtype or t.dtype, device=device or t.device, requires_grad=requires_grad)


def randn_like(t, dtype=None, device=None, requires_grad=False):
    return randn(*t.shape, dtype=dtype or t.dtype, device=device or t.device, requires_grad=requires_grad)


def randint_like(t, low, high=None, dtype=None, device=None):
    return randint(low, high, tuple(t.shape), dtype=dtype or t.dtype, device=device or t.device)


def bernoulli(p, generator=None):
    """1 with probability p, on p's device; the draws come from the host generator either way."""
    from .tensor import Tensor
    probs = p._data if isinstance(p, Tensor) else np.asarray(p)
    draws = _gen(generator).random(probs.shape)
    if type(probs) is not np.ndarray:  # a device array: cupy takes no numpy operands
        from .backend import cuda
        draws = cuda.to_device(draws.astype(probs.dtype), probs.device.id, "bernoulli")
    return Tensor._make((draws < probs).astype(probs.dtype), False, None, 0)
