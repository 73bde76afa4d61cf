"""conv1d / conv2d / conv_transpose1d / conv_transpose2d vs torch: forward, input/weight/bias gradients
(check_op), float64 gradcheck on small cases, both CPU algorithms (direct AVX-512 and im2col+GEMM),
1 and 2 threads, the kernels against their naive oracle, and the error messages."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import nerve
import nerve.nn.functional as F
from nerve import _C
from helpers import check_op

# Every float32 CPU path: auto (Winograd F(2x2,3x3) / direct / GEMM by shape), direct, Winograd
# F(4x4,3x3), im2col+GEMM, and the portable build's view (ISA capped to generic: GEMM only).
ALGOS = ["auto", "direct", "winograd4", "gemm", "generic-isa"] if _C.isa() == "avx512" else ["auto"]


@pytest.fixture(params=ALGOS)
def algo(request):
    if request.param == "generic-isa":
        _C.set_isa("generic")
    else:
        _C.cpu.conv_algorithm(request.param)
    yield request.param
    _C.cpu.conv_algorithm("auto")
    _C.set_isa("avx512")


@pytest.fixture(params=[1, 2])
def threads(request):
    old = nerve.get_num_threads()
    nerve.set_num_threads(request.param)
    yield request.param
    nerve.set_num_threads(old)


TOL = dict(atol=1e-4, rtol=1e-4)

# (input shape, weight shape, kwargs): every option combination that changes the kernels' paths.
CONV2D = [
    ((2, 3, 8, 8), (4, 3, 3, 3), dict(padding=1)),
    ((2, 3, 9, 7), (5, 3, 3, 3), dict(stride=2, padding=1)),
    ((2, 4, 10, 9), (6, 4, 3, 2), dict(stride=(2, 1), padding=(1, 0))),
    ((1, 3, 7, 7), (4, 3, 3, 3), dict(padding=0)),
    ((1, 3, 7, 7), (4, 3, 3, 3), dict(padding="valid")),
    ((2, 3, 7, 9), (4, 3, 3, 5), dict(padding="same")),
    ((2, 3, 8, 8), (4, 3, 2, 2), dict(padding="same")),  # even kernel: asymmetric padding
    ((2, 3, 9, 8), (4, 3, 4, 2), dict(padding="same", dilation=(1, 2))),
    ((2, 3, 11, 13), (4, 3, 3, 3), dict(padding=2, dilation=2)),
    ((2, 2, 10, 10), (3, 2, 3, 3), dict(padding=(2, 1), dilation=(2, 1))),
    ((2, 4, 8, 8), (6, 2, 3, 3), dict(padding=1, groups=2)),
    ((2, 6, 9, 9), (6, 1, 3, 3), dict(padding=1, groups=6)),  # depthwise
    ((2, 4, 9, 9), (8, 1, 3, 3), dict(padding=1, groups=4)),  # depthwise, multiplier 2
    ((2, 4, 9, 9), (8, 1, 3, 3), dict(stride=2, padding=1, groups=4)),
    ((2, 8, 6, 6), (16, 8, 1, 1), {}),  # 1x1
    ((2, 8, 7, 7), (16, 8, 1, 1), dict(stride=2)),
    ((2, 3, 5, 5), (2, 3, 1, 1), dict(padding=1)),  # padding beyond the kernel's reach
    ((1, 5, 11, 13), (9, 5, 5, 3), dict(padding=(2, 1))),  # odd sizes, batch 1
    ((3, 1, 6, 7), (1, 1, 3, 3), dict(padding=1)),  # one channel in and out
    ((2, 3, 5, 4), (2, 3, 5, 4), {}),  # kernel covers the whole input: 1x1 output
    ((2, 20, 12, 12), (24, 20, 3, 3), dict(padding=1)),  # weight-gradient over output channels (Kg >= 16)
    ((2, 32, 6, 6), (32, 16, 3, 3), dict(padding=1, groups=2)),
    ((1, 2, 3, 40), (3, 2, 3, 3), dict(padding=(1, 0), stride=(1, 3))),
    # Winograd F(4x4, 3x3): channels not multiples of 16, outputs not multiples of 4, any padding
    ((2, 20, 9, 11), (18, 20, 3, 3), dict(padding=1)),
    ((2, 17, 6, 7), (33, 17, 3, 3), dict(padding=(2, 0))),
    ((3, 16, 8, 8), (16, 16, 3, 3), {}),
    ((2, 16, 5, 6), (20, 16, 3, 3), dict(padding="same")),
]


def _conv2d_case(xs, ws, kw, bias=True, **opts):
    specs = [xs, ws] + ([(ws[0],)] if bias else [])
    check_op(specs, lambda *a: TF.conv2d(*a, **kw), lambda *a: F.conv2d(*a, **kw), **{**TOL, **opts})


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("xs,ws,kw", CONV2D)
def test_conv2d(xs, ws, kw, algo):
    _conv2d_case(xs, ws, kw)


@pytest.mark.parametrize("xs,ws,kw", CONV2D[:3] + CONV2D[10:13])
def test_conv2d_threads(xs, ws, kw, threads):
    _conv2d_case(xs, ws, kw)


def test_conv2d_no_bias_noncontiguous_unbatched():
    _conv2d_case((2, 3, 8, 8), (4, 3, 3, 3), dict(padding=1), bias=False)
    _conv2d_case((2, 3, 8, 8), (4, 3, 3, 3), dict(padding=1), noncontig=True)
    check_op([(3, 8, 8), (4, 3, 3, 3), (4,)], lambda *a: TF.conv2d(*a, padding=1),
             lambda *a: F.conv2d(*a, padding=1), **TOL)


@pytest.mark.parametrize("xs,ws,kw", [
    ((1, 2, 5, 4), (2, 2, 3, 3), dict(padding=1)),
    ((1, 2, 7, 6), (3, 2, 3, 2), dict(stride=2, padding=(1, 0), dilation=(1, 2))),
    ((2, 4, 5, 5), (4, 2, 2, 2), dict(padding="same", groups=2)),
    ((1, 3, 5, 5), (3, 1, 3, 3), dict(padding=1, groups=3)),
])
def test_conv2d_gradcheck(xs, ws, kw):
    check_op([xs, ws, (ws[0],)], lambda *a: TF.conv2d(*a, **kw), lambda *a: F.conv2d(*a, **kw), **TOL,
             gradcheck=True)


@pytest.mark.parametrize("xs,ws,kw", [
    ((2, 3, 17), (4, 3, 3), dict(padding=1)),
    ((2, 3, 17), (4, 3, 4), dict(padding="same", dilation=2)),
    ((1, 4, 20), (6, 2, 5), dict(stride=3, groups=2)),
    ((3, 12), (5, 3, 3), dict()),  # unbatched
])
def test_conv1d(xs, ws, kw, algo):
    check_op([xs, ws, (ws[0],)], lambda *a: TF.conv1d(*a, **kw), lambda *a: F.conv1d(*a, **kw), **TOL,
             gradcheck=algo == ALGOS[0])


CONV_T2D = [
    ((2, 4, 5, 5), (4, 3, 3, 3), dict()),
    ((2, 4, 5, 6), (4, 3, 3, 3), dict(stride=2, padding=1)),
    ((2, 4, 5, 6), (4, 3, 3, 3), dict(stride=2, padding=1, output_padding=1)),
    ((1, 4, 4, 5), (4, 2, 3, 2), dict(stride=(2, 3), padding=(1, 0), output_padding=(1, 2), dilation=(1, 2))),
    ((2, 4, 6, 6), (4, 3, 3, 3), dict(groups=2, padding=1)),
    ((2, 4, 6, 6), (4, 1, 3, 3), dict(groups=4, stride=2, padding=1, output_padding=1)),
    ((2, 3, 5, 5), (3, 2, 4, 4), dict(stride=2, padding=1)),  # the DCGAN up-sampler
    ((2, 3, 5, 5), (3, 2, 3, 3), dict(padding=2, dilation=2)),
    ((3, 5, 5), (3, 2, 3, 3), dict(stride=2)),  # unbatched
]


@pytest.mark.parametrize("xs,ws,kw", CONV_T2D)
def test_conv_transpose2d(xs, ws, kw, algo):
    k = ws[1] * kw.get("groups", 1)
    check_op([xs, ws, (k,)], lambda *a: TF.conv_transpose2d(*a, **kw), lambda *a: F.conv_transpose2d(*a, **kw),
             **TOL)


@pytest.mark.parametrize("xs,ws,kw", [
    ((1, 2, 3, 4), (2, 2, 3, 3), dict(stride=2, padding=1, output_padding=1)),
    ((1, 4, 3, 3), (4, 1, 2, 3), dict(groups=2, dilation=(2, 1), padding=(1, 0))),
])
def test_conv_transpose2d_gradcheck(xs, ws, kw):
    k = ws[1] * kw.get("groups", 1)
    check_op([xs, ws, (k,)], lambda *a: TF.conv_transpose2d(*a, **kw), lambda *a: F.conv_transpose2d(*a, **kw),
             **TOL, gradcheck=True)


def test_conv_transpose1d():
    kw = dict(stride=2, padding=1, output_padding=1)
    check_op([(1, 3, 6), (3, 2, 3), (2,)], lambda *a: TF.conv_transpose1d(*a, **kw),
             lambda *a: F.conv_transpose1d(*a, **kw), **TOL, gradcheck=True)


# ---- the kernels directly: big shapes (chunked buffers) and the naive oracle -----------------------

def _torch_grads(x, w, b, gy, **kw):
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    y = TF.conv2d(xt, wt, bt, **kw)
    y.backward(torch.from_numpy(gy))
    return y.detach().numpy(), xt.grad.numpy(), wt.grad.numpy(), bt.grad.numpy()


def _nerve_grads(x, w, b, gy, stride, padding, dilation, groups, naive=False):
    y = np.empty(gy.shape, x.dtype)
    dx, dw, db = np.empty_like(x), np.zeros_like(w), np.zeros_like(b)
    cpu = _C.cpu
    cpu.conv2d_forward(y, x, w, b, stride, padding, dilation, groups, naive)
    cpu.conv2d_backward_input(dx, gy, w, stride, padding, dilation, groups, naive)
    cpu.conv2d_backward_weight(dw, gy, x, stride, padding, dilation, groups, naive)
    cpu.conv2d_backward_bias(db, gy)
    return y, dx, dw, db


def _close(got, want, tol, what):
    scale = max(float(np.abs(want).max()), 1.0)
    err = float(np.abs(got - want).max())
    assert err <= tol * scale, f"{what}: max error {err} vs scale {scale}"


@pytest.mark.parametrize("shape", [
    # N, C, H, W, K, R, S, stride, padding (t, b, l, r), dilation, groups
    (3, 64, 70, 66, 64, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 1),   # Winograd; weight grad in image chunks
    (2, 64, 40, 40, 64, 3, 3, (1, 1), (2, 2, 2, 2), (2, 2), 1),   # direct (dilated)
    (4, 256, 14, 14, 256, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 1),  # Winograd, several images per chunk
    (2, 64, 64, 64, 16, 3, 3, (2, 2), (1, 1, 1, 1), (1, 1), 1),   # im2col in several pixel chunks
    (1, 48, 20, 20, 48, 3, 3, (1, 1), (0, 1, 1, 0), (1, 1), 1),   # batch 1 shares an image across threads
    (2, 32, 15, 17, 32, 3, 3, (1, 1), (2, 2, 2, 2), (2, 2), 32),  # depthwise, dilated
    (1, 32, 21, 19, 24, 3, 3, (2, 2), (1, 1, 1, 1), (1, 1), 1),   # strided input grad by phases, batch 1
    (3, 24, 17, 16, 40, 3, 3, (2, 2), (1, 1, 1, 1), (1, 1), 1),   # strided, more images than threads
    (5, 3, 30, 26, 40, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 1),    # shallow weight grad (27 taps), image by image
])
@pytest.mark.parametrize("algorithm", ["auto", "winograd4"])
def test_kernels_large_vs_torch(shape, threads, algorithm):
    _C.cpu.conv_algorithm(algorithm)
    try:
        _large_vs_torch(shape)
    finally:
        _C.cpu.conv_algorithm("auto")


def _large_vs_torch(shape):
    N, C, H, W, K, R, S, stride, padding, dilation, groups = shape
    rng = np.random.default_rng(1)
    x = rng.standard_normal((N, C, H, W), np.float32)
    w = rng.standard_normal((K, C // groups, R, S), np.float32)
    b = rng.standard_normal(K).astype(np.float32)
    xp = np.pad(x, ((0, 0), (0, 0), padding[:2], padding[2:]))
    kw = dict(stride=stride, dilation=dilation, groups=groups)
    yt = TF.conv2d(torch.from_numpy(xp), torch.from_numpy(w), None, **kw)
    gy = rng.standard_normal(tuple(yt.shape), np.float32)
    want = list(_torch_grads(xp, w, b, gy, **kw))
    want[1] = want[1][:, :, padding[0]:padding[0] + H, padding[2]:padding[2] + W]
    got = _nerve_grads(x, w, b, gy, stride, padding, dilation, groups)
    # Winograd F(4x4, 3x3) rounds about 5x more than direct summation (~5e-6 of the output's scale).
    for g, t, name in zip(got, want, ["forward", "input grad", "weight grad", "bias grad"]):
        _close(g, t, 2e-5, name)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [
    (2, 3, 7, 9, 4, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 1),
    (2, 4, 9, 8, 6, 3, 2, (2, 1), (1, 0, 0, 1), (1, 2), 2),
    (1, 20, 6, 7, 18, 3, 3, (1, 1), (2, 0, 1, 2), (1, 1), 1),
    (2, 6, 8, 8, 6, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 6),
    (1, 2, 5, 5, 3, 1, 1, (1, 1), (2, 2, 2, 2), (1, 1), 1),
    (2, 5, 11, 10, 6, 2, 3, (3, 2), (0, 2, 1, 1), (2, 1), 1),  # input-grad phases without taps
    (1, 16, 9, 9, 8, 3, 3, (2, 2), (1, 1, 1, 1), (1, 1), 2),
    (3, 3, 10, 12, 20, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 1),  # few input channels, many outputs
])
def test_kernels_match_naive(shape, dtype, algo):
    N, C, H, W, K, R, S, stride, padding, dilation, groups = shape
    rng = np.random.default_rng(2)
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = rng.standard_normal((K, C // groups, R, S)).astype(dtype)
    b = rng.standard_normal(K).astype(dtype)
    OH = (H + padding[0] + padding[1] - dilation[0] * (R - 1) - 1) // stride[0] + 1
    OW = (W + padding[2] + padding[3] - dilation[1] * (S - 1) - 1) // stride[1] + 1
    gy = rng.standard_normal((N, K, OH, OW)).astype(dtype)
    fast = _nerve_grads(x, w, b, gy, stride, padding, dilation, groups)
    ref = _nerve_grads(x, w, b, gy, stride, padding, dilation, groups, naive=True)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for g, r, name in zip(fast, ref, ["forward", "input grad", "weight grad", "bias grad"]):
        _close(g, r, tol, name)


def test_weight_grad_accumulates():
    x = np.ones((1, 2, 4, 4), np.float32)
    w = np.ones((3, 2, 3, 3), np.float32)
    gy = np.ones((1, 3, 4, 4), np.float32)
    dw = np.full_like(w, 5.0)
    db = np.full(3, 1.0, np.float32)
    _C.cpu.conv2d_backward_weight(dw, gy, x, (1, 1), (1, 1), (1, 1), 1)
    _C.cpu.conv2d_backward_bias(db, gy)
    ref = np.zeros_like(w)
    _C.cpu.conv2d_backward_weight(ref, gy, x, (1, 1), (1, 1), (1, 1), 1, True)
    np.testing.assert_allclose(dw, ref + 5.0)
    np.testing.assert_allclose(db, 17.0)


# ---- errors --------------------------------------------------------------------------------------

def _t(*shape, dtype=np.float32):
    return nerve.from_numpy(np.zeros(shape, dtype))


@pytest.mark.parametrize("fn,msg", [
    (lambda: F.conv2d(_t(1, 3, 5, 5), _t(4, 1, 3, 3)), r"\[conv2d\] input has 3 channels, weight expects 1"),
    (lambda: F.conv2d(_t(1, 4, 5, 5), _t(6, 2, 3, 3), groups=3), r"\[conv2d\] groups=3 does not divide the input's 4"),
    (lambda: F.conv2d(_t(1, 4, 5, 5), _t(5, 2, 3, 3), groups=2), r"\[conv2d\] groups=2 does not divide the weight's 5"),
    (lambda: F.conv2d(_t(1, 1, 2, 2), _t(1, 1, 3, 3)), r"\[conv2d\] kernel 3x3 .* larger than the padded input 2x2"),
    (lambda: F.conv2d(_t(1, 1, 4, 4), _t(1, 1, 3, 3), dilation=2), r"\[conv2d\] kernel 3x3 with dilation 2x2 spans 5x5"),
    (lambda: F.conv2d(_t(3, 4), _t(1, 1, 3, 3)), r"\[conv2d\] expected input of 3 \(unbatched\) or 4 dimensions"),
    (lambda: F.conv2d(_t(1, 1, 5, 5), _t(1, 3, 3)), r"\[conv2d\] expected weight of 4 dimensions"),
    (lambda: F.conv2d(_t(1, 1, 5, 5), _t(1, 1, 3, 3), stride=0), r"\[conv2d\] stride must be >= 1"),
    (lambda: F.conv2d(_t(1, 1, 5, 5), _t(1, 1, 3, 3), padding=-1), r"\[conv2d\] padding must be >= 0"),
    (lambda: F.conv2d(_t(1, 1, 5, 5), _t(1, 1, 3, 3), stride=2, padding="same"), r"\[conv2d\] padding='same'"),
    (lambda: F.conv2d(_t(1, 1, 5, 5), _t(1, 1, 3, 3), padding="full"), r"\[conv2d\] padding must be 'same', 'valid'"),
    (lambda: F.conv2d(_t(1, 1, 5, 5), _t(2, 1, 3, 3), _t(3)), r"\[conv2d\] expected bias of shape \(2,\)"),
    (lambda: F.conv2d(_t(1, 1, 5, 5), _t(1, 1, 3, 3), groups=0), r"\[conv2d\] groups must be >= 1"),
    (lambda: F.conv1d(_t(1, 2, 5), _t(1, 3, 3)), r"\[conv1d\] input has 2 channels, weight expects 3"),
    (lambda: F.conv1d(_t(1, 2, 5, 5), _t(1, 2, 3)), r"\[conv1d\] expected input of 2 \(unbatched\) or 3 dimensions"),
    (lambda: F.conv_transpose2d(_t(1, 3, 5, 5), _t(4, 2, 3, 3)), r"\[conv_transpose2d\] input has 3 channels, "
                                                                  r"weight expects 4"),
    (lambda: F.conv_transpose2d(_t(1, 4, 5, 5), _t(4, 2, 3, 3), stride=2, output_padding=2),
     r"\[conv_transpose2d\] output_padding must be smaller"),
    (lambda: F.conv_transpose2d(_t(1, 4, 5, 5), _t(4, 2, 3, 3), groups=3), r"\[conv_transpose2d\] groups=3"),
    (lambda: F.conv_transpose2d(_t(1, 4, 1, 1), _t(4, 2, 3, 3), padding=2), r"\[conv_transpose2d\] output size"),
])
def test_errors(fn, msg):
    with pytest.raises(ValueError, match=msg):
        fn()


def test_dtype_mismatch():
    with pytest.raises(TypeError, match=r"\[conv2d\] input is float32 but weight is float64"):
        F.conv2d(_t(1, 1, 5, 5), _t(1, 1, 3, 3, dtype=np.float64))


def test_kernel_argument_errors():
    x, w = np.zeros((1, 2, 5, 5), np.float32), np.zeros((3, 2, 3, 3), np.float32)
    with pytest.raises(ValueError, match=r"\[conv2d\] expected out of shape \(1, 3, 3, 3\)"):
        _C.cpu.conv2d_forward(np.empty((1, 3, 5, 5), np.float32), x, w)
    with pytest.raises(ValueError, match=r"\[conv2d\] input must be contiguous"):
        _C.cpu.conv2d_forward(np.empty((1, 3, 3, 3), np.float32), np.zeros((1, 2, 5, 10), np.float32)[..., ::2], w)
    with pytest.raises(ValueError, match=r"\[conv2d\] input and weight must have the same dtype"):
        _C.cpu.conv2d_forward(np.empty((1, 3, 3, 3), np.float32), x, w.astype(np.float64))
    with pytest.raises(ValueError, match=r"\[conv2d\] expected input of dtype float32 or float64, got int64"):
        _C.cpu.conv2d_forward(np.empty((1, 3, 3, 3), np.int64), x.astype(np.int64), w.astype(np.int64))
    with pytest.raises(ValueError, match=r"\[conv2d\] expected grad_out of shape \(1, 3, 3, 3\)"):
        _C.cpu.conv2d_backward_weight(np.zeros_like(w), np.zeros((1, 3, 4, 3), np.float32), x)
    with pytest.raises(ValueError, match=r"\[conv2d\] out must not share memory with input"):
        a = np.zeros((1, 1, 3, 3), np.float32)
        _C.cpu.conv2d_forward(a, a, np.zeros((1, 1, 1, 1), np.float32))


def test_conv_algorithm_setting():
    assert _C.cpu.conv_algorithm() == "auto"
    assert _C.cpu.conv_algorithm("gemm") == "auto"
    assert _C.cpu.conv_algorithm("auto") == "gemm"
    with pytest.raises(ValueError, match=r"\[conv_algorithm\] expected 'auto', 'gemm'"):
        _C.cpu.conv_algorithm("fft")


def test_module_level_names_match_torch():
    import inspect
    for name in ["conv1d", "conv2d", "conv_transpose1d", "conv_transpose2d"]:
        ours = list(inspect.signature(getattr(F, name)).parameters)
        theirs = {"conv1d": ["input", "weight", "bias", "stride", "padding", "dilation", "groups"],
                  "conv2d": ["input", "weight", "bias", "stride", "padding", "dilation", "groups"],
                  "conv_transpose1d": ["input", "weight", "bias", "stride", "padding", "output_padding", "groups",
                                       "dilation"],
                  "conv_transpose2d": ["input", "weight", "bias", "stride", "padding", "output_padding", "groups",
                                       "dilation"]}[name]
        assert ours == theirs, name
