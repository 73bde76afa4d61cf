"""RNN, LSTM, GRU and their cells vs torch (same weights through state_dict): outputs, final states,
input / initial-state / parameter gradients for every option; packed sequences and lengths; the
fused kernels vs their plain-loop oracle on every ISA; float64 gradcheck; errors naming the layer."""
import numpy as np
import pytest
import torch

import nerve
import nerve.nn as nn
from nerve import _C
from nerve.testing import assert_close, gradcheck

ISAS = ["avx512", "avx2", "generic"]
MODES = ["RNN_TANH", "RNN_RELU", "LSTM", "GRU"]
GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


@pytest.fixture(params=ISAS)
def isa(request):
    _C.set_isa(request.param)
    yield request.param
    _C.set_isa("avx512")


def nerve_copy(tm, nm):
    """Loads torch module tm's weights into nerve module nm through state_dict."""
    nm.load_state_dict({k: nerve.from_numpy(v.detach().numpy().copy()) for k, v in tm.state_dict().items()})


def make(cls, *args, **kw):
    torch.manual_seed(0)
    tm = getattr(torch.nn, cls)(*args, **kw)
    nm = getattr(nn, cls)(*args, **kw)
    nerve_copy(tm, nm)
    return tm, nm


def pair(a, rg=True):
    t = torch.from_numpy(a.copy()).requires_grad_(rg)
    n = nerve.from_numpy(a.copy()).requires_grad_(rg)
    return t, n


def flat(out):
    if isinstance(out, (tuple, list)):
        return [x for o in out for x in flat(o)]
    return [out]


def compare(t_outs, n_outs, t_in, n_in, tm, nm, atol, rtol, seed=1):
    """Forward values, then gradients of a random weighting of every output, for inputs and parameters."""
    t_outs, n_outs = flat(t_outs), flat(n_outs)
    assert len(t_outs) == len(n_outs)
    rng = np.random.default_rng(seed)
    t_loss = n_loss = 0
    for i, (t, n) in enumerate(zip(t_outs, n_outs)):
        assert tuple(n.shape) == tuple(t.shape), f"output {i}: {tuple(n.shape)} vs {tuple(t.shape)}"
        assert_close(n, t.detach(), atol=atol, rtol=rtol, msg=f"output {i}")
        g = rng.uniform(-1, 1, tuple(t.shape)).astype(t.detach().numpy().dtype)
        t_loss = t_loss + (t * torch.from_numpy(g)).sum()
        n_loss = n_loss + (n * nerve.from_numpy(g)).sum()
    t_loss.backward()
    n_loss.backward()
    for i, (t, n) in enumerate(zip(t_in, n_in)):
        if t is None:
            continue
        assert n.grad is not None, f"input {i} got no gradient"
        assert_close(n.grad, t.grad, atol=atol, rtol=rtol, msg=f"gradient of input {i}")
    tp, np_ = dict(tm.named_parameters()), dict(nm.named_parameters())
    assert list(tp) == list(np_)
    for k in tp:
        assert_close(np_[k].grad, tp[k].grad, atol=atol, rtol=rtol, msg=f"gradient of {k}")


# ---- kernels vs the oracle ----------------------------------------------------------------------

def run_kernel(mode, S, B, I, H, reverse, lengths, with_h0, dtype, naive, rng_seed=0, ldy_extra=0):
    rng = np.random.default_rng(rng_seed)
    G = GATES[mode]
    x = rng.standard_normal((S, B, I)).astype(dtype)
    # weights ~ N(0, 1.2^2 / H): pre-activations of order 1 at every width (a chaotic, saturated
    # recurrence would amplify float32 round-off without telling anything about the kernel)
    w_ih = (rng.standard_normal((G * H, I)) * 1.2 / np.sqrt(H)).astype(dtype)
    w_hh = (rng.standard_normal((G * H, H)) * 1.2 / np.sqrt(H)).astype(dtype)
    b_ih = (rng.standard_normal(G * H) * 0.4).astype(dtype)
    b_hh = (rng.standard_normal(G * H) * 0.4).astype(dtype)
    lstm = mode == "LSTM"
    h0 = rng.standard_normal((B, H)).astype(dtype) if with_h0 else None
    c0 = rng.standard_normal((B, H)).astype(dtype) if with_h0 and lstm else None
    ln = None if lengths is None else np.array(lengths, np.int64)
    y = np.full((S, B, H + ldy_extra), 7, dtype)
    hn = np.zeros((B, H), dtype)
    cn = np.zeros((B, H), dtype) if lstm else None
    ws = np.zeros(_C.cpu.rnn_workspace_size(mode, S, B, I, H), dtype)
    _C.cpu.rnn_forward(y[:, :, :H], hn, cn, ws, x, w_ih, w_hh, b_ih, b_hh, h0, c0, ln, mode, reverse, naive=naive)
    dy = rng.standard_normal((S, B, H)).astype(dtype)
    dhn = rng.standard_normal((B, H)).astype(dtype)
    dcn = rng.standard_normal((B, H)).astype(dtype) if lstm else None
    dx = np.ones((S, B, I), dtype)
    grads = [np.zeros_like(w_ih), np.zeros_like(w_hh), np.zeros_like(b_ih), np.zeros_like(b_hh)]
    dh0 = np.zeros((B, H), dtype)
    dc0 = np.zeros((B, H), dtype) if lstm else None
    scratch = np.zeros(_C.cpu.rnn_scratch_size(mode, S, B, I, H), dtype)
    _C.cpu.rnn_backward(dx, *grads, dh0, dc0, scratch, dy, dhn, dcn, ws, x, w_ih, w_hh, b_ih, b_hh, h0, c0, ln,
                        mode, reverse, True, naive=naive)
    return [y, hn, cn, dx, *grads, dh0, dc0]


KERNEL_CASES = [
    (5, 3, 4, 6, None, True),
    (6, 4, 3, 5, [6, 2, 0, 4], True),   # a zero-length sequence keeps h0 and outputs zeros
    (1, 2, 3, 4, None, False),          # one step, no h0: the dW_hh GEMM has no rows
    (9, 5, 7, 33, [3, 9, 1, 9, 5], False),  # H not a multiple of the vector width
    (4, 1, 2, 40, [2], True),
    (6, 32, 8, 100, [6, 1, 4, 0] * 8, True),   # enough work per step for a team of threads (units split 64 + 36)
    (5, 32, 8, 128, None, False),
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("S,B,I,H,lengths,h0", KERNEL_CASES)
def test_kernel_matches_naive(isa, mode, reverse, S, B, I, H, lengths, h0):
    for dtype, tol in ((np.float32, 2e-5), (np.float64, 1e-12)):
        fast = run_kernel(mode, S, B, I, H, reverse, lengths, h0, dtype, False, ldy_extra=3)
        ref = run_kernel(mode, S, B, I, H, reverse, lengths, h0, dtype, True, ldy_extra=3)
        names = ["y", "hn", "cn", "dx", "dw_ih", "dw_hh", "db_ih", "db_hh", "dh0", "dc0"]
        for name, a, b in zip(names, fast, ref):
            if a is None:
                continue
            # float32 sums over steps and rows: round-off scales with the largest terms, not each result
            scale = 1.0 + float(np.abs(b).max()) if b.size else 1.0
            np.testing.assert_allclose(a, b, atol=tol * scale, rtol=tol, err_msg=f"{mode} {name} {dtype.__name__}")


def test_kernel_leaves_columns_beyond_the_view_alone():
    y = run_kernel("LSTM", 4, 3, 2, 5, True, [4, 1, 2], True, np.float32, False, ldy_extra=2)[0]
    assert (y[:, :, 5:] == 7).all()


def test_workspace_and_scratch_sizes():
    assert _C.cpu.rnn_workspace_size("LSTM", 3, 2, 5, 4) == 3 * 2 * 16 + 2 * 3 * 2 * 4
    assert _C.cpu.rnn_workspace_size("GRU", 3, 2, 5, 4) == 3 * 2 * 12 + 2 * 3 * 2 * 4 + 2 * 12
    assert _C.cpu.rnn_workspace_size("RNN_TANH", 3, 2, 5, 4) == 3 * 2 * 4
    assert _C.cpu.rnn_scratch_size("GRU", 3, 2, 5, 4) == 2 * 3 * 2 * 12 + 4 * 2 * 4


# ---- layers vs torch ----------------------------------------------------------------------------

LAYERS = [
    ("LSTM", {}),
    ("GRU", {}),
    ("RNN", {}),
    ("RNN", {"nonlinearity": "relu"}),
    ("LSTM", {"num_layers": 2, "bidirectional": True}),
    ("GRU", {"num_layers": 2, "bidirectional": True}),
    ("RNN", {"num_layers": 3, "bidirectional": True, "nonlinearity": "relu"}),
    ("LSTM", {"batch_first": True}),
    ("GRU", {"num_layers": 2, "batch_first": True, "bidirectional": True}),
    ("LSTM", {"bias": False, "num_layers": 2}),
    ("GRU", {"bias": False}),
    ("LSTM", {"num_layers": 3, "bidirectional": True, "batch_first": True, "dropout": 0.0}),
]


@pytest.mark.parametrize("cls,kw", LAYERS)
@pytest.mark.parametrize("with_state", [False, True])
def test_layer_matches_torch(cls, kw, with_state):
    tm, nm = make(cls, 5, 7, **kw)
    rng = np.random.default_rng(0)
    D = 2 if kw.get("bidirectional") else 1
    L = kw.get("num_layers", 1)
    x = rng.standard_normal((3, 6, 5) if kw.get("batch_first") else (6, 3, 5)).astype(np.float32)
    tx, nx = pair(x)
    t_in, n_in = [tx], [nx]
    if with_state:
        th, nh = pair(rng.standard_normal((L * D, 3, 7)).astype(np.float32))
        t_in.append(th), n_in.append(nh)
        if cls == "LSTM":
            tc, nc = pair(rng.standard_normal((L * D, 3, 7)).astype(np.float32))
            t_in.append(tc), n_in.append(nc)
            t_out, n_out = tm(tx, (th, tc)), nm(nx, (nh, nc))
        else:
            t_out, n_out = tm(tx, th), nm(nx, nh)
    else:
        t_out, n_out = tm(tx), nm(nx)
    compare(t_out, n_out, t_in, n_in, tm, nm, atol=2e-5, rtol=1e-4)


@pytest.mark.parametrize("cls", ["LSTM", "GRU", "RNN"])
def test_unbatched_input(cls):
    tm, nm = make(cls, 4, 6, num_layers=2, bidirectional=True)
    rng = np.random.default_rng(1)
    tx, nx = pair(rng.standard_normal((5, 4)).astype(np.float32))
    th, nh = pair(rng.standard_normal((4, 6)).astype(np.float32))
    if cls == "LSTM":
        tc, nc = pair(rng.standard_normal((4, 6)).astype(np.float32))
        compare(tm(tx, (th, tc)), nm(nx, (nh, nc)), [tx, th, tc], [nx, nh, nc], tm, nm, 2e-5, 1e-4)
    else:
        compare(tm(tx, th), nm(nx, nh), [tx, th], [nx, nh], tm, nm, 2e-5, 1e-4)


def test_float64_layers_agree_to_roundoff():
    tm, nm = make("LSTM", 3, 4, num_layers=2, bidirectional=True)
    tm.double(), nm.double()
    rng = np.random.default_rng(2)
    tx, nx = pair(rng.standard_normal((5, 2, 3)))
    compare(tm(tx), nm(nx), [tx], [nx], tm, nm, atol=1e-12, rtol=1e-10)


def test_state_dict_keys_match_torch():
    for cls, kw in LAYERS:
        tm, nm = make(cls, 5, 7, **kw)
        assert list(nm.state_dict()) == list(tm.state_dict())
        for k, v in tm.state_dict().items():
            assert tuple(nm.state_dict()[k].shape) == tuple(v.shape)
    _, cell = make("LSTMCell", 3, 4)
    assert list(cell.state_dict()) == ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]


def test_init_is_uniform_within_one_over_sqrt_hidden():
    m = nn.GRU(30, 100, num_layers=2, bidirectional=True)
    bound = 1 / np.sqrt(100)
    vals = np.concatenate([p.detach().numpy().ravel() for p in m.parameters()])
    assert np.abs(vals).max() <= bound
    assert np.abs(vals).max() > 0.98 * bound and abs(vals.mean()) < 0.01 * bound * 10
    assert 0.9 < vals.std() / (bound / np.sqrt(3)) < 1.1


def test_dropout_between_layers_only_in_training():
    tm, nm = make("LSTM", 4, 8, num_layers=3, dropout=0.5)
    x = nerve.randn(6, 2, 4)
    nm.eval()
    y_eval = nm(x)[0].detach().numpy()
    t_eval = tm.eval()(torch.from_numpy(x.numpy()))[0].detach().numpy()
    np.testing.assert_allclose(y_eval, t_eval, atol=2e-5, rtol=1e-4)   # eval: no dropout at all
    nm.train()
    y1, y2 = nm(x)[0].detach().numpy(), nm(x)[0].detach().numpy()
    assert not np.allclose(y1, y_eval) and not np.allclose(y1, y2)
    with pytest.warns(UserWarning, match="num_layers greater than 1"):
        nn.GRU(3, 4, dropout=0.3)


# ---- cells --------------------------------------------------------------------------------------

@pytest.mark.parametrize("cls,kw", [("RNNCell", {}), ("RNNCell", {"nonlinearity": "relu"}), ("LSTMCell", {}),
                                    ("GRUCell", {}), ("LSTMCell", {"bias": False}), ("GRUCell", {"bias": False})])
@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("with_state", [True, False])
def test_cell_matches_torch(cls, kw, batched, with_state):
    tm, nm = make(cls, 5, 6, **kw)
    rng = np.random.default_rng(3)
    lead = (4,) if batched else ()
    tx, nx = pair(rng.standard_normal(lead + (5,)).astype(np.float32))
    t_in, n_in = [tx], [nx]
    if not with_state:
        compare(tm(tx), nm(nx), t_in, n_in, tm, nm, 2e-5, 1e-4)
        return
    th, nh = pair(rng.standard_normal(lead + (6,)).astype(np.float32))
    t_in.append(th), n_in.append(nh)
    if cls == "LSTMCell":
        tc, nc = pair(rng.standard_normal(lead + (6,)).astype(np.float32))
        t_in.append(tc), n_in.append(nc)
        compare(tm(tx, (th, tc)), nm(nx, (nh, nc)), t_in, n_in, tm, nm, 2e-5, 1e-4)
    else:
        compare(tm(tx, th), nm(nx, nh), t_in, n_in, tm, nm, 2e-5, 1e-4)


def test_cell_unrolled_equals_layer():
    cell, layer = nn.LSTMCell(3, 5), nn.LSTM(3, 5)
    layer.load_state_dict({k + "_l0": v for k, v in cell.state_dict().items()})
    x = nerve.randn(4, 2, 3)
    h = c = nerve.zeros(2, 5)
    for t in range(4):
        h, c = cell(x[t], (h, c))
    out, (hn, cn) = layer(x)
    assert_close(h, hn[0], atol=1e-6, rtol=1e-5)
    assert_close(c, cn[0], atol=1e-6, rtol=1e-5)


# ---- variable lengths ---------------------------------------------------------------------------

@pytest.mark.parametrize("cls,kw", [("LSTM", {"num_layers": 2, "bidirectional": True}),
                                    ("GRU", {"bidirectional": True, "batch_first": True}),
                                    ("RNN", {"num_layers": 2})])
@pytest.mark.parametrize("enforce_sorted", [True, False])
def test_packed_sequence_matches_torch(cls, kw, enforce_sorted):
    tm, nm = make(cls, 3, 5, **kw)
    bf = kw.get("batch_first", False)
    lengths = [7, 5, 5, 2, 1] if enforce_sorted else [2, 7, 1, 5, 5]
    rng = np.random.default_rng(4)
    x = rng.standard_normal((5, 7, 3) if bf else (7, 5, 3)).astype(np.float32)
    tx, nx = pair(x)
    tp = torch.nn.utils.rnn.pack_padded_sequence(tx, lengths, batch_first=bf, enforce_sorted=enforce_sorted)
    np_ = nn.pack_padded_sequence(nx, lengths, batch_first=bf, enforce_sorted=enforce_sorted)
    assert np_.batch_sizes.tolist() == tp.batch_sizes.tolist()
    assert_close(np_.data, tp.data.detach(), atol=0, rtol=0)
    t_out, t_h = tm(tp)
    n_out, n_h = nm(np_)
    assert isinstance(n_out, nn.PackedSequence)
    t_pad, t_len = torch.nn.utils.rnn.pad_packed_sequence(t_out, batch_first=bf)
    n_pad, n_len = nn.pad_packed_sequence(n_out, batch_first=bf)
    assert n_len.tolist() == t_len.tolist()
    compare([t_pad, t_h], [n_pad, n_h], [tx], [nx], tm, nm, 2e-5, 1e-4)


def test_lengths_argument_equals_packing():
    nm = nn.GRU(3, 4, bidirectional=True)
    x = nerve.randn(6, 3, 3)
    lengths = [6, 3, 4]
    a, ha = nm(x, lengths=lengths)
    b, hb = nm(nn.pack_padded_sequence(x, lengths, enforce_sorted=False))
    b, _ = nn.pad_packed_sequence(b, total_length=6)
    assert_close(a, b, atol=0, rtol=0)
    assert_close(ha, hb, atol=0, rtol=0)
    assert (a.detach().numpy()[3:, 1] == 0).all()  # padding positions are zeros


def test_pad_sequence_matches_torch():
    rng = np.random.default_rng(5)
    seqs = [rng.standard_normal((n, 2)).astype(np.float32) for n in (3, 5, 1)]
    for bf in (False, True):
        for side in ("right", "left"):
            t = torch.nn.utils.rnn.pad_sequence([torch.from_numpy(s) for s in seqs], batch_first=bf,
                                                padding_value=-1.0, padding_side=side)
            n = nn.pad_sequence([nerve.from_numpy(s) for s in seqs], batch_first=bf, padding_value=-1.0,
                                padding_side=side)
            assert_close(n, t, atol=0, rtol=0)
    p = nn.pack_sequence([nerve.from_numpy(s) for s in seqs], enforce_sorted=False)
    tp = torch.nn.utils.rnn.pack_sequence([torch.from_numpy(s) for s in seqs], enforce_sorted=False)
    assert_close(p.data, tp.data, atol=0, rtol=0)


def test_pack_errors():
    x = nerve.randn(4, 2, 3)
    with pytest.raises(RuntimeError, match="sorted in decreasing order"):
        nn.pack_padded_sequence(x, [2, 4])
    with pytest.raises(RuntimeError, match="greater than 0"):
        nn.pack_padded_sequence(x, [4, 0])
    with pytest.raises(ValueError, match="total_length"):
        nn.pad_packed_sequence(nn.pack_padded_sequence(x, [4, 2]), total_length=3)


# ---- float64 gradcheck --------------------------------------------------------------------------

@pytest.mark.parametrize("cls,kw,lengths", [("LSTM", {"num_layers": 2, "bidirectional": True}, None),
                                            ("GRU", {"bidirectional": True}, [3, 1]),
                                            ("RNN", {"nonlinearity": "tanh"}, [2, 3]),
                                            ("LSTM", {}, [3, 2])])
def test_gradcheck(cls, kw, lengths):
    m = getattr(nn, cls)(2, 3, **kw).double()
    D = 2 if kw.get("bidirectional") else 1
    L = kw.get("num_layers", 1)
    x = nerve.randn(3, 2, 2, dtype=nerve.float64, requires_grad=True)
    h = nerve.randn(L * D, 2, 3, dtype=nerve.float64, requires_grad=True)
    c = nerve.randn(L * D, 2, 3, dtype=nerve.float64, requires_grad=True)
    w = m.weight_hh_l0

    def fn(x, h, c, w):
        out = m(x, (h, c) if cls == "LSTM" else h, lengths=lengths)
        return tuple(flat(out))
    assert gradcheck(fn, (x, h, c if cls == "LSTM" else c.detach(), w))


# ---- errors -------------------------------------------------------------------------------------

def test_errors_name_the_layer():
    lstm = nn.LSTM(4, 5, num_layers=2)
    with pytest.raises(ValueError, match=r"\[LSTM\] input.size\(-1\) must be equal to input_size. Expected 4, got 3"):
        lstm(nerve.randn(2, 3, 3))
    with pytest.raises(ValueError, match=r"\[LSTM\] Expected hidden size \(2, 3, 5\), got \(1, 3, 5\)"):
        lstm(nerve.randn(2, 3, 4), (nerve.zeros(1, 3, 5), nerve.zeros(2, 3, 5)))
    with pytest.raises(ValueError, match=r"\[LSTM\] Expected cell size"):
        lstm(nerve.randn(2, 3, 4), (nerve.zeros(2, 3, 5), nerve.zeros(2, 3, 4)))
    with pytest.raises(ValueError, match=r"\[LSTM\] hx must be a tuple"):
        lstm(nerve.randn(2, 3, 4), nerve.zeros(2, 3, 5))
    with pytest.raises(ValueError, match=r"\[GRU\] Expected input to be 2D \(unbatched\) or 3D"):
        nn.GRU(4, 5)(nerve.randn(2, 3, 4, 1))
    with pytest.raises(ValueError, match=r"\[GRU\] hx must be a Tensor"):
        nn.GRU(4, 5)(nerve.randn(2, 3, 4), (nerve.zeros(1, 3, 5),))
    with pytest.raises(ValueError, match=r"\[RNN\] Expected hidden size \(1, 5\)"):
        nn.RNN(4, 5)(nerve.randn(2, 4), nerve.zeros(1, 3, 5))
    with pytest.raises(ValueError, match=r"\[RNN\] Unknown nonlinearity"):
        nn.RNN(4, 5, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match=r"\[GRU\] dropout should be a number in range \[0, 1\]"):
        nn.GRU(4, 5, dropout=1.5)
    with pytest.raises(ValueError, match=r"\[LSTM\] proj_size"):
        nn.LSTM(4, 5, proj_size=2)
    with pytest.raises(ValueError, match=r"\[GRU\] lengths must be integers in \[0, 2\]"):
        nn.GRU(4, 5)(nerve.randn(2, 3, 4), lengths=[1, 3, 2])
    with pytest.raises(ValueError, match=r"\[GRU\] lengths must hold one length per sequence"):
        nn.GRU(4, 5)(nerve.randn(2, 3, 4), lengths=[1, 2])
    with pytest.raises(TypeError, match=r"\[LSTM\] input is nerve.float64 but the weights are nerve.float32"):
        lstm(nerve.randn(2, 3, 4, dtype=nerve.float64))
    with pytest.raises(ValueError, match=r"\[LSTMCell\] input has 3 features"):
        nn.LSTMCell(4, 5)(nerve.randn(2, 3))
    with pytest.raises(ValueError, match=r"\[GRUCell\] Expected hidden state of shape \(2, 5\), got \(2, 4\)"):
        nn.GRUCell(4, 5)(nerve.randn(2, 4), nerve.zeros(2, 4))
    with pytest.raises(ValueError, match=r"\[RNNCell\] Expected input to be 1D or 2D"):
        nn.RNNCell(4, 5)(nerve.randn(1, 2, 4))


def test_kernel_rejects_bad_arrays():
    f = np.float32
    x, w_ih, w_hh = np.zeros((3, 2, 4), f), np.zeros((20, 4), f), np.zeros((20, 5), f)
    y, hn, cn = np.zeros((3, 2, 5), f), np.zeros((2, 5), f), np.zeros((2, 5), f)
    ws = np.zeros(_C.cpu.rnn_workspace_size("LSTM", 3, 2, 4, 5), f)
    args = dict(bias_ih=None, bias_hh=None, h0=None, c0=None, lengths=None, mode="LSTM", op="LSTM")
    _C.cpu.rnn_forward(y, hn, cn, ws, x, w_ih, w_hh, **args)
    with pytest.raises(ValueError, match=r"\[LSTM\] expected weight_ih of shape \(20, 4\), got \(20, 3\)"):
        _C.cpu.rnn_forward(y, hn, cn, ws, x, np.zeros((20, 3), f), w_hh, **args)
    with pytest.raises(ValueError, match=r"\[LSTM\] workspace must be a contiguous 1-D array of at least"):
        _C.cpu.rnn_forward(y, hn, cn, ws[:-1], x, w_ih, w_hh, **args)
    with pytest.raises(ValueError, match=r"\[LSTM\] expected h0 of shape \(2, 5\)"):
        _C.cpu.rnn_forward(y, hn, cn, ws, x, w_ih, w_hh, **{**args, "h0": np.zeros((3, 5), f)})
    with pytest.raises(ValueError, match=r"\[LSTM\] cn must be given for LSTM"):
        _C.cpu.rnn_forward(y, hn, None, ws, x, w_ih, w_hh, **args)
    with pytest.raises(ValueError, match=r"\[LSTM\] expected lengths of dtype int64"):
        _C.cpu.rnn_forward(y, hn, cn, ws, x, w_ih, w_hh, **{**args, "lengths": np.zeros(2, np.int32)})
    with pytest.raises(ValueError, match=r"\[LSTM\] out must be a \(S, B, H\) view"):
        _C.cpu.rnn_forward(np.zeros((3, 5, 2), f).transpose(0, 2, 1), hn, cn, ws, x, w_ih, w_hh, **args)
    with pytest.raises(ValueError, match=r"\[rnn\] mode must be"):
        _C.cpu.rnn_workspace_size("LSTMX", 1, 1, 1, 1)
