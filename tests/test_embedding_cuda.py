"""test_embedding_cuda.py — the CUDA embedding kernels (csrc/cuda/embedding.cuh) against the CPU kernel.

Under the emulator (nerve._C_emu, numpy arrays) and, when a GPU is present, on the device (marker
`cuda`). The backward's buckets are filled in whatever order the atomics fall, yet its result must be
bitwise the CPU kernel's (both sum each row in index order): rows with one, many and more than
kEmbSortMax (1024) contributions, padding_idx, scale_grad_by_freq, int32 and int64 indices. Then
F.embedding's CUDA branch with the emulator standing in for the device.
"""
import numpy as np
import pytest

import nerve
import nerve.nn.functional as F
import nerve.ops.embedding as ops_embedding
from nerve import _C, _C_emu
from cuda_backends import be  # noqa: F401  (be is a fixture)


@pytest.mark.parametrize("n,V,D", [(1, 1, 1), (10, 5, 3), (2000, 37, 70), (3000, 3, 5), (500, 2000, 33), (64, 7, 129)])
@pytest.mark.parametrize("idtype", [np.int64, np.int32])
@pytest.mark.parametrize("pad,scale", [(-1, False), (1, True), (2, False)])
def test_cuda_embedding_matches_cpu_bitwise(be, n, V, D, idtype, pad, scale):
    rng = np.random.default_rng(n + V + D)
    ix = (rng.zipf(1.3, n) % V).astype(idtype)  # skewed: a few rows take most positions
    w = rng.standard_normal((V, D)).astype(np.float32)
    g = rng.standard_normal((n, D)).astype(np.float32)
    want_y = np.empty((n, D), np.float32)
    _C.cpu.embedding_forward(want_y, w, ix)
    y, status = be.put(np.empty((n, D), np.float32)), be.put(np.zeros(1, np.int64))
    ixd = be.put(ix)
    be.k.embedding_forward(y, be.put(w), ixd, status)
    np.testing.assert_array_equal(be.get(y), want_y)
    assert be.get(status)[0] == 0
    want = np.full((V, D), 0.25, np.float32)
    _C.cpu.embedding_backward(want, g, ix, pad, scale)
    dw = be.put(np.full((V, D), 0.25, np.float32))
    ws = be.put(np.empty(be.k.embedding_workspace(n, V), np.int32))
    be.k.embedding_backward(dw, be.put(g), ixd, ws, pad, scale)
    np.testing.assert_array_equal(be.get(dw), want)


def test_cuda_embedding_reports_first_bad_index(be):
    ix = np.array([1, 12, 2, -3, 9], np.int64)
    y, status = be.put(np.empty((5, 3), np.float32)), be.put(np.zeros(1, np.int64))
    be.k.embedding_forward(y, be.put(np.ones((10, 3), np.float32)), be.put(ix), status)
    assert be.get(status)[0] == 5 - 1  # n - first bad position
    np.testing.assert_array_equal(be.get(y), [[1] * 3, [0] * 3, [1] * 3, [0] * 3, [1] * 3])


def test_cuda_embedding_checks_arguments(be):
    w = be.put(np.ones((5, 3), np.float32))
    with pytest.raises(ValueError, match=r"\[embedding\] workspace must hold at least"):
        be.k.embedding_backward(be.put(np.zeros((5, 3), np.float32)), be.put(np.ones((2, 3), np.float32)),
                                be.put(np.array([1, 2])), be.put(np.empty(3, np.int32)))
    with pytest.raises(ValueError, match=r"\[embedding\] expected weight of dtype float32"):
        be.k.embedding_forward(be.put(np.empty((2, 3))), be.put(np.ones((5, 3))), be.put(np.array([1, 2])),
                               be.put(np.zeros(1, np.int64)))
    with pytest.raises(ValueError, match=r"\[embedding\] expected indices of dtype int64 or int32"):
        be.k.embedding_forward(be.put(np.empty((2, 3), np.float32)), w, be.put(np.array([1.0, 2.0])),
                               be.put(np.zeros(1, np.int64)))


def test_emulated_embedding_is_the_cuda_entry():
    for name in ("embedding_forward", "embedding_backward", "embedding_workspace"):
        assert getattr(_C_emu, name).__doc__ == getattr(_C.cuda, name).__doc__


def test_functional_embedding_through_the_cuda_branch(monkeypatch):
    w = nerve.randn(30, 6)
    ix = nerve.tensor([[3, 1, 3], [29, 0, 3]])
    g = nerve.randn(2, 3, 6)
    want_w = w.detach().requires_grad_(True)
    want = F.embedding(ix, want_w, padding_idx=1)
    want.backward(g)
    monkeypatch.setattr(ops_embedding, "kernels", lambda a: _C_emu)
    monkeypatch.setattr(ops_embedding, "is_host", lambda a: False)
    got_w = w.detach().requires_grad_(True)
    got = F.embedding(ix, got_w, padding_idx=1)
    np.testing.assert_array_equal(got.detach().numpy(), want.detach().numpy())
    got.backward(g)
    np.testing.assert_array_equal(got_w.grad.numpy(), want_w.grad.numpy())
    with pytest.raises(IndexError, match=r"\[embedding\] index 30 at position 2 is out of range for 30"):
        F.embedding(nerve.tensor([0, 1, 30, 31]), got_w)
