"""test_activation_cuda.py — the CUDA activation kernels (csrc/cuda/activation.cuh) against the CPU
kernel and torch in float64, under the emulator and (marker `cuda`) on a GPU: every op and
parameter set, sizes that end in partial blocks and go past the grid-stride cap, float64, in place,
NaN/inf inputs, and argument errors. The nerve ops on CUDA tensors run end to end when a GPU is
present."""
import numpy as np
import pytest
import torch

import nerve
import nerve.nn.functional as F
from nerve import _C, _C_emu
from cuda_backends import be, run  # noqa: F401  (be is a fixture)

OPS = [("relu", 0.0, 0.0), ("leaky_relu", 0.01, 0.0), ("leaky_relu", -0.2, 0.0), ("elu", 1.0, 0.0), ("elu", 0.3, 0.0),
       ("gelu", 0.0, 0.0), ("gelu_tanh", 0.0, 0.0), ("silu", 0.0, 0.0), ("sigmoid", 0.0, 0.0), ("tanh", 0.0, 0.0),
       ("softplus", 1.0, 20.0), ("softplus", 2.0, 3.0), ("hardtanh", -1.0, 1.0), ("hardtanh", -0.5, 2.0)]
FROM_OUTPUT = {"relu", "sigmoid", "tanh", "hardtanh"}

TORCH = {
    "relu": lambda x, a, b: torch.relu(x), "leaky_relu": lambda x, a, b: torch.nn.functional.leaky_relu(x, a),
    "elu": lambda x, a, b: torch.nn.functional.elu(x, a), "gelu": lambda x, a, b: torch.nn.functional.gelu(x),
    "gelu_tanh": lambda x, a, b: torch.nn.functional.gelu(x, approximate="tanh"),
    "silu": lambda x, a, b: torch.nn.functional.silu(x), "sigmoid": lambda x, a, b: torch.sigmoid(x),
    "tanh": lambda x, a, b: torch.tanh(x), "softplus": lambda x, a, b: torch.nn.functional.softplus(x, a, b),
    "hardtanh": lambda x, a, b: torch.nn.functional.hardtanh(x, a, b),
}


def reference(op, a, b, x, g):
    """torch in float64: forward and gradient."""
    t = torch.from_numpy(x.astype(np.float64)).requires_grad_(True)
    y = TORCH[op](t, a, b)
    y.backward(torch.from_numpy(g.astype(np.float64)))
    return y.detach().numpy(), t.grad.numpy()


@pytest.mark.parametrize("op,a,b", OPS, ids=[f"{o}({a},{b})" for o, a, b in OPS])
@pytest.mark.parametrize("n", [1, 31, 257, 1031])
def test_against_cpu_and_torch(be, op, a, b, n):
    rng = np.random.default_rng(n)
    x = (rng.standard_normal(n) * 4).astype(np.float32)
    g = rng.standard_normal(n).astype(np.float32)
    (y,) = run(be, "activation_forward", np.empty_like(x), x, op, a, b, op, outs=(0,))
    cpu_y = np.empty_like(x)
    _C.cpu.activation_forward(cpu_y, x, op, a, b, op)
    fo = op in FROM_OUTPUT or (op in ("leaky_relu", "elu") and a >= 0)
    (dx,) = run(be, "activation_backward", np.empty_like(x), g, cpu_y if fo else x, op, a, b, fo, op, outs=(0,))
    cpu_dx = np.empty_like(x)
    _C.cpu.activation_backward(cpu_dx, g, cpu_y if fo else x, op, a, b, fo, op)
    ref_y, ref_dx = reference(op, a, b, x, g)
    np.testing.assert_allclose(y, cpu_y, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(y, ref_y, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dx, cpu_dx, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dx, ref_dx, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("op,a,b", OPS[:10], ids=[f"{o}({a},{b})" for o, a, b in OPS[:10]])
def test_float64_and_in_place(be, op, a, b):
    rng = np.random.default_rng(1)
    x = rng.standard_normal(515) * 4
    g = rng.standard_normal(515)
    ref_y, ref_dx = reference(op, a, b, x, g)
    xd = be.put(x)
    be.call("activation_forward", xd, xd, op, a, b, op)  # out is the input: in place
    y = be.get(xd)
    np.testing.assert_allclose(y, ref_y, rtol=1e-12, atol=1e-14)
    fo = op in FROM_OUTPUT or (op in ("leaky_relu", "elu") and a >= 0)
    (dx,) = run(be, "activation_backward", np.empty_like(x), g, y if fo else x, op, a, b, fo, op, outs=(0,))
    np.testing.assert_allclose(dx, ref_dx, rtol=1e-12, atol=1e-14)


def test_special_values(be):
    x = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e4, -1e4, 88.5, -88.5, 3e38, -3e38], np.float32)
    for op, a, b in OPS:
        cpu_y = np.empty_like(x)
        _C.cpu.activation_forward(cpu_y, x, op, a, b, op)
        (y,) = run(be, "activation_forward", np.empty_like(x), x, op, a, b, op, outs=(0,))
        np.testing.assert_allclose(y, cpu_y, rtol=1e-5, atol=1e-6, err_msg=op)


def test_large_grid_stride(be):
    """More elements than 8192 blocks of 256 threads cover: the grid-stride loop takes the rest."""
    n = 8192 * 256 + 77
    x = np.random.default_rng(2).standard_normal(n).astype(np.float32)
    (y,) = run(be, "activation_forward", np.empty_like(x), x, "relu", 0.0, 0.0, "relu", outs=(0,))
    np.testing.assert_array_equal(y, np.maximum(x, 0))


def test_empty(be):
    x = np.zeros((0, 3), np.float32)
    (y,) = run(be, "activation_forward", np.empty_like(x), x, "gelu", 0.0, 0.0, "gelu", outs=(0,))
    assert y.shape == (0, 3)


def test_argument_errors(be):
    x = be.put(np.zeros((3, 4), np.float32))
    with pytest.raises(ValueError, match=r"\[relu\] out has shape \(4, 3\), expected \(3, 4\)"):
        be.call("activation_forward", be.put(np.zeros((4, 3), np.float32)), x, "relu", 0.0, 0.0, "relu")
    with pytest.raises(ValueError, match=r"\[gelu\] unknown activation 'gleu'"):
        be.call("activation_forward", be.put(np.zeros((3, 4), np.float32)), x, "gleu", 0.0, 0.0, "gelu")
    with pytest.raises(ValueError, match=r"\[tanh\] the gradient of tanh is computed from its output"):
        be.call("activation_backward", be.put(np.zeros((3, 4), np.float32)), x, x, "tanh", 0.0, 0.0, False, "tanh")


def test_emulated_entries_are_the_cuda_entries():
    for name in ("activation_forward", "activation_backward"):
        assert getattr(_C_emu, name).__doc__ == getattr(_C.cuda, name).__doc__


@pytest.mark.cuda
@pytest.mark.parametrize("fn", [F.relu, F.gelu, F.silu, F.sigmoid, F.tanh, lambda x: F.elu(x, 0.5),
                                lambda x: F.softplus(x, 2.0), lambda x: F.hardtanh(x, -0.5, 0.5),
                                lambda x: F.leaky_relu(x, 0.1), lambda x: F.gelu(x, approximate="tanh")])
def test_ops_on_cuda_tensors(fn):
    x = nerve.randn(37, 29)
    xc = x.cuda().requires_grad_(True)
    y = fn(xc)
    assert y.is_cuda
    y.sum().backward()
    xh = x.clone().requires_grad_(True)
    fn(xh).sum().backward()
    nerve.testing.assert_close(y.cpu().detach(), fn(x), atol=1e-6, rtol=1e-5)
    nerve.testing.assert_close(xc.grad.cpu(), xh.grad, atol=1e-6, rtol=1e-5)
    z = x.cuda() * 1.0
    F.relu_(z)
    nerve.testing.assert_close(z.cpu(), F.relu(x))
