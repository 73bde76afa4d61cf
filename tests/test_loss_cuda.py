"""test_loss_cuda.py — the CUDA loss kernels (csrc/cuda/loss.cuh) against the CPU kernels, under the
emulator and (marker `cuda`) on a GPU: cross-entropy with class indices (warp-per-row and
per-sample kernels, weights, ignore_index, label smoothing, one gradient for all samples or one
each) and with probabilities (and their target gradient), nll_loss, the pointwise losses; bad
targets are skipped, never read; argument errors. The nerve ops run end to end on CUDA tensors
when a GPU is present."""
import numpy as np
import pytest

import nerve
import nerve.nn.functional as F
from nerve import _C
from cuda_backends import be, run  # noqa: F401


def case(N, C, inner, seed=0):
    rng = np.random.default_rng(seed)
    shape = (N, C, inner) if inner > 1 else (N, C)
    ts = (N, inner) if inner > 1 else (N,)
    x = (rng.standard_normal(shape) * 4).astype(np.float32)
    t = rng.integers(0, C, ts).astype(np.int64)
    t.reshape(-1)[::4] = -100
    w = (rng.random(C) + 0.2).astype(np.float32)
    p = rng.random(shape).astype(np.float32)
    return x, t, w, p / p.sum(1, keepdims=True), ts, rng


SIZES = [(1, 1, 1), (5, 31, 1), (6, 33, 1), (3, 1500, 1), (9, 10, 1), (3, 7, 5), (2, 4, 33)]


@pytest.mark.parametrize("N,C,inner", SIZES)
@pytest.mark.parametrize("eps", [0.0, 0.3])
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_indices(be, N, C, inner, eps, weighted):
    x, t, w, _, ts, rng = case(N, C, inner)
    w = w if weighted else None
    loss, stats = np.empty(ts, np.float32), np.empty(ts + (2,), np.float32)
    total, wtotal = _C.cpu.cross_entropy_forward(loss, stats, x, t, w, -100, eps, "ce")
    wsum = None if w is None else np.array(w.sum(), np.float32)
    l2, wt, s2 = run(be, "cross_entropy_forward", np.empty(ts, np.float32), np.empty(ts, np.float32),
                     np.empty(ts + (2,), np.float32), x, t, w, wsum, -100, eps, "ce", outs=(0, 1, 2))
    np.testing.assert_allclose(l2, loss, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(s2, stats, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(wt.sum(), wtotal, rtol=1e-5)
    for g in (rng.standard_normal(ts).astype(np.float32), np.array(0.37, np.float32)):  # per sample, or one for all
        dx = np.empty_like(x)
        _C.cpu.cross_entropy_backward(dx, x, stats, t, w, g, 1.0, -100, eps, "ce")
        (d2,) = run(be, "cross_entropy_backward", np.empty_like(x), x, stats, t, w, wsum, g, 1.0, -100, eps, "ce",
                    outs=(0,))
        np.testing.assert_allclose(d2, dx, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("N,C,inner", SIZES)
@pytest.mark.parametrize("eps", [0.0, 0.2])
def test_cross_entropy_probabilities(be, N, C, inner, eps):
    x, _, w, p, ts, rng = case(N, C, inner, 1)
    loss, stats = np.empty(ts, np.float32), np.empty(ts + (2,), np.float32)
    _C.cpu.cross_entropy_forward(loss, stats, x, p, w, -100, eps, "ce")
    l2, s2 = run(be, "cross_entropy_forward", np.empty(ts, np.float32), None, np.empty(ts + (2,), np.float32), x, p, w,
                 None, -100, eps, "ce", outs=(0, 2))
    np.testing.assert_allclose(l2, loss, rtol=1e-5, atol=1e-5)
    g = rng.standard_normal(ts).astype(np.float32)
    dx, dt = np.empty_like(x), np.empty_like(x)
    _C.cpu.cross_entropy_backward(dx, x, stats, p, w, g, 1.0, -100, eps, "ce", dt)
    d2, t2 = run(be, "cross_entropy_backward", np.empty_like(x), x, stats, p, w, None, g, 1.0, -100, eps, "ce",
                 np.empty_like(x), outs=(0, 11))
    np.testing.assert_allclose(d2, dx, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(t2, dt, rtol=1e-4, atol=1e-6)


def test_cross_entropy_float64_and_extremes(be):
    x = np.array([[1e4, -1e4, 0.0], [-np.inf, -np.inf, -np.inf], [-np.inf, 0.0, 1.0]], np.float64)
    t = np.array([1, -100, 2])
    loss, stats = np.empty(3), np.empty((3, 2))
    _C.cpu.cross_entropy_forward(loss, stats, x, t, None, -100, 0.0, "ce")
    l2, s2 = run(be, "cross_entropy_forward", np.empty(3), None, np.empty((3, 2)), x, t, None, None, -100, 0.0, "ce",
                 outs=(0, 2))
    np.testing.assert_array_equal(l2, loss)
    dx = np.empty_like(x)
    _C.cpu.cross_entropy_backward(dx, x, stats, t, None, np.ones(3), 1.0, -100, 0.0, "ce")
    (d2,) = run(be, "cross_entropy_backward", np.empty_like(x), x, s2, t, None, None, np.ones(3), 1.0, -100, 0.0, "ce",
                outs=(0,))
    nerve.testing.assert_close(d2, dx, atol=1e-12, rtol=1e-12)  # NaN where the row is all -inf, as on the CPU


def test_bad_targets_are_skipped(be):
    x, t, _, _, ts, _ = case(4, 5, 1)
    t[1], t[2] = 5, -7
    (l2,) = run(be, "cross_entropy_forward", np.empty(ts, np.float32), None, None, x, t, None, None, -100, 0.0, "ce",
                outs=(0,))
    assert l2[1] == 0 and l2[2] == 0
    (d2,) = run(be, "nll_loss_backward", np.empty_like(x), t, None, np.ones(1, np.float32), 1.0, -100, "nll",
                outs=(0,))
    assert not d2[1].any() and not d2[2].any()


@pytest.mark.parametrize("N,C,inner", [(5, 7, 1), (3, 4, 6), (1, 1, 1)])
def test_nll_loss(be, N, C, inner):
    x, t, w, _, ts, rng = case(N, C, inner, 2)
    loss = np.empty(ts, np.float32)
    _, wtotal = _C.cpu.nll_loss_forward(loss, x, t, w, -100, "nll")
    l2, wt = run(be, "nll_loss_forward", np.empty(ts, np.float32), np.empty(ts, np.float32), x, t, w, -100, "nll",
                 outs=(0, 1))
    np.testing.assert_allclose(l2, loss, rtol=1e-6)
    np.testing.assert_allclose(wt.sum(), wtotal, rtol=1e-6)
    g = rng.standard_normal(ts).astype(np.float32)
    dx = np.empty_like(x)
    _C.cpu.nll_loss_backward(dx, t, w, g, 1.0, -100, "nll")
    (d2,) = run(be, "nll_loss_backward", np.empty_like(x), t, w, g, 1.0, -100, "nll", outs=(0,))
    np.testing.assert_allclose(d2, dx, rtol=1e-6)


@pytest.mark.parametrize("kind", ["mse", "l1", "bce", "bce_logits"])
@pytest.mark.parametrize("n", [1, 257, 3001])
@pytest.mark.parametrize("weighted", [False, True])
def test_pointwise(be, kind, n, weighted):
    rng = np.random.default_rng(n)
    x = (rng.random(n) * 0.98 + 0.01).astype(np.float32) if kind == "bce" else (rng.standard_normal(n) * 4).astype(
        np.float32)
    t, w, pw = (rng.random(n).astype(np.float32) for _ in range(3))
    w = w if weighted else None
    pw = pw * 3 if weighted and kind == "bce_logits" else None
    loss = np.empty_like(x)
    _C.cpu.pointwise_loss_forward(loss, x, t, w, pw, kind, "l")
    (l2,) = run(be, "pointwise_loss_forward", np.empty_like(x), x, t, w, pw, kind, "l", outs=(0,))
    np.testing.assert_allclose(l2, loss, rtol=1e-5, atol=1e-6 + 2e-7 * np.abs(x).max())
    for g in (rng.standard_normal(n).astype(np.float32), np.array(1.0 / n, np.float32)):
        dx, dt = np.empty_like(x), np.empty_like(x)
        _C.cpu.pointwise_loss_backward(dx, dt, x, t, w, pw, g, 1.0, kind, "l")
        d2, t2 = run(be, "pointwise_loss_backward", np.empty_like(x), np.empty_like(x), x, t, w, pw, g, 1.0, kind, "l",
                     outs=(0, 1))
        np.testing.assert_allclose(d2, dx, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(t2, dt, rtol=1e-5, atol=1e-6)


def test_argument_errors(be):
    x = be.put(np.zeros((4, 5), np.float32))
    with pytest.raises(ValueError, match=r"\[ce\] expected target of shape \(4,\)"):
        be.call("cross_entropy_forward", be.put(np.zeros(4, np.float32)), None, None, x,
                be.put(np.zeros(3, np.int64)), None, None, -100, 0.0, "ce")
    with pytest.raises(ValueError, match=r"\[ce\] weight has shape \(3,\), expected \(5,\)"):
        be.call("cross_entropy_forward", be.put(np.zeros(4, np.float32)), None, None, x,
                be.put(np.zeros(4, np.int64)), be.put(np.ones(3, np.float32)), None, -100, 0.0, "ce")
    with pytest.raises(ValueError, match=r"\[l\] target has shape \(4,\), expected the input's shape \(4, 5\)"):
        be.call("pointwise_loss_forward", be.put(np.zeros((4, 5), np.float32)), x, be.put(np.zeros(4, np.float32)),
                None, None, "mse", "l")


@pytest.mark.cuda
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_ops_on_cuda_tensors(reduction):
    x = nerve.randn(16, 10)
    t = nerve.randint(0, 10, (16,))
    w = nerve.rand(10) + 0.5
    p = nerve.rand(16, 10)
    for fn, target in [(lambda a, b: F.cross_entropy(a, b, reduction=reduction), t),
                       (lambda a, b: F.cross_entropy(a, b, weight=w.to(a.device), label_smoothing=0.1,
                                                     reduction=reduction), t),
                       (lambda a, b: F.cross_entropy(a, b, reduction=reduction), p),
                       (lambda a, b: F.nll_loss(F.log_softmax(a, 1), b, reduction=reduction), t),
                       (lambda a, b: F.mse_loss(a, b, reduction=reduction), p),
                       (lambda a, b: F.l1_loss(a, b, reduction=reduction), p),
                       (lambda a, b: F.binary_cross_entropy(a.sigmoid(), b, reduction=reduction), p),
                       (lambda a, b: F.binary_cross_entropy_with_logits(a, b, reduction=reduction), p)]:
        xc = x.cuda().requires_grad_(True)
        y = fn(xc, target.cuda())
        y.sum().backward()
        xh = x.clone().requires_grad_(True)
        yh = fn(xh, target)
        yh.sum().backward()
        nerve.testing.assert_close(y.cpu().detach(), yh.detach(), atol=1e-5, rtol=1e-5)
        nerve.testing.assert_close(xc.grad.cpu(), xh.grad, atol=1e-6, rtol=1e-5)
    with pytest.raises(ValueError, match=r"\[cross_entropy\] target 10 is out of bounds"):
        F.cross_entropy(x.cuda(), nerve.full((16,), 10, dtype=nerve.int64).cuda())
