"""cuda_backends.py — the two places the CUDA kernel tests run a kernel: under the emulator
(nerve._C_emu over numpy arrays, always) and on a GPU (nerve._C.cuda over cupy arrays, marker
`cuda`, skipped where none answers). Tests take the `be` fixture and call be.run(entry, ...) with
numpy arrays; arrays are copied to the backend, and those named in `outs` are copied back."""
import numpy as np
import pytest

from nerve import _C, _C_emu


class Emu:
    """The emulator: kernels are nerve._C_emu's entries over numpy arrays."""
    name = "emu"
    k = _C_emu  # the entries (CUDA's signatures, no stream argument needed)

    @staticmethod
    def put(a):
        return None if a is None else np.array(a, copy=True)

    @staticmethod
    def get(a):
        return a

    @staticmethod
    def call(entry, *args, **kwargs):
        return getattr(_C_emu, entry)(*args, **kwargs)

    @staticmethod
    def gemm(out, a, b, alpha=1.0, beta=0.0, kernel="auto"):
        _C_emu.gemm(out, a, b, alpha, beta, kernel=kernel)


class Device:
    """A GPU through cupy: nerve._C.cuda's entries on cupy's current stream."""
    name = "cuda"

    def __init__(self, cp):
        from nerve.backend import cuda
        self.cp = cp
        self.k = cuda.kernels()  # fills in stream= (the current stream) on every call

    def put(self, a):
        return None if a is None else self.cp.asarray(a)

    def get(self, a):
        self.cp.cuda.get_current_stream().synchronize()
        return None if a is None else self.cp.asnumpy(a)

    def call(self, entry, *args, **kwargs):
        out = getattr(self.k, entry)(*args, **kwargs)
        self.cp.cuda.get_current_stream().synchronize()
        return out

    def gemm(self, out, a, b, alpha=1.0, beta=0.0, kernel="auto"):
        self.call("gemm", out, a, b, alpha, beta, kernel=kernel)


def run(be, entry, *args, outs=(), **kwargs):
    """Calls entry with numpy arguments moved to the backend; returns the arrays at positions outs."""
    moved = [be.put(a) if isinstance(a, np.ndarray) else a for a in args]
    be.call(entry, *moved, **kwargs)
    return tuple(be.get(moved[i]) for i in outs)


def require_gpu():
    """cupy, once a GPU is known to answer; skips the test otherwise."""
    if not _C.build_info["cuda"]:
        pytest.skip("nerve was built without CUDA")
    cp = pytest.importorskip("cupy")
    if _C.cuda_device_count() == 0:
        pytest.skip("no CUDA device")
    return cp


@pytest.fixture(params=["emu", pytest.param("cuda", marks=pytest.mark.cuda)])
def be(request):
    return Emu if request.param == "emu" else Device(require_gpu())
