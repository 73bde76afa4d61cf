"""backend — the one place that picks numpy or cupy and nerve._C.cpu or the CUDA kernels.

Everything above this package asks an array for its backend: `xp(a)` is the array module
(numpy/cupy), `kernels(a)` the kernel module whose functions take arrays of that kind.
"""
from __future__ import annotations

import numpy as np

from . import cpu

_ndarray = np.ndarray


def is_host(a) -> bool:
    return type(a) is _ndarray


def xp(a):
    """numpy for host arrays, cupy for device arrays."""
    if type(a) is _ndarray or isinstance(a, np.generic):
        return np
    from . import cuda
    return cuda.xp()


def kernels(a):
    """nerve._C.cpu for host arrays; the CUDA kernels (stream filled in) for device arrays."""
    if type(a) is _ndarray:
        return cpu.kernels
    from . import cuda
    return cuda.kernels()


def device_of(a):
    from ..device import cpu as cpu_device, device
    if type(a) is _ndarray:
        return cpu_device
    return device("cuda", a.device.id)
