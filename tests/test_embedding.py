"""embedding and nn.Embedding vs torch: gathers and weight gradients (repeated indices, int64 and int32
indices, padding_idx, scale_grad_by_freq, max_norm), float64 gradcheck, bitwise determinism across
thread counts and against the naive oracle, initialisation, from_pretrained, state_dict, errors."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import nerve
import nerve.nn as nn
import nerve.nn.functional as F
from nerve import _C
from helpers import check_op


def indices(shape, V, dtype=np.int64, seed=0):
    return np.random.default_rng(seed).integers(0, V, shape).astype(dtype)


@pytest.mark.parametrize("ishape,V,D", [((5,), 10, 3), ((3, 4), 7, 1), ((2, 3, 5), 50, 33), ((40,), 4, 17),
                                        ((1,), 1, 8), ((6, 0), 5, 4)])
@pytest.mark.parametrize("idtype", [np.int64, np.int32])
def test_embedding(ishape, V, D, idtype):
    ix = indices(ishape, V, idtype)
    check_op([ix, (V, D)], lambda i, w: TF.embedding(i, w), lambda i, w: F.embedding(i, w), atol=0, rtol=0,
             grad_atol=1e-6, grad_rtol=1e-6)


@pytest.mark.parametrize("padding_idx", [0, 3, -1, -7])
def test_embedding_padding_idx(padding_idx):
    ix = indices((6, 9), 7, seed=1)
    ix[0, :3] = padding_idx % 7
    out = check_op([ix, (7, 5)], lambda i, w: TF.embedding(i, w, padding_idx=padding_idx),
                   lambda i, w: F.embedding(i, w, padding_idx=padding_idx), atol=0, rtol=0, grad_atol=1e-6)
    assert out[0].shape == (6, 9, 5)


def test_embedding_scale_grad_by_freq_and_max_norm():
    ix = indices((5, 8), 6, seed=2)
    check_op([ix, (6, 4)], lambda i, w: TF.embedding(i, w, padding_idx=2, scale_grad_by_freq=True),
             lambda i, w: F.embedding(i, w, padding_idx=2, scale_grad_by_freq=True), atol=0, rtol=0,
             grad_atol=1e-6, grad_rtol=1e-6)
    w = np.random.default_rng(3).standard_normal((9, 4)).astype(np.float32) * 3
    for norm_type in (2.0, 1.0):
        tw, nw = torch.from_numpy(w.copy()), nerve.from_numpy(w.copy())
        ty = TF.embedding(torch.from_numpy(ix), tw, max_norm=1.5, norm_type=norm_type)
        ny = F.embedding(nerve.from_numpy(ix), nw, max_norm=1.5, norm_type=norm_type)
        np.testing.assert_allclose(ny.numpy(), ty.numpy(), rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(nw.numpy(), tw.numpy(), rtol=1e-6, atol=1e-6)  # renormalised in place, as torch


def test_embedding_repeated_indices_sum_in_order():
    ix = np.array([3, 1, 3, 3, 0, 1, 3], np.int64)
    w = nerve.randn(5, 6, requires_grad=True)
    g = np.random.default_rng(4).standard_normal((7, 6)).astype(np.float32)
    F.embedding(nerve.from_numpy(ix), w).backward(nerve.from_numpy(g))
    want = np.zeros((5, 6), np.float32)
    for i, v in enumerate(ix):  # the kernel's order: index order, float32 adds
        want[v] += g[i]
    np.testing.assert_array_equal(w.grad.numpy(), want)


def test_embedding_gradcheck():
    ix = indices((3, 4), 5, seed=5)
    # (padding_idx is left out: its row is read but by definition gets no gradient)
    check_op([ix, (5, 3)], lambda i, w: TF.embedding(i, w, scale_grad_by_freq=False),
             lambda i, w: F.embedding(i, w), dtype=np.float64, atol=0, rtol=0, gradcheck=True)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("scale", [False, True])
def test_embedding_backward_is_deterministic(dtype, scale):
    """Many repeats of few rows (long float sums): bitwise the same on 1 and 2 threads and as the oracle."""
    rng = np.random.default_rng(6)
    V, D, n = 37, 70, 20000
    ix = (rng.zipf(1.3, n) % V).astype(np.int64)
    g = rng.standard_normal((n, D)).astype(dtype)
    w = rng.standard_normal((V, D)).astype(dtype)
    old, outs = nerve.get_num_threads(), []
    try:
        for threads in (1, 2):
            nerve.set_num_threads(threads)
            for naive in (False, True):
                dw = np.zeros((V, D), dtype)
                _C.cpu.embedding_backward(dw, g, ix, 5, scale, naive=naive)
                y = np.empty((n, D), dtype)
                _C.cpu.embedding_forward(y, w, ix, naive=naive)
                outs.append((dw, y))
    finally:
        nerve.set_num_threads(old)
    for dw, y in outs[1:]:
        np.testing.assert_array_equal(dw, outs[0][0])
        np.testing.assert_array_equal(y, outs[0][1])
    assert not outs[0][0][5].any()
    np.testing.assert_array_equal(outs[0][1], w[ix])


def test_embedding_backward_accumulates():
    g = np.ones((3, 2), np.float32)
    dw = np.full((4, 2), 10.0, np.float32)
    _C.cpu.embedding_backward(dw, g, np.array([1, 1, 3]), -1, False)
    np.testing.assert_array_equal(dw, [[10, 10], [12, 12], [10, 10], [11, 11]])


# ---- nn.Embedding ----------------------------------------------------------------------------------

def test_embedding_module_matches_torch():
    t = torch.nn.Embedding(20, 6, padding_idx=4)
    n = nn.Embedding(20, 6, padding_idx=4)
    assert repr(n) == repr(t) and list(n.state_dict()) == list(t.state_dict())
    n.load_state_dict({k: v.detach().numpy().copy() for k, v in t.state_dict().items()})
    ix = indices((4, 7), 20, seed=7)
    ix[1, 2] = 4
    ty, ny = t(torch.from_numpy(ix)), n(nerve.from_numpy(ix))
    np.testing.assert_array_equal(ny.detach().numpy(), ty.detach().numpy())
    g = np.random.default_rng(8).standard_normal((4, 7, 6)).astype(np.float32)
    ty.backward(torch.from_numpy(g))
    ny.backward(nerve.from_numpy(g))
    np.testing.assert_allclose(n.weight.grad.numpy(), t.weight.grad.numpy(), rtol=1e-6, atol=1e-6)
    t2 = torch.nn.Embedding(20, 6, padding_idx=4)
    t2.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in n.state_dict().items()})
    np.testing.assert_array_equal(t2.weight.detach().numpy(), n.weight.detach().numpy())
    for kw in (dict(max_norm=2.0), dict(norm_type=1.0), dict(scale_grad_by_freq=True), {}):
        assert repr(nn.Embedding(5, 2, **kw)) == repr(torch.nn.Embedding(5, 2, **kw))


def test_embedding_module_init_and_from_pretrained():
    nerve.manual_seed(0)
    e = nn.Embedding(4000, 50, padding_idx=-2)
    w = e.weight.detach().numpy()
    assert e.padding_idx == 3998 and not w[3998].any()
    assert abs(w.mean()) < 0.01 and abs(w.std() - 1.0) < 0.01  # N(0, 1), as torch
    pre = nerve.randn(6, 3)
    f = nn.Embedding.from_pretrained(pre)
    assert not f.weight.requires_grad and f.weight._data is pre._data
    np.testing.assert_array_equal(f(nerve.tensor([5, 0])).numpy(), pre.numpy()[[5, 0]])
    g = nn.Embedding.from_pretrained(pre, freeze=False, padding_idx=1)
    assert g.weight.requires_grad and g.padding_idx == 1
    g(nerve.tensor([1, 2, 1])).sum().backward()
    assert not g.weight.grad.numpy()[1].any() and g.weight.grad.numpy()[2].all()


def test_embedding_errors():
    w = nerve.randn(10, 3)
    for bad in (10, -1, 1 << 40):
        with pytest.raises(IndexError, match=rf"\[embedding\] index {bad} at position 1 is out of range for 10"):
            F.embedding(nerve.tensor([0, bad, 2]), w)
    with pytest.raises(ValueError, match=r"\[embedding\] expected indices of dtype int64 or int32, got float32"):
        F.embedding(nerve.tensor([1.0]), w)
    with pytest.raises(ValueError, match=r"\[embedding\] expected weight of 2 dimensions"):
        F.embedding(nerve.tensor([1]), nerve.randn(10))
    with pytest.raises(ValueError, match=r"\[embedding\] Padding_idx must be within num_embeddings"):
        F.embedding(nerve.tensor([1]), w, padding_idx=10)
    with pytest.raises(ValueError, match=r"\[Embedding\] Padding_idx must be within num_embeddings"):
        nn.Embedding(5, 2, padding_idx=-6)
    with pytest.raises(NotImplementedError, match=r"\[embedding\] sparse gradients are not supported"):
        F.embedding(nerve.tensor([1]), w, sparse=True)
    with pytest.raises(IndexError, match=r"\[embedding\] index 12 is out of range"):
        F.embedding(nerve.tensor([12]), w, max_norm=1.0)
    with pytest.raises(ValueError, match=r"\[embedding\] expected out of shape \(2, 3\)"):
        _C.cpu.embedding_forward(np.empty((2, 4), np.float32), np.ones((10, 3), np.float32), np.array([1, 2]))
    with pytest.raises(IndexError, match=r"\[embedding\] index 11 at position 0"):
        _C.cpu.embedding_backward(np.zeros((10, 3), np.float32), np.ones((1, 3), np.float32), np.array([11]))
