"""Convolution, pooling and residual layers vs torch.nn: parameter shapes, default init, state_dict keys,
repr, and forward / input-gradient / parameter-gradient parity with the same weights."""
import math

import numpy as np
import pytest
import torch

import nerve
import nerve.nn as nn
from nerve.testing import assert_close


def _copy_weights(src_torch, dst_nerve):
    dst_nerve.load_state_dict({k: v.detach().numpy() for k, v in src_torch.state_dict().items()})


def _parity(tm, nm, shape, *, atol=1e-5, rtol=1e-5, seed=0, call=None):
    """Same weights and input: outputs, input gradient and every parameter gradient agree."""
    _copy_weights(tm, nm)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(np.float32)
    tx = torch.from_numpy(x.copy()).requires_grad_(True)
    nx = nerve.from_numpy(x.copy()).requires_grad_(True)
    call = call or (lambda m, a: m(a))
    ty, ny = call(tm, tx), call(nm, nx)
    assert tuple(ny.shape) == tuple(ty.shape)
    assert_close(ny, ty.detach().numpy(), atol=atol, rtol=rtol)
    g = rng.standard_normal(tuple(ty.shape)).astype(np.float32)
    ty.backward(torch.from_numpy(g))
    ny.backward(nerve.from_numpy(g))
    scale = float(np.abs(tx.grad.numpy()).max()) + 1
    assert_close(nx.grad, tx.grad.numpy(), atol=atol * scale, rtol=rtol)
    tgrads = dict(tm.named_parameters())
    for name, p in nm.named_parameters():
        tg = tgrads[name].grad.numpy()
        assert_close(p.grad, tg, atol=atol * (float(np.abs(tg).max()) + 1), rtol=rtol)


CONV_CASES = [
    # (nerve class, torch class, args, kwargs, input shape)
    (nn.Conv2d, torch.nn.Conv2d, (3, 8, 3), {}, (2, 3, 9, 9)),
    (nn.Conv2d, torch.nn.Conv2d, (3, 8, 3), dict(padding=1, stride=2), (2, 3, 9, 10)),
    (nn.Conv2d, torch.nn.Conv2d, (4, 6, (3, 2)), dict(padding=(1, 0), dilation=2, groups=2), (2, 4, 11, 9)),
    (nn.Conv2d, torch.nn.Conv2d, (3, 5, 3), dict(padding="same", bias=False), (2, 3, 7, 7)),
    (nn.Conv2d, torch.nn.Conv2d, (2, 4, 4), dict(padding="same"), (1, 2, 7, 6)),
    (nn.Conv2d, torch.nn.Conv2d, (3, 4, 3), dict(padding="valid"), (2, 3, 6, 6)),
    (nn.Conv2d, torch.nn.Conv2d, (3, 4, 3), dict(padding=2, padding_mode="reflect"), (2, 3, 6, 7)),
    (nn.Conv2d, torch.nn.Conv2d, (3, 4, 3), dict(padding=1, padding_mode="replicate"), (2, 3, 5, 5)),
    (nn.Conv2d, torch.nn.Conv2d, (3, 4, 3), dict(padding=(2, 1), padding_mode="circular"), (2, 3, 5, 6)),
    (nn.Conv2d, torch.nn.Conv2d, (3, 4, 3), dict(padding="same", padding_mode="reflect"), (2, 3, 5, 6)),
    (nn.Conv2d, torch.nn.Conv2d, (3, 8, 3), dict(padding=1), (3, 9, 9)),  # unbatched
    (nn.Conv1d, torch.nn.Conv1d, (3, 8, 5), dict(padding=2, stride=2), (2, 3, 20)),
    (nn.Conv1d, torch.nn.Conv1d, (4, 4, 3), dict(groups=4, dilation=2), (2, 4, 15)),
    (nn.Conv1d, torch.nn.Conv1d, (3, 5, 3), dict(padding=1, padding_mode="circular"), (2, 3, 10)),
    (nn.ConvTranspose2d, torch.nn.ConvTranspose2d, (4, 6, 3), {}, (2, 4, 5, 5)),
    (nn.ConvTranspose2d, torch.nn.ConvTranspose2d, (4, 6, 3), dict(stride=2, padding=1, output_padding=1),
     (2, 4, 5, 6)),
    (nn.ConvTranspose2d, torch.nn.ConvTranspose2d, (4, 6, 4), dict(stride=2, padding=1, groups=2, bias=False),
     (2, 4, 4, 4)),
    (nn.ConvTranspose1d, torch.nn.ConvTranspose1d, (4, 3, 5), dict(stride=3, padding=2), (2, 4, 7)),
]


@pytest.mark.parametrize("ncls,tcls,args,kw,shape", CONV_CASES, ids=lambda v: repr(v)[:40])
def test_conv_parity(ncls, tcls, args, kw, shape):
    tm, nm = tcls(*args, **kw), ncls(*args, **kw)
    assert repr(nm) == repr(tm)
    assert list(nm.state_dict()) == list(tm.state_dict())
    for (n, p), (tn, tp) in zip(nm.named_parameters(), tm.named_parameters()):
        assert n == tn and tuple(p.shape) == tuple(tp.shape)
    _parity(tm, nm, shape)


def test_conv_transpose_output_size():
    tm, nm = torch.nn.ConvTranspose2d(4, 2, 3, stride=2, padding=1), nn.ConvTranspose2d(4, 2, 3, stride=2, padding=1)
    _parity(tm, nm, (1, 4, 5, 5), call=lambda m, a: m(a, output_size=[10, 10]))
    with pytest.raises(ValueError, match=r"\[ConvTranspose2d\] requested an output size"):
        nm(nerve.randn(1, 4, 5, 5), output_size=(12, 12))


@pytest.mark.parametrize("ncls,args", [(nn.Conv2d, (16, 32, 3)), (nn.Conv2d, (6, 4, (5, 3), 1, 0, 1, 2)),
                                       (nn.Conv1d, (8, 16, 5)), (nn.ConvTranspose2d, (32, 16, 3)),
                                       (nn.ConvTranspose2d, (8, 4, 3, 1, 0, 0, 2))])
def test_default_init_matches_torch_distribution(ncls, args):
    """kaiming_uniform_(a=sqrt(5)) is U(-1/sqrt(fan_in), 1/sqrt(fan_in)); the bias has the same bound."""
    m = ncls(*args)
    w = m.weight.detach().numpy()
    receptive = int(np.prod(w.shape[2:]))
    fan_in = w.shape[1] * receptive
    bound = 1 / math.sqrt(fan_in)
    assert np.abs(w).max() <= bound
    assert np.abs(w).max() > 0.9 * bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.1 * bound  # std of U(-b, b) is b / sqrt(3)
    b = m.bias.detach().numpy()
    assert np.abs(b).max() <= bound and b.std() > 0


def test_init_follows_manual_seed():
    nerve.manual_seed(3)
    a = nn.Conv2d(3, 4, 3).weight.detach().numpy().copy()
    nerve.manual_seed(3)
    assert np.array_equal(a, nn.Conv2d(3, 4, 3).weight.detach().numpy())


POOL_CASES = [
    (nn.MaxPool2d(2), torch.nn.MaxPool2d(2), (2, 3, 8, 8)),
    (nn.MaxPool2d(3, 2, 1), torch.nn.MaxPool2d(3, 2, 1), (2, 3, 9, 8)),
    (nn.MaxPool2d(2, ceil_mode=True), torch.nn.MaxPool2d(2, ceil_mode=True), (2, 3, 7, 7)),
    (nn.MaxPool2d((2, 3), dilation=2), torch.nn.MaxPool2d((2, 3), dilation=2), (1, 2, 9, 11)),
    (nn.MaxPool1d(3, 2), torch.nn.MaxPool1d(3, 2), (2, 3, 11)),
    (nn.AvgPool2d(2), torch.nn.AvgPool2d(2), (2, 3, 8, 8)),
    (nn.AvgPool2d(3, 2, 1, count_include_pad=False), torch.nn.AvgPool2d(3, 2, 1, count_include_pad=False),
     (2, 3, 9, 9)),
    (nn.AvgPool2d(2, divisor_override=3), torch.nn.AvgPool2d(2, divisor_override=3), (1, 2, 6, 6)),
    (nn.AvgPool1d(4, 2), torch.nn.AvgPool1d(4, 2), (2, 3, 12)),
    (nn.AdaptiveAvgPool2d(1), torch.nn.AdaptiveAvgPool2d(1), (2, 4, 7, 7)),
    (nn.AdaptiveAvgPool2d((3, None)), torch.nn.AdaptiveAvgPool2d((3, None)), (2, 4, 7, 5)),
    (nn.AdaptiveMaxPool2d((2, 3)), torch.nn.AdaptiveMaxPool2d((2, 3)), (2, 4, 7, 8)),
    (nn.MaxPool2d(2), torch.nn.MaxPool2d(2), (3, 8, 8)),  # unbatched
]


@pytest.mark.parametrize("nm,tm,shape", POOL_CASES, ids=lambda v: repr(v)[:50])
def test_pool_parity(nm, tm, shape):
    assert repr(nm) == repr(tm)
    assert list(nm.state_dict()) == []
    _parity(tm, nm, shape)


def test_pool_return_indices():
    x = np.random.default_rng(0).standard_normal((2, 3, 8, 8)).astype(np.float32)
    ty, ti = torch.nn.MaxPool2d(2, return_indices=True)(torch.from_numpy(x))
    ny, ni = nn.MaxPool2d(2, return_indices=True)(nerve.from_numpy(x))
    assert_close(ny, ty.numpy(), atol=0, rtol=0)
    assert np.array_equal(ni.numpy(), ti.numpy())
    ty, ti = torch.nn.AdaptiveMaxPool2d(3, return_indices=True)(torch.from_numpy(x))
    ny, ni = nn.AdaptiveMaxPool2d(3, return_indices=True)(nerve.from_numpy(x))
    assert np.array_equal(ni.numpy(), ti.numpy())


def test_lenet_like_stack_parity():
    """The CNN of the training benchmark, without activations: conv/pool/flatten/linear compose as in torch."""
    def build(lib):
        return lib.Sequential(lib.Conv2d(1, 32, 3), lib.MaxPool2d(2), lib.Conv2d(32, 64, 3), lib.MaxPool2d(2),
                              lib.Flatten(), lib.Linear(64 * 5 * 5, 128), lib.Linear(128, 10))
    tm, nm = build(torch.nn), build(nn)
    assert list(nm.state_dict()) == list(tm.state_dict())
    _parity(tm, nm, (4, 1, 28, 28), atol=2e-5)


def test_residual_adds_the_input():
    inner = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.Conv2d(4, 4, 3, padding=1))
    block = nn.Residual(inner)
    assert list(block.state_dict()) == ["module.0.weight", "module.0.bias", "module.1.weight", "module.1.bias"]
    x = nerve.randn(2, 4, 6, 6, requires_grad=True)
    y = block(x)
    assert_close(y, (x + inner(x)).detach(), atol=1e-6, rtol=1e-6)
    # the skip path passes the upstream gradient straight through: d/dx (x + f(x)) = 1 + f'(x)
    y.sum().backward()
    gx = x.grad.numpy().copy()
    x.grad = None
    inner(x).sum().backward()
    assert_close(gx, x.grad.numpy() + 1, atol=1e-5, rtol=1e-5)


def test_residual_with_shortcut_and_shape_error():
    block = nn.Residual(nn.Conv2d(4, 8, 3, stride=2, padding=1), shortcut=nn.Conv2d(4, 8, 1, stride=2))
    assert tuple(block(nerve.randn(2, 4, 6, 6)).shape) == (2, 8, 3, 3)
    with pytest.raises(ValueError, match=r"\[Residual\] the block maps"):
        nn.Residual(nn.Conv2d(4, 8, 3, padding=1))(nerve.randn(2, 4, 6, 6))


def _torch_basic_block(inplanes, planes, stride):
    """torchvision.models.resnet.BasicBlock, written out (torchvision is not a dependency)."""
    class Block(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = torch.nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
            self.bn1 = torch.nn.BatchNorm2d(planes)
            self.relu = torch.nn.ReLU()
            self.conv2 = torch.nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
            self.bn2 = torch.nn.BatchNorm2d(planes)
            if stride != 1 or inplanes != planes:
                self.downsample = torch.nn.Sequential(torch.nn.Conv2d(inplanes, planes, 1, stride, bias=False),
                                                      torch.nn.BatchNorm2d(planes))
            else:
                self.downsample = None

        def forward(self, x):
            out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
            return self.relu(out + (x if self.downsample is None else self.downsample(x)))
    return Block()


@pytest.mark.parametrize("inplanes,planes,stride", [(8, 8, 1), (8, 16, 2)])
def test_basic_block_parity(inplanes, planes, stride):
    if not hasattr(nn, "BatchNorm2d") or not hasattr(nn, "ReLU"):
        pytest.fail("nerve.nn.BatchNorm2d / nerve.nn.ReLU are missing (norm and activation families)")
    tm, nm = _torch_basic_block(inplanes, planes, stride), nn.BasicBlock(inplanes, planes, stride)
    assert list(nm.state_dict()) == list(tm.state_dict())
    for mode in ("train", "eval"):
        getattr(tm, mode)()
        getattr(nm, mode)()
        _parity(tm, nm, (2, inplanes, 8, 8), atol=1e-4)


@pytest.mark.parametrize("make,shape,msg", [
    (lambda: nn.Conv2d(3, 8, 3), (2, 1, 8, 8), r"\[Conv2d\] input has 1 channels .* expects 3"),
    (lambda: nn.Conv2d(3, 8, 3), (8, 8), r"\[Conv2d\] expected input \(N, C, H, W\)"),
    (lambda: nn.Conv1d(3, 8, 3), (2, 4, 8), r"\[Conv1d\] input has 4 channels"),
    (lambda: nn.ConvTranspose2d(3, 8, 3), (2, 4, 8, 8), r"\[ConvTranspose2d\] input has 4 channels"),
    (lambda: nn.Conv2d(3, 4, 3, padding=3, padding_mode="reflect"), (1, 3, 3, 3), r"padding_mode='reflect'"),
])
def test_bad_input(make, shape, msg):
    with pytest.raises(ValueError, match=msg):
        make()(nerve.randn(*shape))


@pytest.mark.parametrize("make,msg", [
    (lambda: nn.Conv2d(3, 8, 3, groups=2), r"\[Conv2d\] in_channels \(3\) must be divisible by groups"),
    (lambda: nn.Conv2d(4, 6, 3, groups=4), r"out_channels \(6\) must be divisible"),
    (lambda: nn.Conv2d(3, 8, 3, padding="full"), r"invalid padding string"),
    (lambda: nn.Conv2d(3, 8, 3, stride=2, padding="same"), r"not supported for strided"),
    (lambda: nn.Conv2d(3, 8, 3, padding_mode="mirror"), r"padding_mode must be one of"),
    (lambda: nn.ConvTranspose2d(3, 8, 3, padding_mode="reflect"), r'only "zeros" padding mode'),
    (lambda: nn.Conv2d(0, 8, 3), r"in_channels must be a positive int"),
])
def test_bad_construction(make, msg):
    with pytest.raises(ValueError, match=msg):
        make()


def test_state_dict_round_trip_through_torch():
    nm = nn.Conv2d(3, 8, 3, padding=1)
    tm = torch.nn.Conv2d(3, 8, 3, padding=1)
    tm.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in nm.state_dict().items()})
    x = np.random.default_rng(1).standard_normal((2, 3, 6, 6)).astype(np.float32)
    assert_close(nm(nerve.from_numpy(x)).detach(), tm(torch.from_numpy(x)).detach().numpy(), atol=1e-5, rtol=1e-5)
    with pytest.raises(RuntimeError, match="size mismatch for weight"):
        nn.Conv2d(3, 4, 3).load_state_dict(nm.state_dict())
