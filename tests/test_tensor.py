"""Tensor creation, dtypes, properties, conversions and interop (numpy, DLPack, torch)."""
import numpy as np
import pytest
import torch

import nerve
from nerve.testing import assert_close


def test_creation_functions_match_torch():
    assert nerve.zeros(2, 3).shape == (2, 3) and nerve.zeros(2, 3).dtype == nerve.float32
    assert nerve.ones((2, 3)).numpy().sum() == 6
    assert nerve.full((2,), 7).dtype == nerve.int64
    assert nerve.full((2,), 7.0).dtype == nerve.float32
    assert nerve.empty(4).shape == (4,)
    for args in [(5,), (1, 7, 2), (0.0, 1.0, 0.25)]:
        assert_close(nerve.arange(*args), torch.arange(*args))
    assert_close(nerve.linspace(0, 1, 5), torch.linspace(0, 1, 5))
    assert_close(nerve.eye(3), torch.eye(3))
    assert_close(nerve.eye(2, 3), torch.eye(2, 3))
    x = nerve.randn(2, 3)
    for fn in ("zeros_like", "ones_like", "randn_like", "rand_like"):
        y = getattr(nerve, fn)(x)
        assert y.shape == x.shape and y.dtype == x.dtype


def test_dtype_inference_like_torch():
    assert nerve.tensor([1, 2]).dtype == nerve.int64
    assert nerve.tensor([1, 2.5]).dtype == nerve.float32
    assert nerve.tensor([True, False]).dtype == nerve.bool
    assert nerve.tensor(np.zeros(3, np.float64)).dtype == nerve.float64
    assert nerve.tensor(3.0).ndim == 0
    assert nerve.tensor([[1, 2]], dtype=nerve.float64).dtype == nerve.float64
    assert str(nerve.float32) == "nerve.float32"


def test_random_is_seeded():
    nerve.manual_seed(123)
    a = nerve.randn(5)
    nerve.manual_seed(123)
    b = nerve.randn(5)
    assert nerve.equal(a, b)
    r = nerve.randint(0, 10, (1000,))
    assert r.dtype == nerve.int64 and 0 <= r.min().item() and r.max().item() < 10
    u = nerve.rand(10000)
    assert 0 <= u.min().item() and u.max().item() < 1 and abs(u.mean().item() - 0.5) < 0.02
    assert abs(nerve.randn(20000).std().item() - 1) < 0.03


def test_properties_and_scalars():
    x = nerve.arange(6.0).reshape(2, 3)
    assert x.ndim == 2 and x.dim() == 2 and x.numel() == 6 and len(x) == 2
    assert x.size() == (2, 3) and x.size(1) == 3 and x.size(-1) == 3
    assert x[1, 2].item() == 5.0 and x.tolist() == [[0, 1, 2], [3, 4, 5]]
    assert float(x[0, 1]) == 1.0 and int(x[1, 0]) == 3
    assert x.device == "cpu" and str(x.device) == "cpu"
    assert x.is_contiguous() and not x.t().is_contiguous()
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(x)
    with pytest.raises(RuntimeError, match="cannot be converted"):
        x.item()


def test_repr_looks_like_torch():
    assert repr(nerve.tensor([1.0, 2.0])) == "tensor([1., 2.])"
    assert repr(nerve.tensor([1, 2])) == "tensor([1, 2])"
    assert "requires_grad=True" in repr(nerve.ones(2, requires_grad=True))
    assert "grad_fn=<MulBackward>" in repr(nerve.ones(2, requires_grad=True) * 2)
    assert "dtype=nerve.float64" in repr(nerve.ones(2, dtype=nerve.float64))


def test_numpy_interop_shares_memory():
    a = np.zeros(3, np.float32)
    t = nerve.from_numpy(a)
    a[0] = 5
    assert t[0].item() == 5
    assert np.asarray(t) is a or np.shares_memory(np.asarray(t), a)
    t2 = nerve.tensor(a)
    a[1] = 7
    assert t2[1].item() == 0  # tensor() copies, as torch.tensor does
    with pytest.raises(RuntimeError, match="requires grad"):
        nerve.ones(2, requires_grad=True).numpy()


def test_dlpack_both_ways_zero_copy():
    t = torch.arange(6, dtype=torch.float32)
    n = nerve.from_dlpack(t)
    t[0] = 42
    assert n[0].item() == 42
    back = torch.from_dlpack(n)
    n._data[1] = -1
    assert back[1].item() == -1
    assert nerve.from_dlpack(np.ones(3)).dtype == nerve.float64


def test_to_and_casts():
    x = nerve.randn(3)
    assert x.to(nerve.float64).dtype == nerve.float64
    assert x.double().float().dtype == nerve.float32
    assert x.long().dtype == nerve.int64 and x.bool().dtype == nerve.bool
    assert x.to("cpu") is x
    y = nerve.randn(3, requires_grad=True)
    y.double().sum().backward()
    assert y.grad.dtype == nerve.float32


def test_cuda_entry_points_fail_clearly_without_gpu():
    assert nerve.cuda.is_available() is False
    with pytest.raises(RuntimeError, match="CUDA|cupy|cuda"):
        nerve.ones(2).to("cuda")


def test_in_place_ops_without_graph():
    x = nerve.zeros(3)
    x.add_(2).mul_(3).sub_(1).div_(5)
    assert_close(x, nerve.full((3,), 1.0))
    x.fill_(4)
    x.clamp_(max=2.5)
    assert_close(x, nerve.full((3,), 2.5))
    x.zero_()
    x.copy_(nerve.tensor([1.0, 2.0, 3.0]))
    assert x.tolist() == [1.0, 2.0, 3.0]
    x += 1
    assert x.tolist() == [2.0, 3.0, 4.0]
    with pytest.raises(RuntimeError, match="can't be cast"):
        nerve.zeros(2, dtype=nerve.int64).add_(0.5)


def test_set_num_threads():
    n = nerve.get_num_threads()
    nerve.set_num_threads(1)
    assert nerve.get_num_threads() == 1
    nerve.set_num_threads(n)
    with pytest.raises(ValueError):
        nerve.set_num_threads(0)


def test_show_config_reports_build(capsys):
    text = nerve.show_config()
    assert "ISA in use" in text and "CUDA" in text and "OpenMP" in text
    c = nerve.config()
    assert c["cuda_available"] is False
