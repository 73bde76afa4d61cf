"""config.py — threads, build facts and nerve.show_config()."""
from __future__ import annotations

import os

from . import _C
from .version import __version__


def set_num_threads(n: int) -> None:
    """Threads used by nerve's CPU kernels (like torch.set_num_threads)."""
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"[set_num_threads] expected a positive int, got {n!r}")
    _C.set_num_threads(n)


def get_num_threads() -> int:
    return _C.get_num_threads()


def config() -> dict:
    """Facts about this build and machine, as a dict (what `nerve info` prints)."""
    from .backend import cuda
    info = {
        "version": __version__,
        "compiler": _C.build_info["compiler"],
        "openmp": _C.build_info["openmp"],
        "threads": _C.get_num_threads(),
        "cpu_features": {k: v for k, v in _C.cpu_features().items()},
        "isa": _C.isa(),
        "cuda_compiled": _C.build_info["cuda"],
        "cuda_archs": _C.build_info["cuda_archs"],
        "cuda_runtime": _C.build_info["cuda_runtime_version"],
        "cuda_available": cuda.is_available() if _C.build_info["cuda"] else False,
        "cuda_devices": _C.cuda_device_count(),
    }
    try:
        import importlib.metadata as md
        info["cupy"] = next((md.version(p) for p in ("cupy-cuda13x", "cupy-cuda12x", "cupy")
                             if _has_dist(md, p)), None)
    except Exception:
        info["cupy"] = None
    return info


def _has_dist(md, name):
    try:
        md.version(name)
        return True
    except md.PackageNotFoundError:
        return False


def show_config() -> str:
    """Prints (and returns) version, compiler, threads, ISA, CUDA build and availability."""
    c = config()
    feats = " ".join(k for k, v in c["cpu_features"].items() if v) or "none"
    cuda_line = (f"compiled for sm {c['cuda_archs']} (runtime {c['cuda_runtime'] // 1000}.{c['cuda_runtime'] % 1000 // 10})"
                 if c["cuda_compiled"] else "not compiled")
    lines = [
        f"nerve {c['version']}",
        f"  compiler:       {c['compiler']}",
        f"  OpenMP:         {'on' if c['openmp'] else 'off'}, {c['threads']} threads"
        f" (OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')})",
        f"  CPU features:   {feats}",
        f"  ISA in use:     {c['isa']}",
        f"  CUDA:           {cuda_line}",
        f"  CUDA available: {c['cuda_available']} ({c['cuda_devices']} devices)",
        f"  cupy:           {c['cupy'] or 'absent'}",
    ]
    text = "\n".join(lines)
    print(text)
    return text
