"""batch_norm, layer_norm, group_norm and their modules (BatchNorm1d/2d, LayerNorm, GroupNorm) vs torch:
outputs and input / weight / bias gradients in training and eval, running statistics, odd shapes
(both kernel layouts), strided inputs, float64 gradcheck, zero-variance channels, large-mean inputs,
the naive oracle on every ISA and thread count, state_dict round trips, and errors."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import nerve
import nerve.nn as nn
import nerve.nn.functional as F
from nerve import _C
from helpers import check_op

# (N, C, *): L >= 16 takes the slice layout, L < 16 the column layout.
BN_SHAPES = [(8, 3), (5, 4, 3), (2, 3, 1), (4, 3, 17), (2, 5, 7, 9), (3, 2, 1, 1), (16, 33), (2, 6, 4),
             (7, 19, 5, 5), (2, 4, 40)]


def bn_stats(C, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(C).astype(np.float32), rng.uniform(0.5, 2.0, C).astype(np.float32)


@pytest.mark.parametrize("shape", BN_SHAPES)
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm(shape, training, affine):
    C = shape[1]
    rm, rv = bn_stats(C)
    specs = [shape, rm, rv] + ([(C,), (C,)] if affine else [])
    rg = [True, False, False] + [True, True] * affine

    def fn(lib):
        return lambda x, m, v, *wb: lib.batch_norm(x, m, v, *wb, training=training, momentum=0.3, eps=1e-4)
    check_op(specs, fn(TF), fn(F), requires_grad=rg, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("shape", [(6, 4), (4, 3, 20), (3, 5, 4, 4)])
def test_batch_norm_updates_running_stats_like_torch(shape):
    C = shape[1]
    rng = np.random.default_rng(1)
    rm, rv = bn_stats(C)
    n_rm, n_rv = nerve.from_numpy(rm.copy()), nerve.from_numpy(rv.copy())
    t_rm, t_rv = torch.from_numpy(rm.copy()), torch.from_numpy(rv.copy())
    for step in range(4):
        x = (rng.standard_normal(shape) * (step + 1) + step).astype(np.float32)
        F.batch_norm(nerve.from_numpy(x), n_rm, n_rv, training=True, momentum=0.25)
        TF.batch_norm(torch.from_numpy(x), t_rm, t_rv, training=True, momentum=0.25)
        np.testing.assert_allclose(n_rm.numpy(), t_rm.numpy(), rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(n_rv.numpy(), t_rv.numpy(), rtol=1e-6, atol=1e-6)
    # no running stats in training: nothing to update, still normalised by the batch
    check_op([shape], lambda x: TF.batch_norm(x, None, None, training=True),
             lambda x: F.batch_norm(x, None, None, training=True), atol=1e-5, rtol=1e-5)


def test_batch_norm_strided_and_gradcheck():
    check_op([(6, 3, 9), (3,), (3,)], lambda x, w, b: TF.batch_norm(x, None, None, w, b, training=True),
             lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True), noncontig=True, atol=1e-5, rtol=1e-5)
    x = nerve.randn(4, 6, 5, 3).permute(0, 3, 1, 2)  # channels from a permuted view
    t = torch.from_numpy(x.numpy().copy())
    np.testing.assert_allclose(F.batch_norm(x, None, None, training=True).numpy(),
                               TF.batch_norm(t, None, None, training=True).numpy(), rtol=1e-5, atol=1e-5)
    rm, rv = bn_stats(3)
    for training in (True, False):
        for shape in ((5, 3), (3, 3, 17)):
            check_op([shape, rm.astype(np.float64), rv.astype(np.float64), (3,), (3,)],
                     lambda x, m, v, w, b: TF.batch_norm(x, m, v, w, b, training=training),
                     lambda x, m, v, w, b: F.batch_norm(x, m, v, w, b, training=training),
                     requires_grad=[True, False, False, True, True], dtype=np.float64, atol=1e-10, rtol=1e-10,
                     gradcheck=True)


@pytest.mark.parametrize("shape", [(6, 3, 20), (10, 3)])
def test_batch_norm_zero_variance_channel(shape):
    rng = np.random.default_rng(2)
    x = rng.standard_normal(shape).astype(np.float32)
    x[:, 1] = 3.0  # a constant channel: y = bias, finite gradients, exactly as torch
    w, b = rng.standard_normal(3).astype(np.float32), rng.standard_normal(3).astype(np.float32)
    # torch computes x * (invstd * w) + (b - mean * invstd * w) with invstd = 1/sqrt(eps) = 316: its
    # constant channel comes out as b give or take ulp(3 * 316 * w) ~ 6e-5; nerve's is b exactly.
    out = check_op([x, w, b], lambda x, w, b: TF.batch_norm(x, None, None, w, b, training=True),
                   lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True), atol=1e-4, rtol=1e-5)
    y = out[0].detach().numpy()
    assert np.isfinite(y).all()
    np.testing.assert_array_equal(y[:, 1], np.broadcast_to(b[1], y[:, 1].shape))


@pytest.mark.parametrize("shape", [(64, 3, 50), (512, 4)])
def test_batch_norm_large_mean(shape):
    """Data centred at 1e4 with unit spread: float32 statistics must not cancel catastrophically."""
    rng = np.random.default_rng(3)
    x = (1e4 + rng.standard_normal(shape)).astype(np.float32)
    g = rng.standard_normal(shape).astype(np.float32)
    axes = tuple(i for i in range(len(shape)) if i != 1)
    x64 = x.astype(np.float64)
    mean, var = x64.mean(axes, keepdims=True), x64.var(axes, keepdims=True)
    xhat = (x64 - mean) / np.sqrt(var + 1e-5)
    nx = nerve.from_numpy(x).requires_grad_(True)
    y = F.batch_norm(nx, None, None, training=True)
    np.testing.assert_allclose(y.detach().numpy(), xhat, atol=2e-5)
    y.backward(nerve.from_numpy(g))
    g64 = g.astype(np.float64)
    dx = (g64 - g64.mean(axes, keepdims=True) - xhat * (g64 * xhat).mean(axes, keepdims=True)) / np.sqrt(var + 1e-5)
    np.testing.assert_allclose(nx.grad.numpy(), dx, atol=2e-5)
    # torch in float64 agrees (torch's float32 statistics lose ~1e-2 here with one thread: not a reference)
    t = TF.batch_norm(torch.from_numpy(x.astype(np.float64)), None, None, training=True).numpy()
    np.testing.assert_allclose(y.detach().numpy(), t, atol=2e-5)
    # torch computes x * invstd - mean * invstd in float32: its error at a 1e4 offset is ~1e-3 (more or
    # less with its thread count); nerve's must be no larger
    t = TF.batch_norm(torch.from_numpy(x), None, None, training=True).numpy()
    assert np.abs(y.detach().numpy() - xhat).max() <= np.abs(t - xhat).max()


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("isa", ["avx512", "avx2", "generic"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_batch_norm_kernel_matches_naive(dtype, isa, threads):
    old = nerve.get_num_threads()
    nerve.set_num_threads(threads)
    _C.set_isa(isa)
    try:
        rng = np.random.default_rng(4)
        for shape in [(9, 5, 3), (6, 7, 33), (40, 19), (3, 2, 600)]:
            C = shape[1]
            x = (rng.standard_normal(shape) * 3 + 2).astype(dtype)
            g = rng.standard_normal(shape).astype(dtype)
            w, b = rng.standard_normal(C).astype(dtype), rng.standard_normal(C).astype(dtype)
            for training in (True, False):
                outs = []
                for naive in (False, True):
                    y = np.empty_like(x)
                    mean, inv = np.empty(C), np.empty(C)
                    rm, rv = np.zeros(C, dtype), np.ones(C, dtype)
                    _C.cpu.batch_norm_forward(y, mean, inv, rm, rv, x, w, b, training, 0.1, 1e-5, naive=naive)
                    dx, dw, db = np.empty_like(x), np.empty(C, dtype), np.empty(C, dtype)
                    _C.cpu.batch_norm_backward(dx, dw, db, g, x, mean, inv, w, training, naive=naive)
                    outs.append((y, mean, inv, rm, rv, dx, dw, db))
                tol = 1e-5 if dtype == np.float32 else 1e-12
                for a, r in zip(*outs):
                    np.testing.assert_allclose(a, r, rtol=tol, atol=tol * max(1.0, np.abs(r).max()))
    finally:
        _C.set_isa("avx512")
        nerve.set_num_threads(old)


LN_CASES = [((5, 7), (7,)), ((3, 4, 33), (33,)), ((2, 3, 4, 5), (4, 5)), ((4, 1), (1,)), ((2, 3, 600), (3, 600)),
            ((6, 1024), (1024,)), ((7,), (7,))]


@pytest.mark.parametrize("shape,ns", LN_CASES)
@pytest.mark.parametrize("affine", ["both", "weight", "none"])
def test_layer_norm(shape, ns, affine):
    specs = [shape] + ([ns] if affine != "none" else []) + ([ns] if affine == "both" else [])

    def fn(lib):
        return lambda x, *wb: lib.layer_norm(x, ns, *wb, eps=1e-4)
    check_op(specs, fn(TF), fn(F), atol=1e-5, rtol=1e-5, grad_atol=3e-5)


def test_layer_norm_bias_only_strided_and_gradcheck():
    check_op([(4, 9), (9,)], lambda x, b: TF.layer_norm(x, (9,), None, b), lambda x, b: F.layer_norm(x, (9,), None, b),
             atol=1e-5, rtol=1e-5)
    check_op([(3, 5, 8), (8,), (8,)], lambda x, w, b: TF.layer_norm(x, (8,), w, b),
             lambda x, w, b: F.layer_norm(x, 8, w, b), noncontig=True, atol=1e-5, rtol=1e-5)
    for shape, ns in [((3, 6), (6,)), ((2, 2, 3, 4), (3, 4))]:
        check_op([shape, ns, ns], lambda x, w, b: TF.layer_norm(x, ns, w, b), lambda x, w, b: F.layer_norm(x, ns, w, b),
                 dtype=np.float64, atol=1e-10, rtol=1e-10, gradcheck=True)


def test_layer_norm_large_mean_and_constant_rows():
    rng = np.random.default_rng(5)
    x = (1e4 + rng.standard_normal((16, 300))).astype(np.float32)
    x[3] = -7.0  # a constant row
    x64 = x.astype(np.float64)
    want = (x64 - x64.mean(1, keepdims=True)) / np.sqrt(x64.var(1, keepdims=True) + 1e-5)
    y = F.layer_norm(nerve.from_numpy(x), (300,)).numpy()
    np.testing.assert_allclose(y, want, atol=2e-5)
    assert not y[3].any()
    check_op([x, (300,), (300,)], lambda x, w, b: TF.layer_norm(x, (300,), w, b),
             lambda x, w, b: F.layer_norm(x, (300,), w, b), atol=5e-3, rtol=1e-5, grad_atol=5e-3, grad_rtol=1e-3)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("isa", ["avx512", "avx2", "generic"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_layer_norm_kernel_matches_naive(dtype, isa, threads):
    old = nerve.get_num_threads()
    nerve.set_num_threads(threads)
    _C.set_isa(isa)
    try:
        rng = np.random.default_rng(6)
        for M, D in [(1, 1), (7, 13), (300, 70), (3, 2049)]:
            x = (rng.standard_normal((M, D)) + 3).astype(dtype)
            g = rng.standard_normal((M, D)).astype(dtype)
            w, b = rng.standard_normal(D).astype(dtype), rng.standard_normal(D).astype(dtype)
            outs = []
            for naive in (False, True):
                y, mean, rstd = np.empty_like(x), np.empty(M), np.empty(M)
                _C.cpu.layer_norm_forward(y, mean, rstd, x, w, b, 1, 1e-5, naive=naive)
                dx, dw, db = np.empty_like(x), np.empty(D, dtype), np.empty(D, dtype)
                _C.cpu.layer_norm_backward(dx, dw, db, g, x, mean, rstd, w, 1, naive=naive)
                outs.append((y, mean, rstd, dx, dw, db))
            tol = 2e-5 if dtype == np.float32 else 1e-12
            for a, r in zip(*outs):
                np.testing.assert_allclose(a, r, rtol=tol, atol=tol * max(1.0, np.abs(r).max()))
    finally:
        _C.set_isa("avx512")
        nerve.set_num_threads(old)


def test_layer_norm_weight_grad_does_not_depend_on_threads():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((333, 65)).astype(np.float32)
    g = rng.standard_normal((333, 65)).astype(np.float32)
    w = rng.standard_normal(65).astype(np.float32)
    y, mean, rstd = np.empty_like(x), np.empty(333), np.empty(333)
    _C.cpu.layer_norm_forward(y, mean, rstd, x, w, None, 1, 1e-5)
    old, outs = nerve.get_num_threads(), []
    try:
        for threads in (1, 2):
            nerve.set_num_threads(threads)
            dx, dw, db = np.empty_like(x), np.empty(65, np.float32), np.empty(65, np.float32)
            _C.cpu.layer_norm_backward(dx, dw, db, g, x, mean, rstd, w, 1)
            outs.append((dx, dw, db))
    finally:
        nerve.set_num_threads(old)
    for a, b in zip(*outs):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("shape,groups", [((2, 6, 5), 3), ((3, 4, 3, 3), 2), ((4, 6), 3), ((2, 8, 5, 1), 1)])
def test_group_norm(shape, groups):
    C = shape[1]
    check_op([shape, (C,), (C,)], lambda x, w, b: TF.group_norm(x, groups, w, b),
             lambda x, w, b: F.group_norm(x, groups, w, b), atol=1e-5, rtol=1e-5, grad_atol=3e-5)


# ---- modules ---------------------------------------------------------------------------------------

def copy_params(src_torch, dst_nerve):
    dst_nerve.load_state_dict({k: v.detach().numpy().copy() for k, v in src_torch.state_dict().items()})


@pytest.mark.parametrize("make,shape", [
    (lambda lib, **kw: lib.BatchNorm1d(5, **kw), (8, 5)),
    (lambda lib, **kw: lib.BatchNorm1d(5, **kw), (4, 5, 7)),
    (lambda lib, **kw: lib.BatchNorm2d(3, **kw), (4, 3, 6, 5)),
    (lambda lib, **kw: lib.BatchNorm2d(3, **kw), (2, 3, 28, 28)),
])
@pytest.mark.parametrize("kw", [{}, dict(momentum=None), dict(affine=False), dict(track_running_stats=False),
                                dict(momentum=0.5, eps=1e-3), dict(bias=False)])
def test_batchnorm_modules_match_torch(make, shape, kw):
    rng = np.random.default_rng(8)
    t, n = make(torch.nn, **kw), make(nn, **kw)
    assert repr(n) == repr(t)
    assert list(n.state_dict()) == list(t.state_dict())
    with torch.no_grad():
        if t.weight is not None:
            t.weight.copy_(torch.from_numpy(rng.uniform(0.5, 1.5, shape[1]).astype(np.float32)))
        if t.bias is not None:
            t.bias.copy_(torch.from_numpy(rng.standard_normal(shape[1]).astype(np.float32)))
    copy_params(t, n)
    for step in range(3):  # training steps: outputs, gradients, running statistics
        x = (rng.standard_normal(shape) * 2 + step).astype(np.float32)
        g = rng.standard_normal(shape).astype(np.float32)
        tx, nx = torch.from_numpy(x).requires_grad_(True), nerve.from_numpy(x).requires_grad_(True)
        ty, ny = t(tx), n(nx)
        np.testing.assert_allclose(ny.detach().numpy(), ty.detach().numpy(), rtol=1e-5, atol=1e-5)
        ty.backward(torch.from_numpy(g))
        ny.backward(nerve.from_numpy(g))
        np.testing.assert_allclose(nx.grad.numpy(), tx.grad.numpy(), rtol=1e-5, atol=1e-5)
        for name, p in t.named_parameters():
            np.testing.assert_allclose(getattr(n, name).grad.numpy(), p.grad.numpy(), rtol=1e-5, atol=1e-4)
            p.grad = None
            getattr(n, name).grad = None
        for k, v in t.state_dict().items():
            np.testing.assert_allclose(n.state_dict()[k].numpy(), v.numpy(), rtol=1e-6, atol=1e-6, err_msg=k)
    t.eval(), n.eval()
    x = rng.standard_normal(shape).astype(np.float32)
    tx, nx = torch.from_numpy(x).requires_grad_(True), nerve.from_numpy(x).requires_grad_(True)
    ty, ny = t(tx), n(nx)
    np.testing.assert_allclose(ny.detach().numpy(), ty.detach().numpy(), rtol=1e-5, atol=1e-5)
    ty.sum().backward()
    ny.sum().backward()
    np.testing.assert_allclose(nx.grad.numpy(), tx.grad.numpy(), rtol=1e-5, atol=1e-5)
    # state_dict round trip: nerve -> torch -> nerve
    t2 = make(torch.nn, **kw)
    t2.load_state_dict({k: torch.from_numpy(np.array(v.numpy())) for k, v in n.state_dict().items()})
    n2 = make(nn, **kw)
    copy_params(t2, n2)
    for k, v in n.state_dict().items():
        np.testing.assert_array_equal(n2.state_dict()[k].numpy(), v.numpy())
        assert n2.state_dict()[k].dtype == v.dtype


def test_batchnorm_num_batches_tracked_and_reset():
    m = nn.BatchNorm1d(3)
    assert m.num_batches_tracked.dtype == nerve.int64 and m.num_batches_tracked.item() == 0
    for _ in range(3):
        m(nerve.randn(4, 3))
    assert m.num_batches_tracked.item() == 3
    m.eval()
    m(nerve.randn(4, 3))
    assert m.num_batches_tracked.item() == 3
    m.reset_running_stats()
    assert m.num_batches_tracked.item() == 0 and not m.running_mean.numpy().any()
    np.testing.assert_array_equal(m.running_var.numpy(), 1)


@pytest.mark.parametrize("kw,shape", [(dict(normalized_shape=10), (4, 10)), (dict(normalized_shape=(3, 5)), (2, 4, 3, 5)),
                                      (dict(normalized_shape=6, elementwise_affine=False), (3, 6)),
                                      (dict(normalized_shape=6, bias=False), (5, 6)),
                                      (dict(normalized_shape=8, eps=1e-3), (2, 3, 8))])
def test_layernorm_module_matches_torch(kw, shape):
    rng = np.random.default_rng(9)
    t, n = torch.nn.LayerNorm(**kw), nn.LayerNorm(**kw)
    assert repr(n) == repr(t) and list(n.state_dict()) == list(t.state_dict())
    with torch.no_grad():
        for p in t.parameters():
            p.copy_(torch.from_numpy(rng.standard_normal(tuple(p.shape)).astype(np.float32)))
    copy_params(t, n)
    x = rng.standard_normal(shape).astype(np.float32)
    tx, nx = torch.from_numpy(x).requires_grad_(True), nerve.from_numpy(x).requires_grad_(True)
    ty, ny = t(tx), n(nx)
    np.testing.assert_allclose(ny.detach().numpy(), ty.detach().numpy(), rtol=1e-5, atol=1e-5)
    g = rng.standard_normal(shape).astype(np.float32)
    ty.backward(torch.from_numpy(g))
    ny.backward(nerve.from_numpy(g))
    np.testing.assert_allclose(nx.grad.numpy(), tx.grad.numpy(), rtol=1e-5, atol=3e-5)
    for name, p in t.named_parameters():
        np.testing.assert_allclose(getattr(n, name).grad.numpy(), p.grad.numpy(), rtol=1e-5, atol=3e-5)


def test_groupnorm_module_matches_torch():
    t, n = torch.nn.GroupNorm(2, 6), nn.GroupNorm(2, 6)
    assert repr(n) == repr(t) and list(n.state_dict()) == list(t.state_dict())
    x = np.random.default_rng(10).standard_normal((3, 6, 4, 4)).astype(np.float32)
    np.testing.assert_allclose(n(nerve.from_numpy(x)).detach().numpy(), t(torch.from_numpy(x)).detach().numpy(),
                               rtol=1e-5, atol=1e-5)


def test_module_initialisation_matches_torch():
    for n, t in [(nn.BatchNorm2d(4), torch.nn.BatchNorm2d(4)), (nn.LayerNorm((2, 3)), torch.nn.LayerNorm((2, 3)))]:
        for k, v in t.state_dict().items():
            np.testing.assert_array_equal(n.state_dict()[k].numpy(), v.numpy())


# ---- errors ----------------------------------------------------------------------------------------

def test_norm_errors():
    x = nerve.randn(4, 3, 5)
    with pytest.raises(ValueError, match=r"\[batch_norm\] expected running_mean of shape \(3,\), got \(2,\)"):
        F.batch_norm(x, nerve.zeros(2), nerve.ones(2), training=True)
    with pytest.raises(ValueError, match=r"\[batch_norm\] expected weight of shape \(3,\)"):
        F.batch_norm(x, None, None, nerve.ones(4), training=True)
    with pytest.raises(RuntimeError, match=r"\[batch_norm\] running_mean and running_var must be defined"):
        F.batch_norm(x, None, None, training=False)
    with pytest.raises(ValueError, match=r"\[batch_norm\] Expected more than 1 value per channel when training"):
        F.batch_norm(nerve.randn(1, 3), None, None, training=True)
    with pytest.raises(ValueError, match=r"\[batch_norm\] expected input with at least 2 dimensions"):
        F.batch_norm(nerve.randn(3), None, None, training=True)
    with pytest.raises(ValueError, match=r"\[batch_norm\] input and running_mean must have the same dtype"):
        F.batch_norm(x, nerve.zeros(3, dtype=nerve.float64), nerve.ones(3, dtype=nerve.float64), training=True)
    with pytest.raises(ValueError, match=r"\[BatchNorm2d\] input has 2 channels .*expected 3"):
        nn.BatchNorm2d(3)(nerve.randn(2, 2, 4, 4))
    with pytest.raises(ValueError, match=r"\[BatchNorm2d\] expected 4D input \(got 3D input\)"):
        nn.BatchNorm2d(3)(nerve.randn(2, 3, 4))
    with pytest.raises(ValueError, match=r"\[BatchNorm1d\] expected 2D or 3D input \(got 4D input\)"):
        nn.BatchNorm1d(3)(nerve.randn(2, 3, 4, 4))
    with pytest.raises(RuntimeError, match=r"\[layer_norm\] Given normalized_shape=\[4\], expected input with shape"):
        F.layer_norm(x, (4,))
    with pytest.raises(RuntimeError, match=r"\[layer_norm\] Expected weight to be of same shape"):
        F.layer_norm(x, (5,), nerve.ones(4))
    with pytest.raises(ValueError, match=r"\[layer_norm\] expected input of dtype float32 or float64, got int64"):
        F.layer_norm(nerve.ones(2, 5, dtype=nerve.int64), (5,))
    with pytest.raises(ValueError, match=r"\[group_norm\] Expected number of channels in input to be divisible"):
        F.group_norm(x, 2)
    a = np.ones((4, 3), np.float32)
    with pytest.raises(ValueError, match=r"\[batch_norm\] expected save_mean of dtype float64"):
        _C.cpu.batch_norm_forward(np.empty_like(a), np.empty(3, np.float32), np.empty(3), None, None, a, None, None, True)
    with pytest.raises(ValueError, match=r"\[layer_norm\] expected mean with 4 values"):
        _C.cpu.layer_norm_forward(np.empty_like(a), np.empty(3), np.empty(4), a, None, None, 1)
    with pytest.raises(ValueError, match=r"\[layer_norm\] normalized_ndim must be in \[1, 2\]"):
        _C.cpu.layer_norm_forward(np.empty_like(a), np.empty(4), np.empty(4), a, None, None, 3)
