"""creation.py — making tensors: tensor, zeros, ones, full, empty, arange, linspace, eye, the _like
forms, from_numpy, as_tensor and DLPack interop. Names, defaults and dtype inference follow torch:
Python floats become the default float dtype (float32), ints int64, bools bool."""
from __future__ import annotations

import numbers

import numpy as np

from . import dtypes
from .device import device as Device
from .tensor import Tensor, Size


def _size(size, op):
    if len(size) == 1 and isinstance(size[0], (tuple, list, Size)):
        size = tuple(size[0])
    for s in size:
        if not isinstance(s, numbers.Integral) or isinstance(s, bool):
            raise TypeError(f"[{op}] size must be ints, got {size!r}")
        if s < 0:
            raise ValueError(f"[{op}] negative dimension {s} in size {tuple(size)}")
    return tuple(int(s) for s in size)


def _infer_np_dtype(data):
    """torch.tensor's inference for Python data: any float -> default float, else int64, else bool."""
    kinds = set()

    def walk(x):
        if isinstance(x, (list, tuple)):
            for y in x:
                walk(y)
        elif isinstance(x, Tensor):
            kinds.add(x._data.dtype.kind)
        elif isinstance(x, (bool, np.bool_)):
            kinds.add("b")
        elif isinstance(x, numbers.Integral):
            kinds.add("i")
        elif isinstance(x, numbers.Real):
            kinds.add("f")
        else:
            raise TypeError(f"[tensor] could not infer dtype of {type(x).__name__}")

    walk(data)
    if "f" in kinds:
        return dtypes.get_default_dtype().np
    if "i" in kinds or "u" in kinds:
        return np.dtype(np.int64)
    if "b" in kinds:
        return np.dtype(np.bool_)
    return dtypes.get_default_dtype().np  # empty list


def _to_array(data, dtype):
    """A fresh host array holding `data` (a copy, as torch.tensor makes)."""
    npdt = None if dtype is None else dtypes.to_numpy_dtype(dtype)
    if isinstance(data, Tensor):
        arr = data.__array__()
        return arr.astype(npdt or arr.dtype, copy=True)
    if isinstance(data, np.ndarray) or hasattr(data, "__array__") and not isinstance(data, (list, tuple)):
        arr = np.array(data, copy=True)
        if npdt is None:
            if arr.dtype.kind == "f" and arr.dtype not in (np.float32, np.float64, np.float16):
                npdt = dtypes.get_default_dtype().np
            elif arr.dtype.kind in "iu" and arr.dtype not in (np.int64, np.int32, np.uint8):
                npdt = np.int64
        return arr.astype(npdt, copy=False) if npdt is not None else arr
    if isinstance(data, (list, tuple)) and any(isinstance(x, Tensor) for x in _flat(data)):
        data = _unwrap(data)
    return np.array(data, dtype=npdt or _infer_np_dtype(data))


def _flat(x):
    if isinstance(x, (list, tuple)):
        for y in x:
            yield from _flat(y)
    else:
        yield x


def _unwrap(x):
    if isinstance(x, (list, tuple)):
        return [_unwrap(y) for y in x]
    return x.item() if isinstance(x, Tensor) else x


def _cuda_index(device, op):
    """The CUDA device index `device` names (checked: raises without a GPU), or None for the CPU."""
    if device is None:
        return None
    d = Device(device)
    if d.type == "cpu":
        return None
    from .backend import cuda
    return cuda.device_index(d, op)


def _finish(arr, device, requires_grad, op="tensor") -> Tensor:
    """A tensor of host array `arr`, copied to `device` when that is a GPU (same values as on the CPU)."""
    index = _cuda_index(device, op)
    if index is not None:
        from .backend import cuda
        arr = cuda.to_device(arr, index, op)
    t = Tensor._make(arr, False, None, 0)
    if requires_grad:
        t.requires_grad_(True)
    return t


def _on_device(make, device, requires_grad, op) -> Tensor:
    """make(xp) -> array, built with cupy right on the GPU when `device` is one (no host copy)."""
    index = _cuda_index(device, op)
    if index is None:
        arr = make(np)
    else:
        from .backend import cuda
        cp = cuda.cupy()
        with cp.cuda.Device(index):
            arr = make(cp)
    t = Tensor._make(arr, False, None, 0)
    if requires_grad:
        t.requires_grad_(True)
    return t


def tensor(data, dtype=None, device=None, requires_grad=False) -> Tensor:
    """A new tensor holding a copy of `data` (nested lists, numbers, numpy arrays, tensors)."""
    if hasattr(data, "__cuda_array_interface__") and not isinstance(data, Tensor):
        from .backend import cuda
        cp = cuda.cupy()
        arr = cp.array(data, dtype=None if dtype is None else dtypes.to_numpy_dtype(dtype), copy=True)
        if device is not None and Device(device).type == "cpu":
            arr = cuda.to_host(arr)
        elif device is not None:
            arr = cuda.to_device(arr, Device(device).index, "tensor")
        t = Tensor._make(arr, False, None, 0)
        return t.requires_grad_(True) if requires_grad else t
    return _finish(_to_array(data, dtype), device, requires_grad)


def as_tensor(data, dtype=None, device=None) -> Tensor:
    """Like tensor() but shares memory with a numpy array when dtype and device allow."""
    if isinstance(data, Tensor):
        return data.to(device=device, dtype=dtype) if (device or dtype) else data
    if isinstance(data, np.ndarray) and (dtype is None or dtypes.to_numpy_dtype(dtype) == data.dtype) and \
            (device is None or Device(device).type == "cpu"):
        return from_numpy(data)
    return tensor(data, dtype=dtype, device=device)


def from_numpy(arr: np.ndarray) -> Tensor:
    """A tensor sharing memory with `arr` (writes show through both ways)."""
    if not isinstance(arr, np.ndarray):
        raise TypeError(f"[from_numpy] expected a numpy.ndarray, got {type(arr).__name__}")
    dtypes.from_numpy_dtype(arr.dtype)  # raises for unsupported dtypes
    return Tensor._make(arr, False, None, 0)


def from_dlpack(obj) -> Tensor:
    """Zero-copy import from any DLPack producer (torch, cupy, jax, numpy)."""
    dev_type = obj.__dlpack_device__()[0] if hasattr(obj, "__dlpack_device__") else 1
    if dev_type == 1:  # kDLCPU
        return Tensor._make(np.from_dlpack(obj), False, None, 0)
    from .backend import cuda
    return Tensor._make(cuda.cupy().from_dlpack(obj), False, None, 0)


def _filled(size, value, dtype, device, requires_grad, op, default=None):
    npdt = dtypes.to_numpy_dtype(dtype) if dtype is not None else (default or dtypes.get_default_dtype().np)
    shape = _size(size, op)
    return _on_device(lambda m: m.full(shape, value, dtype=npdt), device, requires_grad, op)


def zeros(*size, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _filled(size, 0, dtype, device, requires_grad, "zeros")


def ones(*size, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _filled(size, 1, dtype, device, requires_grad, "ones")


def empty(*size, dtype=None, device=None, requires_grad=False) -> Tensor:
    npdt = dtypes.to_numpy_dtype(dtype)
    shape = _size(size, "empty")
    return _on_device(lambda m: m.empty(shape, dtype=npdt), device, requires_grad, "empty")


def full(size, fill_value, dtype=None, device=None, requires_grad=False) -> Tensor:
    if dtype is None:
        default = (np.dtype(np.bool_) if isinstance(fill_value, bool) else np.dtype(np.int64)
                   if isinstance(fill_value, numbers.Integral) else dtypes.get_default_dtype().np)
        return _filled((size,) if not isinstance(size, numbers.Integral) else (size,), fill_value, None, device,
                       requires_grad, "full", default)
    return _filled((size,) if not isinstance(size, numbers.Integral) else (size,), fill_value, dtype, device,
                   requires_grad, "full")


def zeros_like(t, dtype=None, device=None, requires_grad=False) -> Tensor:
    return zeros(*t.shape, dtype=dtype or t.dtype, device=device or t.device, requires_grad=requires_grad)


def ones_like(t, dtype=None, device=None, requires_grad=False) -> Tensor:
    return ones(*t.shape, dtype=dtype or t.dtype, device=device or t.device, requires_grad=requires_grad)


def empty_like(t, dtype=None, device=None, requires_grad=False) -> Tensor:
    return empty(*t.shape, dtype=dtype or t.dtype, device=device or t.device, requires_grad=requires_grad)


def full_like(t, fill_value, dtype=None, device=None, requires_grad=False) -> Tensor:
    return full(tuple(t.shape), fill_value, dtype=dtype or t.dtype, device=device or t.device,
                requires_grad=requires_grad)


def arange(start, end=None, step=1, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    if end is None:
        start, end = 0, start
    if step == 0:
        raise ValueError("[arange] step must be nonzero")
    if dtype is None:
        is_int = all(isinstance(v, numbers.Integral) for v in (start, end, step))
        npdt = np.dtype(np.int64) if is_int else dtypes.get_default_dtype().np
    else:
        npdt = dtypes.to_numpy_dtype(dtype)
    return _finish(np.arange(start, end, step).astype(npdt), device, requires_grad, "arange")


def linspace(start, end, steps, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    if steps < 0:
        raise ValueError(f"[linspace] number of steps must be non-negative, got {steps}")
    npdt = dtypes.to_numpy_dtype(dtype)
    return _finish(np.linspace(start, end, steps).astype(npdt), device, requires_grad, "linspace")


def eye(n, m=None, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _finish(np.eye(n, m, dtype=dtypes.to_numpy_dtype(dtype)), device, requires_grad, "eye")


def cat(tensors, dim=0) -> Tensor:
    from . import functional as F
    tensors = list(tensors)
    if not tensors:
        raise ValueError("[cat] expected a non-empty list of tensors")
    nd = tensors[0].ndim
    (d,) = F.norm_dims(dim, nd, "cat")
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"[cat] expected Tensors, got {type(t).__name__} at position {i}")
        if t.ndim != nd or any(a != b for k, (a, b) in enumerate(zip(t.shape, tensors[0].shape)) if k != d):
            raise ValueError(f"[cat] sizes of tensors must match except in dimension {dim}: tensor 0 has shape "
                             f"{tuple(tensors[0].shape)}, tensor {i} has shape {tuple(t.shape)}")
    return F.Cat.apply(d, *tensors)


concat = concatenate = cat


def stack(tensors, dim=0) -> Tensor:
    from . import functional as F
    tensors = list(tensors)
    if not tensors:
        raise ValueError("[stack] expected a non-empty list of tensors")
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"[stack] expected Tensors, got {type(t).__name__} at position {i}")
        if t.shape != tensors[0].shape:
            raise ValueError(f"[stack] stack expects each tensor to be equal size, but got {tuple(tensors[0].shape)}"
                             f" at entry 0 and {tuple(t.shape)} at entry {i}")
    nd = tensors[0].ndim + 1
    if not -nd <= dim < nd:
        raise IndexError(f"[stack] dim {dim} is out of range for a result with {nd} dimensions")
    return F.Stack.apply(dim % nd, *tensors)
