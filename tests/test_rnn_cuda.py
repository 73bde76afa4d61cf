"""test_rnn_cuda.py — the CUDA recurrent layers (csrc/cuda/rnn.cu: per-step GEMM + fused cell
kernels) against the CPU kernel, under the emulator (nerve._C_emu, numpy arrays) and, when a GPU is
present, on the device (nerve._C.cuda, cupy arrays; marker `cuda`). Shapes are small (the emulator
runs every CUDA thread as a fiber) and odd, with lengths, reverse walks, no h0 and strided outputs."""
import numpy as np
import pytest

from nerve import _C, _C_emu
from cuda_backends import Emu, be  # noqa: F401  (be is a fixture)

MODES = ["RNN_TANH", "RNN_RELU", "LSTM", "GRU"]
GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def inputs(mode, S, B, I, H, with_h0, lengths, seed):
    rng = np.random.default_rng(seed)
    G, f = GATES[mode], np.float32
    lstm = mode == "LSTM"
    d = {
        "x": rng.standard_normal((S, B, I)).astype(f),
        "w_ih": (rng.standard_normal((G * H, I)) * 0.4).astype(f),
        "w_hh": (rng.standard_normal((G * H, H)) * 0.4).astype(f),
        "b_ih": (rng.standard_normal(G * H) * 0.4).astype(f),
        "b_hh": (rng.standard_normal(G * H) * 0.4).astype(f),
        "h0": rng.standard_normal((B, H)).astype(f) if with_h0 else None,
        "c0": rng.standard_normal((B, H)).astype(f) if with_h0 and lstm else None,
        "lengths": None if lengths is None else np.array(lengths, np.int64),
        "dy": rng.standard_normal((S, B, H)).astype(f),
        "dhn": rng.standard_normal((B, H)).astype(f),
        "dcn": rng.standard_normal((B, H)).astype(f) if lstm else None,
    }
    return d


def run(mod, put, get, mode, d, reverse, S, B, I, H):
    """Forward into columns [0, H) of a (S, B, H + 2) array, then backward accumulating into dx."""
    f = np.float32
    lstm = mode == "LSTM"
    a = {k: put(v) for k, v in d.items()}
    y = put(np.full((S, B, H + 2), 5, f))
    hn = put(np.zeros((B, H), f))
    cn = put(np.zeros((B, H), f)) if lstm else None
    ws = put(np.zeros(_C.cpu.rnn_workspace_size(mode, S, B, I, H), f))
    mod.rnn_forward(y[:, :, :H], hn, cn, ws, a["x"], a["w_ih"], a["w_hh"], a["b_ih"], a["b_hh"], a["h0"], a["c0"],
                    a["lengths"], mode, reverse)
    dx = put(np.ones((S, B, I), f))
    grads = [put(np.full_like(d[n], 9)) for n in ("w_ih", "w_hh", "b_ih", "b_hh")]
    dh0 = put(np.full((B, H), 9, f))
    dc0 = put(np.full((B, H), 9, f)) if lstm else None
    scratch = put(np.zeros(_C.cpu.rnn_scratch_size(mode, S, B, I, H), f))
    mod.rnn_backward(dx, *grads, dh0, dc0, scratch, a["dy"], a["dhn"], a["dcn"], ws, a["x"], a["w_ih"], a["w_hh"],
                     a["b_ih"], a["b_hh"], a["h0"], a["c0"], a["lengths"], mode, reverse, True)
    return [get(t) for t in (y, hn, cn, dx, *grads, dh0, dc0)]


CASES = [  # S, B, I, H, lengths, h0
    (5, 3, 4, 6, None, True),
    (6, 4, 3, 5, [6, 2, 0, 4], True),
    (1, 2, 3, 4, None, False),
    (4, 3, 5, 33, [1, 4, 3], False),
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("S,B,I,H,lengths,h0", CASES)
def test_cuda_layer_matches_cpu_kernel(be, mode, reverse, S, B, I, H, lengths, h0):
    d = inputs(mode, S, B, I, H, h0, lengths, seed=S * 100 + H)
    got = run(be.k, be.put, be.get, mode, d, reverse, S, B, I, H)
    want = run(_C.cpu, Emu.put, Emu.get, mode, d, reverse, S, B, I, H)
    names = ["y", "hn", "cn", "dx", "dw_ih", "dw_hh", "db_ih", "db_hh", "dh0", "dc0"]
    for name, g, w in zip(names, got, want):
        if w is None:
            continue
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5 * (1 + np.abs(w).max()), err_msg=f"{mode} {name}")


def test_cuda_layer_checks_arguments(be):
    f = np.float32
    x = be.put(np.zeros((3, 2, 4), f))
    w_ih, w_hh = be.put(np.zeros((20, 4), f)), be.put(np.zeros((20, 5), f))
    y, hn, cn = be.put(np.zeros((3, 2, 5), f)), be.put(np.zeros((2, 5), f)), be.put(np.zeros((2, 5), f))
    ws = be.put(np.zeros(_C.cpu.rnn_workspace_size("LSTM", 3, 2, 4, 5), f))
    with pytest.raises(ValueError, match=r"\[LSTM\] expected weight_hh of shape \(20, 5\), got \(19, 5\)"):
        be.k.rnn_forward(y, hn, cn, ws, x, w_ih, be.put(np.zeros((19, 5), f)), None, None, None, None, None,
                           "LSTM", op="LSTM")
    with pytest.raises(ValueError, match=r"\[rnn\] expected input of dtype float32"):
        be.k.rnn_forward(be.put(np.zeros((3, 2, 5))), be.put(np.zeros((2, 5))), be.put(np.zeros((2, 5))),
                           be.put(np.zeros(ws.size)), be.put(np.zeros((3, 2, 4))), be.put(np.zeros((20, 4))),
                           be.put(np.zeros((20, 5))), None, None, None, None, None, "LSTM")


def test_emulated_rnn_is_the_cuda_entry():
    assert _C_emu.rnn_forward.__doc__ == _C.cuda.rnn_forward.__doc__
    assert _C_emu.rnn_backward.__doc__ == _C.cuda.rnn_backward.__doc__


# ---- the layers on device tensors (stand-in cupy + emulated kernels here; a real GPU with `cuda`) ----

from test_device import gpu  # noqa: E402,F401  (the fixture: stand-in cupy over _C_emu, or the GPU)


@pytest.mark.parametrize("cls,kw", [("LSTM", {"num_layers": 2, "bidirectional": True}), ("GRU", {"batch_first": True}),
                                    ("RNN", {"nonlinearity": "relu"})])
def test_layers_run_the_cuda_kernels_on_device_tensors(gpu, cls, kw):
    import nerve
    import nerve.nn as nn
    rng = np.random.default_rng(3)
    m = getattr(nn, cls)(4, 6, **kw)
    x = rng.standard_normal((3, 5, 4)).astype(np.float32)
    g = rng.standard_normal((3, 5, 12 if kw.get("bidirectional") else 6)).astype(np.float32)
    lengths = [5, 2, 3] if kw.get("batch_first") else None

    def run(device):
        m.to(device)
        m.zero_grad()
        t = nerve.tensor(x, requires_grad=True, device=device)
        out = m(t, lengths=lengths)[0]
        out.backward(nerve.tensor(g, device=device))
        return [out.detach().cpu().numpy(), t.grad.cpu().numpy()] + [p.grad.cpu().numpy() for p in m.parameters()]
    on_cpu, on_gpu = run("cpu"), run("cuda")
    called = {n for n, _ in gpu.calls}
    assert {"rnn_forward", "rnn_backward"} <= called
    for a, b in zip(on_gpu, on_cpu):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
