"""test_attention_cuda.py — the CUDA attention kernels (csrc/cuda/attention.cuh: forward with an
online softmax, backward as a dq kernel and a dk/dv kernel) against the CPU kernel, under the
emulator and, when a GPU is present, on the device (marker `cuda`). Small odd shapes: partial tiles
of 32 keys / queries, 4-row blocks, masks with zero strides, causal, dropout with the CPU's mask."""
import numpy as np
import pytest

from nerve import _C, _C_emu
from cuda_backends import Emu, be  # noqa: F401  (be is a fixture)


def make(N, H, L, S, E, Ev, mask, seed):
    rng = np.random.default_rng(seed)
    f = np.float32
    d = dict(q=rng.standard_normal((N, H, L, E)).astype(f), k=rng.standard_normal((N, H, S, E)).astype(f),
             v=rng.standard_normal((N, H, S, Ev)).astype(f), dout=rng.standard_normal((N, H, L, Ev)).astype(f))
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


def run(mod, put, get, d, causal, scale, p, seed, want_dmask):
    f = np.float32
    N, H, L, _ = d["q"].shape
    S, Ev = d["k"].shape[2], d["v"].shape[3]
    a = {k: put(v) if k != "mask" or v is None else put(np.ascontiguousarray(v)) for k, v in d.items()}
    if d["mask"] is not None and put is Emu.put:  # keep the zero strides on the host
        a["mask"] = d["mask"]
    out, lse = put(np.zeros((N, H, L, Ev), f)), put(np.zeros((N, H, L), f))
    mod.attention_forward(out, lse, a["q"], a["k"], a["v"], a["mask"], causal, scale, p, seed)
    dq, dk, dv = put(np.zeros_like(d["q"])), put(np.zeros_like(d["k"])), put(np.zeros_like(d["v"]))
    delta = put(np.zeros((N, H, L), f))
    dmask = put(np.zeros((N, H, L, S), f)) if want_dmask else None
    mod.attention_backward(dq, dk, dv, dmask, delta, a["dout"], a["q"], a["k"], a["v"], out, lse, a["mask"], causal,
                           scale, p, seed)
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
    got = run(be.k, be.put, be.get, *args)
    want = run(_C.cpu, Emu.put, Emu.get, *args)
    for name, w in want.items():
        if w is None:
            continue
        g = got[name]
        fin = np.isfinite(w)
        assert (np.isfinite(g) == fin).all(), name
        np.testing.assert_allclose(g[fin], w[fin], rtol=1e-5, atol=2e-6 * (1 + np.abs(w[fin]).max()), err_msg=name)


def test_cuda_attention_checks_sizes(be):
    f = np.float32
    q = be.put(np.zeros((1, 1, 2, 129), f))
    with pytest.raises(ValueError, match=r"\[scaled_dot_product_attention\] the CUDA kernel takes .* up to 128"):
        be.k.attention_forward(be.put(np.zeros((1, 1, 2, 4), f)), be.put(np.zeros((1, 1, 2), f)), q, q,
                                 be.put(np.zeros((1, 1, 2, 4), f)), None, False, 1.0)
    with pytest.raises(ValueError, match=r"expected query of dtype float32"):
        x = be.put(np.zeros((1, 1, 2, 4)))
        be.k.attention_forward(x, be.put(np.zeros((1, 1, 2))), x, x, x, None, False, 1.0)


def test_emulated_attention_is_the_cuda_entry():
    assert _C_emu.attention_forward.__doc__ == _C.cuda.attention_forward.__doc__
    assert _C_emu.attention_backward.__doc__ == _C.cuda.attention_backward.__doc__


def test_cuda_attention_reads_heads_in_place(be):
    from nerve.ops.attention import _heads
    rng = np.random.default_rng(11)
    N, L, H, hd = 2, 37, 2, 8
    E = H * hd
    P = rng.standard_normal((L, N, 3 * E)).astype(np.float32)
    G = rng.standard_normal((L, N, E)).astype(np.float32)
    res = []
    for mod, put, get in ((be.k, be.put, be.get), (_C.cpu, Emu.put, Emu.get)):
        m = np if put is Emu.put else be.cp
        p, g = put(P), put(G)
        qh, kh, vh = (_heads(m, p, c, E, H, False) for c in (0, E, 2 * E))
        out = put(np.zeros(G.shape, np.float32))
        oh = _heads(m, out, 0, E, H, False)
        lse = put(np.zeros((N, H, L), np.float32))
        mod.attention_forward(oh, lse, qh, kh, vh, None, True, 0.35, 0.25, 77)
        dP = put(np.zeros(P.shape, np.float32))
        dq, dk, dv = (_heads(m, dP, c, E, H, False) for c in (0, E, 2 * E))
        mod.attention_backward(dq, dk, dv, None, put(np.zeros((N, H, L), np.float32)), _heads(m, g, 0, E, H, False),
                               qh, kh, vh, oh, lse, None, True, 0.35, 0.25, 77)
        res.append((get(out), get(dP)))
    for got, want in zip(res[0], res[1]):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=2e-6 * (1 + np.abs(want).max()))


from test_device import gpu  # noqa: E402,F401  (the fixture: stand-in cupy over _C_emu, or the GPU)


def test_attention_ops_run_the_cuda_kernels_on_device_tensors(gpu):
    import nerve
    import nerve.nn as nn
    import nerve.nn.functional as F
    rng = np.random.default_rng(4)
    mha = nn.MultiheadAttention(8, 2, batch_first=True)
    x = rng.standard_normal((2, 5, 8)).astype(np.float32)
    q, k, v = (rng.standard_normal(s).astype(np.float32) for s in ((2, 2, 5, 4), (2, 2, 6, 4), (2, 2, 6, 3)))
    pad = np.array([[False] * 5, [False, False, True, True, False]])

    def run(device):
        mha.to(device)
        mha.zero_grad()
        t = nerve.tensor(x, requires_grad=True, device=device)
        out = mha(t, t, t, key_padding_mask=nerve.tensor(pad, device=device), need_weights=False)[0]
        out.backward(nerve.ones_like(out))
        tq, tk, tv = (nerve.tensor(a, requires_grad=True, device=device) for a in (q, k, v))
        o2 = F.scaled_dot_product_attention(tq, tk, tv, is_causal=True)
        o2.sum().backward()
        return [out.detach().cpu().numpy(), t.grad.cpu().numpy(), o2.detach().cpu().numpy()] + \
            [a.grad.cpu().numpy() for a in (tq, tk, tv)] + [p.grad.cpu().numpy() for p in mha.parameters()]
    on_cpu, on_gpu = run("cpu"), run("cuda")
    assert {"attention_forward", "attention_backward"} <= {n for n, _ in gpu.calls}
    for a, b in zip(on_gpu, on_cpu):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
