"""test_pool_cuda.py — the CUDA pooling kernels (csrc/cuda/pool.cuh) against the CPU kernel and torch.

Every case runs under the emulator (nerve._C_emu, numpy arrays) and, when a GPU is present, on the
device (nerve._C.cuda, cupy arrays; marker `cuda`). Max pooling must give torch's values and argmax
indices exactly, ties, NaN and all -inf windows included; the gathering backward passes add in the
CPU kernel's order, so max pooling's gradient equals the CPU one bit for bit; the atomic scatter
(no window given) matches it to rounding. Sizes are odd; ceil_mode, padding, dilation,
count_include_pad and divisor_override all appear.
"""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

from nerve import _C, _C_emu
from cuda_backends import be  # noqa: F401  (be is a fixture)


# (input shape, kernel, stride, padding, dilation, ceil_mode)
MAX = [
    ((2, 3, 8, 8), (2, 2), (2, 2), (0, 0), (1, 1), False),
    ((2, 3, 9, 7), (3, 3), (2, 2), (1, 1), (1, 1), False),
    ((2, 3, 9, 7), (3, 3), (2, 2), (1, 1), (1, 1), True),
    ((1, 2, 10, 11), (3, 2), (2, 3), (1, 1), (1, 1), True),
    ((2, 2, 11, 9), (3, 3), (1, 1), (1, 1), (2, 2), False),
    ((2, 2, 12, 10), (2, 3), (2, 2), (0, 0), (3, 1), True),
    ((1, 1, 5, 5), (5, 5), (5, 5), (0, 0), (1, 1), False),
    ((3, 1, 1, 9), (1, 3), (1, 2), (0, 1), (1, 1), False),
    ((2, 4, 7, 7), (3, 3), (3, 3), (0, 0), (1, 1), True),
    ((2, 3, 13, 11), (4, 3), (1, 2), (2, 1), (1, 2), True),   # overlapping windows
]
MAX_IDS = [f"{c[0]}-k{c[1]}-s{c[2]}-p{c[3]}-d{c[4]}-{'ceil' if c[5] else 'floor'}" for c in MAX]


def pooled(n, k, p, s, d, ceil_mode):
    span = n + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)
    out = span // s + 1
    if ceil_mode and (out - 1) * s >= n + p:
        out -= 1
    return out


def out_shape(case):
    (N, C, H, W), k, s, p, d, ceil = case
    return N, C, pooled(H, k[0], p[0], s[0], d[0], ceil), pooled(W, k[1], p[1], s[1], d[1], ceil)


def inputs(shape, seed=0):
    """Plain normals, few distinct values (ties everywhere), 20% NaN, and all -inf."""
    rng = np.random.default_rng(seed)
    ties = rng.integers(-1, 2, shape).astype(np.float32)
    nan = rng.standard_normal(shape).astype(np.float32)
    nan[rng.random(shape) < 0.2] = np.nan
    return {"normal": rng.standard_normal(shape).astype(np.float32), "ties": ties, "nan": nan,
            "-inf": np.full(shape, -np.inf, np.float32)}


def window(case):
    _, k, s, p, d, ceil = case
    return list(k), list(s), list(p), list(d), ceil


@pytest.mark.parametrize("case", MAX, ids=MAX_IDS)
def test_max_pool_matches_torch_and_cpu(be, case):
    k, s, p, d, ceil = window(case)
    for name, x in inputs(case[0]).items():
        ty, ti = TF.max_pool2d(torch.from_numpy(x), k, s, p, d, ceil, return_indices=True)
        y, idx = be.put(np.zeros(out_shape(case), np.float32)), be.put(np.zeros(out_shape(case), np.int64))
        be.call("max_pool2d_forward", y, idx, be.put(x), k, s, p, d, ceil)
        np.testing.assert_array_equal(be.get(y), ty.numpy(), err_msg=name)
        np.testing.assert_array_equal(be.get(idx), ti.numpy(), err_msg=name)

        cpu_dx, dy = np.empty_like(x), np.random.default_rng(1).standard_normal(y.shape).astype(np.float32)
        _C.cpu.max_pool2d_backward(cpu_dx, dy, ti.numpy())
        dx = be.put(np.full(x.shape, np.nan, np.float32))  # every element must be written
        be.call("max_pool2d_backward", dx, be.put(dy), idx, "max_pool2d", k, s, p, d, ceil)
        np.testing.assert_array_equal(be.get(dx), cpu_dx, err_msg=name)  # same additions, same order
        dx = be.put(np.full(x.shape, np.nan, np.float32))
        be.call("max_pool2d_backward", dx, be.put(dy), idx, "max_pool2d")  # atomic scatter
        np.testing.assert_allclose(be.get(dx), cpu_dx, rtol=1e-6, atol=1e-6, err_msg=name)


def test_max_pool_without_indices_and_float64(be):
    case = MAX[9]
    k, s, p, d, ceil = window(case)
    x = inputs(case[0], seed=5)["nan"].astype(np.float64)
    want = torch.nn.functional.max_pool2d(torch.from_numpy(x), k, s, p, d, ceil).numpy()
    y = be.put(np.zeros(out_shape(case)))
    be.call("max_pool2d_forward", y, None, be.put(x), k, s, p, d, ceil)
    np.testing.assert_array_equal(be.get(y), want)


AVG = [  # (input shape, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override)
    ((2, 3, 8, 8), (2, 2), (2, 2), (0, 0), False, True, 0),
    ((2, 3, 9, 7), (3, 3), (2, 2), (1, 1), False, True, 0),
    ((2, 3, 9, 7), (3, 3), (2, 2), (1, 1), False, False, 0),
    ((2, 3, 9, 7), (3, 3), (2, 2), (1, 1), True, True, 0),
    ((2, 3, 9, 7), (3, 3), (2, 2), (1, 1), True, False, 0),
    ((1, 2, 10, 11), (3, 2), (2, 3), (1, 1), False, True, 5),
    ((2, 2, 7, 7), (3, 3), (1, 1), (1, 1), False, False, 0),
    ((1, 1, 4, 6), (4, 6), (4, 6), (0, 0), False, True, 0),
    ((2, 2, 13, 12), (4, 5), (1, 3), (2, 2), True, False, 0),
]
AVG_IDS = [f"{c[0]}-k{c[1]}-s{c[2]}-p{c[3]}-{'ceil' if c[4] else 'floor'}-pad{int(c[5])}-div{c[6]}" for c in AVG]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", AVG, ids=AVG_IDS)
def test_avg_pool_matches_torch_and_cpu(be, case, dtype):
    xs, k, s, p, ceil, cip, div = case
    k, s, p = list(k), list(s), list(p)
    rng = np.random.default_rng(2)
    x = rng.standard_normal(xs).astype(dtype)
    tx = torch.tensor(x, requires_grad=True)
    ty = TF.avg_pool2d(tx, k, s, p, ceil, cip, div or None)
    dy = rng.standard_normal(tuple(ty.shape)).astype(dtype)
    ty.backward(torch.from_numpy(dy))
    cpu_y, cpu_dx = np.empty(ty.shape, dtype), np.empty_like(x)
    _C.cpu.avg_pool2d_forward(cpu_y, x, k, s, p, ceil, cip, div)
    _C.cpu.avg_pool2d_backward(cpu_dx, dy, k, s, p, ceil, cip, div)

    y, dx = be.put(np.full(ty.shape, np.nan, dtype)), be.put(np.full(xs, np.nan, dtype))
    be.call("avg_pool2d_forward", y, be.put(x), k, s, p, ceil, cip, div)
    be.call("avg_pool2d_backward", dx, be.put(dy), k, s, p, ceil, cip, div)
    eps = 1e-6 if dtype == np.float32 else 1e-14
    for got, cpu, ref in ((be.get(y), cpu_y, ty), (be.get(dx), cpu_dx, tx.grad)):
        np.testing.assert_allclose(got, cpu, rtol=eps, atol=eps)
        np.testing.assert_allclose(got, ref.detach().numpy(), rtol=10 * eps, atol=10 * eps)


ADAPTIVE = [((2, 3, 11, 9), (4, 5)), ((2, 3, 11, 9), (1, 1)), ((1, 2, 5, 7), (13, 8)), ((2, 2, 12, 12), (3, 4)),
            ((1, 3, 1, 10), (1, 3))]


@pytest.mark.parametrize("xs,size", ADAPTIVE)
def test_adaptive_pools_match_torch_and_cpu(be, xs, size):
    for name, x in inputs(xs, seed=3).items():
        out = xs[:2] + size
        ty, ti = TF.adaptive_max_pool2d(torch.from_numpy(x), size, return_indices=True)
        y, idx = be.put(np.zeros(out, np.float32)), be.put(np.zeros(out, np.int64))
        be.call("adaptive_max_pool2d_forward", y, idx, be.put(x))
        np.testing.assert_array_equal(be.get(y), ty.numpy(), err_msg=name)
        np.testing.assert_array_equal(be.get(idx), ti.numpy(), err_msg=name)
        dy = np.random.default_rng(4).standard_normal(out).astype(np.float32)
        cpu_dx = np.empty_like(x)
        _C.cpu.max_pool2d_backward(cpu_dx, dy, ti.numpy(), "adaptive_max_pool2d")
        dx = be.put(np.full(xs, np.nan, np.float32))
        be.call("max_pool2d_backward", dx, be.put(dy), idx, "adaptive_max_pool2d", adaptive=True)
        np.testing.assert_array_equal(be.get(dx), cpu_dx, err_msg=name)

    x = inputs(xs, seed=3)["normal"]
    tx = torch.tensor(x, requires_grad=True)
    ty = TF.adaptive_avg_pool2d(tx, size)
    dy = np.random.default_rng(5).standard_normal(tuple(ty.shape)).astype(np.float32)
    ty.backward(torch.from_numpy(dy))
    cpu_dx = np.empty_like(x)
    _C.cpu.adaptive_avg_pool2d_backward(cpu_dx, dy)
    y, dx = be.put(np.zeros(ty.shape, np.float32)), be.put(np.full(xs, np.nan, np.float32))
    be.call("adaptive_avg_pool2d_forward", y, be.put(x))
    be.call("adaptive_avg_pool2d_backward", dx, be.put(dy))
    np.testing.assert_allclose(be.get(y), ty.detach().numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(be.get(dx), cpu_dx, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(be.get(dx), tx.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_adaptive_float64(be):
    x = np.random.default_rng(6).standard_normal((2, 2, 9, 10))
    want_y, want_i = (t.numpy() for t in TF.adaptive_max_pool2d(torch.from_numpy(x), (4, 3), return_indices=True))
    y, idx = be.put(np.zeros((2, 2, 4, 3))), be.put(np.zeros((2, 2, 4, 3), np.int64))
    be.call("adaptive_max_pool2d_forward", y, idx, be.put(x))
    np.testing.assert_array_equal(be.get(y), want_y)
    np.testing.assert_array_equal(be.get(idx), want_i)
    be.call("adaptive_avg_pool2d_forward", y, be.put(x))
    np.testing.assert_allclose(be.get(y), TF.adaptive_avg_pool2d(torch.from_numpy(x), (4, 3)).numpy(), rtol=1e-14)


def test_scatter_skips_indices_outside_the_plane(be):
    """Without a window the backward scatters; an index outside [0, H*W) adds nothing anywhere."""
    dy = np.ones((1, 2, 1, 3), np.float32)
    idx = np.array([[[[0, 5, -1]], [[6, 2, 2]]]], np.int64)  # plane is 2x3: 6 and -1 are outside
    dx = be.put(np.full((1, 2, 2, 3), np.nan, np.float32))
    be.call("max_pool2d_backward", dx, be.put(dy), be.put(idx), "max_pool2d")
    want = np.zeros((1, 2, 2, 3), np.float32)
    want[0, 0, 0, 0] = want[0, 0, 1, 2] = 1
    want[0, 1, 0, 2] = 2
    np.testing.assert_array_equal(be.get(dx), want)


def test_kernels_loop_beyond_the_grid(be):
    """More outputs than 65535 blocks of 256 threads: the grid-stride loop covers the tail."""
    n = 65535 * 256 + 777
    x = np.random.default_rng(7).standard_normal((1, 1, 1, n)).astype(np.float32)
    y = be.put(np.zeros((1, 1, 1, n), np.float32))
    be.call("avg_pool2d_forward", y, be.put(x), [1, 1])
    np.testing.assert_array_equal(be.get(y), x)


def test_checks_arguments(be):
    x = be.put(np.zeros((1, 2, 6, 6), np.float32))
    y, idx = be.put(np.zeros((1, 2, 3, 3), np.float32)), be.put(np.zeros((1, 2, 3, 3), np.int64))
    with pytest.raises(ValueError, match=r"\[max_pool2d\] expected out of shape \(1, 2, 2, 2\)"):
        be.call("max_pool2d_forward", y, idx, x, [3, 3])
    with pytest.raises(ValueError, match=r"\[max_pool2d\] expected indices of dtype int64"):
        be.call("max_pool2d_forward", y, be.put(np.zeros((1, 2, 3, 3), np.int32)), x, [2, 2])
    with pytest.raises(ValueError, match=r"\[max_pool2d\] grad_out \(1, 2, 3, 3\) does not match the window's output"):
        be.call("max_pool2d_backward", x, y, idx, "max_pool2d", [3, 3])
    with pytest.raises(ValueError, match=r"\[max_pool2d\] give the max_pool2d window .* or adaptive=True, not both"):
        be.call("max_pool2d_backward", x, y, idx, "max_pool2d", [2, 2], adaptive=True)
    with pytest.raises(ValueError, match=r"\[avg_pool2d\] padding \(2, 2\) must be at most half the kernel size"):
        be.call("avg_pool2d_forward", y, x, [2, 2], [2, 2], [2, 2])
    with pytest.raises(ValueError, match=r"\[adaptive_avg_pool2d\] out .* does not match input"):
        be.call("adaptive_avg_pool2d_forward", be.put(np.zeros((1, 3, 2, 2), np.float32)), x)


def test_emulated_entries_are_the_cuda_entries():
    for name in ("max_pool2d_forward", "max_pool2d_backward", "avg_pool2d_forward", "avg_pool2d_backward",
                 "adaptive_avg_pool2d_forward", "adaptive_avg_pool2d_backward", "adaptive_max_pool2d_forward"):
        assert getattr(_C_emu, name).__doc__ == getattr(_C.cuda, name).__doc__, name
