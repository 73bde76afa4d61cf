"""MultiheadAttention, TransformerEncoderLayer / DecoderLayer, the stacks and nn.Transformer vs torch
(weights through state_dict; outputs, attention weights, input and parameter gradients; eval mode or
dropout 0), positional embeddings, and errors that name the layer."""
import numpy as np
import pytest
import torch

import nerve
import nerve.nn as nn
from nerve.testing import assert_close, gradcheck

ATOL, RTOL = 2e-5, 1e-4


def load(tm, nm):
    assert list(nm.state_dict()) == list(tm.state_dict())
    nm.load_state_dict({k: nerve.from_numpy(v.detach().numpy().copy()) for k, v in tm.state_dict().items()})


def pair(a):
    return torch.from_numpy(a.copy()).requires_grad_(), nerve.from_numpy(a.copy()).requires_grad_()


def backward_and_compare(t_out, n_out, t_in, n_in, tm, nm, seed=5):
    rng = np.random.default_rng(seed)
    g = rng.standard_normal(tuple(t_out.shape)).astype(np.float32)
    (t_out * torch.from_numpy(g)).sum().backward()
    (n_out * nerve.from_numpy(g)).sum().backward()
    for i, (t, n) in enumerate(zip(t_in, n_in)):
        assert_close(n.grad, t.grad, atol=ATOL, rtol=RTOL, msg=f"gradient of input {i}")
    for (kn, p), (kt, q) in zip(nm.named_parameters(), tm.named_parameters()):
        assert kn == kt
        assert_close(p.grad, q.grad, atol=ATOL, rtol=RTOL, msg=f"gradient of {kn}")


# ---- MultiheadAttention ------------------------------------------------------------------------

def causal_float(L, S):
    return np.triu(np.full((L, S), -np.inf, np.float32), 1)


MHA = [  # constructor kwargs, forward options
    ({}, dict(need_weights=True)),
    ({}, dict(need_weights=False)),
    ({"batch_first": True}, dict(kpm=True)),
    ({"batch_first": True}, dict(kpm=True, need_weights=False)),
    ({}, dict(mask=lambda r, L, S, B: r.random((L, S)) > 0.8, need_weights=False)),
    ({}, dict(mask=lambda r, L, S, B: r.random((L, S)) > 0.8)),
    ({}, dict(mask=lambda r, L, S, B: r.standard_normal((B, L, S)).astype(np.float32), kpm=True)),
    ({}, dict(mask=lambda r, L, S, B: r.standard_normal((B, L, S)).astype(np.float32), need_weights=False)),
    ({"kdim": 5, "vdim": 3}, {}),
    ({"kdim": 5, "vdim": 3, "batch_first": True}, dict(need_weights=False, kpm=True)),
    ({"bias": False}, dict(need_weights=False)),
    ({"add_bias_kv": True, "add_zero_attn": True}, dict(kpm=True)),
    ({"add_bias_kv": True}, dict(need_weights=False, mask=lambda r, L, S, B: r.random((L, S)) > 0.8)),
    ({}, dict(average_attn_weights=False)),
    ({"batch_first": True}, dict(self_attn=True, mask=lambda r, L, S, B: causal_float(L, S), is_causal=True, need_weights=False)),
    ({"batch_first": True}, dict(self_attn=True, kpm=True, need_weights=False)),
    ({}, dict(self_attn=True, need_weights=False, unbatched=True)),
    ({}, dict(unbatched=True, kpm=True)),
]


@pytest.mark.parametrize("ctor,opts", MHA)
def test_multihead_attention_matches_torch(ctor, opts):
    L, S, N, E, H = 5, 7, 3, 8, 2
    if opts.get("self_attn"):
        S = L
    torch.manual_seed(0)
    tm, nm = torch.nn.MultiheadAttention(E, H, **ctor), nn.MultiheadAttention(E, H, **ctor)
    load(tm, nm)
    rng = np.random.default_rng(1)
    bf, unb = ctor.get("batch_first", False), opts.get("unbatched", False)
    kd, vd = ctor.get("kdim") or E, ctor.get("vdim") or E

    def shape(l, d):
        return (l, d) if unb else ((N, l, d) if bf else (l, N, d))
    tq, nq = pair(rng.standard_normal(shape(L, E)).astype(np.float32))
    tk, nk = pair(rng.standard_normal(shape(S, kd)).astype(np.float32))
    tv, nv = pair(rng.standard_normal(shape(S, vd)).astype(np.float32))
    t_in, n_in = [tq, tk, tv], [nq, nk, nv]
    if opts.get("self_attn"):
        tk = tv = tq
        nk = nv = nq
        t_in, n_in = [tq], [nq]
    kw_t, kw_n = {}, {}
    for key in ("need_weights", "average_attn_weights", "is_causal"):
        if key in opts:
            kw_t[key] = kw_n[key] = opts[key]
    if opts.get("kpm"):
        m = rng.random((S,) if unb else (N, S)) > 0.7
        m[..., 0] = False
        kw_t["key_padding_mask"], kw_n["key_padding_mask"] = torch.from_numpy(m), nerve.from_numpy(m)
    if "mask" in opts:
        m = opts["mask"](rng, L, S, N * H)
        kw_t["attn_mask"], kw_n["attn_mask"] = torch.from_numpy(m), nerve.from_numpy(m)
    t_out, t_w = tm(tq, tk, tv, **kw_t)
    n_out, n_w = nm(nq, nk, nv, **kw_n)
    assert_close(n_out, t_out.detach(), atol=ATOL, rtol=RTOL)
    if t_w is None:
        assert n_w is None
    else:
        assert_close(n_w, t_w.detach(), atol=ATOL, rtol=RTOL)
    backward_and_compare(t_out, n_out, t_in, n_in, tm, nm)


def test_multihead_attention_state_dict_and_init():
    for kw in ({}, {"kdim": 5, "vdim": 3}, {"add_bias_kv": True}, {"bias": False}):
        tm, nm = torch.nn.MultiheadAttention(8, 2, **kw), nn.MultiheadAttention(8, 2, **kw)
        assert list(nm.state_dict()) == list(tm.state_dict())
    m = nn.MultiheadAttention(64, 4)
    bound = np.sqrt(6 / (64 + 192))  # xavier_uniform of the (3E, E) in_proj_weight
    w = m.in_proj_weight.detach().numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.95 * bound
    assert (m.in_proj_bias.detach().numpy() == 0).all() and (m.out_proj.bias.detach().numpy() == 0).all()


def test_multihead_attention_dropout_only_in_training():
    m = nn.MultiheadAttention(8, 2, dropout=0.5)
    x = nerve.randn(4, 2, 8)
    m.eval()
    a, b = m(x, x, x)[0].detach().numpy(), m(x, x, x)[0].detach().numpy()
    assert (a == b).all()
    m.train()
    c = m(x, x, x, need_weights=False)[0].detach().numpy()
    assert not np.allclose(a, c)


def test_mha_functional_matches_torch():
    rng = np.random.default_rng(2)
    E, H = 8, 2
    q = rng.standard_normal((5, 3, E)).astype(np.float32)
    w_in, b_in = rng.standard_normal((3 * E, E)).astype(np.float32), rng.standard_normal(3 * E).astype(np.float32)
    w_out, b_out = rng.standard_normal((E, E)).astype(np.float32), rng.standard_normal(E).astype(np.float32)
    tq = torch.from_numpy(q)
    t = torch.nn.functional.multi_head_attention_forward(tq, tq, tq, E, H, torch.from_numpy(w_in),
                                                         torch.from_numpy(b_in), None, None, False, 0.0,
                                                         torch.from_numpy(w_out), torch.from_numpy(b_out),
                                                         need_weights=False)[0]
    nq = nerve.from_numpy(q)
    n = nn.functional.multi_head_attention_forward(nq, nq, nq, E, H, nerve.from_numpy(w_in), nerve.from_numpy(b_in),
                                                   None, None, False, 0.0, nerve.from_numpy(w_out),
                                                   nerve.from_numpy(b_out), need_weights=False)[0]
    assert_close(n, t, atol=ATOL, rtol=RTOL)


def test_multihead_attention_gradcheck():
    m = nn.MultiheadAttention(4, 2, batch_first=True).double()
    x = nerve.randn(2, 3, 4, dtype=nerve.float64, requires_grad=True)
    mask = nerve.from_numpy(np.array([[False, False, True], [False, False, False]]))
    assert gradcheck(lambda x: m(x, x, x, key_padding_mask=mask, need_weights=False)[0], (x,))
    assert gradcheck(lambda x: m(x, x, x, key_padding_mask=mask)[0], (x,))


def test_multihead_attention_errors():
    with pytest.raises(ValueError, match=r"\[MultiheadAttention\] embed_dim must be divisible by num_heads"):
        nn.MultiheadAttention(10, 3)
    with pytest.raises(ValueError, match=r"\[MultiheadAttention\] embed_dim and num_heads must be greater than 0"):
        nn.MultiheadAttention(0, 2)
    m = nn.MultiheadAttention(8, 2)
    x = nerve.randn(5, 3, 8)
    with pytest.raises(ValueError, match=r"\[MultiheadAttention\] query has 6 features"):
        m(nerve.randn(5, 3, 6), x, x)
    with pytest.raises(RuntimeError, match=r"\[MultiheadAttention\] The shape of the 2D attn_mask is \(4, 5\), "
                                           r"but should be \(5, 5\)"):
        m(x, x, x, attn_mask=nerve.zeros(4, 5))
    with pytest.raises(RuntimeError, match=r"\[MultiheadAttention\] The shape of the 3D attn_mask is"):
        m(x, x, x, attn_mask=nerve.zeros(3, 5, 5))
    with pytest.raises(ValueError, match=r"\[MultiheadAttention\] expected key_padding_mask of shape \(3, 5\)"):
        m(x, x, x, key_padding_mask=nerve.zeros(5, 3, dtype=nerve.bool))
    with pytest.raises(RuntimeError, match=r"\[MultiheadAttention\] Need attn_mask if specifying the is_causal"):
        m(x, x, x, is_causal=True)
    with pytest.raises(ValueError, match=r"\[MultiheadAttention\] query, key and value must have the same batch"):
        m(x, nerve.randn(5, 2, 8), nerve.randn(5, 2, 8))
    with pytest.raises(TypeError, match=r"\[MultiheadAttention\] only bool and floating types of attn_mask"):
        m(x, x, x, attn_mask=nerve.zeros(5, 5, dtype=nerve.int64))


# ---- Transformer layers ------------------------------------------------------------------------

ENC = [dict(), dict(norm_first=True), dict(activation="gelu", batch_first=True),
       dict(norm_first=True, activation="gelu", bias=False), dict(batch_first=True, norm_first=True)]


@pytest.mark.parametrize("kw", ENC)
@pytest.mark.parametrize("masks", ["none", "padding", "causal"])
def test_encoder_layer_matches_torch(kw, masks):
    torch.manual_seed(0)
    tm = torch.nn.TransformerEncoderLayer(16, 4, 32, dropout=0.1, **kw).eval()
    nm = nn.TransformerEncoderLayer(16, 4, 32, dropout=0.1, **kw).eval()
    load(tm, nm)
    rng = np.random.default_rng(3)
    bf = kw.get("batch_first", False)
    tx, nx = pair(rng.standard_normal((3, 6, 16) if bf else (6, 3, 16)).astype(np.float32))
    kt, kn = {}, {}
    if masks == "padding":
        m = rng.random((3, 6)) > 0.6
        m[:, 0] = False
        kt["src_key_padding_mask"], kn["src_key_padding_mask"] = torch.from_numpy(m), nerve.from_numpy(m)
    if masks == "causal":
        c = causal_float(6, 6)
        kt.update(src_mask=torch.from_numpy(c), is_causal=True)
        kn.update(src_mask=nerve.from_numpy(c), is_causal=True)
    t_out, n_out = tm(tx, **kt), nm(nx, **kn)
    assert_close(n_out, t_out.detach(), atol=ATOL, rtol=RTOL)
    backward_and_compare(t_out, n_out, [tx], [nx], tm, nm)


@pytest.mark.parametrize("kw", [dict(), dict(norm_first=True, activation="gelu"), dict(batch_first=True)])
def test_decoder_layer_matches_torch(kw):
    torch.manual_seed(0)
    tm = torch.nn.TransformerDecoderLayer(16, 2, 24, dropout=0.0, **kw)
    nm = nn.TransformerDecoderLayer(16, 2, 24, dropout=0.0, **kw)
    load(tm, nm)
    rng = np.random.default_rng(4)
    bf = kw.get("batch_first", False)
    tt, nt = pair(rng.standard_normal((2, 5, 16) if bf else (5, 2, 16)).astype(np.float32))
    tmem, nmem = pair(rng.standard_normal((2, 7, 16) if bf else (7, 2, 16)).astype(np.float32))
    c = causal_float(5, 5)
    pad = rng.random((2, 7)) > 0.6
    pad[:, 0] = False
    t_out = tm(tt, tmem, tgt_mask=torch.from_numpy(c), tgt_is_causal=True,
               memory_key_padding_mask=torch.from_numpy(pad))
    n_out = nm(nt, nmem, tgt_mask=nerve.from_numpy(c), tgt_is_causal=True,
               memory_key_padding_mask=nerve.from_numpy(pad))
    assert_close(n_out, t_out.detach(), atol=ATOL, rtol=RTOL)
    backward_and_compare(t_out, n_out, [tt, tmem], [nt, nmem], tm, nm)


def test_encoder_and_decoder_stacks_match_torch():
    torch.manual_seed(0)
    t_layer = torch.nn.TransformerEncoderLayer(16, 4, 32, dropout=0.0, batch_first=True)
    tm = torch.nn.TransformerEncoder(t_layer, 3, norm=torch.nn.LayerNorm(16), enable_nested_tensor=False)
    nm = nn.TransformerEncoder(nn.TransformerEncoderLayer(16, 4, 32, dropout=0.0, batch_first=True), 3,
                               norm=nn.LayerNorm(16))
    load(tm, nm)
    rng = np.random.default_rng(6)
    tx, nx = pair(rng.standard_normal((2, 6, 16)).astype(np.float32))
    mask = nn.generate_square_subsequent_mask(6)
    assert_close(mask, torch.nn.Transformer.generate_square_subsequent_mask(6), atol=0, rtol=0)
    t_out = tm(tx, mask=torch.from_numpy(mask.numpy()))
    n_out = nm(nx, mask=mask)  # detected as causal: the kernel applies it
    assert_close(n_out, t_out.detach(), atol=ATOL, rtol=RTOL)
    backward_and_compare(t_out, n_out, [tx], [nx], tm, nm)

    torch.manual_seed(1)
    tt = torch.nn.Transformer(16, 2, 2, 2, 32, dropout=0.0)
    nt = nn.Transformer(16, 2, 2, 2, 32, dropout=0.0)
    load(tt, nt)
    ts, ns = pair(rng.standard_normal((7, 2, 16)).astype(np.float32))
    tg, ng = pair(rng.standard_normal((5, 2, 16)).astype(np.float32))
    tmask = torch.nn.Transformer.generate_square_subsequent_mask(5)
    t_out = tt(ts, tg, tgt_mask=tmask)
    n_out = nt(ns, ng, tgt_mask=nerve.from_numpy(tmask.numpy()))
    assert_close(n_out, t_out.detach(), atol=ATOL, rtol=RTOL)
    backward_and_compare(t_out, n_out, [ts, tg], [ns, ng], tt, nt)


def test_encoder_layer_gradcheck():
    layer = nn.TransformerEncoderLayer(4, 2, 6, dropout=0.0, batch_first=True).double()
    x = nerve.randn(2, 3, 4, dtype=nerve.float64, requires_grad=True)
    assert gradcheck(lambda x: layer(x, is_causal=True, src_mask=nn.generate_square_subsequent_mask(3).double()),
                     (x,))


def test_transformer_errors():
    with pytest.raises(RuntimeError, match=r"\[TransformerEncoderLayer\] activation should be relu/gelu"):
        nn.TransformerEncoderLayer(8, 2, activation="tanh")
    with pytest.raises(ValueError, match=r"\[MultiheadAttention\] embed_dim must be divisible by num_heads"):
        nn.TransformerEncoderLayer(10, 4)
    layer = nn.TransformerEncoderLayer(8, 2, 16)
    with pytest.raises(ValueError, match=r"\[TransformerEncoderLayer\] expected src of shape \(L, N, d_model\)"):
        layer(nerve.randn(5, 3, 6))
    dec = nn.TransformerDecoderLayer(8, 2, 16, batch_first=True)
    with pytest.raises(ValueError, match=r"\[TransformerDecoderLayer\] expected memory of shape \(N, L, d_model\)"):
        dec(nerve.randn(2, 5, 8), nerve.randn(2, 5, 4))
    with pytest.raises(ValueError, match=r"\[TransformerEncoder\] num_layers must be a positive integer"):
        nn.TransformerEncoder(layer, 0)


# ---- positional embeddings ---------------------------------------------------------------------

def test_sinusoidal_positional_embedding():
    pe = nn.SinusoidalPositionalEmbedding(50, 6)
    out = pe(nerve.zeros(10, 2, 6)).numpy()
    pos, i = 7, 2  # PE[pos, 2i] = sin(pos / 10000^(2i/d)), PE[pos, 2i+1] = cos(...)
    np.testing.assert_allclose(out[pos, 1, 2 * i], np.sin(pos / 10000 ** (2 * i / 6)), rtol=1e-6)
    np.testing.assert_allclose(out[pos, 0, 2 * i + 1], np.cos(pos / 10000 ** (2 * i / 6)), rtol=1e-6)
    assert list(pe.state_dict()) == [] and list(pe.parameters()) == []
    bf = nn.SinusoidalPositionalEmbedding(50, 6, batch_first=True)
    np.testing.assert_allclose(bf(nerve.zeros(2, 10, 6)).numpy()[1], out[:, 1], rtol=0, atol=0)
    with pytest.raises(ValueError, match=r"\[SinusoidalPositionalEmbedding\] sequence of length 60 exceeds"):
        pe(nerve.zeros(60, 1, 6))


def test_learned_positional_embedding_trains():
    pe = nn.LearnedPositionalEmbedding(20, 4, batch_first=True)
    x = nerve.randn(3, 5, 4)
    pe(x).sum().backward()
    g = pe.weight.grad.numpy()
    assert (g[:5] == 3).all() and (g[5:] == 0).all()
    with pytest.raises(ValueError, match=r"\[LearnedPositionalEmbedding\] expected input of shape \(N, L, 4\)"):
        pe(nerve.randn(3, 5))
