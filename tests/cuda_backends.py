"""cuda_backends.py — the two places the CUDA kernel tests run a kernel: under the emulator
(nerve._C_emu over numpy arrays, always) and on a GPU (nerve._C.cuda over cupy arrays, marker
`cuda`, skipped where none answers). Tests take the `be` fixture and call be.run(entry, ...) with
numpy arrays; arrays are copied to the backend, and those named in `outs` are copied back."""
import numpy as np
import pytest

from nerve import _C, _C_emu


class Emu:
    name = "emu"

    def put(self, a):
        return None if a is None else np.array(a, copy=True)

    def get(self, a):
        return a

    def call(self, entry, *args, **kwargs):
        return getattr(_C_emu, entry)(*args, **kwargs)


class Device:
    name = "cuda"

    def __init__(self, cp):
        self.cp = cp

    def put(self, a):
        return None if a is None else self.cp.asarray(a)

    def get(self, a):
        return self.cp.asnumpy(a)

    def call(self, entry, *args, **kwargs):
        out = getattr(_C.cuda, entry)(*args, stream=self.cp.cuda.get_current_stream().ptr, **kwargs)
        self.cp.cuda.get_current_stream().synchronize()
        return out


def run(be, entry, *args, outs=(), **kwargs):
    """Calls entry with numpy arguments moved to the backend; returns the arrays at positions outs."""
    moved = [be.put(a) if isinstance(a, np.ndarray) else a for a in args]
    be.call(entry, *moved, **kwargs)
    return tuple(be.get(moved[i]) for i in outs)


@pytest.fixture(params=["emu", pytest.param("cuda", marks=pytest.mark.cuda)])
def be(request):
    if request.param == "emu":
        return Emu()
    if not _C.build_info["cuda"]:
        pytest.skip("nerve was built without CUDA")
    cp = pytest.importorskip("cupy")
    if _C.cuda_device_count() == 0:
        pytest.skip("no CUDA device")
    return Device(cp)
