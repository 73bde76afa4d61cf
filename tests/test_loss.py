"""Losses vs torch: cross_entropy (class indices and probabilities; weight, ignore_index,
label_smoothing, every reduction; (C,), (N, C), (N, C, d1, ...)), nll_loss, mse_loss, l1_loss,
binary_cross_entropy, binary_cross_entropy_with_logits — values, input and target gradients,
float64 gradcheck, strided inputs, empty batches, extreme inputs (±1e4 and -inf logits, all -inf
ignored rows, every target ignored), every SIMD back end against the naive oracle, the nn modules,
and errors."""
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import nerve
import nerve.nn as nn
import nerve.nn.functional as F
from nerve import _C
from helpers import check_op


@pytest.fixture(params=["avx512", "avx2", "generic"])
def isa(request):
    _C.set_isa(request.param)
    yield _C.isa()
    _C.set_isa("avx512")


def targets(shape, C, seed=0, ignore=None, every=3):
    t = np.random.default_rng(seed).integers(0, C, shape).astype(np.int64)
    if ignore is not None and t.size:
        t.reshape(-1)[::every] = ignore
    return t


def weights(C, seed=1, dtype=np.float32):
    return (np.random.default_rng(seed).random(C) + 0.2).astype(dtype)


def pair(w):
    """The same array as a torch and a nerve tensor (no gradient)."""
    return (None, None) if w is None else (torch.from_numpy(w.copy()), nerve.from_numpy(w.copy()))


def probs(shape, dim, seed=2, dtype=np.float32):
    p = np.random.default_rng(seed).random(shape)
    return (p / p.sum(axis=dim, keepdims=True)).astype(dtype)


# ---- cross_entropy -------------------------------------------------------------------------------

CE_SHAPES = [(5, 7), (128, 10), (3, 33), (7,), (2, 5, 3), (2, 4, 3, 5), (0, 4)]
CE_OPTS = [dict(), dict(weight=True), dict(ignore_index=-100), dict(ignore_index=2), dict(label_smoothing=0.1),
           dict(weight=True, label_smoothing=0.3, ignore_index=-100), dict(label_smoothing=1.0)]


def _ce_case(shape, opts, seed=0):
    C = shape[1] if len(shape) > 1 else shape[0]
    tshape = shape[:1] + shape[2:] if len(shape) > 1 else ()
    ignore = opts.get("ignore_index")
    t = targets(tshape, C, seed, ignore)
    kw = {k: v for k, v in opts.items() if k != "weight"}
    tw, nw = pair(weights(C) if opts.get("weight") else None)
    return C, t, kw, tw, nw


@pytest.mark.parametrize("shape", CE_SHAPES)
@pytest.mark.parametrize("opts", CE_OPTS, ids=lambda o: ",".join(o) or "plain")
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy(shape, opts, reduction):
    C, t, kw, tw, nw = _ce_case(shape, opts)
    check_op([shape, t], lambda x, y: TF.cross_entropy(x, y, weight=tw, reduction=reduction, **kw),
             lambda x, y: F.cross_entropy(x, y, weight=nw, reduction=reduction, **kw), atol=1e-6, rtol=1e-5,
             low=-6, high=6)


@pytest.mark.parametrize("shape,dim", [((5, 7), 1), ((3, 33), 1), ((7,), 0), ((2, 5, 3), 1), ((2, 4, 3, 5), 1)])
@pytest.mark.parametrize("opts", [dict(), dict(weight=True), dict(label_smoothing=0.2),
                                  dict(weight=True, label_smoothing=0.5)], ids=lambda o: ",".join(o) or "plain")
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_probabilities(shape, dim, opts, reduction):
    C = shape[dim]
    kw = {k: v for k, v in opts.items() if k != "weight"}
    tw, nw = pair(weights(C) if opts.get("weight") else None)
    check_op([shape, probs(shape, dim)], lambda x, p: TF.cross_entropy(x, p, weight=tw, reduction=reduction, **kw),
             lambda x, p: F.cross_entropy(x, p, weight=nw, reduction=reduction, **kw), atol=1e-6, rtol=1e-5,
             low=-5, high=5)


@pytest.mark.parametrize("opts", [dict(), dict(weight=True, label_smoothing=0.2, ignore_index=-100)],
                         ids=["plain", "all"])
def test_cross_entropy_noncontig_float64_gradcheck(opts):
    C, t, kw, tw, nw = _ce_case((4, 9), opts)
    check_op([(4, 9), t], lambda x, y: TF.cross_entropy(x, y, weight=tw, **kw),
             lambda x, y: F.cross_entropy(x, y, weight=nw, **kw), atol=1e-6, rtol=1e-5, noncontig=True)
    tw64, nw64 = pair(None if tw is None else weights(9, dtype=np.float64))
    t3 = targets((3,), 5, ignore=opts.get("ignore_index"))
    check_op([(3, 5), t3], lambda x, y: TF.cross_entropy(x, y, weight=None if tw64 is None else tw64[:5], **kw),
             lambda x, y: F.cross_entropy(x, y, weight=None if nw64 is None else nerve.from_numpy(
                 nw64.numpy()[:5].copy()), **kw), dtype=np.float64, atol=1e-12, rtol=1e-10, gradcheck=True)
    t4 = targets((2, 2), 3, ignore=opts.get("ignore_index"))
    check_op([(2, 3, 2), t4], lambda x, y: TF.cross_entropy(x, y, **kw), lambda x, y: F.cross_entropy(x, y, **kw),
             dtype=np.float64, atol=1e-12, rtol=1e-10, gradcheck=True)
    check_op([(3, 4), probs((3, 4), 1, dtype=np.float64)], lambda x, p: TF.cross_entropy(x, p, label_smoothing=0.1),
             lambda x, p: F.cross_entropy(x, p, label_smoothing=0.1), dtype=np.float64, atol=1e-12, rtol=1e-10,
             gradcheck=True)


@pytest.mark.parametrize("opts", [dict(), dict(label_smoothing=0.1), dict(weight=True)],
                         ids=["plain", "smoothing", "weight"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_extreme_inputs(isa, opts, reduction):
    """±1e4 logits, a -inf logit, an all -inf row whose target is ignored, every target ignored:
    the same values — finite, inf or NaN — and gradients as torch."""
    inf = np.inf
    cases = [
        (np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, 1e4], [1e4, 1e4, -1e4]], np.float32), np.array([1, 2, 0])),
        (np.array([[-inf, -inf, -inf], [1.0, 2.0, 3.0]], np.float32), np.array([-100, 1])),
        (np.array([[-inf, 0.0, 1.0], [1.0, 2.0, 3.0]], np.float32), np.array([1, 1])),
        (np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], np.float32), np.array([-100, -100])),
        (np.tile(np.array([[3.0, -1e4, 1e4, 0.5]], np.float32), (2, 5)), np.array([19, 0])),  # 20 classes
    ]
    for x, t in cases:
        C = x.shape[1]
        kw = {k: v for k, v in opts.items() if k != "weight"}
        tw, nw = pair(weights(C) if opts.get("weight") else None)
        tx = torch.from_numpy(x.copy()).requires_grad_(True)
        nx = nerve.from_numpy(x.copy()).requires_grad_(True)
        tl = TF.cross_entropy(tx, torch.from_numpy(t), weight=tw, reduction=reduction, **kw)
        nl = F.cross_entropy(nx, nerve.from_numpy(t), weight=nw, reduction=reduction, **kw)
        g = np.ones(tl.shape, np.float32)
        tl.backward(torch.from_numpy(g))
        nl.backward(nerve.from_numpy(g))
        nerve.testing.assert_close(nl, tl.detach(), atol=1e-6, rtol=1e-5, msg=f"loss of {x.tolist()}")
        nerve.testing.assert_close(nx.grad, tx.grad, atol=1e-6, rtol=1e-5, msg=f"gradient of {x.tolist()}")


def test_cross_entropy_all_ignored_is_nan_with_zero_gradient():
    x = nerve.randn(3, 4, requires_grad=True)
    loss = F.cross_entropy(x, nerve.tensor([-100, -100, -100]))
    assert np.isnan(loss.item())
    loss.backward()
    assert not x.grad.numpy().any()
    assert F.cross_entropy(x, nerve.tensor([-100, -100, -100]), reduction="sum").item() == 0.0
    empty = F.cross_entropy(nerve.randn(0, 4), nerve.zeros(0, dtype=nerve.int64))
    assert np.isnan(empty.item())


@pytest.mark.parametrize("threads", [1, 2])
def test_cross_entropy_matches_naive(isa, threads):
    old = nerve.get_num_threads()
    nerve.set_num_threads(threads)
    try:
        rng = np.random.default_rng(7)
        cpu = _C.cpu
        for N, C, inner in [(1, 1, 1), (5, 15, 1), (4, 16, 1), (7, 17, 1), (3, 33, 1), (2000, 10, 1), (9, 100, 1),
                            (3, 7, 3), (2, 5, 70), (300, 21, 2)]:
            shape = (N, C, inner) if inner > 1 else (N, C)
            x = (rng.standard_normal(shape) * 4).astype(np.float32)
            ts = (N, inner) if inner > 1 else (N,)
            t = targets(ts, C, 1, -100, 4)
            w = weights(C)
            for eps in (0.0, 0.25):
                for tgt in (t, probs(shape, 1)):
                    g = rng.standard_normal(ts).astype(np.float32)
                    outs = []
                    for naive in (False, True):
                        loss, stats, dx = np.empty(ts, np.float32), np.empty(ts + (2,), np.float32), np.empty_like(x)
                        dt = np.empty_like(x) if tgt.dtype != np.int64 else None
                        sums = cpu.cross_entropy_forward(loss, stats, x, tgt, w, -100, eps, "t", naive)
                        cpu.cross_entropy_backward(dx, x, stats, tgt, w, g, 1.0, -100, eps, "t", dt, naive)
                        outs.append((loss, stats, dx, dt, sums))
                    (l1, s1, d1, t1, u1), (l0, s0, d0, t0, u0) = outs
                    np.testing.assert_allclose(l1, l0, rtol=1e-5, atol=1e-5)
                    np.testing.assert_allclose(s1, s0, rtol=1e-5, atol=1e-5)
                    np.testing.assert_allclose(d1, d0, rtol=1e-4, atol=1e-6)
                    np.testing.assert_allclose(u1, u0, rtol=1e-5)
                    if t1 is not None:
                        np.testing.assert_allclose(t1, t0, rtol=1e-4, atol=1e-6)
    finally:
        nerve.set_num_threads(old)


def test_cross_entropy_large_batch_deterministic_across_threads():
    x = nerve.randn(4096, 1000)
    t = nerve.randint(0, 1000, (4096,))
    got = []
    for threads in (1, 2):
        old = nerve.get_num_threads()
        nerve.set_num_threads(threads)
        try:
            got.append(F.cross_entropy(x, t).item())
        finally:
            nerve.set_num_threads(old)
    assert got[0] == got[1]
    want = TF.cross_entropy(torch.from_numpy(x.numpy().astype(np.float64)), torch.from_numpy(t.numpy())).item()
    assert abs(got[0] - want) <= 1e-6 * abs(want)


# ---- nll_loss ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(5, 7), (7,), (2, 5, 3), (2, 4, 3, 5), (0, 3)])
@pytest.mark.parametrize("opts", [dict(), dict(weight=True), dict(ignore_index=1, weight=True)],
                         ids=lambda o: ",".join(o) or "plain")
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_nll_loss(shape, opts, reduction):
    C, t, kw, tw, nw = _ce_case(shape, opts)
    check_op([shape, t], lambda x, y: TF.nll_loss(x, y, weight=tw, reduction=reduction, **kw),
             lambda x, y: F.nll_loss(x, y, weight=nw, reduction=reduction, **kw), atol=1e-6, rtol=1e-5)


def test_nll_loss_gradcheck_and_log_softmax_chain():
    check_op([(3, 5), targets((3,), 5)], lambda x, y: TF.nll_loss(x, y), lambda x, y: F.nll_loss(x, y),
             dtype=np.float64, atol=1e-12, rtol=1e-10, gradcheck=True)
    check_op([(6, 9), targets((6,), 9, ignore=-100)], lambda x, y: TF.nll_loss(TF.log_softmax(x, 1), y),
             lambda x, y: F.nll_loss(F.log_softmax(x, 1), y), atol=1e-6, rtol=1e-5, noncontig=True)


# ---- pointwise ------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["mse_loss", "l1_loss"])
@pytest.mark.parametrize("shape", [(3, 4), (17,), (2, 3, 5, 7), (), (0, 3), (1000,)])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_l1(name, shape, reduction):
    check_op([shape, shape], lambda x, t: getattr(TF, name)(x, t, reduction=reduction),
             lambda x, t: getattr(F, name)(x, t, reduction=reduction), atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("name", ["mse_loss", "l1_loss"])
def test_mse_l1_broadcast_weight_noncontig_gradcheck(name):
    tf, nf = getattr(TF, name), getattr(F, name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_op([(3, 4), (3, 1)], lambda x, t: tf(x, t), lambda x, t: nf(x, t), atol=1e-6, rtol=1e-5)
        check_op([(4,), (3, 4)], lambda x, t: tf(x, t, reduction="sum"), lambda x, t: nf(x, t, reduction="sum"),
                 atol=1e-6, rtol=1e-5)
    for red in ("mean", "sum", "none"):
        check_op([(3, 4), (3, 4), (3, 4)], lambda x, t, w: tf(x, t, reduction=red, weight=w),
                 lambda x, t, w: nf(x, t, reduction=red, weight=w), atol=1e-6, rtol=1e-5, low=0.1, high=2)
    check_op([(5, 9), (5, 9)], lambda x, t: tf(x, t), lambda x, t: nf(x, t), atol=1e-6, rtol=1e-5, noncontig=True)
    check_op([(3, 4), (3, 4)], lambda x, t: tf(x, t), lambda x, t: nf(x, t), dtype=np.float64, atol=1e-12,
             rtol=1e-10, gradcheck=True)


@pytest.mark.parametrize("shape", [(3, 4), (17,), (2, 3, 5), (), (0, 2), (1000,)])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_binary_cross_entropy(shape, weighted, reduction):
    tw, nw = pair(np.asarray(weights(shape[-1] if shape else ()), np.float32) if weighted else None)
    check_op([shape, shape], lambda x, t: TF.binary_cross_entropy(x, t, weight=tw, reduction=reduction),
             lambda x, t: F.binary_cross_entropy(x, t, weight=nw, reduction=reduction), atol=1e-6, rtol=1e-5,
             low=0.02, high=0.98)


def test_binary_cross_entropy_edges_gradcheck():
    # probabilities of exactly 0 and 1: logs clamped at -100, as torch
    x = np.array([0.0, 1.0, 0.0, 1.0, 0.5, 1e-30, 1 - 1e-7], np.float32)
    t = np.array([0.0, 1.0, 1.0, 0.0, 0.5, 1.0, 0.0], np.float32)
    for red in ("none", "sum", "mean"):
        got = F.binary_cross_entropy(nerve.from_numpy(x), nerve.from_numpy(t), reduction=red)
        want = TF.binary_cross_entropy(torch.from_numpy(x), torch.from_numpy(t), reduction=red)
        nerve.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    check_op([(3, 4), (3, 4)], lambda x, t: TF.binary_cross_entropy(x, t), lambda x, t: F.binary_cross_entropy(x, t),
             dtype=np.float64, atol=1e-12, rtol=1e-10, low=0.1, high=0.9, gradcheck=True)


@pytest.mark.parametrize("shape", [(3, 4), (17,), (2, 3, 5), (), (1000,)])
@pytest.mark.parametrize("opts", [dict(), dict(weight=True), dict(pos_weight=True),
                                  dict(weight=True, pos_weight=True)], ids=lambda o: ",".join(o) or "plain")
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_binary_cross_entropy_with_logits(shape, opts, reduction):
    last = shape[-1] if shape else ()
    tw, nw = pair(np.asarray(weights(last, 3), np.float32) if opts.get("weight") else None)
    tp, npw = pair(np.asarray(weights(last, 4) * 3, np.float32) if opts.get("pos_weight") else None)
    check_op([shape, shape], lambda x, t: TF.binary_cross_entropy_with_logits(x, t, weight=tw, pos_weight=tp,
                                                                            reduction=reduction),
             lambda x, t: F.binary_cross_entropy_with_logits(x, t, weight=nw, pos_weight=npw, reduction=reduction),
             atol=1e-6, rtol=1e-5, low=-6, high=6)


def test_bce_with_logits_stable_for_huge_logits():
    x = np.array([1e4, -1e4, 100.0, -100.0, 89.0, -89.0, 0.0, 30.0], np.float32)
    t = np.array([0.0, 1.0, 0.0, 1.0, 1.0, 0.0, 0.5, 0.3], np.float32)
    pw = np.full(8, 2.5, np.float32)
    for kw in (dict(), dict(pos_weight=True)):
        tkw = {"pos_weight": torch.from_numpy(pw)} if kw else {}
        nkw = {"pos_weight": nerve.from_numpy(pw)} if kw else {}
        tx, nx = torch.from_numpy(x.copy()).requires_grad_(True), nerve.from_numpy(x.copy()).requires_grad_(True)
        tl = TF.binary_cross_entropy_with_logits(tx, torch.from_numpy(t), reduction="none", **tkw)
        nl = F.binary_cross_entropy_with_logits(nx, nerve.from_numpy(t), reduction="none", **nkw)
        assert np.isfinite(nl.detach().numpy()).all()
        nerve.testing.assert_close(nl, tl.detach(), atol=1e-6, rtol=1e-5)
        tl.sum().backward()
        nl.sum().backward()
        nerve.testing.assert_close(nx.grad, tx.grad, atol=1e-6, rtol=1e-5)
    check_op([(3, 4), (3, 4)], lambda x, t: TF.binary_cross_entropy_with_logits(x, t),
             lambda x, t: F.binary_cross_entropy_with_logits(x, t), dtype=np.float64, atol=1e-12, rtol=1e-10,
             gradcheck=True)


@pytest.mark.parametrize("threads", [1, 2])
def test_pointwise_match_naive(isa, threads):
    old = nerve.get_num_threads()
    nerve.set_num_threads(threads)
    try:
        rng = np.random.default_rng(9)
        cpu = _C.cpu
        for n in [1, 7, 15, 16, 17, 33, 1000, 70001, 200003]:
            x = rng.random(n).astype(np.float32) * 0.98 + 0.01
            z = (rng.standard_normal(n) * 5).astype(np.float32)
            t, w, pw = (rng.random(n).astype(np.float32) for _ in range(3))
            g = rng.standard_normal(n).astype(np.float32)
            for kind, inp, extra in [("mse", z, (None, None)), ("l1", z, (None, None)), ("bce", x, (w, None)),
                                     ("bce_logits", z, (None, None)), ("bce_logits", z, (w, pw))]:
                res = []
                for naive in (False, True):
                    loss, dx, dt = np.empty(n, np.float32), np.empty(n, np.float32), np.empty(n, np.float32)
                    s = cpu.pointwise_loss_forward(loss, inp, t, *extra, kind, "t", naive)
                    cpu.pointwise_loss_backward(dx, dt, inp, t, *extra, g, 1.0, kind, "t", naive)
                    res.append((loss, s, dx, dt))
                (l1, s1, a1, b1), (l0, s0, a0, b0) = res
                # float32 rounds (1 - t) before multiplying by x (as torch's kernel does): an error of
                # about ulp(1) * |x| that the double-precision oracle does not make
                np.testing.assert_array_less(np.abs(l1 - l0), 1e-6 + 1e-5 * np.abs(l0) + 2e-7 * np.abs(inp),
                                             err_msg=kind)
                np.testing.assert_allclose(s1, s0, rtol=1e-5, err_msg=kind)
                np.testing.assert_allclose(a1, a0, rtol=1e-5, atol=1e-6, err_msg=kind)
                np.testing.assert_allclose(b1, b0, rtol=1e-5, atol=1e-5, err_msg=kind)
    finally:
        nerve.set_num_threads(old)


# ---- modules ----------------------------------------------------------------------------------------

def _module_cases():
    w5 = weights(5)
    pw = weights(5, 4) * 2
    t5 = targets((6,), 5, ignore=-100)
    return [
        (nn.MSELoss(), torch.nn.MSELoss(), (6, 5), "same"),
        (nn.MSELoss(reduction="sum"), torch.nn.MSELoss(reduction="sum"), (6, 5), "same"),
        (nn.L1Loss(reduction="none"), torch.nn.L1Loss(reduction="none"), (6, 5), "same"),
        (nn.CrossEntropyLoss(), torch.nn.CrossEntropyLoss(), (6, 5), t5),
        (nn.CrossEntropyLoss(weight=nerve.from_numpy(w5), label_smoothing=0.2, reduction="sum"),
         torch.nn.CrossEntropyLoss(weight=torch.from_numpy(w5), label_smoothing=0.2, reduction="sum"), (6, 5), t5),
        (nn.CrossEntropyLoss(ignore_index=3), torch.nn.CrossEntropyLoss(ignore_index=3), (6, 5), t5 % 5),
        (nn.CrossEntropyLoss(), torch.nn.CrossEntropyLoss(), (6, 5), probs((6, 5), 1)),
        (nn.NLLLoss(weight=nerve.from_numpy(w5)), torch.nn.NLLLoss(weight=torch.from_numpy(w5)), (6, 5), t5),
        (nn.BCELoss(weight=nerve.from_numpy(w5)), torch.nn.BCELoss(weight=torch.from_numpy(w5)), (6, 5), "prob"),
        (nn.BCEWithLogitsLoss(pos_weight=nerve.from_numpy(pw)), torch.nn.BCEWithLogitsLoss(
            pos_weight=torch.from_numpy(pw)), (6, 5), "prob"),
        (nn.BCEWithLogitsLoss(weight=nerve.from_numpy(w5), reduction="none"), torch.nn.BCEWithLogitsLoss(
            weight=torch.from_numpy(w5), reduction="none"), (6, 5), "prob"),
    ]


@pytest.mark.parametrize("case", _module_cases(), ids=lambda c: repr(c[1]))
def test_module_parity(case):
    ours, theirs, shape, tgt = case
    assert repr(ours) == repr(theirs)
    if isinstance(tgt, np.ndarray):
        spec = tgt
    else:
        spec = np.random.default_rng(5).random(shape).astype(np.float32) if tgt == "prob" else shape
    low, high = (0.05, 0.95) if isinstance(ours, nn.BCELoss) else (-3, 3)
    check_op([shape, spec], theirs, ours, atol=1e-6, rtol=1e-5, low=low, high=high)
    assert list(ours.state_dict()) == list(theirs.state_dict())


# ---- errors -------------------------------------------------------------------------------------------

def test_errors():
    x = nerve.randn(4, 5)
    t = nerve.tensor([0, 1, 2, 3])
    with pytest.raises(ValueError, match=r"\[cross_entropy\] target has dtype int32, expected int64 \(class "
                                         r"indices\) or float32"):
        F.cross_entropy(x, t.int())
    with pytest.raises(ValueError, match=r"\[nll_loss\] target has dtype float32, expected int64"):
        F.nll_loss(x, nerve.randn(4, 5))
    with pytest.raises(ValueError, match=r"\[cross_entropy\] target 5 is out of bounds: class indices must lie in "
                                         r"\[0, 5\)"):
        F.cross_entropy(x, nerve.tensor([0, 1, 5, 3]))
    with pytest.raises(ValueError, match=r"\[cross_entropy\] target -1 is out of bounds"):
        F.cross_entropy(x.requires_grad_(), nerve.tensor([0, -1, 2, 3]))
    with pytest.raises(ValueError, match=r"\[nll_loss\] target 7 is out of bounds"):
        F.nll_loss(x, nerve.tensor([0, 7, 2, 3]), reduction="none")
    with pytest.raises(ValueError, match=r"\[cross_entropy\] expected target of shape \(4,\) \(class indices\) for "
                                         r"input of shape \(4, 5\), got \(3,\)"):
        F.cross_entropy(x, nerve.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match=r"\[cross_entropy\] expected target of shape \(4, 5\) \(class "
                                         r"probabilities"):
        F.cross_entropy(x, nerve.rand(4, 4))
    with pytest.raises(ValueError, match=r"\[cross_entropy\] weight has shape \(4,\), expected \(5,\) \(one weight "
                                         r"per class\)"):
        F.cross_entropy(x, t, weight=nerve.ones(4))
    with pytest.raises(ValueError, match=r"\[cross_entropy\] label_smoothing must be between 0.0 and 1.0"):
        F.cross_entropy(x, t, label_smoothing=1.5)
    with pytest.raises(ValueError, match=r"\[cross_entropy\] 'avg' is not a valid value for reduction"):
        F.cross_entropy(x, t, reduction="avg")
    with pytest.raises(ValueError, match=r"\[cross_entropy\] input must be \(C,\), \(N, C\) or"):
        F.cross_entropy(nerve.tensor(1.0), nerve.tensor(0))
    with pytest.raises(ValueError, match=r"\[binary_cross_entropy\] all elements of input should be between 0 and 1"):
        F.binary_cross_entropy(nerve.tensor([0.5, 1.5]), nerve.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"\[binary_cross_entropy\] all elements of target should be between 0 and 1"):
        F.binary_cross_entropy(nerve.tensor([0.5, 0.5]), nerve.tensor([0.0, 2.0]))
    with pytest.raises(ValueError, match=r"\[binary_cross_entropy\] using a target size \(3,\) that is different"):
        F.binary_cross_entropy(nerve.rand(2), nerve.rand(3))
    with pytest.raises(ValueError, match=r"\[binary_cross_entropy_with_logits\] target size \(3,\) must be the same"):
        F.binary_cross_entropy_with_logits(nerve.rand(2), nerve.rand(3))
    with pytest.raises(ValueError, match=r"\[binary_cross_entropy_with_logits\] pos_weight of shape \(3,\) does not "
                                         r"broadcast"):
        F.binary_cross_entropy_with_logits(nerve.rand(2, 4), nerve.rand(2, 4), pos_weight=nerve.ones(3))
    with pytest.raises(TypeError, match=r"\[mse_loss\] target has dtype float64, expected float32"):
        F.mse_loss(nerve.rand(3), nerve.rand(3, dtype=nerve.float64))
    with pytest.raises(ValueError, match=r"\[mse_loss\] weights and input must have the same size"):
        F.mse_loss(nerve.rand(3), nerve.rand(3), weight=nerve.rand(2))
    with pytest.raises(TypeError, match=r"\[cross_entropy\] expected target to be a Tensor"):
        F.cross_entropy(x, [0, 1, 2, 3])


def test_kernel_argument_errors():
    cpu = _C.cpu
    x = np.zeros((4, 5), np.float32)
    t = np.zeros(4, np.int64)
    with pytest.raises(ValueError, match=r"\[ce\] stats has 4 values \(shape \(4,\)\), expected 8"):
        cpu.cross_entropy_forward(None, np.empty(4, np.float32), x, t, None, -100, 0.0, "ce")
    with pytest.raises(ValueError, match=r"\[ce\] grad_out has 3 values, expected 1 or 4"):
        cpu.cross_entropy_backward(np.empty_like(x), x, np.zeros(8, np.float32), t, None, np.ones(3, np.float32), 1.0,
                                   -100, 0.0, "ce")
    with pytest.raises(ValueError, match=r"\[ce\] target 9 is out of bounds"):
        cpu.cross_entropy_backward(np.empty_like(x), x, np.zeros(8, np.float32), np.full(4, 9), None,
                                   np.ones(1, np.float32), 1.0, -100, 0.0, "ce")
    with pytest.raises(ValueError, match=r"\[l\] unknown pointwise loss 'huber'"):
        cpu.pointwise_loss_forward(None, x, x, None, None, "huber", "l")
    with pytest.raises(ValueError, match=r"\[l\] weight has shape \(5,\), expected the input's shape \(4, 5\)"):
        cpu.pointwise_loss_forward(None, x, x, np.ones(5, np.float32), None, "mse", "l")
