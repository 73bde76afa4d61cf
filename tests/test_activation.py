"""Activations (relu, leaky_relu, elu, gelu, silu, sigmoid, tanh, softplus, hardtanh) vs torch:
values and gradients on odd, strided, empty and 0-d shapes, float64 gradcheck, extreme inputs,
in-place forms, every SIMD back end against the naive oracle (sizes that end in partial vectors,
misaligned starts, threaded and streamed sizes), the float32 vector math's accuracy in ulps, the
nn modules, and errors."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import nerve
import nerve.nn as nn
import nerve.nn.functional as F
from nerve import _C
from helpers import check_op

# (name, torch fn, nerve fn, kernel op, a, b, backward from the output)
OPS = [
    ("relu", TF.relu, F.relu, "relu", 0.0, 0.0, True),
    ("leaky_relu", lambda x: TF.leaky_relu(x), lambda x: F.leaky_relu(x), "leaky_relu", 0.01, 0.0, True),
    ("leaky_relu_0.3", lambda x: TF.leaky_relu(x, 0.3), lambda x: F.leaky_relu(x, 0.3), "leaky_relu", 0.3, 0.0, True),
    ("leaky_relu_neg", lambda x: TF.leaky_relu(x, -0.2), lambda x: F.leaky_relu(x, -0.2), "leaky_relu", -0.2, 0.0,
     False),
    ("elu", TF.elu, F.elu, "elu", 1.0, 0.0, True),
    ("elu_0.4", lambda x: TF.elu(x, 0.4), lambda x: F.elu(x, 0.4), "elu", 0.4, 0.0, True),
    ("gelu", TF.gelu, F.gelu, "gelu", 0.0, 0.0, False),
    ("gelu_tanh", lambda x: TF.gelu(x, approximate="tanh"), lambda x: F.gelu(x, approximate="tanh"), "gelu_tanh",
     0.0, 0.0, False),
    ("silu", TF.silu, F.silu, "silu", 0.0, 0.0, False),
    ("sigmoid", torch.sigmoid, F.sigmoid, "sigmoid", 0.0, 0.0, True),
    ("tanh", torch.tanh, F.tanh, "tanh", 0.0, 0.0, True),
    ("softplus", TF.softplus, F.softplus, "softplus", 1.0, 20.0, False),
    ("softplus_b2_t3", lambda x: TF.softplus(x, 2.0, 3.0), lambda x: F.softplus(x, 2.0, 3.0), "softplus", 2.0, 3.0,
     False),
    ("softplus_b0.5", lambda x: TF.softplus(x, 0.5), lambda x: F.softplus(x, 0.5), "softplus", 0.5, 20.0, False),
    ("hardtanh", TF.hardtanh, F.hardtanh, "hardtanh", -1.0, 1.0, True),
    ("hardtanh_-0.5_2", lambda x: TF.hardtanh(x, -0.5, 2.0), lambda x: F.hardtanh(x, -0.5, 2.0), "hardtanh", -0.5,
     2.0, True),
]
IDS = [o[0] for o in OPS]
ISAS = ["avx512", "avx2", "generic"]


@pytest.fixture(params=ISAS)
def isa(request):
    _C.set_isa(request.param)
    yield _C.isa()
    _C.set_isa("avx512")  # lifts the cap back to the best the CPU has


@pytest.mark.parametrize("op", OPS, ids=IDS)
@pytest.mark.parametrize("shape", [(3, 4), (17,), (2, 3, 5, 7), (), (0, 5)])
def test_forward_backward(op, shape):
    _, tf, nf, *_ = op
    check_op([shape], tf, nf, atol=1e-6, rtol=1e-5, low=-4, high=4)


@pytest.mark.parametrize("op", OPS, ids=IDS)
def test_noncontiguous_and_float64(op):
    _, tf, nf, *_ = op
    check_op([(5, 33)], tf, nf, atol=1e-6, rtol=1e-5, low=-4, high=4, noncontig=True)
    check_op([(4, 9)], tf, nf, atol=1e-12, rtol=1e-10, low=-4, high=4, dtype=np.float64, gradcheck=True,
             gradcheck_specs=[(3, 4)])


@pytest.mark.parametrize("op", OPS, ids=IDS)
def test_every_backend(op, isa):
    _, tf, nf, *_ = op
    assert _C.cpu.activation_backend() == isa
    check_op([(3, 37)], tf, nf, atol=1e-6, rtol=1e-5, low=-6, high=6)


def test_tensor_methods_and_api():
    check_op([(4, 6)], lambda x: x.relu())
    check_op([(4, 6)], lambda x: x.sigmoid())
    check_op([(4, 6)], lambda x: x.tanh())
    check_op([(4, 6)], torch.relu, nerve.relu)
    check_op([(4, 6)], torch.sigmoid, nerve.sigmoid)


EXTREME = np.array([0.0, -0.0, 1e-30, -1e-30, 1e-7, -1e-7, 0.5, -0.5, 3.0, -3.0, 9.5, -9.5, 15.0, -15.0, 19.9, 20.1,
                    -20.1, 50.0, -50.0, 88.0, -88.0, 89.0, -89.0, 104.0, -104.0, 1e4, -1e4, 3e38, -3e38, np.inf,
                    -np.inf, np.nan], np.float32)


@pytest.mark.parametrize("op", OPS, ids=IDS)
def test_extreme_inputs(op, isa):
    """Values at and past every threshold and overflow point (and inf, NaN) against torch.

    Forward and backward are compared with torch in float64 rounded to float32: torch's own float32
    gelu-tanh loses all its digits where 1 + tanh(u) cancels (its gradient there is 0 instead of
    ~3e-6), so the correctly rounded value is the fair reference; nerve's must match it."""
    _, tf, nf, *_ = op
    x = np.concatenate([EXTREME, EXTREME[::-1]])  # once at the start of a vector, once at the end
    ref_t = torch.from_numpy(x.astype(np.float64)).requires_grad_(True)
    ref_y = tf(ref_t)
    g = np.linspace(-1, 1, x.size).astype(np.float32)
    ref_y.backward(torch.from_numpy(g.astype(np.float64)))
    nx = nerve.from_numpy(x.copy()).requires_grad_(True)
    ny = nf(nx)
    ny.backward(nerve.from_numpy(g))
    with np.errstate(over="ignore", invalid="ignore"):
        want_y = ref_y.detach().numpy().astype(np.float32)
        want_g = ref_t.grad.numpy().astype(np.float32)
    nerve.testing.assert_close(ny, want_y, atol=1e-6, rtol=1e-5, msg="forward")
    nerve.testing.assert_close(nx.grad, want_g, atol=1e-6, rtol=1e-5, msg="gradient")


@pytest.mark.parametrize("n", [1, 7, 8, 15, 16, 17, 31, 33, 63, 64, 65, 127, 1001, 70001])
@pytest.mark.parametrize("offset", [0, 1, 3])
def test_matches_naive_on_simd_tails(isa, n, offset):
    """Every kernel, fast vs the double-precision oracle, on sizes ending mid-vector and starts off
    the vector boundary (offset), including sizes split across threads."""
    rng = np.random.default_rng(n)
    buf = (rng.standard_normal(n + offset) * 4).astype(np.float32)
    x, g = buf[offset:], rng.standard_normal(n).astype(np.float32)
    cpu = _C.cpu
    for _, _, _, kop, a, b, from_out in OPS:
        y, y0 = np.empty_like(x), np.empty_like(x)
        cpu.activation_forward(y, x, kop, a, b, "t")
        cpu.activation_forward(y0, x, kop, a, b, "t", True)
        np.testing.assert_allclose(y, y0, rtol=1e-5, atol=1e-6, err_msg=f"{kop} forward")
        for fo in ({from_out, False} if kop not in ("sigmoid", "tanh") else {True}):
            s = y0 if fo else x
            d, d0 = np.empty_like(x), np.empty_like(x)
            cpu.activation_backward(d, g, s, kop, a, b, fo, "t")
            cpu.activation_backward(d0, g, s, kop, a, b, fo, "t", True)
            np.testing.assert_allclose(d, d0, rtol=1e-5, atol=1e-6, err_msg=f"{kop} backward (from_output={fo})")


@pytest.mark.parametrize("threads", [1, 2])
def test_large_streamed_and_threaded(threads):
    """Past the streaming-store size (16 MiB of output), on an odd size and a misaligned start."""
    old = nerve.get_num_threads()
    nerve.set_num_threads(threads)
    try:
        n = (1 << 22) + 13
        rng = np.random.default_rng(1)
        buf = rng.standard_normal(n + 1).astype(np.float32)
        x = buf[1:]
        for op, a, b in [("relu", 0.0, 0.0), ("gelu", 0.0, 0.0)]:
            y, y0 = np.empty(n + 1, np.float32)[1:], np.empty_like(x)
            _C.cpu.activation_forward(y, x, op, a, b)
            _C.cpu.activation_forward(y0, x, op, a, b, "t", True)
            np.testing.assert_allclose(y, y0, rtol=1e-5, atol=1e-6)
        d = np.empty_like(x)
        _C.cpu.activation_backward(d, x, x, "relu")
        np.testing.assert_array_equal(d, np.where(x > 0, x, 0))
    finally:
        nerve.set_num_threads(old)


def test_float64_kernels_match_naive():
    rng = np.random.default_rng(2)
    x = rng.standard_normal(1001) * 5
    g = rng.standard_normal(1001)
    for _, _, _, kop, a, b, from_out in OPS:
        y, y0 = np.empty_like(x), np.empty_like(x)
        _C.cpu.activation_forward(y, x, kop, a, b)
        _C.cpu.activation_forward(y0, x, kop, a, b, "t", True)
        np.testing.assert_allclose(y, y0, rtol=1e-14, atol=1e-15)
        d, d0 = np.empty_like(x), np.empty_like(x)
        _C.cpu.activation_backward(d, g, y if from_out else x, kop, a, b, from_out)
        _C.cpu.activation_backward(d0, g, y if from_out else x, kop, a, b, from_out, "t", True)
        np.testing.assert_allclose(d, d0, rtol=1e-14, atol=1e-15)


# ---- the vector math -----------------------------------------------------------------------------

def _ulps(got, want):
    """|got - want| in units of the float32 spacing at want (want in float64); results past
    float32's range count as exact when both overflowed to the same infinity."""
    w32 = want.astype(np.float32)
    spacing = np.spacing(np.abs(w32)).astype(np.float64)
    spacing = np.maximum(spacing, np.float64(np.finfo(np.float32).smallest_subnormal))
    err = np.abs(got.astype(np.float64) - want) / spacing
    same = (got == w32) | (np.isnan(got) & np.isnan(want))
    return np.where(same, 0.0, err)


MATH = [
    ("exp", np.exp, (-110.0, 89.0), 1.5),
    ("expm1", np.expm1, (-20.0, 20.0), 2.5),
    ("log", np.log, (1e-40, 1e4), 1.0),
    ("log1p", np.log1p, (-1.0, 1e6), 1.5),
    ("erf", lambda v: torch.special.erf(torch.from_numpy(v)).numpy(), (-6.0, 6.0), 1.5),
    ("tanh", np.tanh, (-12.0, 12.0), 1.5),
    ("sigmoid", lambda v: 1 / (1 + np.exp(-v)), (-30.0, 30.0), 3.5),
]


def test_gelu_cdf_accuracy(isa):
    """GELU's normal CDF: within 2.5e-7 absolute everywhere (torch's GELU: 1.5e-7), and 4.5 ulp
    where it is at least 1/2."""
    x = np.concatenate([np.linspace(-12, 8, 200003), np.linspace(-1e-3, 1e-3, 20001)]).astype(np.float32)
    y = np.empty_like(x)
    _C.cpu.vector_math(y, x, "ndtr")
    want = 0.5 * np.vectorize(math.erfc)(-x.astype(np.float64) / math.sqrt(2))
    assert np.abs(y - want).max() <= 2.5e-7
    upper = x >= 0
    assert _ulps(y[upper], want[upper]).max() <= 4.5


@pytest.mark.parametrize("fn,ref,span,bound", MATH, ids=[m[0] for m in MATH])
def test_vector_math_accuracy(isa, fn, ref, span, bound):
    lo, hi = span
    x = np.concatenate([np.linspace(lo, hi, 200003), np.linspace(-1e-3, 1e-3, 20001),
                        np.geomspace(1e-38, 1e-30, 1001)]).astype(np.float32)
    if fn in ("log",):
        x = np.abs(x) + np.float32(1e-40)
    if fn == "log1p":
        x = np.maximum(x, -1)
    y = np.empty_like(x)
    _C.cpu.vector_math(y, x, fn)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        want = ref(x.astype(np.float64))
        assert _ulps(y, want).max() <= bound, f"{fn}: worst {_ulps(y, want).max():.2f} ulp"
    special = np.array([np.inf, -np.inf, np.nan, 0.0], np.float32)
    s = np.empty_like(special)
    _C.cpu.vector_math(s, special, fn)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        np.testing.assert_array_equal(s, ref(special.astype(np.float64)).astype(np.float32))


# ---- in place ------------------------------------------------------------------------------------

@pytest.mark.parametrize("name,tf,nf", [
    ("relu", lambda x: TF.relu(x, inplace=True), lambda x: F.relu(x, inplace=True)),
    ("relu_", TF.relu_, F.relu_),
    ("leaky_relu", lambda x: TF.leaky_relu(x, 0.2, inplace=True), lambda x: F.leaky_relu(x, 0.2, inplace=True)),
    ("leaky_relu_", lambda x: TF.leaky_relu_(x, 0.2), lambda x: F.leaky_relu_(x, 0.2)),
    ("elu", lambda x: TF.elu(x, 0.7, inplace=True), lambda x: F.elu(x, 0.7, inplace=True)),
    ("elu_", TF.elu_, F.elu_),
    ("hardtanh", lambda x: TF.hardtanh(x, -0.5, 0.5, inplace=True), lambda x: F.hardtanh(x, -0.5, 0.5, True)),
    ("hardtanh_", TF.hardtanh_, F.hardtanh_),
    ("silu", lambda x: TF.silu(x, inplace=True), lambda x: F.silu(x, inplace=True)),
])
def test_inplace(name, tf, nf):
    # through a non-leaf, so autograd records the in-place op: result and gradient match torch
    check_op([(6, 7)], lambda x: tf(x * 1.5), lambda x: nf(x * 1.5), atol=1e-6, rtol=1e-5)
    # returns its input, written over, and bumps its version
    x = nerve.randn(5, 9)
    ref = tf(torch.from_numpy(x.numpy().copy()))
    v0 = x._vcell()[0]
    out = nf(x)
    assert out is x and x._vcell()[0] == v0 + 1
    nerve.testing.assert_close(x, ref, atol=1e-6, rtol=1e-5)
    # strided views are written through
    base = nerve.randn(4, 10)
    want = tf(torch.from_numpy(base.numpy().copy())[:, ::3])
    nf(base[:, ::3])
    nerve.testing.assert_close(base[:, ::3], want, atol=1e-6, rtol=1e-5)


def test_inplace_allocates_nothing_and_saves_the_output():
    x = nerve.randn(64, 64, requires_grad=True)
    h = x * 2
    storage = h._data
    y = F.relu(h, inplace=True)
    assert y is h and h._data is storage
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.where(x.detach().numpy() > 0, 2.0, 0.0).astype(np.float32))


def test_inplace_errors():
    leaf = nerve.randn(3, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"\[relu_\] a leaf Variable that requires grad"):
        F.relu_(leaf)
    a = nerve.randn(4, requires_grad=True)
    b = a.exp()  # exp saves its output
    F.relu_(b)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        b.sum().backward()


# ---- modules -----------------------------------------------------------------------------------------

MODULES = [
    (nn.ReLU(), torch.nn.ReLU()), (nn.LeakyReLU(0.1), torch.nn.LeakyReLU(0.1)), (nn.ELU(0.8), torch.nn.ELU(0.8)),
    (nn.GELU(), torch.nn.GELU()), (nn.GELU("tanh"), torch.nn.GELU("tanh")), (nn.SiLU(), torch.nn.SiLU()),
    (nn.Sigmoid(), torch.nn.Sigmoid()), (nn.Tanh(), torch.nn.Tanh()), (nn.Softplus(2.0, 5.0), torch.nn.Softplus(2.0, 5.0)),
    (nn.Hardtanh(-2.0, 0.5), torch.nn.Hardtanh(-2.0, 0.5)), (nn.Softmax(dim=1), torch.nn.Softmax(dim=1)),
    (nn.LogSoftmax(dim=-1), torch.nn.LogSoftmax(dim=-1)), (nn.Softmax(dim=0), torch.nn.Softmax(dim=0)),
]


@pytest.mark.parametrize("mods", MODULES, ids=[repr(m[1]) for m in MODULES])
def test_module_parity(mods):
    ours, theirs = mods
    assert repr(ours) == repr(theirs)
    check_op([(5, 3, 4)], theirs, ours, atol=1e-6, rtol=1e-5, low=-3, high=3)


@pytest.mark.parametrize("ours,theirs", [(nn.ReLU(True), torch.nn.ReLU(True)), (nn.ELU(1.0, True),
                                         torch.nn.ELU(1.0, True)), (nn.LeakyReLU(0.2, True),
                                         torch.nn.LeakyReLU(0.2, True)), (nn.Hardtanh(inplace=True),
                                         torch.nn.Hardtanh(inplace=True)), (nn.SiLU(True), torch.nn.SiLU(True))])
def test_inplace_module_parity(ours, theirs):
    assert repr(ours) == repr(theirs)
    check_op([(4, 5)], lambda x: theirs(x + 0), lambda x: ours(x + 0), atol=1e-6, rtol=1e-5)


def test_module_reprs():
    for ours, theirs in [(nn.ReLU(), "ReLU()"), (nn.ReLU(inplace=True), "ReLU(inplace=True)"),
                         (nn.LeakyReLU(), "LeakyReLU(negative_slope=0.01)"), (nn.ELU(), "ELU(alpha=1.0)"),
                         (nn.GELU(), "GELU(approximate='none')"), (nn.Softmax(), "Softmax(dim=None)"),
                         (nn.Softplus(), "Softplus(beta=1.0, threshold=20.0)"),
                         (nn.Hardtanh(-2, 2, True), "Hardtanh(min_val=-2, max_val=2, inplace=True)")]:
        assert repr(ours) == theirs


# ---- errors ------------------------------------------------------------------------------------------

def test_errors():
    with pytest.raises(TypeError, match=r"\[relu\] expected a floating point tensor, got int64"):
        F.relu(nerve.tensor([1, 2]))
    with pytest.raises(TypeError, match=r"\[gelu\] expected a Tensor"):
        F.gelu(np.ones(3, np.float32))
    with pytest.raises(ValueError, match=r"\[gelu\] approximate must be 'none' or 'tanh'"):
        F.gelu(nerve.randn(3), approximate="fast")
    with pytest.raises(ValueError, match=r"\[hardtanh\] min_val \(2.0\) cannot be greater than max_val"):
        F.hardtanh(nerve.randn(3), 2.0, 1.0)
    with pytest.raises(ValueError, match=r"\[Hardtanh\] max_val"):
        nn.Hardtanh(1.0, 1.0)
    with pytest.raises(ValueError, match=r"\[GELU\] approximate"):
        nn.GELU("x")
    with pytest.raises(TypeError, match=r"\[leaky_relu\] negative_slope must be a number"):
        F.leaky_relu(nerve.randn(3), "a")
    with pytest.raises(ValueError, match=r"\[softplus\] beta must be non-zero"):
        F.softplus(nerve.randn(3), beta=0)


def test_kernel_argument_errors():
    cpu = _C.cpu
    x = np.zeros((3, 4), np.float32)
    with pytest.raises(ValueError, match=r"\[relu\] out has shape \(4, 3\), expected \(3, 4\)"):
        cpu.activation_forward(np.empty((4, 3), np.float32), x, "relu", 0, 0, "relu")
    with pytest.raises(ValueError, match=r"\[relu\] input and out must have the same dtype"):
        cpu.activation_forward(np.empty((3, 4), np.float64), x, "relu", 0, 0, "relu")
    with pytest.raises(ValueError, match=r"\[relu\] input must be contiguous"):
        cpu.activation_forward(np.empty((4, 3), np.float32), x.T, "relu", 0, 0, "relu")
    with pytest.raises(ValueError, match=r"\[relu\] out overlaps input without being the same array"):
        buf = np.zeros(13, np.float32)
        cpu.activation_forward(buf[1:], buf[:12], "relu", 0, 0, "relu")
    with pytest.raises(ValueError, match=r"\[act\] unknown activation 'swish'"):
        cpu.activation_forward(np.empty_like(x), x, "swish", 0, 0, "act")
    with pytest.raises(ValueError, match=r"\[sigmoid\] the gradient of sigmoid is computed from its output"):
        cpu.activation_backward(np.empty_like(x), x, x, "sigmoid", 0, 0, False, "sigmoid")
    with pytest.raises(ValueError, match=r"\[gelu\] the gradient of gelu with these parameters cannot be computed"):
        cpu.activation_backward(np.empty_like(x), x, x, "gelu", 0, 0, True, "gelu")
    with pytest.raises(ValueError, match=r"\[relu\] expected input of dtype float32 or float64, got int64"):
        cpu.activation_forward(np.empty((3,), np.int64), np.zeros(3, np.int64), "relu", 0, 0, "relu")
    with pytest.raises(ValueError, match=r"\[relu\] out is read-only"):
        ro = np.empty_like(x)
        ro.flags.writeable = False
        cpu.activation_forward(ro, x, "relu", 0, 0, "relu")
