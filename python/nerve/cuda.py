"""nerve.cuda — is_available(), device_count(), synchronize(), manual_seed() (torch.cuda's shape).

Without a usable GPU (no CUDA build, no driver or GPU, or no cupy) is_available() is False,
device_count() reports what the driver sees, manual_seed() does nothing (as torch's), and every
call that needs a device raises "[op] no CUDA device is available: <why>".
"""
from __future__ import annotations

import numbers

from . import _C
from .backend import cuda as _backend


def is_available() -> bool:
    """True when nerve was built with CUDA, a device answers, and cupy imports and sees it."""
    return _backend.is_available()


def is_built() -> bool:
    """True when nerve was compiled with nvcc (whether or not a GPU is present)."""
    return bool(_C.build_info["cuda"])


def device_count() -> int:
    """Number of CUDA devices the driver reports; 0 without CUDA, a driver or a GPU."""
    return _backend.device_count()


def synchronize(device=None) -> None:
    """Waits for every kernel queued on `device` (default: the current one) to finish."""
    cp = _cupy("synchronize")
    with cp.cuda.Device(_backend.device_index(device, "synchronize")):
        cp.cuda.runtime.deviceSynchronize()


def manual_seed(seed: int) -> None:
    """Seeds cupy's generator on every device (for cupy's own random functions on nerve arrays).

    nerve draws its random numbers, device tensors' included, from the host generator that
    nerve.manual_seed seeds, so CPU and CUDA runs with one seed see the same values. Without a GPU
    this does nothing, as torch.cuda.manual_seed."""
    if not isinstance(seed, numbers.Integral) or isinstance(seed, bool):
        raise TypeError(f"[manual_seed] expected an int seed, got {type(seed).__name__}")
    if not is_available():
        return
    cp = _backend.cupy()
    for i in range(cp.cuda.runtime.getDeviceCount()):
        with cp.cuda.Device(i):
            cp.random.seed(int(seed) & 0xFFFFFFFF)


manual_seed_all = manual_seed


def current_device() -> int:
    return _cupy("current_device").cuda.runtime.getDevice()


def get_device_name(device=None) -> str:
    cp = _cupy("get_device_name")
    props = cp.cuda.runtime.getDeviceProperties(_backend.device_index(device, "get_device_name"))
    name = props["name"]
    return name.decode() if isinstance(name, bytes) else name


def _cupy(op):
    _backend.require(op)
    return _backend.cupy()
