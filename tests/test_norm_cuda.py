"""test_norm_cuda.py — the CUDA batch_norm / layer_norm kernels (csrc/cuda/norm.cuh) against the CPU
kernels and numpy.

Under the emulator (nerve._C_emu, numpy arrays) and, when a GPU is present, on the device (marker
`cuda`). Shapes are odd: partial warps and blocks, one to several splits per channel, L = 1 and
L > 1, rows shorter and longer than a block. F.batch_norm / F.layer_norm's CUDA branches (workspace
allocation, argument order) are also run with the emulator standing in for the device.
"""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import nerve
import nerve.nn.functional as F
import nerve.ops.norm as ops_norm
from nerve import _C, _C_emu
from cuda_backends import be  # noqa: F401  (be is a fixture)


def close(got, want, tol=2e-5):
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * max(1.0, float(np.abs(want).max())))


def bn_cpu(x, w, b, rm, rv, g, training):
    C = x.shape[1]
    y, mean, inv = np.empty_like(x), np.empty(C), np.empty(C)
    rm, rv = rm.copy(), rv.copy()
    _C.cpu.batch_norm_forward(y, mean, inv, rm, rv, x, w, b, training, 0.2, 1e-5)
    dx, dw, db = np.empty_like(x), np.empty(C, np.float32), np.empty(C, np.float32)
    _C.cpu.batch_norm_backward(dx, dw, db, g, x, mean, inv, w, training)
    return y, mean, inv, rm, rv, dx, dw, db


def bn_backend(be, x, w, b, rm, rv, g, training):
    N, C = x.shape[:2]
    L = int(np.prod(x.shape[2:]))
    ws = be.put(np.empty(be.k.batch_norm_workspace(N, C, L), np.float32))
    y, mean, inv = be.put(np.empty_like(x)), be.put(np.empty(C)), be.put(np.empty(C))
    rm, rv = be.put(rm), be.put(rv)
    dx, dw, db = be.put(np.empty_like(x)), be.put(np.empty(C, np.float32)), be.put(np.empty(C, np.float32))
    xd, gd, wd = be.put(x), be.put(g), be.put(w)
    be.k.batch_norm_forward(y, mean, inv, rm, rv, xd, wd, be.put(b), training, 0.2, 1e-5, ws)
    be.k.batch_norm_backward(dx, dw, db, gd, xd, mean, inv, wd, training, ws)
    return tuple(be.get(a) for a in (y, mean, inv, rm, rv, dx, dw, db))


@pytest.mark.parametrize("shape", [(7, 3), (5, 4, 3), (3, 70, 1), (4, 3, 17), (2, 5, 7, 9), (3, 2, 2100), (33, 1, 300)])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("affine", [True, False])
def test_cuda_batch_norm_matches_cpu(be, shape, training, affine):
    rng = np.random.default_rng(sum(shape))
    C = shape[1]
    x = (rng.standard_normal(shape) * 2 + 3).astype(np.float32)
    g = rng.standard_normal(shape).astype(np.float32)
    w = rng.standard_normal(C).astype(np.float32) if affine else None
    b = rng.standard_normal(C).astype(np.float32) if affine else None
    rm, rv = rng.standard_normal(C).astype(np.float32), rng.uniform(0.5, 2, C).astype(np.float32)
    want = bn_cpu(x, w, b, rm, rv, g, training)
    got = bn_backend(be, x, w, b, rm, rv, g, training)
    for name, a, r in zip(["y", "mean", "invstd", "running_mean", "running_var", "dx", "dweight", "dbias"], got, want):
        close(a, r, 1e-4 if name == "dx" and shape[0] * np.prod(shape[2:]) < 8 else 2e-5)


def test_cuda_batch_norm_numpy_reference_and_large_mean(be):
    rng = np.random.default_rng(1)
    x = (1e4 + rng.standard_normal((6, 3, 50))).astype(np.float32)
    x[:, 1] = 5.0  # and a constant channel
    C = 3
    got = bn_backend(be, x, None, None, np.zeros(C, np.float32), np.ones(C, np.float32), np.ones_like(x), True)
    x64 = x.astype(np.float64)
    mean, var = x64.mean((0, 2)), x64.var((0, 2))
    np.testing.assert_allclose(got[1], mean, rtol=1e-7)
    np.testing.assert_allclose(got[0], (x64 - mean[:, None]) / np.sqrt(var[:, None] + 1e-5), atol=1e-4)
    assert not got[0][:, 1].any()
    np.testing.assert_allclose(got[3], 0.2 * mean, rtol=1e-6)
    np.testing.assert_allclose(got[4], 0.8 + 0.2 * var * 300 / 299, rtol=1e-5)


@pytest.mark.parametrize("M,D", [(1, 1), (5, 7), (3, 33), (17, 1000), (2, 3000), (130, 64), (100, 1)])
def test_cuda_layer_norm_matches_cpu(be, M, D):
    rng = np.random.default_rng(M * 31 + D)
    x = (rng.standard_normal((M, D)) + 5).astype(np.float32)
    g = rng.standard_normal((M, D)).astype(np.float32)
    w, b = rng.standard_normal(D).astype(np.float32), rng.standard_normal(D).astype(np.float32)
    for wb in ((w, b), (None, None), (w, None)):
        y, mean, rstd = np.empty_like(x), np.empty(M), np.empty(M)
        _C.cpu.layer_norm_forward(y, mean, rstd, x, *wb, 1, 1e-5)
        dx, dw, db = np.empty_like(x), np.empty(D, np.float32), np.empty(D, np.float32)
        _C.cpu.layer_norm_backward(dx, dw, db, g, x, mean, rstd, wb[0], 1)
        ys, ms, rs = be.put(np.empty_like(x)), be.put(np.empty(M)), be.put(np.empty(M))
        xd, gd, wd = be.put(x), be.put(g), be.put(wb[0])
        be.k.layer_norm_forward(ys, ms, rs, xd, wd, be.put(wb[1]), 1, 1e-5)
        ws = be.put(np.empty(be.k.layer_norm_workspace(M, D), np.float32))
        dxs, dws, dbs = be.put(np.empty_like(x)), be.put(np.empty(D, np.float32)), be.put(np.empty(D, np.float32))
        be.k.layer_norm_backward(dxs, dws, dbs, gd, xd, ms, rs, wd, 1, ws)
        close(be.get(ys), y)
        close(be.get(ms), mean, 1e-6)
        close(be.get(rs), rstd, 1e-5)
        close(be.get(dxs), dx, 1e-4 if D == 1 else 2e-5)  # D = 1: 0 up to rounding of 316 * g
        close(be.get(dws), dw)
        close(be.get(dbs), db)


def test_cuda_layer_norm_2d_normalized_shape_and_numpy(be):
    x = np.random.default_rng(2).standard_normal((3, 4, 5, 6)).astype(np.float32)
    y, m, r = be.put(np.empty_like(x)), be.put(np.empty(12)), be.put(np.empty(12))
    be.k.layer_norm_forward(y, m, r, be.put(x), None, None, 2, 1e-5)
    x64 = x.astype(np.float64)
    mu, var = x64.mean((2, 3), keepdims=True), x64.var((2, 3), keepdims=True)
    np.testing.assert_allclose(be.get(y), (x64 - mu) / np.sqrt(var + 1e-5), atol=2e-5)


def test_cuda_norm_checks_arguments(be):
    x = be.put(np.ones((4, 3), np.float32))
    with pytest.raises(ValueError, match=r"\[batch_norm\] workspace must hold at least"):
        be.k.batch_norm_forward(be.put(np.empty((4, 3), np.float32)), be.put(np.empty(3)), be.put(np.empty(3)), None,
                                None, x, None, None, True, 0.1, 1e-5, be.put(np.empty(1, np.float32)))
    with pytest.raises(ValueError, match=r"\[layer_norm\] expected input of dtype float32, got float64"):
        be.k.layer_norm_forward(be.put(np.empty((4, 3))), be.put(np.empty(4)), be.put(np.empty(4)),
                                be.put(np.ones((4, 3))), None, None, 1, 1e-5)


def test_emulated_norm_is_the_cuda_entry():
    for name in ("batch_norm_forward", "batch_norm_backward", "layer_norm_forward", "layer_norm_backward"):
        assert getattr(_C_emu, name).__doc__ == getattr(_C.cuda, name).__doc__


@pytest.fixture
def emulated_device(monkeypatch):
    """ops.norm sends numpy arrays down its CUDA branch, to the emulator."""
    monkeypatch.setattr(ops_norm, "kernels", lambda a: _C_emu)
    monkeypatch.setattr(ops_norm, "is_host", lambda a: False)


@pytest.mark.parametrize("training", [True, False])
def test_functional_batch_norm_through_the_cuda_branch(emulated_device, training):
    rng = np.random.default_rng(3)
    x, w, b = (rng.standard_normal(s).astype(np.float32) for s in ((6, 4, 5), (4,), (4,)))
    tx, tw, tb = (torch.from_numpy(a.copy()).requires_grad_(True) for a in (x, w, b))
    nx, nw, nb = (nerve.from_numpy(a.copy()).requires_grad_(True) for a in (x, w, b))
    trm, trv, nrm, nrv = torch.zeros(4), torch.ones(4), nerve.zeros(4), nerve.ones(4)
    ty = TF.batch_norm(tx, trm, trv, tw, tb, training=training)
    ny = F.batch_norm(nx, nrm, nrv, nw, nb, training=training)
    close(ny.detach().numpy(), ty.detach().numpy())
    ty.sum().backward()
    ny.sum().backward()
    for n, t in ((nx, tx), (nw, tw), (nb, tb), (nrm, trm), (nrv, trv)):
        close((n.grad if n.requires_grad else n).numpy(), (t.grad if t.requires_grad else t).detach().numpy())


def test_functional_layer_norm_through_the_cuda_branch(emulated_device):
    rng = np.random.default_rng(4)
    x, w, b = (rng.standard_normal(s).astype(np.float32) for s in ((3, 5, 9), (9,), (9,)))
    tx, tw, tb = (torch.from_numpy(a.copy()).requires_grad_(True) for a in (x, w, b))
    nx, nw, nb = (nerve.from_numpy(a.copy()).requires_grad_(True) for a in (x, w, b))
    ty, ny = TF.layer_norm(tx, (9,), tw, tb), F.layer_norm(nx, (9,), nw, nb)
    close(ny.detach().numpy(), ty.detach().numpy())
    ty.sum().backward()
    ny.sum().backward()
    for n, t in ((nx, tx), (nw, tw), (nb, tb)):
        close(n.grad.numpy(), t.grad.numpy())
