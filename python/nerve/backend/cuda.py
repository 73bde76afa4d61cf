"""backend/cuda.py — device arrays are cupy arrays; kernels are nerve._C.cuda launched on cupy's
current stream. cupy is imported only when a CUDA tensor is first made, so `import nerve` stays
fast and works without it."""
from __future__ import annotations

import functools

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


def is_available() -> bool:
    """Built with CUDA, cupy imports, and a device answers."""
    if not _C.build_info["cuda"] or _C.cuda_device_count() == 0:
        return False
    try:
        return cupy().cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


def require(op: str = "cuda") -> None:
    if not _C.build_info["cuda"]:
        raise RuntimeError(f"[{op}] nerve was built without CUDA (rebuild with nvcc on PATH and NERVE_CUDA=ON)")
    if not is_available():
        raise RuntimeError(f"[{op}] no CUDA device is available (driver, GPU or cupy missing)")


class _StreamKernels:
    """_C.cuda with `stream=` set to cupy's current stream on every call."""

    def __getattr__(self, name):
        fn = getattr(_C.cuda, name)

        @functools.wraps(fn)
        def call(*args, **kwargs):
            kwargs.setdefault("stream", cupy().cuda.get_current_stream().ptr)
            return fn(*args, **kwargs)

        setattr(self, name, call)
        return call


_kernels = _StreamKernels()


def kernels():
    return _kernels


def to_device(arr, index: int = 0):
    require("to")
    cp = cupy()
    with cp.cuda.Device(index):
        return cp.asarray(arr)


def to_host(arr):
    return arr.get()
