"""softmax and log_softmax over every dim vs torch: values and gradients on odd, strided, empty
and 0-d shapes, float64 gradcheck, extreme rows (±1e4, -inf, all -inf, +inf, NaN), every SIMD back
end against the naive oracle (row lengths and column counts that end mid-vector, threaded sizes),
long rows against float64, the dtype and implicit-dim arguments, and errors."""
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import nerve
import nerve.nn.functional as F
from nerve import _C
from helpers import check_op

FNS = [("softmax", TF.softmax, F.softmax, False), ("log_softmax", TF.log_softmax, F.log_softmax, True)]
IDS = [f[0] for f in FNS]


@pytest.fixture(params=["avx512", "avx2", "generic"])
def isa(request):
    _C.set_isa(request.param)
    yield _C.isa()
    _C.set_isa("avx512")


CASES = [((3, 4), 1), ((3, 4), 0), ((3, 4), -1), ((2, 3, 5, 7), 0), ((2, 3, 5, 7), 1), ((2, 3, 5, 7), 2),
         ((2, 3, 5, 7), 3), ((17,), 0), ((), 0), ((), -1), ((0, 5), 1), ((0, 5), 0), ((5, 0), 1), ((4, 1), 1),
         ((1, 40), 1), ((6, 33, 2), 1)]


@pytest.mark.parametrize("fn", FNS, ids=IDS)
@pytest.mark.parametrize("shape,dim", CASES)
def test_forward_backward(fn, shape, dim):
    _, tf, nf, _ = fn
    check_op([shape], lambda x: tf(x, dim), lambda x: nf(x, dim), atol=1e-6, rtol=1e-5, low=-5, high=5)


@pytest.mark.parametrize("fn", FNS, ids=IDS)
@pytest.mark.parametrize("dim", [0, 1, 2])
def test_noncontiguous_float64_gradcheck(fn, dim):
    _, tf, nf, _ = fn
    check_op([(4, 6, 9)], lambda x: tf(x, dim), lambda x: nf(x, dim), atol=1e-6, rtol=1e-5, noncontig=True)
    check_op([(3, 4, 5)], lambda x: tf(x, dim), lambda x: nf(x, dim), atol=1e-12, rtol=1e-10, dtype=np.float64,
             gradcheck=True, gradcheck_specs=[(2, 3, 4)])


@pytest.mark.parametrize("fn", FNS, ids=IDS)
def test_every_backend(fn, isa):
    _, tf, nf, _ = fn
    assert _C.cpu.softmax_backend() == isa
    for shape, dim in [((5, 37), 1), ((3, 37, 19), 1), ((70, 5), 0)]:
        check_op([shape], lambda x: tf(x, dim), lambda x: nf(x, dim), atol=1e-6, rtol=1e-5, low=-8, high=8)


def test_tensor_methods_api_and_dtype():
    check_op([(4, 6)], lambda x: x.softmax(1))
    check_op([(4, 6)], lambda x: x.log_softmax(0))
    check_op([(4, 6)], lambda x: torch.softmax(x, -1), lambda x: nerve.softmax(x, -1))
    check_op([(4, 6)], lambda x: TF.softmax(x, 1, dtype=torch.float64), lambda x: F.softmax(x, 1, dtype=nerve.float64),
             atol=1e-12, rtol=1e-10)
    check_op([(4, 6)], lambda x: TF.log_softmax(x, 1, dtype=torch.float64),
             lambda x: F.log_softmax(x, 1, dtype=nerve.float64), atol=1e-12, rtol=1e-10)


@pytest.mark.parametrize("shape", [(7,), (2, 5), (2, 3, 4)])
def test_implicit_dim(shape):
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        got = F.softmax(nerve.from_numpy(x))
        assert any("Implicit dimension choice" in str(m.message) for m in w)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = TF.softmax(torch.from_numpy(x), dim=None)
    nerve.testing.assert_close(got, want, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("fn", FNS, ids=IDS)
def test_extreme_rows(fn, isa):
    _, tf, nf, _ = fn
    inf, nan = np.inf, np.nan
    rows = [[1e4, -1e4, 0.0, 1e4], [-1e4, -1e4, -1e4, -1e4], [-inf, 0.0, 1.0, 2.0], [-inf, -inf, -inf, -inf],
            [inf, 0.0, 1.0, 2.0], [nan, 0.0, 1.0, 2.0], [88.0, -88.0, 89.0, -104.0], [3e38, -3e38, 0.0, 1.0]]
    x = np.array([r * 5 for r in rows], np.float32)  # 20 wide: a full vector plus a partial one
    g = np.random.default_rng(1).uniform(-1, 1, x.shape).astype(np.float32)
    for dim, xs, gs in ((1, x, g), (0, np.ascontiguousarray(x.T), np.ascontiguousarray(g.T))):
        tx = torch.from_numpy(xs.copy()).requires_grad_(True)
        ty = tf(tx, dim)
        ty.backward(torch.from_numpy(gs))
        nx = nerve.from_numpy(xs.copy()).requires_grad_(True)
        ny = nf(nx, dim)
        ny.backward(nerve.from_numpy(gs))
        nerve.testing.assert_close(ny, ty.detach(), atol=1e-6, rtol=1e-5, msg=f"forward dim {dim}")
        nerve.testing.assert_close(nx.grad, tx.grad, atol=1e-6, rtol=1e-5, msg=f"gradient dim {dim}")


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matches_naive(isa, threads, dtype):
    old = nerve.get_num_threads()
    nerve.set_num_threads(threads)
    try:
        rng = np.random.default_rng(3)
        tol = 1e-5 if dtype == np.float32 else 1e-13
        for outer, dim, inner in [(1, 1, 1), (3, 15, 1), (2, 16, 1), (5, 17, 1), (4, 33, 1), (300, 100, 1),
                                  (2, 1000, 1), (3, 7, 3), (2, 5, 17), (2, 9, 65), (40, 30, 33), (1, 3, 1000)]:
            x = (rng.standard_normal((outer, dim, inner)) * 4).astype(dtype)
            g = rng.standard_normal(x.shape).astype(dtype)
            for log in (False, True):
                y, y0, d, d0 = (np.empty_like(x) for _ in range(4))
                _C.cpu.softmax_forward(y, x, 1, log, "t")
                _C.cpu.softmax_forward(y0, x, 1, log, "t", True)
                np.testing.assert_allclose(y, y0, rtol=tol, atol=tol * 0.1)
                _C.cpu.softmax_backward(d, g, y0, 1, log, "t")
                _C.cpu.softmax_backward(d0, g, y0, 1, log, "t", True)
                # backward error scales with |sum(dy)| (log) or |sum(dy y)| (softmax) of the slice
                s = np.abs(g.sum(1, keepdims=True)) if log else np.abs((g * y0).sum(1, keepdims=True))
                np.testing.assert_array_less(np.abs(d - d0), tol * (np.abs(d0) + 0.1 * (1 + s)))
    finally:
        nerve.set_num_threads(old)


@pytest.mark.parametrize("fn", FNS, ids=IDS)
def test_long_rows_against_float64(fn):
    """Rows of 1e5: the float32 result stays within a few ulps of float64 (sums run in blocks)."""
    _, tf, nf, log = fn
    x = (np.random.default_rng(4).standard_normal((2, 100003)) * 3).astype(np.float32)
    want = tf(torch.from_numpy(x.astype(np.float64)), 1).numpy()
    got = nf(nerve.from_numpy(x), 1).numpy().astype(np.float64)
    np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-6 if log else 1e-12)


def test_errors():
    x = nerve.randn(3, 4)
    with pytest.raises(IndexError, match=r"\[softmax\] dim 2 is out of range for a tensor of 2 dimensions"):
        F.softmax(x, 2)
    with pytest.raises(IndexError, match=r"\[log_softmax\] dim -3 is out of range"):
        F.log_softmax(x, -3)
    with pytest.raises(TypeError, match=r"\[softmax\] expected a floating point tensor, got int64"):
        F.softmax(nerve.tensor([1, 2, 3]), 0)
    with pytest.raises(TypeError, match=r"\[softmax\] dim must be an int"):
        F.softmax(x, "1")
    cpu = _C.cpu
    a = np.zeros((3, 4), np.float32)
    with pytest.raises(ValueError, match=r"\[softmax\] dim 2 is out of range"):
        cpu.softmax_forward(np.empty_like(a), a, 2, False, "softmax")
    with pytest.raises(ValueError, match=r"\[softmax\] out has shape \(4, 3\), expected \(3, 4\)"):
        cpu.softmax_forward(np.empty((4, 3), np.float32), a, 1, False, "softmax")
    with pytest.raises(ValueError, match=r"\[softmax\] out must not share memory with input"):
        cpu.softmax_forward(a, a, 1, False, "softmax")
    with pytest.raises(ValueError, match=r"\[softmax\] input must be contiguous"):
        cpu.softmax_forward(np.empty((4, 3), np.float32), a.T, 1, False, "softmax")
    with pytest.raises(ValueError, match=r"\[log_softmax\] grad_out and output must have the same dtype"):
        cpu.softmax_backward(np.empty_like(a), a, a.astype(np.float64), 1, True, "log_softmax")
