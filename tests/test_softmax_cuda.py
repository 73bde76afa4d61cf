"""test_softmax_cuda.py — the CUDA softmax / log_softmax kernels (csrc/cuda/softmax.cuh) against the
CPU kernel and torch in float64, under the emulator and (marker `cuda`) on a GPU: the warp-per-row
kernel (rows up to 1024, partial warps of rows), the block-per-row kernel (longer rows), the
per-column kernel (dim not last), float64, extreme rows, and argument errors."""
import numpy as np
import pytest
import torch

import nerve
import nerve.nn.functional as F
from nerve import _C
from cuda_backends import be, run  # noqa: F401

SHAPES = [((1, 1), 1), ((5, 31), 1), ((7, 33), 1), ((9, 1024), 1), ((3, 1025), 1), ((2, 3000), 1), ((3, 7, 9), 1),
          ((4, 33), 0), ((2, 5, 3, 7), 2), ((0, 5), 1)]


@pytest.mark.parametrize("shape,dim", SHAPES)
@pytest.mark.parametrize("log", [False, True])
def test_against_cpu_and_torch(be, shape, dim, log):
    rng = np.random.default_rng(sum(shape))
    x = (rng.standard_normal(shape) * 4).astype(np.float32)
    g = rng.standard_normal(shape).astype(np.float32)
    (y,) = run(be, "softmax_forward", np.empty_like(x), x, dim, log, "softmax", outs=(0,))
    cpu_y = np.empty_like(x)
    _C.cpu.softmax_forward(cpu_y, x, dim, log, "softmax")
    (dx,) = run(be, "softmax_backward", np.empty_like(x), g, cpu_y, dim, log, "softmax", outs=(0,))
    cpu_dx = np.empty_like(x)
    _C.cpu.softmax_backward(cpu_dx, g, cpu_y, dim, log, "softmax")
    t = torch.from_numpy(x.astype(np.float64)).requires_grad_(True)
    ref = (torch.log_softmax if log else torch.softmax)(t, dim)
    ref.backward(torch.from_numpy(g.astype(np.float64)))
    np.testing.assert_allclose(y, cpu_y, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(y, ref.detach().numpy(), rtol=1e-5, atol=1e-6)
    # backward error grows with the slice's sum (see test_softmax.py)
    s = np.abs(g.sum(dim, keepdims=True)) if log else np.abs((g * cpu_y).sum(dim, keepdims=True))
    np.testing.assert_array_less(np.abs(dx - cpu_dx), 1e-5 * (np.abs(cpu_dx) + 0.1 * (1 + s)))
    np.testing.assert_array_less(np.abs(dx - t.grad.numpy()), 1e-5 * (np.abs(cpu_dx) + 0.1 * (1 + s)))


@pytest.mark.parametrize("shape,dim", [((5, 40), 1), ((3, 2000), 1), ((4, 6, 5), 1)])
def test_float64(be, shape, dim):
    x = np.random.default_rng(3).standard_normal(shape) * 4
    for log in (False, True):
        (y,) = run(be, "softmax_forward", np.empty_like(x), x, dim, log, "softmax", outs=(0,))
        want = (torch.log_softmax if log else torch.softmax)(torch.from_numpy(x), dim).numpy()
        np.testing.assert_allclose(y, want, rtol=1e-12, atol=1e-14)


def test_extreme_rows(be):
    inf, nan = np.inf, np.nan
    x = np.array([[1e4, -1e4, 0.0, 1e4], [-inf, 0.0, 1.0, 2.0], [-inf, -inf, -inf, -inf], [inf, 0.0, 1.0, 2.0],
                  [nan, 0.0, 1.0, 2.0]], np.float32)
    for dim, xs in ((1, x), (0, np.ascontiguousarray(x.T)), (1, np.repeat(x, 300, axis=1))):
        for log in (False, True):
            (y,) = run(be, "softmax_forward", np.empty_like(xs), xs, dim, log, "softmax", outs=(0,))
            want = (torch.log_softmax if log else torch.softmax)(torch.from_numpy(xs), dim).numpy()
            nerve.testing.assert_close(y, want, atol=1e-6, rtol=1e-5)


def test_argument_errors(be):
    x = be.put(np.zeros((3, 4), np.float32))
    with pytest.raises(ValueError, match=r"\[softmax\] dim 2 is out of range"):
        be.call("softmax_forward", be.put(np.zeros((3, 4), np.float32)), x, 2, False, "softmax")
    with pytest.raises(ValueError, match=r"\[log_softmax\] dinput has shape \(4, 3\), expected \(3, 4\)"):
        be.call("softmax_backward", be.put(np.zeros((4, 3), np.float32)), x, x, 1, True, "log_softmax")


@pytest.mark.cuda
@pytest.mark.parametrize("dim", [0, 1, 2])
def test_ops_on_cuda_tensors(dim):
    x = nerve.randn(6, 33, 5)
    for fn in (F.softmax, F.log_softmax):
        xc = x.cuda().requires_grad_(True)
        y = fn(xc, dim)
        (y * y).sum().backward()
        xh = x.clone().requires_grad_(True)
        yh = fn(xh, dim)
        (yh * yh).sum().backward()
        nerve.testing.assert_close(y.cpu().detach(), yh.detach(), atol=1e-6, rtol=1e-5)
        nerve.testing.assert_close(xc.grad.cpu(), xh.grad, atol=1e-5, rtol=1e-4)
