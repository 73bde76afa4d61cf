"""test_gemm_cuda.py — the CUDA GEMM kernels (csrc/cuda/gemm.cuh) against numpy and the CPU kernel.

Every case runs under the emulator (nerve._C_emu, numpy arrays) and, when a GPU is present, on the
device (nerve._C.cuda, cupy arrays; marker `cuda`). Sizes are odd so that the 16-, 64- and
128-wide tiles end in partial tiles; transposes, slices and broadcast batches arrive as strides.
"""
import numpy as np
import pytest

from nerve import _C, _C_emu
from cuda_backends import Emu, be  # noqa: F401  (be is a fixture)

KERNELS = ["simple", "tile64", "tile128", "auto"]


def operands(rng, batch, M, N, K, ta, tb):
    """a (.., M, K) and b (.., K, N), built transposed (a view with swapped strides) when asked."""
    lead = (batch,) if batch else ()
    a = rng.standard_normal(lead + ((K, M) if ta else (M, K)), dtype=np.float32)
    b = rng.standard_normal(lead + ((N, K) if tb else (K, N)), dtype=np.float32)
    return (np.swapaxes(a, -1, -2) if ta else a), (np.swapaxes(b, -1, -2) if tb else b)


def run(be, a, b, c, alpha, beta, kernel, swap=(False, False)):
    """out = alpha a @ b + beta c on the backend; a and b keep their (transposed) strides there."""
    def put(x, t):
        return np.swapaxes(be.put(np.ascontiguousarray(np.swapaxes(x, -1, -2))), -1, -2) if t else be.put(x)
    out = be.put(c)
    be.gemm(out, put(a, swap[0]), put(b, swap[1]), alpha, beta, kernel=kernel)
    return be.get(out)


def reference(a, b, c, alpha, beta):
    return alpha * (a.astype(np.float64) @ b.astype(np.float64)) + (0.0 if beta == 0 else beta * c)


def check(got, ref, K):
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=2e-6 * max(K, 1) ** 0.5 * (1 + np.abs(ref).max()))


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("M,N,K", [(1, 1, 1), (17, 17, 17), (65, 130, 33), (130, 65, 9), (1, 130, 65),
                                   (129, 1, 17), (64, 128, 256), (5, 7, 0)])
@pytest.mark.parametrize("ta,tb", [(False, False), (False, True), (True, False), (True, True)])
def test_gemm_sizes_and_transposes(be, kernel, M, N, K, ta, tb):
    rng = np.random.default_rng(M * 1000 + N * 10 + K)
    a, b = operands(rng, None, M, N, K, ta, tb)
    c = rng.standard_normal((M, N), dtype=np.float32)
    got = run(be, a, b, c, 0.5, 2.0, kernel, swap=(ta, tb))
    check(got, reference(a, b, c, 0.5, 2.0), K)


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("alpha,beta", [(1.0, 0.0), (-1.5, 1.0), (0.0, 0.5), (2.0, -1.0)])
def test_gemm_alpha_beta(be, kernel, alpha, beta):
    rng = np.random.default_rng(1)
    a, b = operands(rng, None, 70, 66, 20, False, False)
    c = rng.standard_normal((70, 66), dtype=np.float32)
    check(run(be, a, b, c, alpha, beta, kernel), reference(a, b, c, alpha, beta), 20)


@pytest.mark.parametrize("kernel", KERNELS)
def test_gemm_beta_zero_ignores_nan(be, kernel):
    rng = np.random.default_rng(2)
    a, b = operands(rng, None, 33, 70, 12, False, False)
    c = np.full((33, 70), np.nan, np.float32)
    got = run(be, a, b, c, 1.0, 0.0, kernel)
    assert not np.isnan(got).any()
    check(got, reference(a, b, c, 1.0, 0.0), 12)


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("ta,tb", [(False, False), (True, True)])
def test_gemm_batched(be, kernel, ta, tb):
    rng = np.random.default_rng(3)
    a, b = operands(rng, 3, 33, 70, 19, ta, tb)
    c = rng.standard_normal((3, 33, 70), dtype=np.float32)
    check(run(be, a, b, c, 1.0, 1.0, kernel, swap=(ta, tb)), reference(a, b, c, 1.0, 1.0), 19)


@pytest.mark.parametrize("kernel", KERNELS)
def test_gemm_broadcast_batch(be, kernel):
    rng = np.random.default_rng(4)
    a = rng.standard_normal((4, 20, 30), dtype=np.float32)
    w = rng.standard_normal((30, 10), dtype=np.float32)
    c = np.zeros((4, 20, 10), np.float32)
    out = be.put(c)
    wb = be.put(w)
    bw = np.broadcast_to(wb, (4, 30, 10)) if be is Emu else be.cp.broadcast_to(wb, (4, 30, 10))
    be.gemm(out, be.put(a), bw, kernel=kernel)
    check(be.get(out), reference(a, np.broadcast_to(w, (4, 30, 10)), c, 1.0, 0.0), 30)


@pytest.mark.parametrize("kernel", ["simple", "tile64"])
def test_gemm_batch_beyond_grid_limit(be, kernel):
    """More matrices than grid.y / grid.z may hold (65535): blocks loop over batches."""
    rng = np.random.default_rng(5)
    a, b = operands(rng, 65537, 2, 3, 2, False, False)
    c = np.zeros((65537, 2, 3), np.float32)
    check(run(be, a, b, c, 1.0, 0.0, kernel), reference(a, b, c, 1.0, 0.0), 2)


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("view", ["padded", "strided", "misaligned", "reversed"])
def test_gemm_views(be, kernel, view):
    """float4 loads only where they are legal: padded rows (vector loads with K ending mid-run),
    every other column (scalar), an offset of one float (misaligned), negative strides."""
    rng = np.random.default_rng(6)
    M, N, K = 70, 67, 34
    big_a = rng.standard_normal((M + 1, 2 * K + 4), dtype=np.float32)
    big_b = rng.standard_normal((K + 1, 2 * N + 6), dtype=np.float32)
    pick = {
        "padded": lambda x, r, c: x[:r, :c],
        "strided": lambda x, r, c: x[:r, : 2 * c : 2],
        "misaligned": lambda x, r, c: x[1 : r + 1, 1 : c + 1],
        "reversed": lambda x, r, c: x[r - 1 :: -1, c - 1 :: -1],
    }[view]
    c = rng.standard_normal((M, N), dtype=np.float32)
    if be is Emu:
        a, b = pick(big_a, M, K), pick(big_b, K, N)
        got = run(be, a, b, c, 1.0, 1.0, kernel)
    else:
        a, b = pick(big_a, M, K), pick(big_b, K, N)
        out = be.put(c)
        be.gemm(out, pick(be.put(big_a), M, K), pick(be.put(big_b), K, N), 1.0, 1.0, kernel=kernel)
        got = be.get(out)
    check(got, reference(a, b, c, 1.0, 1.0), K)


@pytest.mark.parametrize("kernel", ["tile64", "tile128"])
def test_gemm_matches_cpu_kernel(be, kernel):
    rng = np.random.default_rng(7)
    a, b = operands(rng, 2, 150, 140, 130, False, True)
    c = rng.standard_normal((2, 150, 140), dtype=np.float32)
    want = c.copy()
    _C.cpu.gemm(want, a, b, 0.5, 1.0)
    np.testing.assert_allclose(run(be, a, b, c, 0.5, 1.0, kernel, swap=(False, True)), want, rtol=1e-4, atol=1e-4)


def test_gemm_checks_arguments(be):
    a = be.put(np.zeros((3, 4), np.float32))
    with pytest.raises(ValueError, match=r"\[matmul\] inner dimensions differ"):
        be.gemm(be.put(np.zeros((3, 5), np.float32)), a, be.put(np.zeros((5, 5), np.float32)))
    with pytest.raises(ValueError, match=r"\[matmul\] expected a of dtype float32"):
        be.gemm(be.put(np.zeros((3, 3))), be.put(np.zeros((3, 4))), be.put(np.zeros((4, 3))))
    with pytest.raises(ValueError, match="kernel must be"):
        be.gemm(be.put(np.zeros((3, 3), np.float32)), a, be.put(np.zeros((4, 3), np.float32)), kernel="fast")


def test_emulated_gemm_is_the_cuda_entry():
    """_C_emu.gemm is _C.cuda.gemm's binding over host arrays: same parameters."""
    assert _C_emu.gemm.__doc__ == _C.cuda.gemm.__doc__
