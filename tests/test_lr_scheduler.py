"""nerve.optim.lr_scheduler against torch.optim.lr_scheduler: the learning rates of every group
(and the momentum / beta1 OneCycleLR cycles) equal torch's exactly over many steps, for every
scheduler and option; state_dict round trips (also through nerve.save / nerve.load) continue
the schedule; the deprecated step(epoch) uses the same closed forms; bad settings raise."""
import math
import warnings

import numpy as np
import pytest
import torch

import nerve
import nerve.nn
from nerve.optim import lr_scheduler as nsched

tsched = torch.optim.lr_scheduler


def optimizers(kind="SGD", lrs=(0.1, 0.03), **kw):
    """The same two-group optimizer in nerve and torch."""
    n = [nerve.nn.Parameter(nerve.ones(2)) for _ in lrs]
    t = [torch.nn.Parameter(torch.ones(2)) for _ in lrs]
    nopt = getattr(nerve.optim, kind)([{"params": [p], "lr": lr} for p, lr in zip(n, lrs)], **kw)
    topt = getattr(torch.optim, kind)([{"params": [p], "lr": lr} for p, lr in zip(t, lrs)], **kw)
    return nopt, topt


def step_both(nopt, topt, ns, ts, metric=None):
    nopt.step()
    topt.step()
    if metric is None:
        ns.step()
        ts.step()
    else:
        ns.step(metric)
        ts.step(metric)


def assert_same(nopt, topt, ns, ts, keys=("lr",)):
    assert ns.get_last_lr() == ts.get_last_lr()
    for ng, tg in zip(nopt.param_groups, topt.param_groups):
        for k in keys:
            assert ng[k] == tg[k], k
    assert ns.last_epoch == ts.last_epoch


SCHEDULERS = [
    ("StepLR", dict(step_size=7, gamma=0.5)),
    ("StepLR", dict(step_size=1, gamma=0.9)),
    ("MultiStepLR", dict(milestones=[5, 20, 20, 50], gamma=0.3)),
    ("ExponentialLR", dict(gamma=0.97)),
    ("CosineAnnealingLR", dict(T_max=10)),
    ("CosineAnnealingLR", dict(T_max=17, eta_min=0.001)),
    ("LinearLR", dict()),
    ("LinearLR", dict(start_factor=0.25, end_factor=1.0, total_iters=12)),
    ("LinearLR", dict(start_factor=1.0, end_factor=0.1, total_iters=30)),
    ("LambdaLR", dict(lr_lambda=lambda e: 0.95 ** e)),
    ("LambdaLR", dict(lr_lambda=[lambda e: 1 / (1 + e), lambda e: e % 5 + 1])),
    ("OneCycleLR", dict(max_lr=0.5, total_steps=100)),
    ("OneCycleLR", dict(max_lr=[0.5, 0.2], total_steps=100, anneal_strategy="linear")),
    ("OneCycleLR", dict(max_lr=0.5, epochs=10, steps_per_epoch=10, three_phase=True, pct_start=0.25)),
    ("OneCycleLR", dict(max_lr=0.5, total_steps=100, anneal_strategy="linear", three_phase=True,
                        div_factor=10.0, final_div_factor=100.0, base_momentum=0.8, max_momentum=0.9)),
    ("OneCycleLR", dict(max_lr=0.5, total_steps=100, cycle_momentum=False)),
]


def sched_id(case):
    return case[0] + "-" + "-".join(f"{k}={v}" for k, v in case[1].items() if k != "lr_lambda")


@pytest.mark.parametrize("case", SCHEDULERS, ids=sched_id)
def test_schedule_matches_torch(case):
    name, kw = case
    momentum = name == "OneCycleLR"
    nopt, topt = optimizers("SGD", momentum=0.9) if momentum else optimizers()
    ns, ts = getattr(nsched, name)(nopt, **kw), getattr(tsched, name)(topt, **kw)
    keys = ("lr", "momentum") if momentum else ("lr",)
    assert_same(nopt, topt, ns, ts, keys)
    steps = 99 if name == "OneCycleLR" else 120
    for _ in range(steps):
        step_both(nopt, topt, ns, ts)
        assert_same(nopt, topt, ns, ts, keys)


@pytest.mark.parametrize("three_phase", [False, True])
def test_one_cycle_cycles_adam_beta1(three_phase):
    nopt, topt = optimizers("Adam")
    kw = dict(max_lr=0.01, total_steps=60, three_phase=three_phase)
    ns, ts = nsched.OneCycleLR(nopt, **kw), tsched.OneCycleLR(topt, **kw)
    for _ in range(59):
        step_both(nopt, topt, ns, ts)
        assert_same(nopt, topt, ns, ts, ("lr", "betas"))
    with pytest.raises(ValueError, match=r"\[OneCycleLR\] Tried to step 61 times"):
        nopt.step()
        ns.step()
        ns.step()


PLATEAU = [
    dict(),
    dict(mode="max", factor=0.5, patience=2),
    dict(mode="min", threshold_mode="abs", threshold=0.05, patience=1, cooldown=2),
    dict(mode="max", threshold_mode="abs", threshold=0.01, patience=0, cooldown=1, min_lr=[0.01, 0.02]),
    dict(mode="min", factor=0.3, patience=3, min_lr=0.005, eps=1e-3),
]


@pytest.mark.parametrize("kw", PLATEAU, ids=lambda kw: "-".join(f"{k}={v}" for k, v in kw.items()) or "default")
def test_reduce_on_plateau_matches_torch(kw):
    nopt, topt = optimizers()
    ns, ts = nsched.ReduceLROnPlateau(nopt, **kw), tsched.ReduceLROnPlateau(topt, **kw)
    rng = np.random.default_rng(0)
    # A metric that improves, stalls, gets worse and improves again, with noise.
    trend = np.concatenate([np.linspace(1, 0.5, 15), np.full(15, 0.5), np.linspace(0.5, 0.8, 10),
                            np.linspace(0.8, 0.2, 20), np.full(20, 0.2)])
    for m in trend + 0.02 * rng.standard_normal(trend.size):
        step_both(nopt, topt, ns, ts, metric=float(m))
        assert_same(nopt, topt, ns, ts)
        assert (ns.best, ns.num_bad_epochs, ns.cooldown_counter) == (ts.best, ts.num_bad_epochs, ts.cooldown_counter)
    assert nopt.param_groups[0]["lr"] < 0.1  # the schedule did reduce


@pytest.mark.parametrize("case", [SCHEDULERS[i] for i in (0, 2, 3, 5, 7, 11, 13)], ids=sched_id)
def test_state_dict_round_trip(case, tmp_path):
    """Save scheduler and optimizer after 30 steps, rebuild both, load, and continue: same as uninterrupted."""
    name, kw = case
    momentum = name == "OneCycleLR"
    make = (lambda: optimizers("SGD", momentum=0.9)[0]) if momentum else (lambda: optimizers()[0])
    ref_opt = make()
    ref = getattr(nsched, name)(ref_opt, **kw)
    opt = make()
    sched = getattr(nsched, name)(opt, **kw)
    for _ in range(30):
        for o, s in ((ref_opt, ref), (opt, sched)):
            o.step()
            s.step()
    path = tmp_path / "ckpt.safetensors"
    nerve.save({"optimizer": opt.state_dict(), "scheduler": sched.state_dict(), "epoch": 30}, path)
    ckpt = nerve.load(path)
    assert ckpt["epoch"] == 30
    opt = make()
    sched = getattr(nsched, name)(opt, **kw)
    opt.load_state_dict(ckpt["optimizer"])
    sched.load_state_dict(ckpt["scheduler"])
    for _ in range(40 if momentum else 60):
        for o, s in ((ref_opt, ref), (opt, sched)):
            o.step()
            s.step()
        assert sched.get_last_lr() == ref.get_last_lr()
        assert [g["lr"] for g in opt.param_groups] == [g["lr"] for g in ref_opt.param_groups]


def test_reduce_on_plateau_state_dict_keeps_inf(tmp_path):
    opt = optimizers()[0]
    sched = nsched.ReduceLROnPlateau(opt, mode="max")
    nerve.save(sched.state_dict(), tmp_path / "s.safetensors")
    back = nerve.load(tmp_path / "s.safetensors")
    assert back["best"] == -math.inf and back["mode_worse"] == -math.inf
    sched2 = nsched.ReduceLROnPlateau(optimizers()[0], mode="max")
    sched2.load_state_dict(back)
    sched2.step(1.0)
    assert sched2.best == 1.0


@pytest.mark.parametrize("case", [SCHEDULERS[i] for i in (0, 2, 3, 5, 7)], ids=sched_id)
def test_step_with_epoch_uses_closed_form(case):
    name, kw = case
    nopt, topt = optimizers()
    ns, ts = getattr(nsched, name)(nopt, **kw), getattr(tsched, name)(topt, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for epoch in (3, 7, 8, 20, 21, 50, 13):
            nopt.step()
            topt.step()
            ns.step(epoch)
            ts.step(epoch)
            assert ns.get_last_lr() == ts.get_last_lr()


def test_warnings_as_torch():
    nopt, _ = optimizers()
    sched = nsched.StepLR(nopt, step_size=2)
    with pytest.warns(UserWarning, match="before `optimizer.step\\(\\)`"):
        sched.step()  # the scheduler stepped before the optimizer
    with pytest.warns(UserWarning, match="get_last_lr"):
        sched.get_lr()
    nopt, _ = optimizers()
    sched = nsched.ExponentialLR(nopt, gamma=0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nopt.step()
        sched.step()  # in the right order: no warning


def test_bad_settings():
    nopt, _ = optimizers()
    with pytest.raises(TypeError, match=r"\[StepLR\] list is not an Optimizer"):
        nsched.StepLR([], step_size=2)
    with pytest.raises(ValueError, match=r"\[OneCycleLR\] You must define either total_steps OR"):
        nsched.OneCycleLR(nopt, max_lr=0.1)
    with pytest.raises(ValueError, match=r"\[OneCycleLR\] Expected positive integer total_steps, but got 0"):
        nsched.OneCycleLR(nopt, max_lr=0.1, total_steps=0)
    with pytest.raises(ValueError, match=r"\[OneCycleLR\] anneal_strategy must be one of 'cos' or 'linear'"):
        nsched.OneCycleLR(nopt, max_lr=0.1, total_steps=10, anneal_strategy="exp")
    with pytest.raises(ValueError, match=r"\[OneCycleLR\] max_lr must have the same length as optimizer.param_groups"):
        nsched.OneCycleLR(nopt, max_lr=[0.1], total_steps=10)
    with pytest.raises(ValueError, match=r"\[OneCycleLR\] optimizer must support momentum or beta1"):
        nsched.OneCycleLR(optimizers("Adagrad")[0], max_lr=0.1, total_steps=10)
    with pytest.raises(ValueError, match=r"\[ReduceLROnPlateau\] Factor should be < 1.0"):
        nsched.ReduceLROnPlateau(nopt, factor=1.0)
    with pytest.raises(ValueError, match=r"\[ReduceLROnPlateau\] mode avg is unknown"):
        nsched.ReduceLROnPlateau(nopt, mode="avg")
    with pytest.raises(ValueError, match=r"\[ReduceLROnPlateau\] expected 2 min_lrs, got 3"):
        nsched.ReduceLROnPlateau(nopt, min_lr=[0, 0, 0])
    with pytest.raises(ValueError, match=r"\[LinearLR\] Starting multiplicative factor"):
        nsched.LinearLR(nopt, start_factor=0)
    with pytest.raises(ValueError, match=r"\[LambdaLR\] Expected 2 lr_lambdas, but got 1"):
        nsched.LambdaLR(nopt, lr_lambda=[lambda e: 1.0])
    with pytest.raises(KeyError, match=r"initial_lr"):
        nsched.StepLR(optimizers()[0], step_size=2, last_epoch=5)
