"""test_cuda_emu.py — the CUDA emulator (csrc/emu) that runs nerve's CUDA kernels on the CPU.

Correct kernels (shuffle reductions, votes, shared memory, atomics, dynamic shared memory) must give
right answers with the threads of a block run in index order and in reverse; planted bugs must be
reported as errors; launch configurations a GPU rejects must be rejected. The kernels are in
csrc/emu/test_kernels.cpp, bound as nerve._C_emu.testing.
"""
import os
import subprocess
import sys

import numpy as np
import pytest

from nerve import _C_emu as emu

T = emu.testing
ASAN = emu.build_info["asan"]


@pytest.fixture(params=["forward", "reverse"], autouse=True)
def order(request):
    before = emu.order()
    emu.set_order(request.param)
    yield request.param
    emu.set_order(before)


def rand(n, seed=0):
    return np.random.default_rng(seed).standard_normal(n).astype(np.float32)


# ---- kernels that are right ------------------------------------------------------------------------


@pytest.mark.parametrize("threads", [32, 64, 96, 256, 1024])
@pytest.mark.parametrize("blocks", [1, 3])
def test_shuffle_reduction_shared_memory_and_atomics(threads, blocks):
    x = rand(5000)
    out = np.zeros(1, np.float32)
    T.sum(out, x, blocks, threads)
    np.testing.assert_allclose(out[0], x.astype(np.float64).sum(), rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("threads", [32, 48, 64])
def test_votes_count_lanes_that_exist(threads):
    n = 150
    x = rand(n, 1)
    ballot, any_, all_ = (np.zeros(n, np.int32) for _ in range(3))
    T.votes(ballot, any_, all_, x, threads)
    blocks = -(-n // threads)
    i = np.arange(blocks * threads)
    pred = (i < n) & (np.concatenate([x, np.zeros(blocks * threads - n, np.float32)]) > 0)
    t = i % threads
    for k in range(n):
        lanes = [j for j in range(k - t[k] % 32, k - t[k] % 32 + 32) if j // threads == k // threads]
        expect = sum(1 << (j % threads % 32) for j in lanes if pred[j])
        here = sum(1 << (j % threads % 32) for j in lanes)
        assert ballot.view(np.uint32)[k] == expect
        assert any_[k] == int(expect != 0)
        assert all_[k] == int(expect == here)


def shuffle_reference(x, width):
    """What CUDA documents for each shuffle, written independently of the emulator's PTX model."""
    n = len(x)
    i = np.arange(n)
    lane = i % 32
    warp0 = i - lane
    seg = lane // width * width
    idx = warp0 + seg + ((7 * lane + 3) % 32) % width
    up = np.where(lane % width >= 3, i - 3, i)
    down = np.where(lane % width + 3 < width, i + 3, i)
    xor = lane ^ 5
    xor = np.where(xor // width <= lane // width, warp0 + xor, i)  # later segments: own value
    scan = np.array([x[warp0[k] + seg[k]: k + 1].sum() for k in range(n)], np.float32)
    return np.stack([x[idx], x[up], x[down], x[xor], scan])


@pytest.mark.parametrize("width", [1, 2, 4, 8, 16, 32])
def test_shuffles_with_width(width):
    x = np.arange(128, dtype=np.float32) * 3 + 1  # small integers: the scan is exact
    out = np.zeros((5, 128), np.float32)
    T.shuffles(out, x, width, 64)
    np.testing.assert_array_equal(out, shuffle_reference(x, width))


@pytest.mark.parametrize("threads", [32, 100, 1024])
def test_syncthreads_count_and_or(threads):
    x = rand(4 * threads, 2)
    x[:threads] = 1  # a block where every predicate holds
    x[threads: 2 * threads] = -1  # and one where none does
    out = np.zeros((4, 3), np.int32)
    T.block_votes(out, x, threads)
    p = (x > 0).reshape(4, threads)
    np.testing.assert_array_equal(out, np.stack([p.sum(1), p.all(1), p.any(1)], 1))


@pytest.mark.parametrize("blocks,threads", [(1, 32), (5, 64), (3, 1000)])
def test_histogram_with_shared_and_global_atomics(blocks, threads):
    x = np.random.default_rng(3).integers(0, 37, 10000).astype(np.int32)
    counts = np.zeros(37, np.int32)
    T.histogram(counts, x, blocks, threads)
    np.testing.assert_array_equal(counts, np.bincount(x, minlength=37))


def test_atomic_cas_max_min():
    x = rand(3000, 4) * 100
    out = np.array([-np.inf], np.float32)
    iout = np.array([-(2**31), 2**31 - 1], np.int32)
    T.extrema(out, iout, x, 128)
    assert out[0] == x.max()
    np.testing.assert_array_equal(iout, [int(x.max()), int(x.min())])  # int() truncates like the kernel


def test_dynamic_shared_memory():
    x = rand(4 * 256, 5)
    out = np.zeros_like(x)
    T.reverse(out, x, 256, 256 * 4)
    np.testing.assert_array_equal(out, x.reshape(4, 256)[:, ::-1].ravel())


def test_dynamic_shared_memory_limits():
    x = rand(256, 6)
    out = np.zeros_like(x)
    T.reverse(out, x, 256, 48 * 1024, max_dynamic_shared=48 * 1024)  # the default limit, allowed
    with pytest.raises(emu.EmuError, match="dynamic shared memory, the limit is 49152"):
        T.reverse(out, x, 256, 48 * 1024 + 4)
    T.reverse(out, x, 256, 64 * 1024, max_dynamic_shared=64 * 1024)  # opted in, as a GPU needs
    np.testing.assert_array_equal(out, x[::-1])
    with pytest.raises(RuntimeError, match="invalid argument"):  # beyond what sm_75 offers
        T.reverse(out, x, 256, 64 * 1024, max_dynamic_shared=64 * 1024 + 4)
    T.reverse(out, x, 256, 1024, max_dynamic_shared=48 * 1024)  # back to the default for other tests


@pytest.mark.parametrize("threads", [1, 2])
def test_worker_threads_give_the_same_answer(threads):
    before = emu.threads()
    emu.set_threads(threads)
    try:
        x = np.random.default_rng(7).integers(0, 5, 5000).astype(np.int32)
        counts = np.zeros(5, np.int32)
        T.histogram(counts, x, 16, 64)
        np.testing.assert_array_equal(counts, np.bincount(x, minlength=5))
    finally:
        emu.set_threads(before)


# ---- launch configurations ----------------------------------------------------------------------------


@pytest.mark.parametrize("grid,block,smem", [
    ((1,), (1024,), 0), ((1,), (32, 32), 0), ((1,), (1, 1, 64), 0), ((2, 3, 4), (8, 4, 2), 0),
    ((1, 1000), (1,), 48 * 1024),
])
def test_launch_configs_a_gpu_accepts(grid, block, smem):
    T.launch(grid, block, smem)


@pytest.mark.parametrize("grid,block,smem,why", [
    ((1,), (1025,), 0, "blockDim.x = 1025"),
    ((1,), (32, 33), 0, "1056 threads per block"),
    ((1,), (1, 1, 65), 0, "blockDim.z = 65"),
    ((1,), (0,), 0, "blockDim.x = 0"),
    ((0,), (32,), 0, "gridDim.x = 0"),
    ((1, 65536), (32,), 0, "gridDim.y = 65536"),
    ((1, 1, 65536), (32,), 0, "gridDim.z = 65536"),
    ((1,), (32,), 48 * 1024 + 1, "49153 bytes of dynamic shared memory"),
])
def test_launch_configs_a_gpu_rejects(grid, block, smem, why):
    with pytest.raises(emu.EmuError, match="invalid configuration argument: " + why):
        T.launch(grid, block, smem)


# ---- planted bugs ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("threads", [64, 256])
def test_missing_syncthreads_reads_stale_shared_memory(threads):
    x = rand(8 * threads, 8) + 10  # no zeros: a stale or unwritten slot differs from the right value
    expect = np.roll(x.reshape(8, threads), -1, axis=1).ravel()
    out = np.zeros_like(x)
    T.neighbour(out, x, threads, True)
    np.testing.assert_array_equal(out, expect)
    out[:] = 0
    T.neighbour(out, x, threads, False)  # the planted bug: no barrier between write and read
    assert not np.array_equal(out, expect)


def test_divergent_barrier_is_reported():
    with pytest.raises(emu.EmuError, match=r"barrier divergence.*threads 0-15 wait at __syncthreads "
                                           r"\(test_kernels.cpp:\d+\); threads 16-31 wait at __syncthreads"):
        T.divergent_barrier(np.zeros(32, np.float32))


def test_early_return_before_barrier_is_reported():
    x = rand(100, 9)
    out = np.zeros_like(x)
    with pytest.raises(emu.EmuError, match=r"block \(1,0,0\): early return before a barrier.*"
                                           r"threads 36-63 have returned"):
        T.early_return(out, x, 64, False)
    T.early_return(out, x, 64, True)  # the fix: out-of-range threads stay for the barrier
    np.testing.assert_array_equal(out[:64], x[:64][::-1])
    np.testing.assert_array_equal(out[64:], np.concatenate([x[64:], np.zeros(28, np.float32)])[::-1][:36])


def test_half_warp_shuffle_deadlock_is_reported():
    x = np.arange(64, dtype=np.float32)
    out = np.zeros_like(x)
    with pytest.raises(emu.EmuError, match=r"warp deadlock.*threads 0-15 wait at __shfl_down_sync with mask "
                                           r"0xffffffff.*threads 16-31 wait at __shfl_xor_sync"):
        T.half_warp(out, x, False)
    T.half_warp(out, x, True)  # the fix: the mask names only the lanes that take part
    v = x.reshape(2, 2, 16).copy()
    v[:, 0] += np.where(np.arange(16) + 8 < 16, np.roll(v[:, 0], -8, axis=-1), v[:, 0])  # past the segment: own value
    np.testing.assert_array_equal(out, (v + v[:, ::-1]).ravel())


def test_shuffle_from_exited_lane_is_reported():
    with pytest.raises(emu.EmuError, match="thread 8 reads lane 16 in __shfl_down_sync .* which has exited"):
        T.shuffle_exited(np.zeros(16, np.float32), np.ones(16, np.float32))


def test_mask_without_own_lane_is_reported():
    with pytest.raises(emu.EmuError, match="mask 0xfffffffe, which leaves out its own lane"):
        T.mask_without_self(np.zeros(32, np.float32))


def test_emulator_recovers_after_a_fault():
    with pytest.raises(emu.EmuError):
        T.divergent_barrier(np.zeros(32, np.float32))
    test_shuffle_reduction_shared_memory_and_atomics(256, 3)


# ---- out-of-bounds writes: AddressSanitizer (the NERVE_ASAN build, .ci/emu_variants.sh) -------------------


@pytest.mark.skipif(ASAN, reason="the ASan build runs these kernels (below)")
@pytest.mark.parametrize("kernel", ["shared_overflow", "global_overflow"])
def test_out_of_bounds_kernels_refuse_without_asan(kernel):
    with pytest.raises(ValueError, match="runs only in the NERVE_ASAN build"):
        getattr(T, kernel)(np.zeros(64, np.float32))


@pytest.mark.skipif(not ASAN, reason="needs the NERVE_ASAN build (.ci/emu_variants.sh runs it)")
@pytest.mark.parametrize("kernel,report", [
    ("shared_overflow", "global-buffer-overflow"),  # __shared__ arrays are guarded statics under ASan
    ("global_overflow", "heap-buffer-overflow"),    # one past the end of a numpy array
])
def test_out_of_bounds_write_caught_by_asan(kernel, report, order):
    code = ("import numpy as np; from nerve import _C_emu as e; e.set_order(%r); "
            "e.testing.%s(np.zeros(64, np.float32)); print('not caught')" % (order, kernel))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and "not caught" not in r.stdout
    assert "ERROR: AddressSanitizer: " + report in r.stderr
    assert kernel + "_kernel" in r.stderr  # the report points into the kernel
