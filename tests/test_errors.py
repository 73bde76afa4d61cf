"""Bad input raises a clear error that names the op, what was expected and what came."""
import numpy as np
import pytest

import nerve


def test_matmul_shape_mismatch():
    with pytest.raises(ValueError, match=r"\[matmul\] inner dimensions differ.*\(3, 4\).*\(5, 2\)"):
        nerve.randn(3, 4) @ nerve.randn(5, 2)
    with pytest.raises(ValueError, match=r"\[matmul\].*at least 1 dimension"):
        nerve.tensor(1.0) @ nerve.randn(3)


def test_matmul_kernel_checks_its_arguments():
    from nerve import _C
    a, b = np.ones((3, 4), np.float32), np.ones((4, 2), np.float32)
    with pytest.raises(ValueError, match=r"\[matmul\] out has shape"):
        _C.cpu.gemm(np.empty((3, 3), np.float32), a, b)
    with pytest.raises(ValueError, match=r"\[matmul\].*same dtype"):
        _C.cpu.gemm(np.empty((3, 2), np.float32), a, b.astype(np.float64))
    with pytest.raises(ValueError, match=r"\[matmul\] expected a of dtype float32 or float64, got int64"):
        _C.cpu.gemm(np.empty((3, 2), np.int64), a.astype(np.int64), b.astype(np.int64))
    with pytest.raises(ValueError, match=r"\[matmul\] out must not share memory"):
        _C.cpu.gemm(a, a, np.ones((4, 4), np.float32))


def test_broadcast_mismatch():
    with pytest.raises(ValueError, match=r"\[add\] shapes \(3, 4\) and \(5,\) cannot be broadcast"):
        nerve.randn(3, 4) + nerve.randn(5)
    with pytest.raises(ValueError, match=r"\[mul\] shapes \(2, 3\) and \(4, 3\) cannot be broadcast"):
        nerve.randn(2, 3, requires_grad=True) * nerve.randn(4, 3)


def test_reshape_and_view_errors():
    with pytest.raises(ValueError, match=r"\[reshape\] shape \(5,\) is invalid for input of size 6"):
        nerve.randn(2, 3).reshape(5)
    with pytest.raises(RuntimeError, match=r"\[view\].*use \.reshape"):
        nerve.randn(3, 4).t().view(12)
    with pytest.raises(IndexError, match=r"\[sum\] dim 3 is out of range"):
        nerve.randn(2, 3).sum(3)
    with pytest.raises(ValueError, match=r"\[expand\]"):
        nerve.randn(2, 3).expand(4, 3)


def test_wrong_dtype_errors():
    with pytest.raises(TypeError, match=r"\[mean\] expected a floating point tensor"):
        nerve.tensor([1, 2]).mean()
    with pytest.raises(TypeError, match=r"\[gather\] index must be an int64 tensor"):
        nerve.randn(2, 3).gather(1, nerve.tensor([[0.0]]))
    with pytest.raises(TypeError, match=r"\[dtype\]"):
        nerve.zeros(2, dtype="complex128")


def test_index_errors():
    with pytest.raises(IndexError, match=r"\[index\]"):
        nerve.randn(2, 3)[5]
    with pytest.raises(IndexError, match=r"\[gather\] index out of range"):
        nerve.randn(2, 3).gather(1, nerve.tensor([[0, 3]]))


def test_devices_must_match():
    x = nerve.randn(3)
    fake = nerve.Tensor._make(_FakeDeviceArray(), False, None, 0)
    with pytest.raises(RuntimeError, match=r"\[add\] expected all tensors to be on the same device"):
        x + fake


class _FakeDeviceArray:
    """Stands in for a cupy array: a different array type with a device."""
    shape, ndim, dtype = (3,), 1, np.dtype(np.float32)

    class device:
        id = 0

    __cuda_array_interface__ = {"shape": (3,), "typestr": "<f4", "data": (0, False), "version": 3}


def test_creation_errors():
    with pytest.raises(ValueError, match=r"\[zeros\] negative dimension"):
        nerve.zeros(-1)
    with pytest.raises(ValueError, match=r"\[randint\] expected low < high"):
        nerve.randint(5, 5, (2,))
    with pytest.raises(ValueError, match=r"\[device\]"):
        nerve.device("tpu")
