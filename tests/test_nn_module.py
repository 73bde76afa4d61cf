"""nn core vs torch.nn: Module registration/traversal/state_dict/repr, containers, Linear parity,
nn.init distributions and gains, nn.utils clipping and vector conversion."""
import math
from collections import OrderedDict

import numpy as np
import pytest
import torch

import nerve
import nerve.nn as nn
from nerve.testing import assert_close


def _pair():
    """The same small MLP in both libraries, torch's weights copied into nerve's."""
    t = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.Identity(), torch.nn.Linear(7, 3), torch.nn.Flatten())
    n = nn.Sequential(nn.Linear(5, 7), nn.Identity(), nn.Linear(7, 3), nn.Flatten())
    n.load_state_dict(t.state_dict())
    return t, n


def test_state_dict_keys_order_and_values_match_torch():
    t, n = _pair()
    assert list(n.state_dict()) == list(t.state_dict())
    for k, v in t.state_dict().items():
        assert_close(n.state_dict()[k], v, atol=0, rtol=0)
    assert [k for k, _ in n.named_parameters()] == [k for k, _ in t.named_parameters()]
    assert [type(m).__name__ for m in n.modules()] == [type(m).__name__ for m in t.modules()]
    assert [k for k, _ in n.named_children()] == [k for k, _ in t.named_children()]


def test_state_dict_loads_back_into_torch():
    t, n = _pair()
    for p in n.parameters():
        with nerve.no_grad():
            p.mul_(2.0)
    t2 = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.Identity(), torch.nn.Linear(7, 3), torch.nn.Flatten())
    t2.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in n.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((4, 5)).astype(np.float32)
    assert_close(n(nerve.tensor(x)), t2(torch.from_numpy(x)).detach(), atol=1e-6, rtol=1e-5)


def test_linear_parity_forward_and_gradients():
    t, n = _pair()
    x = np.random.default_rng(1).standard_normal((6, 5)).astype(np.float32)
    xt, xn = torch.from_numpy(x).requires_grad_(), nerve.tensor(x, requires_grad=True)
    g = np.random.default_rng(2).standard_normal((6, 3)).astype(np.float32)
    yt, yn = t(xt), n(xn)
    assert_close(yn, yt.detach(), atol=1e-6, rtol=1e-5)
    (yt * torch.from_numpy(g)).sum().backward()
    (yn * nerve.tensor(g)).sum().backward()
    assert_close(xn.grad, xt.grad, atol=1e-6, rtol=1e-5)
    for (k, pn), (_, pt) in zip(n.named_parameters(), t.named_parameters()):
        assert_close(pn.grad, pt.grad, atol=1e-6, rtol=1e-5, msg=k)


def test_linear_batched_input_and_no_bias():
    lin_t = torch.nn.Linear(4, 3, bias=False)
    lin_n = nn.Linear(4, 3, bias=False)
    lin_n.load_state_dict(lin_t.state_dict())
    assert lin_n.bias is None and list(lin_n.state_dict()) == ["weight"]
    x = np.random.default_rng(3).standard_normal((2, 5, 4)).astype(np.float32)
    assert_close(lin_n(nerve.tensor(x)), lin_t(torch.from_numpy(x)).detach(), atol=1e-6, rtol=1e-5)


def test_load_state_dict_errors_name_the_keys():
    _, n = _pair()
    sd = n.state_dict()
    bad = OrderedDict(sd)
    del bad["0.weight"]
    with pytest.raises(RuntimeError, match=r'Missing key\(s\) in state_dict: "0.weight"'):
        n.load_state_dict(bad)
    bad = OrderedDict(sd)
    bad["9.weight"] = nerve.zeros(1)
    with pytest.raises(RuntimeError, match=r'Unexpected key\(s\) in state_dict: "9.weight"'):
        n.load_state_dict(bad)
    result = n.load_state_dict(bad, strict=False)
    assert result.unexpected_keys == ["9.weight"] and result.missing_keys == []
    bad = OrderedDict(sd)
    bad["2.bias"] = nerve.zeros(4)
    with pytest.raises(RuntimeError, match=r"size mismatch for 2.bias: copying a param with shape \(4,\)"):
        n.load_state_dict(bad)


def test_linear_wrong_input_size():
    with pytest.raises(ValueError, match=r"\[Linear\] input has 6 features.*expected 5"):
        nn.Linear(5, 2)(nerve.randn(3, 6))


def test_repr_matches_torch():
    t, n = _pair()
    assert repr(n) == repr(t)


def test_train_eval_zero_grad_requires_grad_apply():
    _, n = _pair()
    n.eval()
    assert all(not m.training for m in n.modules())
    n.train()
    assert all(m.training for m in n.modules())
    n(nerve.randn(2, 5)).sum().backward()
    assert all(p.grad is not None for p in n.parameters())
    n.zero_grad(set_to_none=False)
    assert all(not p.grad.numpy().any() for p in n.parameters())
    n.zero_grad()
    assert all(p.grad is None for p in n.parameters())
    n.requires_grad_(False)
    assert not any(p.requires_grad for p in n.parameters())
    seen = []
    n.apply(lambda m: seen.append(type(m).__name__))
    assert seen[-1] == "Sequential" and seen.count("Linear") == 2


def test_buffers_and_non_persistent():
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("running", nerve.zeros(3))
            self.register_buffer("scratch", nerve.ones(2), persistent=False)
            self.lin = nn.Linear(2, 2)

    m = M()
    assert [k for k, _ in m.named_buffers()] == ["running", "scratch"]
    assert list(m.state_dict()) == ["running", "lin.weight", "lin.bias"]


def test_to_dtype_and_device_errors():
    _, n = _pair()
    n.double()
    assert all(p.dtype == nerve.float64 for p in n.parameters())
    assert n(nerve.randn(2, 5, dtype=nerve.float64)).dtype == nerve.float64
    n.float()
    assert all(p.dtype == nerve.float32 for p in n.parameters())
    if not nerve.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA"):
            n.to("cuda")


def test_forward_hooks():
    lin = nn.Linear(3, 2)
    calls = []
    h = lin.register_forward_hook(lambda m, args, out: calls.append(tuple(out.shape)))
    lin(nerve.randn(4, 3))
    h.remove()
    lin(nerve.randn(4, 3))
    assert calls == [(4, 2)]


def test_containers():
    ml = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    assert len(ml) == 3 and len(list(ml.parameters())) == 6
    md = nn.ModuleDict({"a": nn.Linear(2, 3), "b": nn.Identity()})
    assert list(md.keys()) == ["a", "b"] and "a" in md
    seq = nn.Sequential(OrderedDict([("fc", nn.Linear(2, 3)), ("out", nn.Linear(3, 1))]))
    assert list(seq.state_dict()) == ["fc.weight", "fc.bias", "out.weight", "out.bias"]
    assert isinstance(seq[0], nn.Linear) and len(seq[1:]) == 1


def test_unflatten_flatten_match_torch():
    x = np.arange(24, dtype=np.float32).reshape(2, 12)
    u = nn.Unflatten(1, (3, 4))(nerve.tensor(x))
    assert tuple(u.shape) == tuple(torch.nn.Unflatten(1, (3, 4))(torch.from_numpy(x)).shape)
    assert tuple(nn.Flatten(0, 1)(u).shape) == (6, 4)


# ---- nn.init --------------------------------------------------------------------------------------

@pytest.mark.parametrize("nl,param", [("linear", None), ("conv2d", None), ("sigmoid", None), ("tanh", None),
                                      ("relu", None), ("leaky_relu", None), ("leaky_relu", 0.2),
                                      ("selu", None)])
def test_calculate_gain_matches_torch(nl, param):
    assert nn.init.calculate_gain(nl, param) == pytest.approx(torch.nn.init.calculate_gain(nl, param))


def _moments(fn_n, fn_t, shape):
    a = fn_n(nerve.empty(*shape)).numpy().astype(np.float64)
    b = fn_t(torch.empty(*shape)).numpy().astype(np.float64)
    return a, b


@pytest.mark.parametrize("name,kw", [
    ("uniform_", dict(a=-0.3, b=0.7)), ("normal_", dict(mean=0.5, std=2.0)),
    ("xavier_uniform_", dict(gain=1.5)), ("xavier_normal_", dict()),
    ("kaiming_uniform_", dict(a=math.sqrt(5))), ("kaiming_uniform_", dict(mode="fan_out", nonlinearity="relu")),
    ("kaiming_normal_", dict(nonlinearity="relu")), ("trunc_normal_", dict(std=0.5, a=-1.0, b=1.0)),
])
def test_init_distributions_match_torch(name, kw):
    shape = (256, 64, 3, 3)
    a, b = _moments(lambda t: getattr(nn.init, name)(t, **kw), lambda t: getattr(torch.nn.init, name)(t, **kw), shape)
    n = a.size
    # means within 6 standard errors, spreads within 2%, and for bounded laws the same support
    assert abs(a.mean() - b.mean()) < 6 * b.std() / math.sqrt(n) + 1e-12
    assert a.std() == pytest.approx(b.std(), rel=0.02)
    if "uniform" in name or "trunc" in name:
        assert a.min() >= b.min() - 0.01 * abs(b.min()) - 1e-6 and a.max() <= b.max() + 0.01 * abs(b.max()) + 1e-6


def test_orthogonal_and_constants():
    w = nn.init.orthogonal_(nerve.empty(6, 10), gain=2.0).numpy()
    assert_close(w @ w.T, 4.0 * np.eye(6, dtype=np.float32), atol=1e-5, rtol=0)
    w = nn.init.orthogonal_(nerve.empty(10, 4)).numpy()
    assert_close(w.T @ w, np.eye(4, dtype=np.float32), atol=1e-5, rtol=0)
    assert (nn.init.constant_(nerve.empty(3), 2.5).numpy() == 2.5).all()
    assert not nn.init.zeros_(nerve.empty(3)).numpy().any()
    assert (nn.init.ones_(nerve.empty(3)).numpy() == 1).all()
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        nn.init.xavier_uniform_(nerve.empty(5))
    with pytest.raises(ValueError, match="fan_in, fan_out"):
        nn.init.kaiming_normal_(nerve.empty(3, 3), mode="fan_sideways")


def test_linear_default_init_matches_torch_bounds():
    a = nn.Linear(400, 300).weight.detach().numpy()
    bound = 1 / math.sqrt(400)  # kaiming_uniform(a=sqrt(5)) on fan_in 400
    assert a.min() >= -bound and a.max() <= bound and a.max() > 0.95 * bound
    assert a.std() == pytest.approx(bound / math.sqrt(3), rel=0.02)


def test_init_is_reproducible_with_manual_seed():
    nerve.manual_seed(7)
    a = nn.Linear(8, 8).weight.detach().numpy().copy()
    nerve.manual_seed(7)
    b = nn.Linear(8, 8).weight.detach().numpy()
    assert (a == b).all()


# ---- nn.utils -------------------------------------------------------------------------------------

@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf, 3.0])
@pytest.mark.parametrize("max_norm", [0.5, 1e6])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    t, n = _pair()
    x = np.random.default_rng(4).standard_normal((8, 5)).astype(np.float32)
    t(torch.from_numpy(x)).square().sum().backward()
    n(nerve.tensor(x)).square().sum().backward()
    tot_t = torch.nn.utils.clip_grad_norm_(t.parameters(), max_norm, norm_type)
    tot_n = nn.utils.clip_grad_norm_(n.parameters(), max_norm, norm_type)
    assert float(tot_n) == pytest.approx(float(tot_t), rel=1e-5)
    for pn, pt in zip(n.parameters(), t.parameters()):
        assert_close(pn.grad, pt.grad, atol=1e-6, rtol=1e-5)


def test_clip_grad_norm_nonfinite_raises_when_asked():
    p = nn.Parameter(nerve.zeros(3))
    p.grad = nerve.tensor([1.0, float("inf"), 0.0])
    with pytest.raises(RuntimeError, match=r"\[clip_grad_norm_\].*non-finite"):
        nn.utils.clip_grad_norm_([p], 1.0, error_if_nonfinite=True)


def test_clip_grad_value_and_vectors():
    t, n = _pair()
    x = np.random.default_rng(5).standard_normal((8, 5)).astype(np.float32)
    t(torch.from_numpy(x)).square().sum().backward()
    n(nerve.tensor(x)).square().sum().backward()
    torch.nn.utils.clip_grad_value_(t.parameters(), 0.1)
    nn.utils.clip_grad_value_(n.parameters(), 0.1)
    for pn, pt in zip(n.parameters(), t.parameters()):
        assert_close(pn.grad, pt.grad, atol=1e-6, rtol=1e-5)
        assert np.abs(pn.grad.numpy()).max() <= 0.1
    vn = nn.utils.parameters_to_vector(n.parameters())
    vt = torch.nn.utils.parameters_to_vector(t.parameters())
    assert_close(vn, vt.detach(), atol=0, rtol=0)
    nn.utils.vector_to_parameters(vn * 0 + 1, n.parameters())
    assert all((p.detach().numpy() == 1).all() for p in n.parameters())
    with pytest.raises(ValueError, match=r"\[vector_to_parameters\]"):
        nn.utils.vector_to_parameters(nerve.zeros(3), n.parameters())
