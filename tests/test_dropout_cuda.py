"""test_dropout_cuda.py — the CUDA dropout kernels (csrc/cuda/dropout.cuh) against the CPU kernel.

Under the emulator (nerve._C_emu, numpy arrays) and, when a GPU is present, on the device (marker
`cuda`): for the same seed and offset the CUDA mask is the CPU mask bit for bit, on sizes that end in
partial warps and partial 64-element blocks and that need several grid-stride rounds. F.dropout's
CUDA branch is also run with the emulator standing in for the device.
"""
import numpy as np
import pytest

import nerve
import nerve.nn.functional as F
from nerve import _C, _C_emu
import nerve.ops.dropout as ops_dropout
from cuda_backends import Emu, be  # noqa: F401  (be is a fixture)


def cpu_dropout(x, p, seed, offset):
    y = np.empty_like(x)
    mask = np.empty(_C.cpu.dropout_mask_bytes(x.size), np.uint8)
    _C.cpu.dropout_forward(y, mask, x, p, seed, offset)
    return y, mask


@pytest.mark.parametrize("n", [1, 31, 64, 65, 1000, 4099, 70001])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cuda_dropout_matches_cpu(be, n, dtype):
    rng = np.random.default_rng(n)
    x = rng.standard_normal(n).astype(dtype)
    g = rng.standard_normal(n).astype(dtype)
    seed, offset, p = int(rng.integers(0, 2 ** 63)), int(rng.integers(0, 2 ** 40)), 0.35
    want_y, want_mask = cpu_dropout(x, p, seed, offset)
    y, mask = be.put(np.empty_like(x)), be.put(np.full(want_mask.shape, 0xAA, np.uint8))
    be.k.dropout_forward(y, mask, be.put(x), p, seed, offset)
    np.testing.assert_array_equal(be.get(mask), want_mask)
    np.testing.assert_array_equal(be.get(y), want_y)
    want_dx = np.empty_like(g)
    _C.cpu.dropout_backward(want_dx, g, want_mask, p)
    dx = be.put(np.empty_like(g))
    be.k.dropout_backward(dx, be.put(g), mask, p)
    np.testing.assert_array_equal(be.get(dx), want_dx)


def test_cuda_dropout_grid_stride_and_no_mask(be):
    """More counters than the 8192-block grid holds: every element still gets its own word."""
    n = 8192 * 256 * 16 + 1000 if be is not Emu else 300_003
    x = np.ones(n, np.float32)
    want, _ = cpu_dropout(x, 0.5, 7, 0)
    y = be.put(np.empty_like(x))
    be.k.dropout_forward(y, None, be.put(x), 0.5, 7, 0)
    np.testing.assert_array_equal(be.get(y), want)


def test_cuda_dropout_in_place(be):
    x = np.random.default_rng(1).standard_normal(777).astype(np.float32)
    want, _ = cpu_dropout(x, 0.2, 3, 1)
    d = be.put(x)
    be.k.dropout_forward(d, None, d, 0.2, 3, 1)
    np.testing.assert_array_equal(be.get(d), want)


def test_cuda_dropout_checks_arguments(be):
    x = be.put(np.ones(10, np.float32))
    with pytest.raises(ValueError, match=r"\[dropout\] mask must hold 8 bytes"):
        be.k.dropout_forward(be.put(np.empty(10, np.float32)), be.put(np.empty(3, np.uint8)), x, 0.5, 1)
    with pytest.raises(ValueError, match=r"\[dropout\] the kernel takes 0 < p < 1"):
        be.k.dropout_forward(be.put(np.empty(10, np.float32)), None, x, 0.0, 1)


def test_emulated_dropout_is_the_cuda_entry():
    assert _C_emu.dropout_forward.__doc__ == _C.cuda.dropout_forward.__doc__
    assert _C_emu.dropout_backward.__doc__ == _C.cuda.dropout_backward.__doc__


def test_functional_dropout_through_the_cuda_branch(monkeypatch):
    """F.dropout with the emulator as the device: the same values and gradient as on the CPU."""
    x = nerve.randn(5, 301)
    nerve.manual_seed(4)
    want = F.dropout(x, 0.3).numpy()
    monkeypatch.setattr(ops_dropout, "kernels", lambda a: _C_emu)
    nerve.manual_seed(4)
    xr = x.detach().requires_grad_(True)
    y = F.dropout(xr, 0.3)
    np.testing.assert_array_equal(y.detach().numpy(), want)
    y.sum().backward()
    np.testing.assert_array_equal(xr.grad.numpy(), (want != 0) * np.float32(1 / np.float32(0.7)))
