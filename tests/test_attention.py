"""scaled_dot_product_attention: the blocked kernel vs its plain-loop oracle on every ISA (partial
blocks, masks, causal, dropout, fully masked rows), the functional form vs torch (values and
gradients for leading dims, broadcast bool / float masks, causal, scale, float-mask gradients),
dropout's determinism and statistics, float64 gradcheck, and errors."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import nerve
import nerve.nn.functional as F
from nerve import _C
from nerve.ops.attention import _Attention
from nerve.testing import assert_close, gradcheck
from helpers import check_op

ISAS = ["avx512", "avx2", "generic"]


@pytest.fixture(params=ISAS)
def isa(request):
    _C.set_isa(request.param)
    yield request.param
    _C.set_isa("avx512")


def make_mask(kind, rng, N, H, L, S, dtype):
    if kind is None:
        return None
    if kind == "bool":
        return np.broadcast_to(rng.random((1, H, L, S)) > 0.3, (N, H, L, S))
    if kind == "padding":  # key padding, with one query row of one batch entry fully masked
        m = rng.random((N, 1, L, S)) > 0.4
        m[0, 0, 0, :] = False
        return np.broadcast_to(m, (N, H, L, S))
    if kind == "float":
        return np.broadcast_to(rng.standard_normal((L, S)).astype(dtype), (N, H, L, S))
    if kind == "float-inf":
        m = rng.standard_normal((N, H, L, S)).astype(dtype)
        m[rng.random(m.shape) < 0.3] = -np.inf
        m[-1, -1, -1, :] = -np.inf
        return m
    raise ValueError(kind)


def run_kernel(mod, naive, q, k, v, dout, mask, causal, scale, p, seed, want_dmask):
    N, H, L, _ = q.shape
    out = np.zeros((N, H, L, v.shape[3]), q.dtype)
    lse = np.zeros((N, H, L), q.dtype)
    extra = {} if naive is None else {"naive": naive}
    mod.attention_forward(out, lse, q, k, v, mask, causal, scale, p, seed, **extra)
    dq, dk, dv = np.zeros_like(q), np.zeros_like(k), np.zeros_like(v)
    delta = np.zeros((N, H, L), q.dtype)
    dmask = np.zeros((N, H, L, k.shape[2]), q.dtype) if want_dmask else None
    mod.attention_backward(dq, dk, dv, dmask, delta, dout, q, k, v, out, lse, mask, causal, scale, p, seed, **extra)
    return {"out": out, "lse": lse, "dq": dq, "dk": dk, "dv": dv, "delta": delta, "dmask": dmask}


def kernel_inputs(N, H, L, S, E, Ev, mask_kind, dtype, seed=0):
    rng = np.random.default_rng(seed)
    q = rng.standard_normal((N, H, L, E)).astype(dtype)
    k = rng.standard_normal((N, H, S, E)).astype(dtype)
    v = rng.standard_normal((N, H, S, Ev)).astype(dtype)
    dout = rng.standard_normal((N, H, L, Ev)).astype(dtype)
    return q, k, v, dout, make_mask(mask_kind, rng, N, H, L, S, dtype)


def close(a, b, tol, what):
    fin = np.isfinite(b)
    assert (np.isfinite(a) == fin).all(), f"{what}: infinities differ"
    scale = 1.0 + (float(np.abs(b[fin]).max()) if fin.any() else 0.0)
    np.testing.assert_allclose(a[fin], b[fin], atol=tol * scale, rtol=tol, err_msg=what)


KERNEL_CASES = [  # N, heads, L, S, E, Ev, mask, causal, dropout
    (2, 3, 5, 7, 4, 6, None, False, 0.0),
    (2, 3, 70, 150, 16, 8, "bool", False, 0.0),      # partial row and key blocks
    (1, 2, 130, 140, 8, 8, None, True, 0.0),         # causal across several blocks
    (2, 2, 65, 33, 8, 8, "padding", True, 0.0),      # a fully masked row
    (2, 2, 9, 260, 8, 8, "float", False, 0.0),
    (1, 2, 12, 300, 5, 3, "float-inf", False, 0.0),  # -inf entries, a row of only -inf
    (2, 2, 9, 26, 8, 8, "float", True, 0.3),
    (1, 1, 200, 300, 32, 32, None, False, 0.5),
    (1, 1, 3, 4, 2, 2, "bool", False, 1.0),          # everything dropped: zeros
]


@pytest.mark.parametrize("N,H,L,S,E,Ev,mask,causal,p", KERNEL_CASES)
def test_kernel_matches_naive(isa, N, H, L, S, E, Ev, mask, causal, p):
    for dtype, tol in ((np.float32, 3e-6), (np.float64, 1e-13)):
        q, k, v, dout, m = kernel_inputs(N, H, L, S, E, Ev, mask, dtype)
        want_dmask = mask is not None and mask.startswith("float")
        args = (q, k, v, dout, m, causal, 1 / np.sqrt(E), p, 987654321, want_dmask)
        fast, ref = run_kernel(_C.cpu, False, *args), run_kernel(_C.cpu, True, *args)
        for name in fast:
            if fast[name] is not None:
                close(fast[name], ref[name], tol, f"{name} {dtype.__name__}")


def test_fully_masked_rows_are_zero_with_no_gradient():
    q, k, v, dout, m = kernel_inputs(2, 2, 65, 33, 8, 8, "padding", np.float32)
    r = run_kernel(_C.cpu, False, q, k, v, dout, m, False, 0.5, 0.0, 0, False)
    assert (r["out"][0, :, 0] == 0).all()  # n = 0, both heads
    assert np.isneginf(r["lse"][0, :, 0]).all() and (r["dq"][0, :, 0] == 0).all()


# ---- the functional form vs torch ---------------------------------------------------------------

SDPA = [  # q, k, v shapes, mask spec, causal, scale
    ((2, 3, 5, 4), (2, 3, 7, 4), (2, 3, 7, 6), None, False, None),
    ((5, 4), (7, 4), (7, 6), None, True, None),
    ((2, 3, 9, 8), (2, 3, 9, 8), (2, 3, 9, 8), None, True, 0.7),
    ((2, 3, 5, 4), (2, 3, 7, 4), (2, 3, 7, 6), ("bool", (5, 7)), False, None),
    ((2, 3, 5, 4), (2, 3, 7, 4), (2, 3, 7, 6), ("bool", (2, 1, 1, 7)), False, None),  # key padding
    ((2, 3, 5, 4), (2, 3, 7, 4), (2, 3, 7, 6), ("float", (3, 5, 7)), False, None),
    ((4, 2, 3, 5, 4), (4, 2, 3, 7, 4), (4, 2, 3, 7, 6), ("float", (2, 1, 5, 7)), False, 0.3),
    ((2, 3, 5, 4), (1, 3, 7, 4), (2, 1, 7, 6), ("float", (2, 3, 5, 7)), False, None),  # broadcast batches
    ((2, 4, 70, 16), (2, 4, 130, 16), (2, 4, 130, 8), ("bool", (2, 4, 70, 130)), False, None),
]


def sdpa_mask(spec, rng):
    if spec is None:
        return None
    kind, shape = spec
    return rng.random(shape) > 0.3 if kind == "bool" else rng.standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("qs,ks,vs,mspec,causal,scale", SDPA)
def test_sdpa_matches_torch(qs, ks, vs, mspec, causal, scale):
    rng = np.random.default_rng(1)
    mask = sdpa_mask(mspec, rng)
    specs = [qs, ks, vs] + ([mask] if mask is not None else [])
    rg = [True, True, True] + ([False] if mask is not None else [])

    def fn(lib):
        def f(q, k, v, m=None):
            return lib(q, k, v, attn_mask=m, is_causal=causal, scale=scale)
        return f
    check_op(specs, fn(TF.scaled_dot_product_attention), fn(F.scaled_dot_product_attention), atol=2e-6, rtol=1e-5,
             requires_grad=rg)


@pytest.mark.parametrize("mshape", [(3, 5, 7), (5, 7), (2, 1, 1, 7)])
def test_float_mask_gradient_matches_torch(mshape):
    check_op([(2, 3, 5, 4), (2, 3, 7, 4), (2, 3, 7, 6), mshape],
             lambda q, k, v, m: TF.scaled_dot_product_attention(q, k, v, attn_mask=m),
             lambda q, k, v, m: F.scaled_dot_product_attention(q, k, v, attn_mask=m), atol=2e-6, rtol=1e-5)


def test_fully_masked_row_matches_torch():
    rng = np.random.default_rng(2)
    mask = rng.random((2, 1, 4, 6)) > 0.5
    mask[1, 0, 2] = False
    check_op([(2, 3, 4, 5), (2, 3, 6, 5), (2, 3, 6, 5), mask],
             lambda q, k, v, m: TF.scaled_dot_product_attention(q, k, v, attn_mask=m),
             lambda q, k, v, m: F.scaled_dot_product_attention(q, k, v, attn_mask=m), atol=2e-6, rtol=1e-5,
             requires_grad=[True, True, True, False])


def test_gqa_matches_torch():
    check_op([(2, 4, 5, 8), (2, 2, 6, 8), (2, 2, 6, 3)],
             lambda q, k, v: TF.scaled_dot_product_attention(q, k, v, enable_gqa=True),
             lambda q, k, v: F.scaled_dot_product_attention(q, k, v, enable_gqa=True), atol=2e-6, rtol=1e-5)


def test_sdpa_gradcheck():
    mask = nerve.from_numpy(np.random.default_rng(3).standard_normal((3, 4)))
    for kw in (dict(is_causal=True), dict(attn_mask=mask), dict(attn_mask=mask > 0)):
        q = nerve.randn(2, 3, 4, dtype=nerve.float64, requires_grad=True)
        k = nerve.randn(2, 4, 4, dtype=nerve.float64, requires_grad=True)
        v = nerve.randn(2, 4, 3, dtype=nerve.float64, requires_grad=True)
        assert gradcheck(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, **kw), (q, k, v))
    m = mask.clone().requires_grad_(True)
    q, k, v = (nerve.randn(2, 3, n, dtype=nerve.float64) for n in (4, 4, 3))
    k, v = nerve.randn(2, 4, 4, dtype=nerve.float64), nerve.randn(2, 4, 3, dtype=nerve.float64)
    assert gradcheck(lambda m: F.scaled_dot_product_attention(q, k, v, attn_mask=m), (m,))


# ---- dropout ------------------------------------------------------------------------------------

def test_dropout_gradcheck_with_a_fixed_seed():
    q = nerve.randn(1, 2, 3, 4, dtype=nerve.float64, requires_grad=True)
    k = nerve.randn(1, 2, 5, 4, dtype=nerve.float64, requires_grad=True)
    v = nerve.randn(1, 2, 5, 3, dtype=nerve.float64, requires_grad=True)
    assert gradcheck(lambda q, k, v: _Attention.apply(q, k, v, None, True, 0.5, 0.4, 12345), (q, k, v))


def test_dropout_is_seeded_and_unbiased():
    q = nerve.zeros(1, 256, 8)  # equal scores: every key has probability 1/S
    k = nerve.zeros(1, 512, 8)
    v = nerve.ones(1, 512, 1)
    nerve.manual_seed(7)
    a = F.scaled_dot_product_attention(q, k, v, dropout_p=0.25).numpy()
    nerve.manual_seed(7)
    b = F.scaled_dot_product_attention(q, k, v, dropout_p=0.25).numpy()
    c = F.scaled_dot_product_attention(q, k, v, dropout_p=0.25).numpy()
    assert (a == b).all() and not (a == c).all()
    # each row averages (1/S) sum keep/(1-p) over 512 keys: mean 1, sd sqrt(p/(1-p)/S) ~ 0.026
    assert abs(a.mean() - 1) < 0.01 and 0.015 < a.std() < 0.04
    assert (F.scaled_dot_product_attention(q, k, v, dropout_p=0.0).numpy() == 1).all()
    assert (F.scaled_dot_product_attention(q, k, v, dropout_p=1.0).numpy() == 0).all()


def test_dropout_mask_is_the_same_on_every_isa_and_thread_count():
    q, k, v, dout, m = kernel_inputs(2, 2, 70, 140, 8, 8, "bool", np.float32)
    ref = run_kernel(_C.cpu, True, q, k, v, dout, m, False, 0.35, 0.3, 42, False)
    threads0 = nerve.get_num_threads()
    for isa in ISAS:
        _C.set_isa(isa)
        for threads in (1, 2):
            nerve.set_num_threads(threads)
            r = run_kernel(_C.cpu, False, q, k, v, dout, m, False, 0.35, 0.3, 42, False)
            close(r["out"], ref["out"], 3e-6, f"out {isa} {threads}")
            close(r["dv"], ref["dv"], 3e-6, f"dv {isa} {threads}")
    _C.set_isa("avx512")
    nerve.set_num_threads(threads0)


# ---- errors -------------------------------------------------------------------------------------

def test_errors():
    q, k, v = nerve.randn(2, 5, 4), nerve.randn(2, 7, 4), nerve.randn(2, 7, 6)
    op = r"\[scaled_dot_product_attention\] "
    with pytest.raises(ValueError, match=op + "key has 3 features, query has 4"):
        F.scaled_dot_product_attention(q, nerve.randn(2, 7, 3), v)
    with pytest.raises(ValueError, match=op + "value has 6 positions, key has 7"):
        F.scaled_dot_product_attention(q, k, nerve.randn(2, 6, 6))
    with pytest.raises(ValueError, match=op + r"attn_mask of shape \(5, 6\) does not broadcast"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=nerve.ones(5, 6, dtype=nerve.bool))
    with pytest.raises(TypeError, match=op + "Expected attn_mask dtype to be bool or to match query dtype"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=nerve.zeros(5, 7, dtype=nerve.float64))
    with pytest.raises(ValueError, match=op + "Explicit attn_mask should not be set when is_causal=True"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=nerve.ones(5, 7, dtype=nerve.bool), is_causal=True)
    with pytest.raises(TypeError, match=op + "Expected query, key, and value to have the same dtype"):
        F.scaled_dot_product_attention(q, k.double(), v)
    with pytest.raises(ValueError, match=op + "dropout_p must be in"):
        F.scaled_dot_product_attention(q, k, v, dropout_p=1.5)
    with pytest.raises(ValueError, match=op + "query must have at least 2 dimensions"):
        F.scaled_dot_product_attention(nerve.randn(4), k, v)
    f = np.float32
    arrays = [np.zeros((1, 2, 5, 6), f), np.zeros((1, 2, 5), f), np.zeros((1, 2, 5, 4), f),
              np.zeros((1, 2, 7, 4), f), np.zeros((1, 2, 7, 6), f)]
    with pytest.raises(ValueError, match=op + r"attn_mask of shape \(1, 1, 5, 7\) does not match \(N, heads, L, S\)"):
        _C.cpu.attention_forward(*arrays, np.zeros((1, 1, 5, 7), bool), False, 1.0)
    with pytest.raises(ValueError, match=op + "attn_mask must be bool or of the query's dtype"):
        _C.cpu.attention_forward(*arrays, np.zeros((1, 2, 5, 7), np.float64), False, 1.0)
    with pytest.raises(ValueError, match=op + r"expected out of shape \(1, 2, 5, 6\), got \(1, 2, 5, 5\)"):
        _C.cpu.attention_forward(np.zeros((1, 2, 5, 5), f), *arrays[1:], None, False, 1.0)
    with pytest.raises(ValueError, match=op + "query must have contiguous features"):
        _C.cpu.attention_forward(arrays[0], arrays[1], np.zeros((1, 2, 5, 8), f)[..., ::2], *arrays[3:], None, False,
                                 1.0)
    grads = [np.zeros((1, 2, 5, 4), f), np.zeros((1, 2, 7, 4), f), np.zeros((1, 2, 7, 6), f)]
    with pytest.raises(ValueError, match=op + "dmask is the gradient of a float attn_mask"):
        _C.cpu.attention_backward(*grads, np.zeros((1, 2, 5, 7), f), np.zeros((1, 2, 5), f), np.zeros((1, 2, 5, 6), f),
                                  *arrays[2:], arrays[0], arrays[1], None, False, 1.0)
    with pytest.raises(ValueError, match=op + "dquery must have the strides of query"):
        _C.cpu.attention_backward(np.zeros((1, 2, 5, 8), f)[..., :4], *grads[1:], None, np.zeros((1, 2, 5), f),
                                  np.zeros((1, 2, 5, 6), f), *arrays[2:], arrays[0], arrays[1], None, False, 1.0)


@pytest.mark.parametrize("batch_first", [True, False])
def test_kernel_reads_heads_in_place(batch_first):
    """q, k, v as head views of one packed (N, L, 3E) / (L, N, 3E) projection, out and gradients in
    the same layouts (MultiheadAttention's path) == the same attention on contiguous copies."""
    from nerve.ops.attention import _heads
    rng = np.random.default_rng(9)
    N, L, H, hd = 2, 70, 3, 8
    E = H * hd
    P = rng.standard_normal((N, L, 3 * E) if batch_first else (L, N, 3 * E)).astype(np.float32)
    G = rng.standard_normal(P.shape[:2] + (E,)).astype(np.float32)
    mask = np.broadcast_to(rng.random((N, 1, 1, L)) > 0.2, (N, H, L, L))
    qh, kh, vh = (_heads(np, P, c, E, H, batch_first) for c in (0, E, 2 * E))
    out = np.zeros(G.shape, np.float32)
    oh = _heads(np, out, 0, E, H, batch_first)
    lse = np.zeros((N, H, L), np.float32)
    _C.cpu.attention_forward(oh, lse, qh, kh, vh, mask, False, 0.3, 0.2, 5)
    dP = np.full(P.shape, np.nan, np.float32)
    dq, dk, dv = (_heads(np, dP, c, E, H, batch_first) for c in (0, E, 2 * E))
    gh = _heads(np, G, 0, E, H, batch_first)
    _C.cpu.attention_backward(dq, dk, dv, None, np.zeros((N, H, L), np.float32), gh, qh, kh, vh, oh, lse, mask,
                              False, 0.3, 0.2, 5)
    assert not np.isnan(dP).any()  # every element of the packed gradient written exactly by its head
    contig = [np.ascontiguousarray(a) for a in (qh, kh, vh, gh)]
    ref = run_kernel(_C.cpu, True, contig[0], contig[1], contig[2], contig[3], mask, False, 0.3, 0.2, 5, False)
    close(np.ascontiguousarray(oh), ref["out"], 3e-6, "out")
    for name, got in (("dq", dq), ("dk", dk), ("dv", dv)):
        close(np.ascontiguousarray(got), ref[name], 3e-6, name)
