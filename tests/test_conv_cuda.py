"""test_conv_cuda.py — the CUDA convolution kernels (csrc/cuda/conv.cuh) against the CPU kernel and torch.

Every case runs under the emulator (nerve._C_emu, numpy arrays) and, when a GPU is present, on the
device (nerve._C.cuda, cupy arrays; marker `cuda`). Each of the simple reference kernels and the
64- and 128-wide implicit-GEMM kernels computes forward, input gradient and weight gradient (the
last with its reduction split several ways); sizes are odd so that tiles end part-way, and the
options cover stride, asymmetric padding, dilation, groups and depthwise. The oracle is the CPU
naive kernel (double accumulation); torch checks the oracle on the same data.
"""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

from nerve import _C, _C_emu
from cuda_backends import be  # noqa: F401  (be is a fixture)

KERNELS = ["simple", "tile64", "tile128", "auto"]


# (input, weight, stride, padding (top, bottom, left, right), dilation, groups)
CASES = [
    ((2, 3, 9, 7), (5, 3, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1),
    ((2, 3, 9, 7), (5, 3, 3, 3), (2, 1), (1, 0, 2, 1), (1, 1), 1),          # asymmetric padding, stride
    ((1, 5, 11, 13), (9, 5, 5, 3), (1, 1), (2, 2, 1, 1), (1, 1), 1),
    ((2, 2, 10, 9), (3, 2, 3, 3), (1, 2), (2, 2, 1, 0), (2, 1), 1),        # dilation
    ((2, 17, 7, 8), (19, 17, 3, 2), (2, 3), (2, 1, 0, 1), (2, 1), 1),      # channels past 16, odd everything
    ((2, 4, 8, 8), (6, 2, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 2),          # groups
    ((2, 32, 5, 6), (34, 16, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 2),       # groups wide enough for tiles
    ((2, 6, 9, 9), (6, 1, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 6),          # depthwise
    ((2, 4, 9, 9), (8, 1, 3, 3), (2, 2), (1, 1, 1, 1), (1, 1), 4),          # depthwise, multiplier 2, stride
    ((2, 20, 6, 6), (24, 20, 1, 1), (1, 1), (0, 0, 0, 0), (1, 1), 1),       # 1x1
    ((2, 8, 7, 7), (16, 8, 1, 1), (2, 2), (1, 0, 0, 1), (1, 1), 1),         # 1x1 strided, padding past reach
    ((2, 3, 5, 4), (2, 3, 5, 4), (1, 1), (0, 0, 0, 0), (1, 1), 1),          # kernel covers the input
    ((3, 1, 13, 12), (1, 1, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1),        # one channel in and out
    ((2, 8, 12, 11), (70, 8, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1),       # > 64 output channels: two tile rows
]
IDS = [f"{c[0]}-{c[1]}-s{c[2]}-p{c[3]}-d{c[4]}-g{c[5]}" for c in CASES]


def out_size(case):
    (N, C, H, W), (K, _, R, S), (sh, sw), (pt, pb, pl, pr), (dh, dw), _ = case
    return N, K, (H + pt + pb - dh * (R - 1) - 1) // sh + 1, (W + pl + pr - dw * (S - 1) - 1) // sw + 1


def operands(case, dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(case[0]).astype(dtype)
    w = rng.standard_normal(case[1]).astype(dtype)
    b = rng.standard_normal(case[1][0]).astype(dtype)
    dy = rng.standard_normal(out_size(case)).astype(dtype)
    return x, w, b, dy


def opts(case):
    return list(case[2]), list(case[3]), list(case[4]), case[5]


def cpu_reference(case, x, w, b, dy, dw0, db0):
    """The CPU naive kernel (sums in double): y, dx, dw0 + dw, db0 + db."""
    st, pad, dil, g = opts(case)
    y = np.empty(out_size(case), x.dtype)
    _C.cpu.conv2d_forward(y, x, w, b, st, pad, dil, g, True, "conv2d")
    dx = np.empty_like(x)
    _C.cpu.conv2d_backward_input(dx, dy, w, st, pad, dil, g, True, "conv2d")
    dw = dw0.copy()
    _C.cpu.conv2d_backward_weight(dw, dy, x, st, pad, dil, g, True, "conv2d")
    db = db0.copy()
    _C.cpu.conv2d_backward_bias(db, dy, "conv2d")
    return y, dx, dw, db


def run(be, case, x, w, b, dy, dw0, db0, kernel, split_k=0):
    st, pad, dil, g = opts(case)
    y, dx, dw, db = be.put(np.zeros(out_size(case), x.dtype)), be.put(np.zeros_like(x)), be.put(dw0), be.put(db0)
    be.call("conv2d_forward", y, be.put(x), be.put(w), be.put(b), st, pad, dil, g, False, "conv2d", kernel=kernel)
    be.call("conv2d_backward_input", dx, be.put(dy), be.put(w), st, pad, dil, g, False, "conv2d", kernel=kernel)
    be.call("conv2d_backward_weight", dw, be.put(dy), be.put(x), st, pad, dil, g, False, "conv2d", kernel=kernel,
            split_k=split_k)
    be.call("conv2d_backward_bias", db, be.put(dy), "conv2d")
    return tuple(be.get(a) for a in (y, dx, dw, db))


def check(got, want, terms, dtype=np.float32):
    eps = 1e-6 if dtype == np.float32 else 1e-13
    scale = 1.0 + np.abs(want).max()
    np.testing.assert_allclose(got, want, rtol=20 * eps, atol=eps * 4 * np.sqrt(terms) * scale)


def terms(case):
    """Terms per sum: forward (C/g*R*S), input grad (K/g*R*S), weight grad (N*OH*OW), bias grad."""
    (N, C, _, _), (K, Cg, R, S), *_, g = case
    _, _, OH, OW = out_size(case)
    return Cg * R * S, K // g * R * S, N * OH * OW, N * OH * OW


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_conv_kernels_match_cpu(be, case, kernel):
    x, w, b, dy = operands(case)
    dw0 = np.random.default_rng(1).standard_normal(w.shape).astype(np.float32)  # dw and db accumulate
    db0 = np.random.default_rng(2).standard_normal(b.shape).astype(np.float32)
    want = cpu_reference(case, x, w, b, dy, dw0, db0)
    got = run(be, case, x, w, b, dy, dw0, db0, kernel)
    for g_, w_, n in zip(got, want, terms(case)):
        check(g_, w_, n)


@pytest.mark.parametrize("case", [CASES[1], CASES[3], CASES[6], CASES[8]], ids=[IDS[1], IDS[3], IDS[6], IDS[8]])
def test_cpu_oracle_matches_torch(case):
    """The oracle itself against torch (asymmetric padding as an explicit F.pad)."""
    x, w, b, dy = operands(case, np.float64)
    y, dx, dw, db = cpu_reference(case, x, w, b, dy, np.zeros_like(w), np.zeros_like(b))
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    pt, pb, pl, pr = case[3]
    ty = TF.conv2d(TF.pad(tx, (pl, pr, pt, pb)), tw, tb, stride=case[2], dilation=case[4], groups=case[5])
    ty.backward(torch.tensor(dy))
    for mine, ref in ((y, ty), (dx, tx.grad), (dw, tw.grad), (db, tb.grad)):
        np.testing.assert_allclose(mine, ref.detach().numpy(), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("kernel", ["tile64", "tile128"])
@pytest.mark.parametrize("split_k", [1, 2, 3, 7, 10_000])
def test_weight_grad_split_reduction(be, kernel, split_k):
    """The weight gradient's reduction (N*OH*OW = 2*11*12) cut into slices added with atomics; more
    slices than steps of 8 are clamped."""
    case = ((2, 20, 11, 12), (21, 20, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1)
    x, w, b, dy = operands(case, seed=3)
    dw0 = np.ones_like(w)
    want = cpu_reference(case, x, w, b, dy, dw0, np.zeros_like(b))[2]
    got = run(be, case, x, w, b, dy, dw0, np.zeros_like(b), kernel, split_k=split_k)[2]
    check(got, want, terms(case)[2])


@pytest.mark.parametrize("case", [CASES[1], CASES[4], CASES[8]], ids=[IDS[1], IDS[4], IDS[8]])
def test_float64_runs_the_simple_kernels(be, case):
    x, w, b, dy = operands(case, np.float64)
    dw0, db0 = np.zeros_like(w), np.zeros_like(b)
    want = cpu_reference(case, x, w, b, dy, dw0, db0)
    for kernel in ("auto", "simple"):
        got = run(be, case, x, w, b, dy, dw0, db0, kernel)
        for g_, w_, n in zip(got, want, terms(case)):
            check(g_, w_, n, np.float64)


def test_forward_without_bias(be):
    case = CASES[4]
    x, w, _, _ = operands(case)
    want = np.empty(out_size(case), np.float32)
    _C.cpu.conv2d_forward(want, x, w, None, *opts(case), True, "conv2d")
    for kernel in KERNELS:
        y = be.put(np.full(out_size(case), np.nan, np.float32))
        be.call("conv2d_forward", y, be.put(x), be.put(w), None, *opts(case), False, "conv2d", kernel=kernel)
        check(be.get(y), want, terms(case)[0])


def test_tiled_kernel_loops_over_groups_beyond_the_grid(be):
    """65537 groups: grid.y stops at 65535, blocks loop over the rest."""
    G = 65537
    x = np.random.default_rng(4).standard_normal((1, G, 1, 2)).astype(np.float32)
    w = np.random.default_rng(5).standard_normal((G, 1, 1, 1)).astype(np.float32)
    y = be.put(np.zeros((1, G, 1, 2), np.float32))
    be.call("conv2d_forward", y, be.put(x), be.put(w), None, [1, 1], [0, 0], [1, 1], G, False, "conv2d",
            kernel="tile64")
    np.testing.assert_allclose(be.get(y), x * w.reshape(1, G, 1, 1), rtol=1e-6)


def test_simple_kernel_loops_beyond_the_grid(be):
    """More outputs than 65535 blocks of 256 threads: the grid-stride loop covers the tail."""
    n = 65535 * 256 + 333
    x = np.random.default_rng(6).standard_normal((1, 1, 1, n)).astype(np.float32)
    y = be.put(np.zeros((1, 1, 1, n), np.float32))
    be.call("conv2d_forward", y, be.put(x), be.put(np.full((1, 1, 1, 1), 2.0, np.float32)), None, [1, 1], [0, 0],
            [1, 1], 1, False, "conv2d", kernel="simple")
    np.testing.assert_array_equal(be.get(y), 2 * x)


@pytest.mark.parametrize("kernel", KERNELS)
def test_empty_batch(be, kernel):
    case = ((0, 16, 5, 5), (16, 16, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1)
    x, w, b, dy = operands(case)
    dw0, db0 = np.ones_like(w), np.ones_like(b)
    y, dx, dw, db = run(be, case, x, w, b, dy, dw0, db0, kernel)
    assert y.shape == (0, 16, 5, 5) and dx.shape == x.shape
    np.testing.assert_array_equal(dw, dw0)
    np.testing.assert_array_equal(db, db0)


def test_bias_grad_is_reproducible(be):
    dy = np.random.default_rng(7).standard_normal((3, 5, 17, 19)).astype(np.float32)
    first = None
    for _ in range(3):
        db = be.put(np.zeros(5, np.float32))
        be.call("conv2d_backward_bias", db, be.put(dy), "conv2d")
        got = be.get(db)
        if first is None:
            first = got
        np.testing.assert_array_equal(got, first)
    np.testing.assert_allclose(first, dy.astype(np.float64).sum((0, 2, 3)), rtol=1e-5, atol=1e-5)


def test_checks_arguments(be):
    x, w = be.put(np.zeros((1, 3, 5, 5), np.float32)), be.put(np.zeros((4, 3, 3, 3), np.float32))
    y = be.put(np.zeros((1, 4, 3, 3), np.float32))
    with pytest.raises(ValueError, match=r"\[conv2d\] kernel must be 'auto', 'simple', 'tile64' or 'tile128'"):
        be.call("conv2d_forward", y, x, w, None, kernel="fast")
    with pytest.raises(ValueError, match=r"\[conv2d\] expected out of shape \(1, 4, 3, 3\)"):
        be.call("conv2d_forward", be.put(np.zeros((1, 4, 4, 4), np.float32)), x, w, None)
    with pytest.raises(ValueError, match=r"\[conv2d\] input has 3 channels, weight expects 2"):
        be.call("conv2d_forward", y, x, be.put(np.zeros((4, 2, 3, 3), np.float32)), None)
    with pytest.raises(ValueError, match=r"\[conv_transpose2d\] the tiled CUDA kernels take float32, got float64"):
        be.call("conv2d_forward", be.put(np.zeros((1, 4, 3, 3))), be.put(np.zeros((1, 3, 5, 5))),
                be.put(np.zeros((4, 3, 3, 3))), None, [1, 1], [0, 0], [1, 1], 1, False, "conv_transpose2d",
                kernel="tile64")
    with pytest.raises(ValueError, match=r"\[conv2d\] split_k must be >= 0"):
        be.call("conv2d_backward_weight", be.put(np.zeros((4, 3, 3, 3), np.float32)), y, x, split_k=-1)
    with pytest.raises(ValueError, match=r"\[conv2d\] input and weight must have the same dtype"):
        be.call("conv2d_forward", y, x, be.put(np.zeros((4, 3, 3, 3))), None)


def test_emulated_entries_are_the_cuda_entries():
    """nerve._C_emu binds the very functions nerve._C.cuda does, over host arrays: same parameters."""
    for name in ("conv2d_forward", "conv2d_backward_input", "conv2d_backward_weight", "conv2d_backward_bias"):
        assert getattr(_C_emu, name).__doc__ == getattr(_C.cuda, name).__doc__, name
