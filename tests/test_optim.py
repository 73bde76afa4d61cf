"""nerve.optim (SGD, Adam, AdamW, RMSprop, Adagrad) and their fused update kernels.

Kernels: every SIMD back end against the naive oracle (float32 and float64, odd sizes, multi-
tensor calls), independence from thread count and from how tensors are grouped into calls.
Optimizers: the parameter trajectory of 20 steps equals torch 2.13's (foreach=False) for every
option, on fixed gradient sequences and on a small model trained in both libraries (float32:
within 1e-5 of the parameters' scale; float64: 1e-12); state_dict round trips (through
nerve.save/load, and to and from torch optimizers) continue exactly; bad input raises errors
that name the optimizer.
"""
import math
import os

import numpy as np
import pytest
import torch

import nerve
import nerve.nn
from nerve import _C
from optim_cases import KERNEL_CASES, call, case_id, make_state, written

ISAS = ["avx512", "avx2", "generic"]
SIZES = [1, 7, 16, 33, 1000, 0, 70001]  # a zero-size tensor, odd tails, and one big enough to thread


@pytest.fixture(params=ISAS)
def isa(request):
    _C.set_isa(request.param)
    yield _C.cpu.optim_backend()
    _C.set_isa("avx512")  # lifts the cap back to the best the CPU has


@pytest.fixture
def threads():
    before = nerve.get_num_threads()
    yield
    nerve.set_num_threads(before)


# ---- kernels --------------------------------------------------------------------------------------

def test_backend_follows_isa(isa):
    assert isa == _C.isa()


@pytest.mark.parametrize("case", KERNEL_CASES, ids=case_id)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernel_matches_naive(case, dtype, isa):
    name, hyper = case
    fast, naive = make_state(name, hyper, SIZES, dtype), make_state(name, hyper, SIZES, dtype)
    # Centered RMSprop divides by sqrt(square_avg - grad_avg^2), which loses cond = square_avg /
    # (square_avg - grad_avg^2) in relative precision (FMA or not decides the rounding): one step,
    # from a known state, with that condition number in the parameters' tolerance.
    centered = bool(hyper.get("centered"))
    for _ in range(1 if centered else 3):
        a = call(_C.cpu, name, fast, hyper)
        b = call(_C.cpu, name, naive, hyper, naive=True)
    rtol = 2e-6 if dtype == np.float32 else 1e-14
    for key, arrays in written(name, a).items():
        for k, (x, y) in enumerate(zip(arrays, written(name, b)[key])):
            scale = max(1.0, float(np.abs(y).max(initial=0)))
            atol = rtol * scale
            if centered and key == "params":
                sq, ga = b["square_avgs"][k].astype(np.float64), b["grad_avgs"][k].astype(np.float64)
                atol = atol * (1 + sq / (sq - ga * ga))
            bad = np.abs(x.astype(np.float64) - y) > atol + rtol * np.abs(y)
            assert not bad.any(), f"{key}[{k}] of {case_id(case)}: {x[bad][:5]} vs naive {y[bad][:5]}"


@pytest.mark.parametrize("case", KERNEL_CASES, ids=case_id)
def test_kernel_independent_of_threads_and_grouping(case, threads):
    name, hyper = case
    sizes = [70001, 3, 40000, 0, 129]
    results = []
    for nt, per_tensor in ((1, False), (2, False), (2, True)):
        nerve.set_num_threads(nt)
        st = make_state(name, hyper, sizes, np.float32)
        if per_tensor:  # one call per tensor: the chunking differs, elementwise results must not
            for k in range(len(sizes)):
                one = {key: (v[k:k + 1] if isinstance(v, list) and v else v) for key, v in st.items()}
                call(_C.cpu, name, one, hyper)
        else:
            call(_C.cpu, name, st, hyper)
        results.append(st)
    for st in results[1:]:
        for key in written(name, st):
            for x, y in zip(st[key], results[0][key]):
                np.testing.assert_array_equal(x, y, err_msg=key)


def test_kernel_single_step_matches_torch_formulas():
    """One Adam step of the kernel against torch's own ops (the single-tensor code path)."""
    rng = np.random.default_rng(5)
    p, g = rng.standard_normal(257).astype(np.float32), rng.standard_normal(257).astype(np.float32)
    m, v = np.zeros_like(p), np.zeros_like(p)
    tp = torch.nn.Parameter(torch.tensor(p))
    opt = torch.optim.Adam([tp], lr=0.01, amsgrad=False, foreach=False)
    tp.grad = torch.tensor(g)
    opt.step()
    _C.cpu.adam_update([p], [m], [v], [], [g], 1.0, lr=0.01)
    np.testing.assert_allclose(p, tp.detach().numpy(), rtol=0, atol=1e-7)
    np.testing.assert_allclose(m, opt.state[tp]["exp_avg"].numpy(), rtol=1e-7, atol=0)
    np.testing.assert_allclose(v, opt.state[tp]["exp_avg_sq"].numpy(), rtol=1e-7, atol=0)


def kernel_args(n=5, dtype=np.float32):
    rng = np.random.default_rng(0)
    return [rng.standard_normal(n).astype(dtype) for _ in range(4)]


def test_kernel_errors():
    p, m, v, g = kernel_args()
    adam = _C.cpu.adam_update
    with pytest.raises(ValueError, match=r"\[adam\] exp_avgs\[0\] has shape \(4,\), expected \(5,\)"):
        adam([p], [m[:4]], [v], [], [g], 1.0, lr=0.1)
    with pytest.raises(ValueError, match=r"\[adam\] grads\[0\] has dtype float64, expected float32"):
        adam([p], [m], [v], [], [g.astype(np.float64)], 1.0, lr=0.1)
    with pytest.raises(ValueError, match=r"\[adam\] expected 2 exp_avgs \(one per parameter\), got 1"):
        adam([p, p.copy()], [m], [v, v.copy()], [], [g, g], 1.0, lr=0.1)
    with pytest.raises(ValueError, match=r"\[adam\] expected 1 max_exp_avg_sqs"):
        adam([p], [m], [v], [], [g], 1.0, lr=0.1, amsgrad=True)
    with pytest.raises(ValueError, match=r"\[adam\] steps\[0\] is 0"):
        adam([p], [m], [v], [], [g], 0.0, lr=0.1)
    with pytest.raises(ValueError, match=r"\[adam\] exp_avgs\[0\] and params\[0\] share memory|"
                                         r"\[adam\] params\[0\] and exp_avgs\[0\] share memory"):
        adam([p], [p], [v], [], [g], 1.0, lr=0.1)
    with pytest.raises(ValueError, match=r"share memory"):
        adam([p], [m], [v], [], [p], 1.0, lr=0.1)  # the gradient is the parameter
    with pytest.raises(ValueError, match=r"params\[1\] and params\[0\] share memory"):  # overlapping parameters
        adam([p[:3], p[2:5]], [m[:3], v[:3]], [np.abs(g[:3]), np.abs(g[2:5])], [], [g[:3], g[2:5]], 1.0, lr=0.1)
    with pytest.raises(ValueError, match=r"\[adam\] exp_avgs\[0\] must be contiguous"):
        adam([p[:3]], [m[::2]], [v[:3]], [], [g[:3]], 1.0, lr=0.1)
    with pytest.raises(ValueError, match=r"\[sgd\] expected params\[0\] of dtype float32 or float64, got int64"):
        _C.cpu.sgd_update([np.zeros(3, np.int64)], [], [np.zeros(3, np.int64)], lr=0.1)
    with pytest.raises(ValueError, match=r"\[rmsprop\] expected 1 grad_avgs"):
        _C.cpu.rmsprop_update([p], [np.abs(v)], [], [], [g], lr=0.1, centered=True)
    with pytest.raises(ValueError, match=r"\[adagrad\] state_sums\[0\] is read-only"):
        ro = np.abs(v)
        ro.flags.writeable = False
        _C.cpu.adagrad_update([p], [ro], [g], 1.0, lr=0.1)
    # the grads may be read-only and shared among parameters; nothing raises
    g.flags.writeable = False
    _C.cpu.sgd_update([p, m], [], [g, g], lr=0.1)
    _C.cpu.sgd_update([], [], [], lr=0.1)  # no parameters: nothing to do


# ---- optimizers against torch ---------------------------------------------------------------------

SHAPES = [(13, 7), (7,), (5, 13), (5,), ()]  # () : a 0-d parameter

OPTIM_CASES = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.3)),
    ("SGD", dict(lr=0.05, momentum=0.8, nesterov=True)),
    ("SGD", dict(lr=0.1, weight_decay=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9, weight_decay=0.05, nesterov=True, maximize=True)),
    ("Adam", dict(lr=1e-2)),
    ("Adam", dict(lr=1e-2, amsgrad=True)),
    ("Adam", dict(lr=1e-2, weight_decay=0.1)),
    ("Adam", dict(lr=1e-2, maximize=True)),
    ("Adam", dict(lr=1e-2, betas=(0.3, 0.6), eps=1e-4, amsgrad=True, weight_decay=0.05, maximize=True)),
    ("Adam", dict(lr=1e-2, weight_decay=0.1, decoupled_weight_decay=True)),
    ("AdamW", dict(lr=1e-2)),
    ("AdamW", dict(lr=1e-2, amsgrad=True, weight_decay=0.2, maximize=True)),
    ("RMSprop", dict(lr=1e-2)),
    ("RMSprop", dict(lr=1e-2, centered=True)),
    ("RMSprop", dict(lr=1e-2, momentum=0.9)),
    ("RMSprop", dict(lr=1e-2, centered=True, momentum=0.9, weight_decay=0.1)),
    ("RMSprop", dict(lr=1e-2, alpha=0.4, centered=True, maximize=True)),
    ("Adagrad", dict(lr=0.1)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.05)),
    ("Adagrad", dict(lr=0.1, weight_decay=0.1, initial_accumulator_value=0.5, eps=1e-6, maximize=True)),
]


def optim_id(case):
    return case[0] + "-" + "-".join(f"{k}={v}" for k, v in case[1].items())


def twins(dtype=np.float32, seed=0, shapes=SHAPES):
    """The same parameters in nerve and torch."""
    rng = np.random.default_rng(seed)
    init = [np.asarray(rng.standard_normal(s), dtype) for s in shapes]
    return ([nerve.nn.Parameter(nerve.tensor(a.copy())) for a in init],
            [torch.nn.Parameter(torch.tensor(a.copy())) for a in init])


def grad_sequence(steps, dtype, seed=1, shapes=SHAPES, holes=True):
    """Per step, one gradient per parameter; with holes, parameter 1 has none on odd steps (it is
    skipped, so its step count falls behind the others')."""
    rng = np.random.default_rng(seed)
    seq = [[np.asarray(rng.standard_normal(s), dtype) for s in shapes] for _ in range(steps)]
    if holes:
        for t in range(1, steps, 2):
            seq[t][1] = None
    return seq


def run_steps(nparams, tparams, nopt, topt, grads):
    for gs in grads:
        for p, q, g in zip(nparams, tparams, gs):
            p.grad = None if g is None else nerve.tensor(g.copy())
            q.grad = None if g is None else torch.tensor(g.copy())
        nopt.step()
        topt.step()


def assert_same_params(nparams, tparams, dtype):
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for i, (p, q) in enumerate(zip(nparams, tparams)):
        ref = q.detach().numpy()
        scale = max(1.0, float(np.abs(ref).max()))
        err = float(np.abs(p.detach().numpy() - ref).max())
        assert err <= tol * scale, f"parameter {i}: |nerve - torch| = {err:.3g} > {tol} * {scale:.3g}"


def make_optimizers(case, nparams, tparams, foreach=None):
    name, kw = case
    return (getattr(nerve.optim, name)(nparams, foreach=foreach, **kw),
            getattr(torch.optim, name)(tparams, foreach=False, **kw))


@pytest.mark.parametrize("case", OPTIM_CASES, ids=optim_id)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_trajectory_matches_torch(case, dtype):
    nparams, tparams = twins(dtype)
    nopt, topt = make_optimizers(case, nparams, tparams)
    for t in range(4):  # compare along the way, not only at the end
        run_steps(nparams, tparams, nopt, topt, grad_sequence(5, dtype, seed=10 + t))
        assert_same_params(nparams, tparams, dtype)
    for p, q in zip(nparams, tparams):
        for k, v in topt.state[q].items():
            np.testing.assert_allclose(np.asarray(nopt.state[p][k]), v.numpy(), rtol=1e-4, atol=1e-6, err_msg=k)


@pytest.mark.parametrize("case", [OPTIM_CASES[i] for i in (3, 10, 17, 21)], ids=optim_id)
def test_trajectory_per_tensor_calls(case):
    """foreach=False (one kernel call per parameter) follows the same trajectory."""
    nparams, tparams = twins()
    nopt, topt = make_optimizers(case, nparams, tparams, foreach=False)
    run_steps(nparams, tparams, nopt, topt, grad_sequence(20, np.float32))
    assert_same_params(nparams, tparams, np.float32)


def test_param_groups_and_noncontiguous_params():
    rng = np.random.default_rng(2)
    base = rng.standard_normal((6, 9)).astype(np.float32)
    n_t = nerve.nn.Parameter(nerve.tensor(base.copy()).T)  # a transposed (non-contiguous) parameter
    assert not n_t.is_contiguous()
    t_t = torch.nn.Parameter(torch.tensor(base.copy()).T)
    n_b, t_b = twins(shapes=[(9,)])
    nopt = nerve.optim.Adam([{"params": [n_t]}, {"params": n_b, "lr": 0.05, "amsgrad": True}], lr=0.01)
    topt = torch.optim.Adam([{"params": [t_t]}, {"params": t_b, "lr": 0.05, "amsgrad": True}], lr=0.01,
                            foreach=False)
    grads = [[rng.standard_normal(s).astype(np.float32) for s in [(9, 6), (9,)]] for _ in range(20)]
    run_steps([n_t] + n_b, [t_t] + t_b, nopt, topt, grads)
    assert_same_params([n_t] + n_b, [t_t] + t_b, np.float32)


def test_changing_lr_between_steps():
    nparams, tparams = twins()
    nopt, topt = make_optimizers(("SGD", dict(lr=0.1, momentum=0.9)), nparams, tparams)
    for t, gs in enumerate(grad_sequence(20, np.float32, holes=False)):
        for o in (nopt, topt):
            o.param_groups[0]["lr"] = 0.1 / (1 + t)
        run_steps(nparams, tparams, nopt, topt, [gs])
    assert_same_params(nparams, tparams, np.float32)


# A small model trained in both libraries: the gradients come from each library's own autograd.
def mlp_loss(lib, params, x, y):
    w1, b1, w2, b2 = params
    z = x @ w1.T + b1
    h = z + 0.1 * z * z  # a smooth nonlinearity built from ops every library has
    return ((h @ w2.T + b2 - y) ** 2).mean()


@pytest.mark.parametrize("case", [OPTIM_CASES[i] for i in (1, 3, 8, 10, 13, 17, 21)], ids=optim_id)
def test_model_training_matches_torch(case):
    dtype = np.float32
    rng = np.random.default_rng(3)
    shapes = [(16, 8), (16,), (3, 16), (3,)]
    nparams, tparams = twins(dtype, seed=4, shapes=shapes)
    for p, q in zip(nparams, tparams):
        with torch.no_grad():
            q.mul_(0.3)
        p._data *= np.float32(0.3)
    nopt, topt = make_optimizers(case, nparams, tparams)
    for _ in range(20):
        x, y = rng.standard_normal((32, 8)).astype(dtype), rng.standard_normal((32, 3)).astype(dtype)
        nopt.zero_grad()
        topt.zero_grad()
        mlp_loss(nerve, nparams, nerve.tensor(x), nerve.tensor(y)).backward()
        mlp_loss(torch, tparams, torch.tensor(x), torch.tensor(y)).backward()
        nopt.step()
        topt.step()
    assert_same_params(nparams, tparams, dtype)


# ---- optimizer behaviour -------------------------------------------------------------------------

def test_step_closure_zero_grad_and_state():
    w = nerve.nn.Parameter(nerve.ones(3))
    opt = nerve.optim.Adam([w], lr=0.1)

    def closure():
        opt.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert float(loss.item()) == 3.0
    assert set(opt.state[w]) == {"step", "exp_avg", "exp_avg_sq"} and float(opt.state[w]["step"].item()) == 1.0
    assert opt.state[w]["step"].dtype == nerve.float32
    opt.zero_grad(set_to_none=False)
    assert w.grad is not None and float(np.abs(w.grad.numpy()).max()) == 0.0
    opt.zero_grad()
    assert w.grad is None
    before = w.detach().numpy().copy()
    opt.step()  # no gradient: nothing moves, the step count stays
    np.testing.assert_array_equal(w.detach().numpy(), before)
    assert float(opt.state[w]["step"].item()) == 1.0
    assert "Adam (" in repr(opt) and "lr: 0.1" in repr(opt)


def test_add_param_group_and_defaults():
    a, b = nerve.nn.Parameter(nerve.ones(2)), nerve.nn.Parameter(nerve.ones(3))
    opt = nerve.optim.SGD([a], lr=0.5, momentum=0.9)
    opt.add_param_group({"params": b, "lr": 0.1})
    assert opt.param_groups[1]["momentum"] == 0.9 and opt.param_groups[1]["lr"] == 0.1
    with pytest.raises(ValueError, match=r"\[SGD\] some parameters appear in more than one parameter group"):
        opt.add_param_group({"params": [a]})
    named = nerve.optim.SGD([("a", a), ("b", b)], lr=0.1)
    assert named.param_groups[0]["param_names"] == ["a", "b"]
    assert named.state_dict()["param_groups"][0]["param_names"] == ["a", "b"]
    assert nerve.optim.SGD([a]).defaults["lr"] == 1e-3  # torch 2.13's default


def test_inplace_update_bumps_version():
    """A graph that saved a parameter refuses to run backward after the optimizer changed it."""
    w = nerve.nn.Parameter(nerve.ones(3))
    opt = nerve.optim.SGD([w], lr=0.1)
    y = (w * w).sum()
    (w * 2).sum().backward()
    opt.step()
    with pytest.raises(RuntimeError):
        y.backward()


def test_l1_penalty_matches_torch():
    rng = np.random.default_rng(7)
    arrays = [rng.standard_normal(s).astype(np.float32) for s in [(4, 3), (3,)]]
    arrays[0][0, 0] = 0.0  # |x| has gradient 0 at 0 in both
    nps = [nerve.tensor(a.copy(), requires_grad=True) for a in arrays]
    tps = [torch.tensor(a.copy(), requires_grad=True) for a in arrays]
    loss = nerve.optim.l1_penalty(nps, 0.01)
    tloss = 0.01 * sum(p.abs().sum() for p in tps)
    np.testing.assert_allclose(loss.item(), tloss.item(), rtol=1e-6)
    loss.backward()
    tloss.backward()
    for p, q in zip(nps, tps):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-6)
    model = nerve.nn.Linear(3, 2)
    expected = 0.5 * sum(float(np.abs(p.detach().numpy()).sum()) for p in model.parameters())
    np.testing.assert_allclose(nerve.optim.l1_penalty(model, 0.5).item(), expected, rtol=1e-6)
    l2 = nerve.optim.l2_penalty(nps, 0.1).item()
    np.testing.assert_allclose(l2, 0.1 * sum(float((a.astype(np.float64) ** 2).sum()) for a in arrays), rtol=1e-6)
    with pytest.raises(ValueError, match=r"\[l1_penalty\] weight must be >= 0"):
        nerve.optim.l1_penalty(nps, -1)
    with pytest.raises(ValueError, match=r"\[l1_penalty\] got no parameters"):
        nerve.optim.l1_penalty([], 0.1)


# ---- state dicts ---------------------------------------------------------------------------------

@pytest.mark.parametrize("case", [OPTIM_CASES[i] for i in (3, 5, 10, 13, 17, 21)], ids=optim_id)
def test_state_dict_round_trip_continues_exactly(case, tmp_path):
    name, kw = case
    grads = grad_sequence(20, np.float32)
    ref, _ = twins()
    ropt = getattr(nerve.optim, name)(ref, **kw)
    part, _ = twins()
    popt = getattr(nerve.optim, name)(part, **kw)
    for t, gs in enumerate(grads):
        for p, q, g in zip(ref, part, gs):
            p.grad = None if g is None else nerve.tensor(g.copy())
            q.grad = None if g is None else nerve.tensor(g.copy())
        ropt.step()
        if t < 10:
            popt.step()
        if t == 9:  # save, throw the optimizer away, resume in a fresh one
            path = tmp_path / "opt.safetensors"
            nerve.save(popt.state_dict(), path)
            nerve.save({k: p.detach() for k, p in zip("abcde", part)}, tmp_path / "params.safetensors")
            saved = nerve.load(tmp_path / "params.safetensors")
            part = [nerve.nn.Parameter(saved[k]) for k in "abcde"]
            popt = getattr(nerve.optim, name)(part, **kw)
            popt.load_state_dict(nerve.load(path))
        elif t > 9:
            popt.step()
    for p, q in zip(ref, part):
        np.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy())
    sd = popt.state_dict()
    assert sorted(sd) == ["param_groups", "state"] and sd["param_groups"][0]["params"] == [0, 1, 2, 3, 4]
    assert all(isinstance(k, int) for k in sd["state"])


@pytest.mark.parametrize("case", [OPTIM_CASES[i] for i in (5, 10, 13, 17, 21)], ids=optim_id)
def test_state_dict_interchange_with_torch(case):
    """torch's state_dict loads into nerve and nerve's into torch; both continue as one."""
    grads = grad_sequence(20, np.float32)
    nparams, tparams = twins()
    nopt, topt = make_optimizers(case, nparams, tparams)
    run_steps(nparams, tparams, nopt, topt, grads[:10])
    # torch -> nerve: a fresh nerve optimizer resumes from torch's state
    n2, _ = twins()
    for p, q in zip(n2, tparams):
        p._data[...] = q.detach().numpy()
    nopt2 = getattr(nerve.optim, case[0])(n2, **case[1])
    nopt2.load_state_dict(topt.state_dict())
    # nerve -> torch: a fresh torch optimizer resumes from nerve's state
    _, t2 = twins()
    with torch.no_grad():
        for p, q in zip(nparams, t2):
            q.copy_(torch.tensor(p.detach().numpy()))
    topt2 = getattr(torch.optim, case[0])(t2, foreach=False, **case[1])
    sd = nopt.state_dict()
    sd["state"] = {k: {n: torch.tensor(np.asarray(v)) if isinstance(v, nerve.Tensor) else v for n, v in s.items()}
                   for k, s in sd["state"].items()}
    topt2.load_state_dict(sd)
    run_steps(n2, tparams, nopt2, topt, grads[10:])
    run_steps(nparams, t2, nopt, topt2, grads[10:])
    assert_same_params(n2, tparams, np.float32)
    assert_same_params(nparams, t2, np.float32)


def trained_adam():
    params, _ = twins()
    opt = nerve.optim.Adam(params, lr=0.01, amsgrad=True)
    for p, g in zip(params, grad_sequence(1, np.float32, holes=False)[0]):
        p.grad = nerve.tensor(g)
    opt.step()
    return params, opt


def test_load_state_dict_errors():
    params, opt = trained_adam()
    sd = opt.state_dict()
    fresh = nerve.optim.Adam(twins()[0], lr=0.01, amsgrad=True)
    with pytest.raises(ValueError, match=r"\[Adam.load_state_dict\] expected an optimizer state_dict"):
        fresh.load_state_dict({"state": {}})
    with pytest.raises(ValueError, match=r"\[Adam.load_state_dict\] loaded state dict has a different number of "
                                         r"parameter groups"):
        fresh.load_state_dict({"state": {}, "param_groups": sd["param_groups"] * 2})
    short = nerve.optim.Adam(twins()[0][:3], lr=0.01, amsgrad=True)
    with pytest.raises(ValueError, match=r"\[Adam.load_state_dict\] .*doesn't match the size of optimizer's group"):
        short.load_state_dict(sd)
    bad = {"state": {99: sd["state"][0]}, "param_groups": sd["param_groups"]}
    with pytest.raises(ValueError, match=r"\[Adam.load_state_dict\] state has an entry for parameter 99"):
        fresh.load_state_dict(bad)
    missing = {"state": {0: {k: v for k, v in sd["state"][0].items() if k != "exp_avg"}},
               "param_groups": sd["param_groups"]}
    with pytest.raises(ValueError, match=r"\[Adam.load_state_dict\] state of parameter 0 lacks 'exp_avg'"):
        fresh.load_state_dict(missing)
    wrong = {"state": {0: dict(sd["state"][0], exp_avg=nerve.zeros(3))}, "param_groups": sd["param_groups"]}
    with pytest.raises(ValueError, match=r"\[Adam.load_state_dict\] state 'exp_avg' of parameter 0 has shape \(3,\), "
                                         r"but the parameter has shape \(13, 7\)"):
        fresh.load_state_dict(wrong)
    nolr = {"state": {}, "param_groups": [{k: v for k, v in sd["param_groups"][0].items() if k != "lr"}]}
    with pytest.raises(ValueError, match=r"\[Adam.load_state_dict\] param_groups\[0\] lacks 'lr'"):
        fresh.load_state_dict(nolr)
    # a failed load leaves the optimizer as it was
    assert len(fresh.state) == 0 and fresh.param_groups[0]["lr"] == 0.01


def test_wrong_size_state_raises_at_step():
    params, opt = trained_adam()
    opt.state[params[0]]["exp_avg"] = nerve.zeros(4)
    with pytest.raises(ValueError, match=r"\[Adam\] state 'exp_avg' of parameter 0 has shape \(4,\), but the "
                                         r"parameter has shape \(13, 7\)"):
        opt.step()
    p = nerve.nn.Parameter(nerve.ones(3))
    p.grad = nerve.ones(4)
    with pytest.raises(ValueError, match=r"\[SGD\] gradient of parameter 0 has shape \(4,\)"):
        nerve.optim.SGD([p], lr=0.1).step()


# ---- bad settings ----------------------------------------------------------------------------------

@pytest.mark.parametrize("name,kw,msg", [
    ("SGD", dict(lr=-0.1), r"\[SGD\] Invalid learning rate: -0.1"),
    ("SGD", dict(lr=0.1, momentum=-1), r"\[SGD\] Invalid momentum value: -1"),
    ("SGD", dict(lr=0.1, weight_decay=-1), r"\[SGD\] Invalid weight_decay value: -1"),
    ("SGD", dict(lr=0.1, nesterov=True), r"\[SGD\] Nesterov momentum requires a momentum and zero dampening"),
    ("Adam", dict(lr=-1e-3), r"\[Adam\] Invalid learning rate: -0.001"),
    ("Adam", dict(betas=(1.0, 0.999)), r"\[Adam\] Invalid beta parameter at index 0: 1.0"),
    ("Adam", dict(betas=(0.9, -0.1)), r"\[Adam\] Invalid beta parameter at index 1: -0.1"),
    ("Adam", dict(eps=-1e-8), r"\[Adam\] Invalid epsilon value"),
    ("AdamW", dict(lr=-1.0), r"\[AdamW\] Invalid learning rate: -1.0"),
    ("AdamW", dict(weight_decay=-0.1), r"\[AdamW\] Invalid weight_decay value: -0.1"),
    ("RMSprop", dict(lr=-0.01), r"\[RMSprop\] Invalid learning rate: -0.01"),
    ("RMSprop", dict(alpha=-0.5), r"\[RMSprop\] Invalid alpha value: -0.5"),
    ("Adagrad", dict(lr=-0.01), r"\[Adagrad\] Invalid learning rate: -0.01"),
    ("Adagrad", dict(lr_decay=-1), r"\[Adagrad\] Invalid lr_decay value: -1"),
    ("Adagrad", dict(initial_accumulator_value=-1), r"\[Adagrad\] Invalid initial_accumulator_value value: -1"),
])
def test_bad_settings(name, kw, msg):
    with pytest.raises(ValueError, match=msg):
        getattr(nerve.optim, name)([nerve.nn.Parameter(nerve.ones(2))], **kw)
    with pytest.raises(ValueError, match=msg.split("] ", 1)[1]):  # torch says the same
        getattr(torch.optim, name)([torch.nn.Parameter(torch.ones(2))], **kw)


def test_bad_params():
    with pytest.raises(ValueError, match=r"\[Adam\] optimizer got an empty parameter list"):
        nerve.optim.Adam([])
    with pytest.raises(TypeError, match=r"\[SGD\] params argument given to the optimizer should be an iterable"):
        nerve.optim.SGD(nerve.nn.Parameter(nerve.ones(2)))
    with pytest.raises(TypeError, match=r"\[SGD\] optimizer can only optimize Tensors"):
        nerve.optim.SGD([np.ones(2)])
    w = nerve.ones(2, requires_grad=True)
    with pytest.raises(ValueError, match=r"\[SGD\] can't optimize a non-leaf Tensor"):
        nerve.optim.SGD([w * 2])
    with pytest.raises(ValueError, match=r"\[SGD\] a parameter group contains the same parameter more than once"):
        nerve.optim.SGD([w, w])
    with pytest.raises(NotImplementedError, match=r"\[Adam\] differentiable"):
        nerve.optim.Adam([w], differentiable=True)
