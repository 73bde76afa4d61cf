"""max_pool1d/2d, avg_pool1d/2d, adaptive_avg_pool2d, adaptive_max_pool2d vs torch: values, argmax
indices (ties and NaN included), gradients, float64 gradcheck, the naive oracle, and errors."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import nerve
import nerve.nn.functional as F
from nerve import _C
from helpers import check_op

MAX2D = [
    ((2, 3, 8, 8), dict(kernel_size=2)),
    ((2, 3, 9, 7), dict(kernel_size=3, stride=2, padding=1)),
    ((2, 3, 9, 7), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    ((1, 2, 10, 11), dict(kernel_size=(3, 2), stride=(2, 3), padding=(1, 1), ceil_mode=True)),
    ((2, 2, 11, 9), dict(kernel_size=3, stride=1, padding=1, dilation=2)),
    ((2, 2, 12, 10), dict(kernel_size=(2, 3), stride=2, dilation=(3, 1), ceil_mode=True)),
    ((1, 1, 5, 5), dict(kernel_size=5)),
    ((3, 1, 1, 9), dict(kernel_size=(1, 3), stride=(1, 2), padding=(0, 1))),
    ((2, 4, 7, 7), dict(kernel_size=3, stride=3, ceil_mode=True)),
]


@pytest.mark.parametrize("xs,kw", MAX2D)
def test_max_pool2d(xs, kw):
    check_op([xs], lambda x: TF.max_pool2d(x, **kw, return_indices=True),
             lambda x: F.max_pool2d(x, **kw, return_indices=True), atol=0, rtol=0)
    check_op([xs], lambda x: TF.max_pool2d(x, **kw), lambda x: F.max_pool2d(x, **kw), atol=0, rtol=0)


@pytest.mark.parametrize("xs,kw", MAX2D[:4])
def test_max_pool2d_ties_and_nan(xs, kw):
    rng = np.random.default_rng(3)
    ties = rng.integers(-1, 2, xs).astype(np.float32)  # few distinct values: ties everywhere
    relu = np.maximum(rng.standard_normal(xs), 0).astype(np.float32)
    nan = rng.standard_normal(xs).astype(np.float32)
    nan[rng.random(xs) < 0.2] = np.nan
    inf = np.full(xs, -np.inf, np.float32)
    for x in (ties, relu, nan, inf):
        check_op([x], lambda t: TF.max_pool2d(t, **kw, return_indices=True),
                 lambda t: F.max_pool2d(t, **kw, return_indices=True), atol=0, rtol=0, grad=bool(np.isfinite(x).all()))


@pytest.mark.parametrize("xs,kw", [((1, 2, 5, 6), dict(kernel_size=2)), ((1, 1, 6, 5), dict(kernel_size=3, stride=2,
                                                                                            padding=1, dilation=1))])
def test_max_pool2d_gradcheck(xs, kw):
    check_op([xs], lambda x: TF.max_pool2d(x, **kw), lambda x: F.max_pool2d(x, **kw), gradcheck=True)


def test_max_pool1d_and_unbatched():
    for kw in (dict(kernel_size=3, stride=2, padding=1), dict(kernel_size=2, ceil_mode=True, dilation=2)):
        check_op([(2, 3, 13)], lambda x: TF.max_pool1d(x, **kw, return_indices=True),
                 lambda x: F.max_pool1d(x, **kw, return_indices=True), atol=0, rtol=0)
    check_op([(3, 13)], lambda x: TF.max_pool1d(x, 2), lambda x: F.max_pool1d(x, 2), atol=0, rtol=0)
    check_op([(3, 6, 7)], lambda x: TF.max_pool2d(x, 2, return_indices=True),
             lambda x: F.max_pool2d(x, 2, return_indices=True), atol=0, rtol=0)


AVG2D = [
    ((2, 3, 8, 8), dict(kernel_size=2)),
    ((2, 3, 9, 7), dict(kernel_size=3, stride=2, padding=1)),
    ((2, 3, 9, 7), dict(kernel_size=3, stride=2, padding=1, count_include_pad=False)),
    ((2, 3, 9, 7), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    ((2, 3, 9, 7), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)),
    ((1, 2, 10, 11), dict(kernel_size=(3, 2), stride=(2, 3), padding=(1, 1), divisor_override=5)),
    ((2, 2, 7, 7), dict(kernel_size=3, stride=1, padding=1)),
    ((1, 1, 4, 6), dict(kernel_size=(4, 6))),
]


@pytest.mark.parametrize("xs,kw", AVG2D)
def test_avg_pool2d(xs, kw):
    check_op([xs], lambda x: TF.avg_pool2d(x, **kw), lambda x: F.avg_pool2d(x, **kw), atol=1e-6, rtol=1e-5,
             gradcheck=True, gradcheck_specs=[(1, 1) + xs[2:]])


def test_avg_pool1d_and_unbatched():
    kw = dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)
    check_op([(2, 3, 12)], lambda x: TF.avg_pool1d(x, **kw), lambda x: F.avg_pool1d(x, **kw), atol=1e-6, rtol=1e-5)
    check_op([(3, 6, 7)], lambda x: TF.avg_pool2d(x, 3, 2, 1), lambda x: F.avg_pool2d(x, 3, 2, 1), atol=1e-6,
             rtol=1e-5)


@pytest.mark.parametrize("xs,size", [((2, 3, 8, 8), 1), ((2, 3, 9, 7), (3, 2)), ((1, 2, 10, 11), (4, 4)),
                                      ((2, 2, 5, 5), (7, 8)), ((1, 2, 6, 9), (None, 4)), ((3, 7, 7), 7)])
def test_adaptive_pools(xs, size):
    check_op([xs], lambda x: TF.adaptive_avg_pool2d(x, size), lambda x: F.adaptive_avg_pool2d(x, size), atol=1e-6,
             rtol=1e-5, gradcheck=True)
    check_op([xs], lambda x: TF.adaptive_max_pool2d(x, size, return_indices=True),
             lambda x: F.adaptive_max_pool2d(x, size, return_indices=True), atol=0, rtol=0)
    check_op([xs], lambda x: TF.adaptive_max_pool2d(x, size), lambda x: F.adaptive_max_pool2d(x, size), atol=0,
             rtol=0)


def test_adaptive_max_ties_and_nan():
    rng = np.random.default_rng(4)
    x = rng.integers(-1, 2, (2, 3, 9, 8)).astype(np.float32)
    check_op([x], lambda t: TF.adaptive_max_pool2d(t, (4, 3), return_indices=True),
             lambda t: F.adaptive_max_pool2d(t, (4, 3), return_indices=True), atol=0, rtol=0)
    x[rng.random(x.shape) < 0.2] = np.nan
    check_op([x], lambda t: TF.adaptive_max_pool2d(t, (4, 3), return_indices=True),
             lambda t: F.adaptive_max_pool2d(t, (4, 3), return_indices=True), atol=0, rtol=0, grad=False)


@pytest.mark.parametrize("isa", ["avx512", "generic"])  # the SIMD span sum of global average pooling, and none
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernels_match_naive(dtype, threads, isa):
    old = nerve.get_num_threads()
    nerve.set_num_threads(threads)
    _C.set_isa(isa)
    try:
        for plane in [(9, 9), (4, 4), (1, 3), (16, 12)]:  # spans of 81, 16, 3, 192 values: every loop of the sum
            xg = np.random.default_rng(6).standard_normal((2, 3) + plane).astype(dtype)
            yg = [np.empty((2, 3, 1, 1), dtype) for _ in range(2)]
            for i, naive in enumerate((False, True)):
                _C.cpu.adaptive_avg_pool2d_forward(yg[i], xg, naive)
            np.testing.assert_allclose(yg[0], yg[1], rtol=1e-5, atol=1e-6)
        rng = np.random.default_rng(5)
        x = rng.standard_normal((3, 5, 13, 11)).astype(dtype)
        cpu = _C.cpu
        for k, s, p, d, cm in [((3, 3), (2, 2), (1, 1), (1, 1), True), ((2, 3), (1, 2), (1, 0), (2, 1), False)]:
            shape = tuple(F.max_pool2d(nerve.from_numpy(x), k, s, p, d, cm).shape)
            outs = []
            for naive in (False, True):
                y, ix = np.empty(shape, dtype), np.empty(shape, np.int64)
                cpu.max_pool2d_forward(y, ix, x, k, s, p, d, cm, naive)
                outs.append((y, ix))
            np.testing.assert_array_equal(outs[0][0], outs[1][0])
            np.testing.assert_array_equal(outs[0][1], outs[1][1])
            for cip in (True, False):
                ys = [np.empty(shape if d == (1, 1) else tuple(F.avg_pool2d(nerve.from_numpy(x), k, s, p, cm).shape),
                               dtype) for _ in range(2)]
                gx = [np.empty_like(x) for _ in range(2)]
                for i, naive in enumerate((False, True)):
                    cpu.avg_pool2d_forward(ys[i], x, k, s, p, cm, cip, 0, naive)
                    cpu.avg_pool2d_backward(gx[i], ys[i], k, s, p, cm, cip, 0, naive)
                tol = 1e-5 if dtype == np.float32 else 1e-12
                np.testing.assert_allclose(ys[0], ys[1], rtol=tol, atol=tol)
                np.testing.assert_allclose(gx[0], gx[1], rtol=tol, atol=tol)
        for size in [(1, 1), (4, 5), (13, 11), (20, 3)]:
            ys = [np.empty((3, 5) + size, dtype) for _ in range(4)]
            ix = [np.empty((3, 5) + size, np.int64) for _ in range(2)]
            for i, naive in enumerate((False, True)):
                cpu.adaptive_avg_pool2d_forward(ys[i], x, naive)
                cpu.adaptive_max_pool2d_forward(ys[2 + i], ix[i], x, naive)
            np.testing.assert_allclose(ys[0], ys[1], rtol=1e-5, atol=1e-6)
            np.testing.assert_array_equal(ys[2], ys[3])
            np.testing.assert_array_equal(ix[0], ix[1])
    finally:
        nerve.set_num_threads(old)
        _C.set_isa("avx512")  # lifts the cap back to the best the CPU has


def _t(*shape):
    return nerve.from_numpy(np.zeros(shape, np.float32))


@pytest.mark.parametrize("fn,msg", [
    (lambda: F.max_pool2d(_t(1, 1, 5, 5), 2, padding=2), r"\[max_pool2d\] padding 2 must be at most half"),
    (lambda: F.max_pool2d(_t(1, 1, 2, 2), 3), r"\[max_pool2d\] input 2x2 is too small for kernel 3x3"),
    (lambda: F.max_pool2d(_t(5, 5), 2), r"\[max_pool2d\] expected input of 3 \(unbatched\) or 4 dimensions"),
    (lambda: F.max_pool2d(_t(1, 1, 5, 5), 2, stride=0), r"\[max_pool2d\] stride must be >= 1"),
    (lambda: F.max_pool2d(_t(1, 1, 1, 7), 2, padding=1, dilation=(2, 1)), r"\[max_pool2d\] a pooling window covers "
                                                                          r"only padding"),
    (lambda: F.avg_pool2d(_t(1, 1, 5, 5), 2, padding=(0, 3)), r"\[avg_pool2d\] padding \(0, 3\) must be at most"),
    (lambda: F.avg_pool2d(_t(1, 1, 5, 5), 2, divisor_override=0), r"\[avg_pool2d\] divisor_override must be"),
    (lambda: F.avg_pool1d(_t(1, 1, 5, 5), 2), r"\[avg_pool1d\] expected input of 2 \(unbatched\) or 3 dimensions"),
    (lambda: F.adaptive_avg_pool2d(_t(1, 1, 5, 5), (0, 2)), r"\[adaptive_avg_pool2d\] output_size must hold positive"),
    (lambda: F.adaptive_max_pool2d(_t(1, 1, 5, 5), (1, 2, 3)), r"\[adaptive_max_pool2d\] output_size must be an int"),
])
def test_errors(fn, msg):
    with pytest.raises(ValueError, match=msg):
        fn()


def test_kernel_argument_errors():
    cpu = _C.cpu
    x = np.zeros((1, 2, 6, 6), np.float32)
    with pytest.raises(ValueError, match=r"\[max_pool2d\] expected out of shape \(1, 2, 3, 3\)"):
        cpu.max_pool2d_forward(np.empty((1, 2, 2, 2), np.float32), None, x, (2, 2))
    with pytest.raises(ValueError, match=r"\[max_pool2d\] expected indices of dtype int64"):
        cpu.max_pool2d_forward(np.empty((1, 2, 3, 3), np.float32), np.empty((1, 2, 3, 3), np.int32), x, (2, 2))
    with pytest.raises(ValueError, match=r"\[max_pool2d\] indices must lie in \[0, 36\)"):
        cpu.max_pool2d_backward(np.empty_like(x), np.ones((1, 2, 3, 3), np.float32),
                                np.full((1, 2, 3, 3), 36, np.int64))
    with pytest.raises(ValueError, match=r"\[adaptive_avg_pool2d\] grad_out \(1, 3, 2, 2\) does not match dinput"):
        cpu.adaptive_avg_pool2d_backward(np.empty_like(x), np.ones((1, 3, 2, 2), np.float32))
    with pytest.raises(ValueError, match=r"\[avg_pool2d\] expected input of dtype float32 or float64"):
        cpu.avg_pool2d_forward(np.empty((1, 2, 3, 3), np.int64), x.astype(np.int64), (2, 2))
