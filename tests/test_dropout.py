"""dropout: values and gradients against torch applying the very mask nerve draws, mask statistics,
the mask's independence of thread count, ISA and kernel (naive oracle), seeding, p = 0 / p = 1,
eval mode, in-place use, nn.Dropout, and errors."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import nerve
import nerve.nn as nn
import nerve.nn.functional as F
from nerve import _C
from nerve.testing import gradcheck
from helpers import check_op


def drawn_seed(s):
    """The seed the next dropout call draws after nerve.manual_seed(s) (leaves nerve seeded with s)."""
    nerve.manual_seed(s)
    seed = nerve.random.kernel_seed()
    nerve.manual_seed(s)
    return seed


def keep_mask(shape, p, seed, offset=0):
    """The keep mask of a dropout call, read off the naive kernel (one Philox call per element)."""
    ones = np.ones(shape, np.float64)
    y = np.empty_like(ones)
    _C.cpu.dropout_forward(y, None, ones, p, seed, offset, naive=True)
    return y != 0


def torch_dropout(keep, p, dtype):
    scale = dtype(1) / dtype(1 - p)  # what the kernel multiplies by, computed in the input's dtype
    factor = torch.from_numpy(np.where(keep, scale, dtype(0)).astype(dtype))
    return lambda x: x * factor


@pytest.mark.parametrize("shape", [(7,), (3, 5), (2, 3, 67), (4, 129), (1000,), (3, 1, 1)])
@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dropout_matches_torch_with_the_same_mask(shape, p, dtype):
    keep = keep_mask(shape, p, drawn_seed(11))
    check_op([shape], torch_dropout(keep, p, dtype), lambda x: F.dropout(x, p), atol=0, rtol=0, dtype=dtype)


@pytest.mark.parametrize("p", [0.25, 0.75])
def test_dropout_strided_input(p):
    keep = keep_mask((6, 33), p, drawn_seed(5))
    check_op([(6, 33)], torch_dropout(keep, p, np.float32), lambda x: F.dropout(x, p), atol=0, rtol=0,
             noncontig=True)
    x = nerve.randn(33, 6).T  # a transposed view
    nerve.manual_seed(5)
    got = F.dropout(x, p).numpy()
    want = x.numpy() * np.where(keep, np.float32(1) / np.float32(1 - p), 0).astype(np.float32)
    np.testing.assert_array_equal(got, want)


def test_dropout_gradcheck():
    def fn(x):
        nerve.manual_seed(3)  # the same mask at every evaluation
        return F.dropout(x, 0.4)
    check_op([(4, 37)], torch_dropout(keep_mask((4, 37), 0.4, drawn_seed(3)), 0.4, np.float32),
             lambda x: F.dropout(x, 0.4), atol=0, rtol=0)
    x = nerve.from_numpy(np.random.default_rng(1).standard_normal((3, 21))).requires_grad_(True)
    assert gradcheck(fn, [x])


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_statistics(p):
    n = 1 << 20
    x = nerve.ones(n)
    y = F.dropout(x, p).numpy()
    kept = y != 0
    rate = kept.mean()
    sigma = np.sqrt(p * (1 - p) / n)
    assert abs(rate - (1 - p)) < 6 * sigma, (rate, 1 - p)
    np.testing.assert_array_equal(y[kept], np.float32(1) / np.float32(1 - p))
    assert abs(y.mean() - 1.0) < 6 * sigma / (1 - p)  # unbiased in expectation
    # runs of keeps: neighbours are independent (no striping from the counter layout)
    both = (kept[1:] & kept[:-1]).mean()
    assert abs(both - (1 - p) ** 2) < 6 * np.sqrt((1 - p) ** 2 / n)
    for lag in (16, 64):
        corr = np.corrcoef(kept[:-lag], kept[lag:])[0, 1]
        assert abs(corr) < 0.01, (lag, corr)


def test_dropout_p0_p1_and_eval():
    x = nerve.randn(5, 6, requires_grad=True)
    assert F.dropout(x, 0.0) is x
    assert F.dropout(x, 0.7, training=False) is x
    y = F.dropout(x, 1.0)
    assert not y.detach().numpy().any()
    y.sum().backward()
    assert not x.grad.numpy().any()
    inf = nerve.tensor([np.inf, 1.0])
    t = TF.dropout(torch.tensor([np.inf, 1.0]), 1.0)
    with np.errstate(invalid="ignore"):
        np.testing.assert_array_equal(F.dropout(inf, 1.0).numpy(), t.numpy())  # inf * 0 = nan, as torch
    empty = nerve.zeros(0, 3)
    assert F.dropout(empty, 0.5) is empty


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_same_mask_for_any_thread_count_isa_and_kernel(dtype):
    n = 3 * 65536 + 77  # several chunks per thread and a partial last block
    x = np.random.default_rng(0).standard_normal(n).astype(dtype)
    seed, offset = (1 << 62) + 987654321, 5
    outs = []
    old = nerve.get_num_threads()
    try:
        for isa in ("avx512", "avx2", "generic"):
            _C.set_isa(isa)
            for threads in (1, 2):
                nerve.set_num_threads(threads)
                for naive in (False, True):
                    y = np.empty_like(x)
                    mask = np.empty(_C.cpu.dropout_mask_bytes(n), np.uint8)
                    _C.cpu.dropout_forward(y, mask, x, 0.3, seed, offset, naive=naive)
                    dx = np.empty_like(x)
                    _C.cpu.dropout_backward(dx, x, mask, 0.3, naive=naive)
                    outs.append((y, mask, dx))
    finally:
        _C.set_isa("avx512")
        nerve.set_num_threads(old)
    y0, m0, d0 = outs[0]
    assert not np.unpackbits(m0, bitorder="little")[n:].any()  # padding bits are 0
    np.testing.assert_array_equal(np.unpackbits(m0, bitorder="little")[:n].astype(bool), y0 != 0)
    for y, m, d in outs[1:]:
        np.testing.assert_array_equal(m, m0)
        np.testing.assert_array_equal(y, y0)
        np.testing.assert_array_equal(d, d0)


def test_mask_depends_on_seed_offset_and_index_only():
    seed = 424242
    whole = keep_mask((1000,), 0.5, seed)
    np.testing.assert_array_equal(keep_mask((37,), 0.5, seed), whole[:37])  # a prefix: same elements
    assert (keep_mask((1000,), 0.5, seed + 1) != whole).mean() > 0.4
    assert (keep_mask((1000,), 0.5, seed, offset=1) != whole).mean() > 0.4
    assert (keep_mask((1000,), 0.5, seed | (1 << 40)) != whole).mean() > 0.4  # the high key word counts


def test_philox_known_answers():
    """Philox4x32-10 against Random123's known-answer vectors, through the naive element map:
    element i of counter c word w sits at (c // 16) * 64 + w * 16 + c % 16; with p = 0.5 the keep
    bit is (word < 2^31), so the top bit of each word is visible."""
    # counter 0, key 0 -> 6627e8d5 e169c58d bc57ac4c 9b00dbd8 (top bits 0 1 1 1 -> keep 1 0 0 0)
    keep = keep_mask((64,), 0.5, 0)
    assert [bool(keep[w * 16]) for w in range(4)] == [True, False, False, False]


def test_manual_seed_reproduces_runs():
    x = nerve.randn(300)
    nerve.manual_seed(123)
    a = F.dropout(x, 0.5).numpy()
    b = F.dropout(x, 0.5).numpy()
    nerve.manual_seed(123)
    np.testing.assert_array_equal(F.dropout(x, 0.5).numpy(), a)
    assert (a != b).any()  # each call draws a new seed


def test_dropout_inplace():
    x = nerve.randn(4, 50)
    ref = x.numpy().copy()
    seed = drawn_seed(9)
    keep = keep_mask((4, 50), 0.3, seed)
    v0 = x._vcell()[0]
    y = F.dropout(x, 0.3, inplace=True)
    assert y is x and x._vcell()[0] > v0
    np.testing.assert_array_equal(x.numpy(), ref * np.where(keep, np.float32(1) / np.float32(0.7), 0))
    # recording a graph: a non-leaf in place, gradient through the mask
    w = nerve.randn(4, 50, requires_grad=True)
    h = w * 1.0
    nerve.manual_seed(9)
    out = F.dropout(h, 0.3, inplace=True)
    assert out is h
    out.sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), np.where(keep, np.float32(1) / np.float32(0.7), 0))
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        F.dropout(nerve.randn(3, requires_grad=True), 0.5, inplace=True)


def test_dropout_module():
    m = nn.Dropout(0.25)
    assert repr(m) == repr(torch.nn.Dropout(0.25))
    x = nerve.randn(8, 9)
    assert (m(x).numpy() == 0).any()
    m.eval()
    assert m(x) is x
    with pytest.raises(ValueError, match=r"\[Dropout\] dropout probability has to be between 0 and 1, but got 1.5"):
        nn.Dropout(1.5)


def test_dropout_errors():
    x = nerve.randn(3, 4)
    for p in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match=r"\[dropout\] dropout probability has to be between 0 and 1"):
            F.dropout(x, p)
    with pytest.raises(ValueError, match=r"\[dropout\] expected input of dtype float32 or float64"):
        F.dropout(nerve.ones(3, 4, dtype=nerve.int64), 0.5)
    a = np.ones(10, np.float32)
    with pytest.raises(ValueError, match=r"\[dropout\] mask must hold 8 bytes"):
        _C.cpu.dropout_forward(np.empty_like(a), np.empty(2, np.uint8), a, 0.5, 1)
    with pytest.raises(ValueError, match=r"\[dropout\] the kernel takes 0 < p < 1"):
        _C.cpu.dropout_forward(np.empty_like(a), None, a, 1.0, 1)
    with pytest.raises(ValueError, match=r"\[dropout\] expected out of shape"):
        _C.cpu.dropout_forward(np.empty(9, np.float32), None, a, 0.5, 1)
    with pytest.raises(ValueError, match=r"\[dropout\] out is read-only"):
        ro = np.empty_like(a)
        ro.flags.writeable = False
        _C.cpu.dropout_forward(ro, None, a, 0.5, 1)
