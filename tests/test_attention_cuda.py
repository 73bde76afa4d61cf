"""test_attention_cuda.py — the CUDA attention kernels (csrc/cuda/attention.cuh: forward with an
online softmax, backward as a dq kernel and a dk/dv kernel) against the CPU kernel, under the
emulator and, when a GPU is present, on the device (marker `cuda`). Small odd shapes: partial tiles
of 32 keys / queries, 4-row blocks, masks with zero strides, causal, dropout with the CPU's mask."""
import numpy as np
import pytest

from nerve import _C, _C_emu
from test_rnn_cuda import Device, Emu


@pytest.fixture(params=["emu", pytest.param("cuda", marks=pytest.mark.cuda)])
def be(request):
    if request.param == "emu":
        return Emu
    if not _C.build_info["cuda"]:
        pytest.skip("nerve was built without CUDA")
    cp = pytest.importorskip("cupy")
    if _C.cuda_device_count() == 0:
        pytest.skip("no CUDA device")
    return Device(cp)


def make(N, H, L, S, E, Ev, mask, seed):
    rng = np.random.default_rng(seed)
    f = np.float32
    B = N * H
    d = dict(q=rng.standard_normal((B, L, E)).astype(f), k=rng.standard_normal((B, S, E)).astype(f),
             v=rng.standard_normal((B, S, Ev)).astype(f), dout=rng.standard_normal((B, L, Ev)).astype(f))
    if mask == "bool":
        m = rng.random((N, 1, L, S)) > 0.3
        m[0, 0, 0] = False  # a fully masked row
        d["mask"] = np.broadcast_to(m, (N, H, L, S))
    elif mask == "float":
        m = rng.standard_normal((1, H, L, S)).astype(f)
        m[rng.random(m.shape) < 0.2] = -np.inf
        d["mask"] = np.broadcast_to(m, (N, H, L, S))
    else:
        d["mask"] = None
    return d


def run(mod, put, get, kw, d, causal, scale, p, seed, want_dmask):
    f = np.float32
    B, L, _ = d["q"].shape
    S, Ev = d["k"].shape[1], d["v"].shape[2]
    a = {k: put(v) if k != "mask" or v is None else put(np.ascontiguousarray(v)) for k, v in d.items()}
    if d["mask"] is not None and put is Emu.put:  # keep the zero strides on the host
        a["mask"] = d["mask"]
    out, lse = put(np.zeros((B, L, Ev), f)), put(np.zeros((B, L), f))
    mod.attention_forward(out, lse, a["q"], a["k"], a["v"], a["mask"], causal, scale, p, seed, **kw)
    dq, dk, dv = put(np.zeros_like(d["q"])), put(np.zeros_like(d["k"])), put(np.zeros_like(d["v"]))
    delta = put(np.zeros((B, L), f))
    dmask = put(np.zeros((B, L, S), f)) if want_dmask else None
    mod.attention_backward(dq, dk, dv, dmask, delta, a["dout"], a["q"], a["k"], a["v"], out, lse, a["mask"], causal,
                           scale, p, seed, **kw)
    return dict(out=get(out), lse=get(lse), dq=get(dq), dk=get(dk), dv=get(dv), delta=get(delta),
                dmask=get(dmask))


CASES = [  # N, heads, L, S, E, Ev, mask, causal, dropout
    (1, 2, 5, 7, 4, 6, None, False, 0.0),
    (2, 2, 9, 40, 8, 8, "bool", False, 0.0),
    (1, 2, 37, 50, 33, 20, None, True, 0.0),
    (2, 1, 6, 35, 5, 3, "float", False, 0.0),
    (1, 2, 11, 33, 8, 8, "bool", False, 0.3),
    (1, 1, 34, 34, 128, 128, None, True, 0.2),   # the largest head size the kernel takes
]


@pytest.mark.parametrize("N,H,L,S,E,Ev,mask,causal,p", CASES)
def test_cuda_attention_matches_cpu_kernel(be, N, H, L, S, E, Ev, mask, causal, p):
    d = make(N, H, L, S, E, Ev, mask, seed=L * 7 + S)
    args = (d, causal, 1 / np.sqrt(E), p, 2024, mask == "float")
    got = run(be.mod, be.put, be.get, be.kw(), *args)
    want = run(_C.cpu, Emu.put, Emu.get, {}, *args)
    for name, w in want.items():
        if w is None:
            continue
        g = got[name]
        fin = np.isfinite(w)
        assert (np.isfinite(g) == fin).all(), name
        np.testing.assert_allclose(g[fin], w[fin], rtol=1e-5, atol=2e-6 * (1 + np.abs(w[fin]).max()), err_msg=name)


def test_cuda_attention_checks_sizes(be):
    f = np.float32
    q = be.put(np.zeros((1, 2, 129), f))
    with pytest.raises(ValueError, match=r"\[scaled_dot_product_attention\] the CUDA kernel takes .* up to 128"):
        be.mod.attention_forward(be.put(np.zeros((1, 2, 4), f)), be.put(np.zeros((1, 2), f)), q, q,
                                 be.put(np.zeros((1, 2, 4), f)), None, False, 1.0, **be.kw())
    with pytest.raises(ValueError, match=r"expected query of dtype float32"):
        x = be.put(np.zeros((1, 2, 4)))
        be.mod.attention_forward(x, be.put(np.zeros((1, 2))), x, x, x, None, False, 1.0, **be.kw())


def test_emulated_attention_is_the_cuda_entry():
    assert _C_emu.attention_forward.__doc__ == _C.cuda.attention_forward.__doc__
    assert _C_emu.attention_backward.__doc__ == _C.cuda.attention_backward.__doc__
