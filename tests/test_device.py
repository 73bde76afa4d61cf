"""test_device.py — tensors and modules on CUDA: Tensor.to / .cuda() / .cpu(), device= on creation
functions, Module.to, nerve.cuda.*, and the kernels the ops dispatch to for device arrays.

Three settings:
  - no GPU (this project's machines): every CUDA entry raises "[op] no CUDA device is available: <why>",
    nothing crashes, nerve.cuda reports False / 0;
  - "stand-in": a numpy-backed stand-in for cupy whose arrays nerve must treat as device arrays
    (not numpy.ndarray by type; like cupy, its ufuncs refuse numpy operands), with nerve._C_emu as
    the CUDA kernel module. It runs nerve's own device plumbing and CUDA dispatch — conv and pool
    through the emulated CUDA kernels — without a GPU. It is not cupy: it proves the Python
    side, not the device;
  - a real GPU with cupy (marker `cuda`): the same tests unpatched.
"""
import contextlib
import types

import numpy as np
import pytest
import torch

import nerve
import nerve.nn as nn
import nerve.nn.functional as F
from nerve import _C, _C_emu
from nerve.backend import cuda as backend_cuda

# ---- without a GPU ----------------------------------------------------------------------------------

no_gpu = pytest.mark.skipif(nerve.cuda.is_available(), reason="a GPU answers here")

NEEDS_DEVICE = [
    ("to", lambda: nerve.ones(2).to("cuda")),
    ("to", lambda: nerve.ones(2).cuda()),
    ("to", lambda: nerve.ones(2).to(0)),
    ("to", lambda: nerve.ones(2, requires_grad=True).to("cuda:1")),
    ("to", lambda: nerve.ones(2).to(device="cuda", dtype=nerve.float64)),
    ("zeros", lambda: nerve.zeros(2, 3, device="cuda")),
    ("ones", lambda: nerve.ones(2, device="cuda:0")),
    ("full", lambda: nerve.full((2,), 1.5, device="cuda")),
    ("empty", lambda: nerve.empty(4, device=nerve.device("cuda"))),
    ("zeros", lambda: nerve.zeros_like(nerve.ones(2), device="cuda")),
    ("tensor", lambda: nerve.tensor([1.0, 2.0], device="cuda")),
    ("tensor", lambda: nerve.as_tensor(np.ones(2), device="cuda")),
    ("arange", lambda: nerve.arange(5, device="cuda")),
    ("linspace", lambda: nerve.linspace(0, 1, 5, device="cuda")),
    ("eye", lambda: nerve.eye(3, device="cuda")),
    ("rand", lambda: nerve.rand(3, device="cuda")),
    ("randn", lambda: nerve.randn(3, device="cuda")),
    ("randint", lambda: nerve.randint(0, 5, (3,), device="cuda")),
    ("randperm", lambda: nerve.randperm(4, device="cuda")),
    ("to", lambda: nn.Linear(3, 2).to("cuda")),
    ("to", lambda: nn.Linear(3, 2).cuda()),
    ("synchronize", lambda: nerve.cuda.synchronize()),
    ("current_device", lambda: nerve.cuda.current_device()),
    ("get_device_name", lambda: nerve.cuda.get_device_name()),
]


@no_gpu
@pytest.mark.parametrize("op,fn", NEEDS_DEVICE, ids=[f"{i}-{op}" for i, (op, _) in enumerate(NEEDS_DEVICE)])
def test_cuda_entries_raise_clearly_without_a_gpu(op, fn):
    with pytest.raises(RuntimeError, match=rf"^\[{op}\] no CUDA device is available: "):
        fn()


@no_gpu
def test_nerve_cuda_reports_no_device():
    assert nerve.cuda.is_available() is False
    assert nerve.cuda.device_count() == (_C.cuda_device_count() if nerve.cuda.is_built() else 0)
    assert isinstance(nerve.cuda.device_count(), int)
    assert nerve.cuda.is_built() is bool(_C.build_info["cuda"])
    nerve.cuda.manual_seed(7)  # silently nothing, as torch.cuda.manual_seed without a GPU
    nerve.cuda.manual_seed_all(7)
    with pytest.raises(TypeError, match=r"\[manual_seed\] expected an int seed"):
        nerve.cuda.manual_seed(1.5)


@no_gpu
def test_failed_moves_leave_the_module_and_tensor_unchanged():
    m = nn.Linear(3, 2)
    before = m.weight.detach().numpy().copy()
    with pytest.raises(RuntimeError):
        m.to("cuda")
    assert m.weight.device == "cpu" and not m.weight.is_cuda
    np.testing.assert_array_equal(m.weight.detach().numpy(), before)


def test_cpu_devices_work_everywhere():
    x = nerve.ones(2, 3, device="cpu")
    assert x.device == "cpu" and x.to("cpu") is x and x.cpu() is x and x.to(nerve.device("cpu")) is x
    assert nerve.zeros(2, device=nerve.device("cpu")).device == "cpu"
    assert nerve.randn(2, device="cpu").shape == (2,)
    m = nn.Linear(3, 2)
    assert m.to("cpu") is m and m.cpu() is m
    y = x.to("cpu", nerve.float64)
    assert y.dtype == nerve.float64 and y.device == "cpu"


def test_device_specs():
    assert nerve.device(0) == "cuda:0" and nerve.device(2).index == 2
    assert nerve.device("cuda") == nerve.device("cuda:0")
    with pytest.raises(ValueError, match=r"\[device\]"):
        nerve.device("cuda:x")
    with pytest.raises(ValueError, match=r"\[device\] device index must be >= 0"):
        nerve.device(-1)
    with pytest.raises(ValueError, match=r"\[device\]"):
        nerve.zeros(2, device="gpu")


@no_gpu
def test_cuda_kernel_module_needs_device_arrays():
    """nerve._C.cuda entries take CUDA arrays only; a numpy array is refused before any launch."""
    x = np.zeros((1, 1, 3, 3), np.float32)
    with pytest.raises(ValueError, match=r"\[conv2d\] out must be a CUDA array \(cupy\)"):
        _C.cuda.conv2d_forward(np.zeros((1, 1, 1, 1), np.float32), x, np.zeros((1, 1, 3, 3), np.float32))
    with pytest.raises(ValueError, match=r"\[max_pool2d\] out must be a CUDA array"):
        _C.cuda.max_pool2d_forward(np.zeros((1, 1, 1, 1), np.float32), None, x, [3, 3])


@pytest.mark.skipif(nerve.cuda.is_built(), reason="nerve was built with CUDA: the stubs are not linked")
def test_cuda_kernels_of_a_cpu_build_raise():
    class DeviceArray:  # what the binding reads of a cupy array; the stub raises before any use
        address = 0

        def __init__(self, shape, typestr="<f4"):
            DeviceArray.address += 4096  # distinct, never dereferenced
            self.__cuda_array_interface__ = {"shape": shape, "typestr": typestr, "data": (DeviceArray.address, False),
                                             "version": 3}
    with pytest.raises(RuntimeError, match=r"\[conv2d\] nerve was built without CUDA"):
        _C.cuda.conv2d_forward(DeviceArray((1, 1, 1, 1)), DeviceArray((1, 1, 3, 3)), DeviceArray((1, 1, 3, 3)))
    with pytest.raises(RuntimeError, match=r"\[avg_pool2d\] nerve was built without CUDA"):
        _C.cuda.avg_pool2d_forward(DeviceArray((1, 1, 1, 1)), DeviceArray((1, 1, 2, 2)), [2, 2])


# ---- a numpy-backed stand-in for cupy -----------------------------------------------------------------

class StandInArray(np.ndarray):
    """Device memory as far as nerve can tell: not numpy.ndarray by type, a .device, .get(), and the
    CUDA array interface; its ufuncs refuse numpy arrays, as cupy's do (no implicit copies)."""

    class _Device:
        id = 0

    device = _Device()

    def get(self):
        return np.array(self.view(np.ndarray), copy=True)

    @property
    def __cuda_array_interface__(self):
        ai = self.view(np.ndarray).__array_interface__
        return {"shape": ai["shape"], "typestr": ai["typestr"], "data": ai["data"], "strides": ai["strides"],
                "version": 3}

    def __array_ufunc__(self, ufunc, method, *inputs, out=None, **kw):
        for x in inputs + (out or ()):
            if type(x) is np.ndarray:
                raise TypeError(f"stand-in cupy: {ufunc.__name__} got a numpy array next to a device array")
        inputs = tuple(x.view(np.ndarray) if isinstance(x, StandInArray) else x for x in inputs)
        if out is not None:
            kw["out"] = tuple(o.view(np.ndarray) for o in out)
        result = getattr(ufunc, method)(*inputs, **kw)
        return out[0] if out is not None and len(out) == 1 else _device(result)


def _device(r):
    """numpy results as stand-in device arrays (0-d ones too: cupy reductions return arrays)."""
    if isinstance(r, tuple):
        return tuple(_device(v) for v in r)
    if type(r) is np.ndarray:
        return r.view(StandInArray)
    if isinstance(r, np.generic):
        return np.asarray(r).view(StandInArray)
    return r


class StandInCupy(types.ModuleType):
    """The slice of cupy's API that nerve uses, over numpy."""

    ndarray = StandInArray

    def __init__(self):
        super().__init__("cupy")
        self.seeds = []

        @contextlib.contextmanager
        def device(index):
            assert index == 0, f"stand-in cupy has one device, asked for {index}"
            yield

        stream = types.SimpleNamespace(ptr=0, synchronize=lambda: None)
        self.cuda = types.SimpleNamespace(
            Device=device, get_current_stream=lambda: stream,
            runtime=types.SimpleNamespace(getDeviceCount=lambda: 1, getDevice=lambda: 0,
                                          deviceSynchronize=lambda: None,
                                          getDeviceProperties=lambda i: {"name": b"stand-in"}))
        self.random = types.SimpleNamespace(seed=self.seeds.append)

    def __getattr__(self, name):
        fn = getattr(np, name)
        if isinstance(fn, type) or not callable(fn):
            return fn

        def call(*args, **kwargs):
            for a in list(args) + list(kwargs.values()):
                if type(a) is np.ndarray:
                    raise TypeError(f"stand-in cupy: cupy.{name} got a numpy array")
            return _device(fn(*args, **kwargs))
        return call

    def asarray(self, a, dtype=None):
        if isinstance(a, StandInArray) and (dtype is None or a.dtype == dtype):
            return a
        return np.array(a, dtype=dtype, copy=True).view(StandInArray)

    def array(self, a, dtype=None, copy=True):
        return np.array(a.view(np.ndarray) if isinstance(a, StandInArray) else a, dtype=dtype,
                        copy=True).view(StandInArray)

    def asnumpy(self, a):
        return a.get() if isinstance(a, StandInArray) else np.asarray(a)


class Recorder:
    """A kernel module that notes each entry called (and its keyword arguments) before calling it."""

    def __init__(self, module):
        self.module, self.calls = module, []

    def __getattr__(self, name):
        fn = getattr(self.module, name)

        def call(*args, **kwargs):
            self.calls.append((name, kwargs))
            return fn(*args, **kwargs)
        return call


@pytest.fixture(params=["stand-in", pytest.param("cuda", marks=pytest.mark.cuda)])
def gpu(request, monkeypatch):
    """A usable CUDA device: the stand-in (here), or the real one (marker cuda); yields the
    Recorder of CUDA kernel calls (the real one records too)."""
    real = request.param == "cuda"
    rec = Recorder(_C.cuda if real else _C_emu)
    if not real:
        cp = StandInCupy()
        monkeypatch.setattr(backend_cuda, "_cupy", cp)
        monkeypatch.setattr(backend_cuda, "_why_unavailable", lambda: None)
        monkeypatch.setattr(backend_cuda, "device_count", lambda: 1)
        rec.cupy = cp
    else:
        rec.cupy = None
    monkeypatch.setattr(backend_cuda, "_kernels", backend_cuda._StreamKernels(rec))
    return rec


def on_device(t):
    return t.is_cuda and t.device == "cuda:0" and t.device.type == "cuda"


def test_moves_and_gradients_cross_devices(gpu):
    x = nerve.randn(3, 4, requires_grad=True)
    d = x.to("cuda")
    assert on_device(d) and d.requires_grad and d.grad_fn is not None
    assert x.cuda().device == d.device and d.to("cuda") is d and d.cuda() is d
    np.testing.assert_array_equal(d.cpu().detach().numpy(), x.detach().numpy())
    ((d * 2).sum()).backward()
    assert x.grad.device == "cpu"
    np.testing.assert_array_equal(x.grad.numpy(), np.full((3, 4), 2, np.float32))
    with pytest.raises(TypeError, match=r"\[numpy\] can't convert a cuda:0 tensor to numpy"):
        d.detach().numpy()
    np.testing.assert_array_equal(np.asarray(d.detach()), x.detach().numpy())
    h = d.to("cpu", nerve.float64)
    assert h.device == "cpu" and h.dtype == nerve.float64
    assert d.to(0) is d and d.to(nerve.device("cuda:0")) is d
    with pytest.raises(RuntimeError, match=r"\[to\] cuda:1 is not available: there is 1 CUDA device"):
        x.to("cuda:1")


def test_creation_on_the_device(gpu):
    made = [nerve.zeros(2, 3, device="cuda"), nerve.ones(2, device="cuda:0"), nerve.full((2,), 1.5, device="cuda"),
            nerve.empty(4, device=nerve.device("cuda")), nerve.tensor([1.0, 2.0], device="cuda"),
            nerve.arange(5, device="cuda"), nerve.linspace(0, 1, 5, device="cuda"), nerve.eye(3, device="cuda"),
            nerve.rand(3, device="cuda"), nerve.randn(3, device="cuda"), nerve.randint(0, 5, (3,), device="cuda"),
            nerve.randperm(4, device="cuda"), nerve.zeros(2, device=0)]
    for t in made:
        assert on_device(t), t
    z = nerve.zeros(2, 3, device="cuda", requires_grad=True)
    assert z.requires_grad and z.is_leaf and on_device(z)
    assert on_device(nerve.zeros_like(z)) and on_device(nerve.randn_like(z)) and on_device(z.new_ones(2))
    assert nerve.zeros_like(z, device="cpu").device == "cpu"
    np.testing.assert_array_equal(nerve.full((2,), 1.5, device="cuda").cpu().numpy(), [1.5, 1.5])
    assert nerve.arange(5, device="cuda").dtype == nerve.int64
    nerve.manual_seed(3)
    on_gpu = nerve.randn(5, device="cuda").cpu().numpy()
    nerve.manual_seed(3)
    np.testing.assert_array_equal(on_gpu, nerve.randn(5).numpy())  # one generator: same numbers
    back = nerve.tensor(nerve.ones(3, device="cuda")._data, device="cpu")
    assert back.device == "cpu"


def test_random_fills_on_the_device(gpu):
    t = nerve.zeros(1000, device="cuda")
    t.uniform_(2.0, 3.0)
    v = t.cpu().numpy()
    assert on_device(t) and v.min() >= 2.0 and v.max() < 3.0
    t.normal_(0.0, 1.0)
    assert on_device(t) and abs(t.cpu().numpy().std() - 1) < 0.1
    b = nerve.bernoulli(nerve.full((1000,), 0.25, device="cuda"))
    assert on_device(b) and 0.15 < b.cpu().numpy().mean() < 0.35


def test_module_to_moves_parameters_in_place(gpu):
    m = nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2))
    w = m[0].weight
    want = [p.detach().numpy().copy() for p in m.parameters()]
    assert m.to("cuda") is m and m[0].weight is w  # the same Parameter objects, moved
    for p, v in zip(m.parameters(), want):
        assert on_device(p) and isinstance(p, nn.Parameter) and p.requires_grad
        np.testing.assert_array_equal(p.detach().cpu().numpy(), v)
    x = nerve.randn(5, 4, device="cuda")
    m(x).sum().backward()
    assert all(on_device(p.grad) for p in m.parameters())
    m.cpu()
    assert all(p.device == "cpu" and p.grad.device == "cpu" for p in m.parameters())
    m.cuda()
    assert all(on_device(p) for p in m.parameters())
    m.to(nerve.zeros(1, dtype=nerve.float64))  # torch: to(tensor) takes its device and dtype
    assert all(p.device == "cpu" and p.dtype == nerve.float64 for p in m.parameters())


def _grads(fn, arrays, device):
    ts = [nerve.tensor(a, requires_grad=True, device=device) for a in arrays]
    out = fn(*ts)
    out = out[0] if isinstance(out, tuple) else out
    g = nerve.tensor(np.random.default_rng(9).standard_normal(tuple(out.shape)).astype(np.float32), device=device)
    out.backward(g)
    return [out.detach().cpu().numpy()] + [t.grad.cpu().numpy() for t in ts]


# (name, fn, input shapes, the CUDA entries forward + backward must call, whether fn returns indices)
CONV = ["conv2d_forward", "conv2d_backward_input", "conv2d_backward_weight"]
OPS = [
    ("conv2d", lambda x, w, b: F.conv2d(x, w, b, stride=(2, 1), padding=1), [(2, 3, 9, 7), (20, 3, 3, 3), (20,)],
     CONV + ["conv2d_backward_bias"], False),
    ("conv2d groups", lambda x, w: F.conv2d(x, w, padding="same", groups=4, dilation=2), [(2, 8, 7, 9), (8, 2, 3, 3)],
     CONV, False),
    ("conv1d", lambda x, w, b: F.conv1d(x, w, b, stride=2, padding=2), [(2, 17, 19), (18, 17, 5), (18,)],
     CONV + ["conv2d_backward_bias"], False),
    ("conv_transpose2d", lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1),
     [(2, 18, 5, 6), (18, 17, 3, 3), (17,)], CONV + ["conv2d_backward_bias"], False),
    ("max_pool2d", lambda x: F.max_pool2d(x, 3, 2, 1, ceil_mode=True, return_indices=True), [(2, 3, 9, 8)],
     ["max_pool2d_forward", "max_pool2d_backward"], True),
    ("max_pool1d", lambda x: F.max_pool1d(x, 3, 1, dilation=2), [(2, 3, 11)],
     ["max_pool2d_forward", "max_pool2d_backward"], False),
    ("avg_pool2d", lambda x: F.avg_pool2d(x, 3, 2, 1, count_include_pad=False), [(2, 3, 9, 8)],
     ["avg_pool2d_forward", "avg_pool2d_backward"], False),
    ("adaptive_avg_pool2d", lambda x: F.adaptive_avg_pool2d(x, (3, 4)), [(2, 3, 9, 8)],
     ["adaptive_avg_pool2d_forward", "adaptive_avg_pool2d_backward"], False),
    ("adaptive_max_pool2d", lambda x: F.adaptive_max_pool2d(x, 3, return_indices=True), [(2, 3, 9, 8)],
     ["adaptive_max_pool2d_forward", "max_pool2d_backward"], True),
]


@pytest.mark.parametrize("name,fn,shapes,entries,indices", OPS, ids=[o[0] for o in OPS])
def test_ops_run_the_cuda_kernels_on_device_tensors(gpu, name, fn, shapes, entries, indices):
    """conv and pool on device tensors, forward and backward, through the CUDA entries, against the
    same op on the CPU."""
    rng = np.random.default_rng(8)
    arrays = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    on_cpu = _grads(fn, arrays, "cpu")
    on_gpu = _grads(fn, arrays, "cuda")
    called = {n: kw for n, kw in gpu.calls}
    assert set(entries) <= set(called), (entries, list(called))
    assert all("stream" in kw for kw in called.values())  # launched on cupy's current stream
    if "max_pool2d_backward" in called:  # told the window: the reproducible gather, not the scatter
        kw = called["max_pool2d_backward"]
        assert kw.get("adaptive") is True if name.startswith("adaptive") else kw.get("kernel_size"), kw
    for a, b in zip(on_gpu, on_cpu):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
    if indices:
        i_gpu = fn(nerve.tensor(arrays[0], device="cuda"))[1]
        assert on_device(i_gpu) and i_gpu.dtype == nerve.int64
        np.testing.assert_array_equal(i_gpu.cpu().numpy(), fn(nerve.tensor(arrays[0]))[1].numpy())


def test_conv_float64_on_the_device(gpu):
    """float64 (what gradcheck uses) runs the simple CUDA kernels."""
    rng = np.random.default_rng(10)
    arrays = [rng.standard_normal(s) for s in [(1, 2, 6, 5), (3, 2, 3, 3), (3,)]]
    fn = lambda x, w, b: F.conv2d(x, w, b, padding=(1, 0))  # noqa: E731
    for a, b in zip(_grads(fn, arrays, "cuda"), _grads(fn, arrays, "cpu")):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_nerve_cuda_with_a_device(gpu):
    assert nerve.cuda.is_available() and nerve.cuda.device_count() >= 1
    nerve.cuda.synchronize()
    nerve.cuda.synchronize(0)
    nerve.cuda.synchronize("cuda:0")
    assert nerve.cuda.current_device() == 0
    assert isinstance(nerve.cuda.get_device_name(), str)
    nerve.cuda.manual_seed(5)
    if gpu.cupy is not None:
        assert gpu.cupy.seeds == [5]
    with pytest.raises(RuntimeError, match=r"\[synchronize\] cuda:9 is not available"):
        nerve.cuda.synchronize(9)
    with pytest.raises(ValueError, match=r"\[synchronize\] expected a CUDA device, got cpu"):
        nerve.cuda.synchronize("cpu")


def test_stand_in_refuses_host_operands(gpu):
    """The stand-in is as strict as cupy about mixing, so the tests above would catch a host array
    slipping into device code."""
    if gpu.cupy is None:
        pytest.skip("the stand-in only")
    d = gpu.cupy.asarray(np.ones(3, np.float32))
    with pytest.raises(TypeError, match="numpy array next to a device array"):
        d + np.ones(3, np.float32)
    assert type(d + 1) is StandInArray and type(d.sum()) is StandInArray


def test_torch_agrees_on_a_device_conv(gpu):
    """One conv on the device against torch itself (not only nerve's CPU path)."""
    rng = np.random.default_rng(11)
    x, w = rng.standard_normal((2, 16, 7, 7)).astype(np.float32), rng.standard_normal((24, 16, 3, 3)).astype(np.float32)
    y = F.conv2d(nerve.tensor(x, device="cuda"), nerve.tensor(w, device="cuda"), stride=2, padding=1)
    want = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w), stride=2, padding=1).numpy()
    np.testing.assert_allclose(y.cpu().numpy(), want, rtol=1e-4, atol=1e-4)
