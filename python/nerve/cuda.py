"""nerve.cuda — is_available(), device_count(), synchronize(), manual_seed() (torch.cuda's shape)."""
from __future__ import annotations

from . import _C
from .backend import cuda as _backend


def is_available() -> bool:
    """True when nerve was built with CUDA, cupy imports, and a device answers."""
    return _backend.is_available()


def is_built() -> bool:
    return bool(_C.build_info["cuda"])


def device_count() -> int:
    return _C.cuda_device_count() if is_built() else 0


def synchronize(device=None) -> None:
    _backend.require("synchronize")
    _backend.cupy().cuda.runtime.deviceSynchronize()


def manual_seed(seed: int) -> None:
    if is_available():
        _backend.cupy().random.seed(int(seed) & 0xFFFFFFFF)


manual_seed_all = manual_seed


def current_device() -> int:
    _backend.require("current_device")
    return _backend.cupy().cuda.runtime.getDevice()


def get_device_name(device=None) -> str:
    _backend.require("get_device_name")
    cp = _backend.cupy()
    props = cp.cuda.runtime.getDeviceProperties(device or 0)
    name = props["name"]
    return name.decode() if isinstance(name, bytes) else name
