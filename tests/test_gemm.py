"""test_gemm.py — nerve._C.cpu.gemm (out = alpha * a @ b + beta * out) against gemm_naive and numpy.

Every case runs on each SIMD back end (set_isa caps it: avx512, avx2, generic) and through each
path (gemm_path: 'auto', 'packed' panels, 'direct' kernels reading A and B in place). float32
results must lie within 1e-5 of the |alpha| |A| @ |B| + |beta| |C| scale of each element (float64
within 1e-12), against a float64 reference.
"""
import ctypes
import mmap
import os
import threading
import time

import numpy as np
import pytest

from nerve import _C

gemm = _C.cpu.gemm
ISAS = ["avx512", "avx2", "generic"]
TOL = {np.float32: 1e-5, np.float64: 1e-12}


@pytest.fixture(params=ISAS)
def isa(request):
    _C.set_isa(request.param)
    yield _C.cpu.gemm_backend()
    _C.set_isa("avx512")  # "avx512" lifts the cap back to the best the CPU has


@pytest.fixture(params=["auto", "packed", "direct"])
def path(request):
    old = _C.cpu.gemm_path(request.param)
    yield request.param
    _C.cpu.gemm_path(old)


@pytest.fixture
def threads():
    before = _C.get_num_threads()
    yield
    _C.set_num_threads(before)


def rand(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


def operand(rng, rows, cols, trans, dtype):
    """A rows x cols matrix, stored transposed when trans (a strided view, never a copy)."""
    return rand(rng, (cols, rows), dtype).T if trans else rand(rng, (rows, cols), dtype)


def reference(a, b, c0, alpha, beta):
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    ref = alpha * (a64 @ b64) + (beta * c0.astype(np.float64) if beta != 0 else 0)
    scale = abs(alpha) * (np.abs(a64) @ np.abs(b64)) + (abs(beta) * np.abs(c0.astype(np.float64)) if beta else 0)
    return ref, scale


def check(c, a, b, c0, alpha=1.0, beta=0.0):
    ref, scale = reference(a, b, c0, alpha, beta)
    err = np.abs(c.astype(np.float64) - ref)
    bound = TOL[c.dtype.type] * scale + 1e-30
    assert np.all(err <= bound), f"max err/scale {np.max(err / (scale + 1e-30)):.3g}"


def run(a, b, c, alpha=1.0, beta=0.0, naive=False):
    c0 = c.copy()
    gemm(c, a, b, alpha, beta, naive=naive)
    check(c, a, b, c0, alpha, beta)
    return c


def test_backend_follows_isa(isa):
    assert isa == _C.isa()


SHAPES = [(1, 1, 1), (1, 7, 1), (3, 1, 5), (5, 7, 3), (13, 17, 33), (12, 256, 32), (31, 257, 47), (64, 64, 64),
          (97, 300, 61), (130, 513, 100)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("ta,tb", [(0, 0), (1, 0), (0, 1), (1, 1)])
def test_transposes_and_sizes(isa, path, dtype, ta, tb):
    rng = np.random.default_rng(1)
    for m, k, n in SHAPES:
        a, b = operand(rng, m, k, ta, dtype), operand(rng, k, n, tb, dtype)
        run(a, b, np.empty((m, n), dtype))


@pytest.mark.parametrize("alpha,beta", [(1.0, 1.0), (0.5, -2.0), (-1.5, 0.0), (0.0, 0.5), (0.0, 0.0)])
def test_alpha_beta(isa, path, alpha, beta):
    rng = np.random.default_rng(2)
    for dtype in (np.float32, np.float64):
        for m, k, n in [(7, 5, 9), (40, 300, 70)]:
            a, b, c = rand(rng, (m, k), dtype), rand(rng, (k, n), dtype), rand(rng, (m, n), dtype)
            run(a, b, c, alpha, beta)


def test_beta_zero_ignores_nan(isa, path):
    rng = np.random.default_rng(3)
    for m, k, n in [(5, 3, 4), (50, 600, 70)]:
        a, b = rand(rng, (m, k), np.float32), rand(rng, (k, n), np.float32)
        c = np.full((m, n), np.nan, np.float32)
        gemm(c, a, b, 1.0, 0.0)
        assert np.isfinite(c).all()
        c[:] = np.nan
        gemm(c, a, b, 0.0, 0.0)  # alpha = 0 and beta = 0: zeros, whatever C held
        assert (c == 0).all()


def test_beta_one_accumulates(isa, path):
    rng = np.random.default_rng(4)
    a, b = rand(rng, (33, 70), np.float32), rand(rng, (70, 45), np.float32)
    c = np.zeros((33, 45), np.float32)
    for _ in range(3):
        gemm(c, a, b, 1.0, 1.0)
    check(c, a, b, np.zeros_like(c), 3.0, 0.0)


def test_empty_and_k_zero(isa):
    for m, k, n in [(0, 3, 4), (3, 3, 0), (0, 0, 0)]:
        c = np.empty((m, n), np.float32)
        gemm(c, np.ones((m, k), np.float32), np.ones((k, n), np.float32))
    c = np.full((3, 4), 2.0, np.float32)
    gemm(c, np.ones((3, 0), np.float32), np.ones((0, 4), np.float32), 1.0, 0.5)
    assert (c == 1.0).all()
    c[:] = np.nan
    gemm(c, np.ones((3, 0), np.float32), np.ones((0, 4), np.float32))
    assert (c == 0).all()


def test_matches_naive_oracle(isa, path):
    rng = np.random.default_rng(5)
    for dtype in (np.float32, np.float64):
        a, b = rand(rng, (301, 19), dtype).T, rand(rng, (301, 37), dtype)
        c1 = rand(rng, (19, 37), dtype)
        c2 = c1.copy()
        gemm(c1, a, b, 0.7, 0.3)
        gemm(c2, a, b, 0.7, 0.3, naive=True)
        scale = 0.7 * (np.abs(a).astype(np.float64) @ np.abs(b)) + 0.3 * np.abs(c2)
        assert np.all(np.abs(c1.astype(np.float64) - c2) <= 2 * TOL[dtype] * scale)


def test_strided_and_sliced_views(isa, path):
    rng = np.random.default_rng(6)
    for dtype in (np.float32, np.float64):
        big_a, big_b = rand(rng, (80, 90), dtype), rand(rng, (90, 100), dtype)
        cases = [
            (big_a[::2, ::3], big_b[:30:1, ::2]),          # row and column steps
            (big_a[::-1, 5:45], big_b[10:50, ::-1]),       # negative strides
            (big_a[3:40, 7:77].T[::2], big_b[1:38, 2:70]),  # transposed slice
        ]
        for a, b in cases:
            m, n = a.shape[0], b.shape[1]
            run(a, b, np.empty((m, n), dtype))
            run(a, b, rand(rng, (m, n), dtype), 1.0, 1.0)
            out = rand(rng, (2 * m + 1, 3 * n), dtype)
            run(a, b, out[1::2, ::3], 2.0, 0.5)         # out with a column step
            run(a, b, out[:2 * m:2, :n].copy(order="F"), 1.0, 1.0)  # column-major out
            run(a, b, out[1:m + 1, ::-1][:, :n])        # out with a negative column stride


def test_c_alignment_shift(isa, path):
    """Wide C whose rows start at every offset within a cache line (the tile grid shifts to match)."""
    rng = np.random.default_rng(13)
    m, k, n = 13, 20, 1100
    a, b = rand(rng, (m, k), np.float32), rand(rng, (k, n), np.float32)
    big = rand(rng, (m, 1136), np.float32)  # rows 4544 bytes apart: a multiple of 64
    for off in range(16):
        run(a, b, big[:, off:off + n], 1.0, 1.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_batched(isa, path, dtype):
    rng = np.random.default_rng(7)
    for batch, m, k, n in [(1, 5, 6, 7), (3, 17, 40, 33), (8, 64, 64, 64), (5, 100, 300, 50)]:
        a, b = rand(rng, (batch, m, k), dtype), rand(rng, (batch, k, n), dtype)
        c = rand(rng, (batch, m, n), dtype)
        c0 = c.copy()
        gemm(c, a, b, 1.5, 0.5)
        for i in range(batch):
            check(c[i], a[i], b[i], c0[i], 1.5, 0.5)


def test_batched_broadcast_and_strided(isa, path):
    rng = np.random.default_rng(8)
    batch, m, k, n = 6, 33, 70, 40
    w = rand(rng, (k, n), np.float32)
    x = rand(rng, (batch, m, k), np.float32)
    cases = [
        (x, np.broadcast_to(w, (batch, k, n))),                       # shared weight (batch stride 0)
        (np.broadcast_to(x[0], (batch, m, k)), rand(rng, (batch, k, n), np.float32)),
        (x.transpose(0, 2, 1).copy().transpose(0, 2, 1), rand(rng, (n, k, batch), np.float32).T),  # odd strides
        (rand(rng, (2 * batch, m, k), np.float32)[::2], rand(rng, (batch, k, 2 * n), np.float32)[:, :, ::2]),
    ]
    for a, b in cases:
        out = rand(rng, (batch, m, 2 * n), np.float32)[:, :, 1::2]
        c0 = out.copy()
        gemm(out, a, b, 1.0, 1.0)
        for i in range(batch):
            check(out[i], a[i], b[i], c0[i], 1.0, 1.0)


def test_odd_large_sizes(isa, path):
    """Dimensions past one packed slab (4096 rows or columns, 256 deep) and primes."""
    rng = np.random.default_rng(9)
    for m, k, n in [(4097, 3, 5), (3, 5, 4097), (2, 4097, 3), (257, 1031, 131)]:
        a, b = rand(rng, (m, k), np.float32), rand(rng, (k, n), np.float32)
        run(a, b, rand(rng, (m, n), np.float32), 1.0, 1.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_prepacked_b_matches_packed_path(isa, dtype):
    """PackedB (B packed once, reused: the recurrent layers' weights) gives the packed path's bits."""
    rng = np.random.default_rng(12)
    old = _C.cpu.gemm_path("packed")
    try:
        for m, k, n, tb in [(1, 1, 1, False), (32, 1024, 256, False), (5, 700, 33, True), (130, 513, 100, False),
                            (12, 37, 4100, False), (40, 96, 64, True)]:
            a, b = rand(rng, (m, k), dtype), operand(rng, k, n, tb, dtype)
            c0 = rand(rng, (m, n), dtype)
            want, got = c0.copy(), c0.copy()
            gemm(want, a, b, 0.5, 1.0)
            _C.cpu.gemm_prepacked(got, a, b, 0.5, 1.0)
            assert np.array_equal(got, want), (m, k, n, tb)
            check(got, a, b, c0, 0.5, 1.0)
    finally:
        _C.cpu.gemm_path(old)


def test_threads_give_identical_results(threads):
    """Tiles are computed whole by one thread in a fixed order: the thread count cannot change bits."""
    rng = np.random.default_rng(10)
    cases = [(rand(rng, (300, 400), np.float32), rand(rng, (400, 500), np.float32)),          # columns split
             (rand(rng, (1000, 300), np.float32), rand(rng, (300, 200), np.float32)),        # rows split
             (rand(rng, (8, 64, 64), np.float32), rand(rng, (8, 64, 64), np.float32)),       # one matrix per thread
             (rand(rng, (150, 100), np.float32), rand(rng, (100, 170), np.float32)),         # direct, tiles split
             (rand(rng, (3, 70, 90), np.float32), rand(rng, (3, 90, 60), np.float32))]       # direct, runs of tiles
    for a, b in cases:
        outs = []
        for t in (1, 2, 3):
            _C.set_num_threads(t)
            c = np.empty(a.shape[:-1] + b.shape[-1:], np.float32)
            gemm(c, a, b)
            outs.append(c)
        assert np.array_equal(outs[0], outs[1]) and np.array_equal(outs[0], outs[2])
        check(outs[0].reshape(-1, b.shape[-1])[: a.shape[-2]], a.reshape(-1, a.shape[-1])[: a.shape[-2]],
              b if b.ndim == 2 else b[0], np.zeros((a.shape[-2], b.shape[-1]), np.float32))


def _thread_cpu_ticks():
    """{thread id: utime + stime in clock ticks} for this process's threads (Linux /proc)."""
    out = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            out[int(tid)] = int(fields[11]) + int(fields[12])
        except OSError:
            pass
    return out


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="needs Linux /proc")
def test_one_thread_means_one_thread(threads):
    """nerve.set_num_threads(1): the work runs on the calling thread, no other thread gets busy."""
    rng = np.random.default_rng(16)
    a, b, c = rand(rng, (700, 700), np.float32), rand(rng, (700, 700), np.float32), np.empty((700, 700), np.float32)
    _C.set_num_threads(2)
    gemm(c, a, b)  # the worker threads exist now
    _C.set_num_threads(1)
    time.sleep(0.1)  # let idle workers stop spinning
    me = threading.get_native_id()
    before = _thread_cpu_ticks()
    t0 = time.thread_time()
    while time.thread_time() - t0 < 0.3:
        gemm(c, a, b)
    after = _thread_cpu_ticks()
    mine = after[me] - before[me]
    others = sum(v - before.get(t, 0) for t, v in after.items() if t != me)
    assert mine > 10 and others <= 0.1 * mine, f"calling thread {mine} ticks, other threads {others}"


def test_concurrent_callers():
    """Python threads calling gemm at once (the GIL is released) each get their own packing buffers."""
    rng = np.random.default_rng(11)
    a, b = rand(rng, (150, 260), np.float32), rand(rng, (260, 170), np.float32)
    expect = np.empty((150, 170), np.float32)
    gemm(expect, a, b)
    bad = []

    def work():
        c = np.empty_like(expect)
        for _ in range(20):
            gemm(c, a, b)
            if not np.array_equal(c, expect):
                bad.append(1)

    ts = [threading.Thread(target=work) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not bad


def test_matches_numpy_float32():
    rng = np.random.default_rng(12)
    a, b = rand(rng, (200, 300), np.float32), rand(rng, (300, 100), np.float32)
    c = np.empty((200, 100), np.float32)
    gemm(c, a, b)
    np.testing.assert_allclose(c, a @ b, rtol=1e-4, atol=1e-4)


def test_fma_peak_probe_is_a_roof(threads):
    """The probe must not read below what a GEMM reaches on one thread (a low roof flatters % peak)."""
    _C.set_num_threads(1)
    peak = max(_C.cpu.fma_peak_gflops(1) for _ in range(2))
    n = 384
    rng = np.random.default_rng(14)
    a, b, c = rand(rng, (n, n), np.float32), rand(rng, (n, n), np.float32), np.empty((n, n), np.float32)
    best = float("inf")
    for _ in range(10):
        t0 = time.perf_counter()
        gemm(c, a, b)
        best = min(best, time.perf_counter() - t0)
    assert peak > 1.0
    assert 2 * n**3 / best / 1e9 < 1.1 * peak, f"GEMM {2 * n**3 / best / 1e9:.0f} GFLOP/s over a {peak:.0f} roof"


def test_gemm_path_setting():
    assert _C.cpu.gemm_path() == "auto"
    assert _C.cpu.gemm_path("direct") == "auto"
    assert _C.cpu.gemm_path("auto") == "direct"
    with pytest.raises(ValueError, match=r"\[gemm_path\] expected 'auto', 'packed' or 'direct'"):
        _C.cpu.gemm_path("fast")


@pytest.mark.parametrize("m,k,n,short", [(32, 256, 1024, True), (48, 512, 300, True), (49, 512, 300, False),
                                         (48, 513, 300, False)])
def test_auto_path_takes_direct_for_short_products(m, k, n, short):
    """At most four row tiles (48 rows) and depth <= 512, any width: the direct kernels; one more row
    or one deeper is packed."""
    rng = np.random.default_rng(13)
    a, b = rand(rng, (m, k), np.float32), rand(rng, (k, n), np.float32)
    c = np.empty((m, n), np.float32)
    assert _C.cpu.gemm_choice(c, a, b) == ("direct" if short else "packed")
    assert _C.cpu.gemm_choice(c.T, b.T, a.T) == ("direct" if short else "packed")  # the same product, transposed
    gemm(c, a, b)
    check(c, a, b, np.zeros((m, n), np.float32))
    old = _C.cpu.gemm_path("packed")
    try:
        assert _C.cpu.gemm_choice(c, a, b) == "packed"
    finally:
        _C.cpu.gemm_path(old)


def _guarded(shape, order="C"):
    """A float32 array whose last byte is followed by an unreadable page: reading past it faults."""
    page = mmap.PAGESIZE
    nbytes = 4 * int(np.prod(shape))
    total = (nbytes + page - 1) // page * page + page
    buf = mmap.mmap(-1, total, prot=mmap.PROT_READ | mmap.PROT_WRITE)
    addr = ctypes.addressof(ctypes.c_char.from_buffer(buf))
    assert ctypes.CDLL(None).mprotect(ctypes.c_void_p(addr + total - page), ctypes.c_size_t(page), 0) == 0
    flat = np.frombuffer(buf, np.float32, count=nbytes // 4, offset=total - page - nbytes)
    return flat.reshape(shape if order == "C" else shape[::-1]).T if order == "F" else flat.reshape(shape)


@pytest.mark.skipif(not hasattr(mmap, "PROT_READ"), reason="needs POSIX mmap")
@pytest.mark.parametrize("ta,tb", [(0, 0), (1, 0), (0, 1), (1, 1)])
def test_reads_stay_inside_operands(isa, path, ta, tb):
    """Edge tiles (rows past m, columns past n) never read beyond A's or B's last element."""
    rng = np.random.default_rng(15)
    for m, k, n in [(13, 7, 17), (5, 3, 33), (25, 40, 9), (1, 1, 1)]:
        a = _guarded((m, k), "F" if ta else "C")
        b = _guarded((k, n), "F" if tb else "C")
        a[...] = rand(rng, (m, k), np.float32)
        b[...] = rand(rng, (k, n), np.float32)
        c = _guarded((m, n))
        c[...] = rand(rng, (m, n), np.float32)
        run(a, b, c, 1.0, 1.0)


@pytest.mark.parametrize("args", [
    lambda: (np.empty((3, 4), np.float32), np.ones((3, 5), np.float32), np.ones((6, 4), np.float32)),
    lambda: (np.empty((3, 5), np.float32), np.ones((3, 5), np.float32), np.ones((5, 4), np.float32)),
    lambda: (np.empty((3, 4), np.float32), np.ones((3, 5), np.float64), np.ones((5, 4), np.float64)),
    lambda: (np.empty((3, 4), np.float32), np.ones((3, 5), np.float32), np.ones((5, 4), np.float64)),
    lambda: (np.empty((3, 4), np.int64), np.ones((3, 5), np.int64), np.ones((5, 4), np.int64)),
    lambda: (np.empty(4, np.float32), np.ones(5, np.float32), np.ones((5, 4), np.float32)),
    lambda: (np.empty((1, 1, 3, 4), np.float32), np.ones((1, 1, 3, 5), np.float32), np.ones((1, 1, 5, 4), np.float32)),
    lambda: (np.empty((2, 3, 4), np.float32), np.ones((2, 3, 5), np.float32), np.ones((3, 5, 4), np.float32)),
    lambda: (np.empty((2, 3, 4), np.float32), np.ones((2, 3, 5), np.float32), np.ones((5, 4), np.float32)),
    lambda: (np.broadcast_to(np.empty(4, np.float32), (3, 4)), np.ones((3, 5), np.float32), np.ones((5, 4), np.float32)),
    lambda: (lambda x: (x[:, :4], x[:, 4:9], np.ones((5, 4), np.float32)))(np.ones((3, 9), np.float32)),
    lambda: (lambda x: (x[:4, :4], np.ones((4, 4), np.float32), x))(np.ones((4, 4), np.float32)),
    lambda: ([[1.0]], np.ones((1, 1), np.float32), np.ones((1, 1), np.float32)),
    lambda: (np.empty((3, 4), np.float32), np.ones((3, 5), ">f4"), np.ones((5, 4), np.float32)),
    lambda: (np.frombuffer(bytes(48), np.float32).reshape(3, 4), np.ones((3, 5), np.float32),  # read-only out
             np.ones((5, 4), np.float32)),
])
def test_bad_input_raises(args):
    with pytest.raises(ValueError, match=r"^\[matmul\] "):
        gemm(*args())
