"""dtypes.py — nerve's dtypes (float32 default, float64, int64, bool; int32/uint8/float16 for interop).

Each dtype wraps a numpy dtype; `Tensor.dtype` returns one of these objects, printed like torch's.
"""
from __future__ import annotations

import builtins

import numpy as np


class dtype:
    __slots__ = ("name", "np", "is_floating_point", "itemsize")

    def __init__(self, name: str, np_dtype):
        self.name = name
        self.np = np.dtype(np_dtype)
        self.is_floating_point = self.np.kind == "f"
        self.itemsize = self.np.itemsize

    def __repr__(self) -> str:
        return f"nerve.{self.name}"

    def __reduce__(self):
        return (_NAMES.__getitem__, (self.name,))


float32 = dtype("float32", np.float32)
float64 = dtype("float64", np.float64)
float16 = dtype("float16", np.float16)
int64 = dtype("int64", np.int64)
int32 = dtype("int32", np.int32)
uint8 = dtype("uint8", np.uint8)
bool_ = dtype("bool", np.bool_)

_ALL = (float32, float64, float16, int64, int32, uint8, bool_)
_FROM_NP = {d.np: d for d in _ALL}
_NAMES = {d.name: d for d in _ALL}
_default = float32


def from_numpy_dtype(np_dtype) -> dtype:
    d = _FROM_NP.get(np.dtype(np_dtype))
    if d is None:
        raise TypeError(f"[dtype] numpy dtype {np.dtype(np_dtype)} has no nerve equivalent; "
                        f"expected one of {', '.join(_NAMES)}")
    return d


def to_numpy_dtype(d) -> np.dtype:
    """Accepts a nerve dtype, a numpy dtype or type, a name ('float32') or Python's float/int/bool."""
    if isinstance(d, dtype):
        return d.np
    if d is None or d is builtins.float:
        return _default.np
    if d is builtins.int:
        return int64.np
    if d is builtins.bool:
        return bool_.np
    if isinstance(d, str) and d in _NAMES:
        return _NAMES[d].np
    try:
        return from_numpy_dtype(d).np
    except TypeError:
        raise TypeError(f"[dtype] expected a nerve dtype (e.g. nerve.float32), got {d!r}") from None


def get_default_dtype() -> dtype:
    return _default


def set_default_dtype(d) -> None:
    global _default
    d = from_numpy_dtype(to_numpy_dtype(d))
    if not d.is_floating_point:
        raise TypeError(f"[set_default_dtype] expected a floating point dtype, got {d}")
    _default = d


def result_type(a, b) -> np.dtype:
    """Type promotion as in torch: a float beats an int beats a bool whatever their sizes
    (float32 + int64 -> float32), Python scalars only lift the category (int tensor * 0.5 ->
    default float), and 0-d arrays yield to arrays with dimensions of the same category."""
    ta, tb = _kind(a), _kind(b)
    if ta[0] != tb[0]:
        hi = a if ta[0] > tb[0] else b
        if isinstance(hi, np.ndarray) or hasattr(hi, "__cuda_array_interface__"):
            return hi.dtype
        return _default.np if isinstance(hi, builtins.float) else np.dtype(np.int64)
    # same category
    da, db = getattr(a, "dtype", None), getattr(b, "dtype", None)
    if da is None:
        return db if db is not None else (_default.np if ta[0] == 2 else np.dtype(np.int64) if ta[0] == 1 else np.dtype(bool))
    if db is None or da == db:
        return da
    if (a.ndim == 0) != (b.ndim == 0):
        return db if a.ndim == 0 else da
    return np.promote_types(da, db)


def _kind(x):
    """(category, ...) with category 0 bool, 1 integer, 2 float."""
    d = getattr(x, "dtype", None)
    if d is None:
        if isinstance(x, builtins.bool):
            return (0,)
        if isinstance(x, builtins.int):
            return (1,)
        return (2,)
    k = d.kind
    return (2,) if k in "fc" else (0,) if k == "b" else (1,)
