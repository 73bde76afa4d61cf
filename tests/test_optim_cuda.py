"""test_optim_cuda.py — the CUDA optimizer updates (csrc/cuda/optim.cuh) against the CPU kernels.

Every kernel case runs under the emulator (nerve._C_emu, numpy arrays) and, when a GPU answers, on
the device (nerve._C.cuda, cupy arrays; marker `cuda`), on sizes that end in partial blocks of
256 threads and on multi-tensor lists with an empty tensor. The CPU kernel is the reference; both
run the same element rules, so float32 agrees to a few ulps (FMA placement) and float64 to ~1e-15.
The optimizers themselves run on CUDA parameters on a GPU (marker `cuda`).
"""
import numpy as np
import pytest

import nerve
import nerve.nn
from nerve import _C, _C_emu
from optim_cases import KERNEL_CASES, call, case_id, make_state, written
from cuda_backends import be, require_gpu  # noqa: F401  (be is a fixture)

SIZES = [1, 255, 256, 257, 0, 1000, 4099]


@pytest.mark.parametrize("case", KERNEL_CASES, ids=case_id)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cuda_kernel_matches_cpu(be, case, dtype):
    name, hyper = case
    ref = make_state(name, hyper, SIZES, dtype, seed=3)
    dev = make_state(name, hyper, SIZES, dtype, seed=3)
    arrays = None
    for _ in range(1 if hyper.get("centered") else 2):  # centered: see test_optim
        call(_C.cpu, name, ref, hyper)
        arrays = call(be.k, name, dev, hyper, put=be.put)
        dev = dict(dev, **{k: [be.get(a) for a in v] for k, v in written(name, arrays).items()})
    rtol = 1e-5 if dtype == np.float32 else 1e-13
    for key in written(name, arrays):
        for k, (x, y) in enumerate(zip(dev[key], ref[key])):
            assert x.shape == y.shape
            scale = max(1.0, float(np.abs(y).max(initial=0)))
            atol = rtol * scale
            if hyper.get("centered") and key == "params":  # see test_optim.test_kernel_matches_naive
                sq, ga = ref["square_avgs"][k].astype(np.float64), ref["grad_avgs"][k].astype(np.float64)
                atol = atol * (1 + sq / (sq - ga * ga))
            bad = np.abs(x.astype(np.float64) - y) > atol + rtol * np.abs(y)
            assert not bad.any(), f"{key}[{k}] on {be.name}: {x[bad][:5]} vs cpu {y[bad][:5]}"


def test_emu_kernel_checks_arguments():
    p, g = np.zeros(5, np.float32), np.zeros(5, np.float32)
    with pytest.raises(ValueError, match=r"\[adam\] exp_avg_sqs\[0\] has shape \(4,\), expected \(5,\)"):
        _C_emu.adam_update([p], [p.copy()], [np.zeros(4, np.float32)], [], [g], 1.0, lr=0.1)
    with pytest.raises(ValueError, match=r"\[sgd\] expected 1 momentum_buffers"):
        _C_emu.sgd_update([p], [], [g], lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match=r"\[adagrad\] steps\[0\] is 0"):
        _C_emu.adagrad_update([p], [p.copy()], [g], 0.0, lr=0.1)


def test_cuda_entries_without_cuda():
    if _C.build_info["cuda"]:
        pytest.skip("built with CUDA")
    with pytest.raises(ValueError, match=r"\[sgd\] params\[0\] must be a CUDA array"):
        _C.cuda.sgd_update([np.zeros(3, np.float32)], [], [np.zeros(3, np.float32)], lr=0.1)


@pytest.mark.cuda
@pytest.mark.parametrize("name,kw", [("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
                                     ("Adam", dict(lr=1e-2, amsgrad=True, weight_decay=0.1)),
                                     ("AdamW", dict(lr=1e-2)),
                                     ("RMSprop", dict(lr=1e-2, centered=True, momentum=0.9)),
                                     ("Adagrad", dict(lr=0.1, lr_decay=0.01))])
def test_optimizer_on_cuda_matches_cpu(name, kw):
    require_gpu()
    rng = np.random.default_rng(0)
    shapes = [(300, 7), (7,), ()]
    init = [np.asarray(rng.standard_normal(s), np.float32) for s in shapes]
    cpu = [nerve.nn.Parameter(nerve.tensor(a.copy())) for a in init]
    gpu = [nerve.nn.Parameter(nerve.tensor(a.copy()).cuda()) for a in init]
    ocpu, ogpu = getattr(nerve.optim, name)(cpu, **kw), getattr(nerve.optim, name)(gpu, **kw)
    for _ in range(10):
        for p, q, s in zip(cpu, gpu, shapes):
            g = np.asarray(rng.standard_normal(s), np.float32)
            p.grad, q.grad = nerve.tensor(g.copy()), nerve.tensor(g.copy()).cuda()
        ocpu.step()
        ogpu.step()
    for p, q in zip(cpu, gpu):
        np.testing.assert_allclose(q.detach().cpu().numpy(), p.detach().numpy(), rtol=1e-5, atol=1e-6)
