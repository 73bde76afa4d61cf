"""backend/cuda.py — device arrays are cupy arrays; kernels are nerve._C.cuda launched on cupy's
current stream. cupy is imported only when a CUDA tensor is first made, so `import nerve` stays
fast and works without it."""
from __future__ import annotations

import functools

import numpy as np

from .. import _C

_cupy = None
_cupy_error = None


def cupy():
    """The cupy module, or a RuntimeError saying why CUDA cannot be used."""
    global _cupy, _cupy_error
    if _cupy is None and _cupy_error is None:
        try:
            import cupy as cp
            _cupy = cp
        except Exception as e:  # ImportError, or a broken CUDA install
            _cupy_error = e
    if _cupy is None:
        raise RuntimeError(f"[cuda] cupy is not usable ({_cupy_error}); install nerve[cuda] (cupy-cuda13x)")
    return _cupy


def xp():
    return cupy()


def _why_unavailable():
    """None when CUDA can be used; else why not (the reason the errors give)."""
    if not _C.build_info["cuda"]:
        return "nerve was built without CUDA (rebuild with nvcc on PATH and NERVE_CUDA=ON)"
    if _C.cuda_device_count() == 0:
        return "no GPU or CUDA driver answers"
    try:
        cp = cupy()
    except RuntimeError as e:
        return str(e).removeprefix("[cuda] ")
    try:
        if cp.cuda.runtime.getDeviceCount() == 0:
            return "cupy sees no GPU"
    except Exception as e:  # cupy's CUDA runtime may not match the driver
        return f"cupy cannot reach the GPU ({e})"
    return None


def is_available() -> bool:
    """Built with CUDA, a device answers, and cupy imports and sees it."""
    return _why_unavailable() is None


def device_count() -> int:
    """Devices the driver reports (0 without CUDA, a driver or a GPU); cupy need not be installed."""
    return _C.cuda_device_count() if _C.build_info["cuda"] else 0


def require(op: str = "cuda") -> None:
    """Raises "[op] no CUDA device is available: <why>" unless CUDA can be used."""
    why = _why_unavailable()
    if why is not None:
        raise RuntimeError(f"[{op}] no CUDA device is available: {why}")


def device_index(dev, op: str) -> int:
    """The CUDA device index of a nerve.device / 'cuda:N' / int (None: cupy's current device),
    checked against the devices present."""
    from ..device import device as Device
    require(op)
    cp = cupy()
    if dev is None:
        return cp.cuda.runtime.getDevice()
    d = Device(dev)
    if d.type != "cuda":
        raise ValueError(f"[{op}] expected a CUDA device, got {d}")
    n = cp.cuda.runtime.getDeviceCount()
    if not 0 <= d.index < n:
        raise RuntimeError(f"[{op}] {d} is not available: there {'is' if n == 1 else 'are'} {n} CUDA "
                           f"device{'' if n == 1 else 's'}")
    return d.index


class _StreamKernels:
    """A kernel module (nerve._C.cuda) with `stream=` set to cupy's current stream on every call."""

    def __init__(self, module):
        self._module = module

    def __getattr__(self, name):
        fn = getattr(self._module, name)

        @functools.wraps(fn)
        def call(*args, **kwargs):
            kwargs.setdefault("stream", cupy().cuda.get_current_stream().ptr)
            return fn(*args, **kwargs)

        setattr(self, name, call)
        return call


_kernels = _StreamKernels(_C.cuda)


def kernels():
    return _kernels


def to_device(arr, index: int = 0, op: str = "to"):
    """arr (host or device) on CUDA device `index`; the array itself when it is there already."""
    index = device_index(f"cuda:{index}", op)
    cp = cupy()
    with cp.cuda.Device(index):
        if isinstance(arr, (np.ndarray, np.generic)):
            return cp.asarray(arr)
        if arr.device.id == index:
            return arr
        return arr.copy()  # cupy copies onto the current device


def to_host(arr):
    return arr.get()
