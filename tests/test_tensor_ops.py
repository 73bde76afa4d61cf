"""Tensor ops vs torch through check_op: forward, backward, float64 gradcheck; broadcasting edge cases
(size-1 dims, 0-d, empty tensors) and non-contiguous inputs."""
import numpy as np
import pytest
import torch

import nerve
from helpers import check_op

BINARY_SHAPES = [((3, 4), (3, 4)), ((3, 4), (4,)), ((3, 1), (1, 4)), ((2, 1, 4), (3, 1)), ((), (3,)), ((3,), ()),
                 ((0, 4), (4,)), ((2, 0), (2, 1))]


@pytest.mark.parametrize("sa,sb", BINARY_SHAPES)
@pytest.mark.parametrize("op", ["add", "sub", "mul", "div"])
def test_arithmetic_broadcast(op, sa, sb):
    fn = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
          "div": lambda a, b: a / b}[op]
    low = 0.5 if op == "div" else -2.0
    check_op([sa, sb], fn, low=low, gradcheck=op != "div" or sa == (3, 4))


@pytest.mark.parametrize("fn", [lambda a: a + 2.5, lambda a: 2.5 + a, lambda a: a - 1, lambda a: 3 - a,
                                lambda a: a * 0.5, lambda a: 2 * a, lambda a: a / 4, lambda a: 2 / a, lambda a: -a,
                                lambda a: a ** 2, lambda a: a ** 0.5, lambda a: 2 ** a, lambda a: a ** 0])
def test_scalar_arithmetic(fn):
    check_op([(3, 5)], fn, low=0.5, gradcheck=True, atol=1e-5, rtol=1e-5)


def test_pow_tensor_exponent():
    check_op([(3, 4), (3, 4)], lambda a, b: a ** b, low=0.5, high=2.0, gradcheck=True)


@pytest.mark.parametrize("name,low", [("exp", -2), ("log", 0.1), ("sqrt", 0.1), ("abs", -2), ("sin", -2),
                                      ("cos", -2), ("square", -2), ("rsqrt", 0.2)])
def test_unary(name, low):
    check_op([(4, 5)], lambda x: getattr(x, name)(), low=low, gradcheck=True)


@pytest.mark.parametrize("name", ["exp", "log", "sqrt", "abs", "sin"])
def test_unary_noncontiguous(name):
    check_op([(4, 5)], lambda x: getattr(x, name)(), low=0.1, noncontig=True)


@pytest.mark.parametrize("lo,hi", [(-0.5, 0.5), (None, 0.3), (-0.3, None)])
def test_clamp(lo, hi):
    check_op([(4, 6)], lambda x: x.clamp(lo, hi), gradcheck=True)


@pytest.mark.parametrize("op", ["maximum", "minimum"])
def test_maximum_minimum(op):
    check_op([(3, 4), (4,)], lambda a, b: getattr(a, op)(b), gradcheck=True)
    # ties split the gradient evenly, as in torch
    a = np.array([1.0, 2.0, 3.0], np.float32)
    check_op([a, a.copy()], lambda x, y: getattr(x, op)(y))


def test_where():
    cond = np.array([[True, False, True], [False, False, True]])
    check_op([cond, (2, 3), (3,)], lambda c, a, b: torch.where(c, a, b), lambda c, a, b: nerve.where(c, a, b),
             gradcheck=True)


@pytest.mark.parametrize("dim,keepdim", [(None, False), (0, False), (1, True), ((0, 2), False), (-1, True)])
@pytest.mark.parametrize("op", ["sum", "mean"])
def test_sum_mean(op, dim, keepdim):
    if dim is None:
        check_op([(2, 3, 4)], lambda x: getattr(x, op)(), gradcheck=True)
    else:
        check_op([(2, 3, 4)], lambda x: getattr(x, op)(dim, keepdim), gradcheck=True)


@pytest.mark.parametrize("dim,keepdim", [(None, False), (0, False), (1, True), ((0, 1), False)])
@pytest.mark.parametrize("op", ["var", "std"])
@pytest.mark.parametrize("unbiased", [True, False])
def test_var_std(op, dim, keepdim, unbiased):
    check_op([(3, 5)], lambda x: getattr(x, op)(dim, unbiased=unbiased, keepdim=keepdim), gradcheck=True,
             atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("op", ["max", "min"])
def test_max_min_full_and_dim(op):
    check_op([(3, 5)], lambda x: getattr(x, op)(), gradcheck=True)
    check_op([(3, 5)], lambda x: tuple(getattr(x, op)(1)), gradcheck=True)
    check_op([(3, 5)], lambda x: tuple(getattr(x, op)(0, keepdim=True)))
    ties = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]], np.float32)
    check_op([ties], lambda x: getattr(x, op)())  # ties share the gradient, as torch's amax
    check_op([ties], lambda x: x.amax(1))


def test_argmax_argmin_logsumexp():
    check_op([(4, 6)], lambda x: x.argmax(1), grad=False)
    check_op([(4, 6)], lambda x: x.argmin(0, keepdim=True), grad=False)
    check_op([(4, 6)], lambda x: x.argmax(), grad=False)
    check_op([(4, 6)], lambda x: x.logsumexp(1), gradcheck=True)


@pytest.mark.parametrize("fn", [
    lambda x: x.reshape(6, 4), lambda x: x.reshape(-1), lambda x: x.view(2, 12), lambda x: x.flatten(),
    lambda x: x.flatten(1), lambda x: x.transpose(0, 2), lambda x: x.permute(2, 0, 1), lambda x: x.mT,
    lambda x: x.unsqueeze(1), lambda x: x[:, :1].squeeze(1), lambda x: x.unsqueeze(0).squeeze(),
    lambda x: x[:, :1].expand(2, 5, 4), lambda x: x.repeat(2, 1, 3), lambda x: x.transpose(0, 1).contiguous(),
    lambda x: x.clone(), lambda x: x.unflatten(2, (2, 2)),
])
def test_shape_ops(fn):
    check_op([(2, 3, 4)], fn, gradcheck=True)


def test_reshape_noncontiguous_input():
    check_op([(3, 4)], lambda x: x.reshape(12), noncontig=True)
    check_op([(3, 4)], lambda x: x.t().reshape(12), noncontig=True)


@pytest.mark.parametrize("idx", [
    1, -1, slice(1, 3), (slice(None), 2), (Ellipsis, 1), (None, 0), (1, slice(None, None, 2)),
    np.array([0, 2, 2]), (slice(None), np.array([1, 0])), np.array([True, False, True, False]),
])
def test_indexing(idx):
    check_op([(4, 5)], lambda x: x[idx if not isinstance(idx, np.ndarray) else torch.from_numpy(idx)],
             lambda x: x[idx if not isinstance(idx, np.ndarray) else nerve.from_numpy(idx)], gradcheck=True)


def test_setitem_records_graph():
    check_op([(4, 5), (5,)], lambda x, v: _setitem(x, v), gradcheck=True)


def _setitem(x, v):
    y = x * 1
    y[1] = v * 2
    return y


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_cat_stack_split_chunk(dim):
    check_op([(2, 3), (2, 3)], lambda a, b: torch.cat([a, b], dim), lambda a, b: nerve.cat([a, b], dim),
             gradcheck=True)
    check_op([(2, 3), (2, 3)], lambda a, b: torch.stack([a, b], dim), lambda a, b: nerve.stack([a, b], dim),
             gradcheck=True)
    check_op([(4, 6)], lambda x: x.split(2, dim), gradcheck=True)
    check_op([(4, 6)], lambda x: x.chunk(3, dim), gradcheck=True)


def test_split_sections_unbind_narrow():
    check_op([(5, 3)], lambda x: x.split([2, 3]), gradcheck=True)
    check_op([(3, 4)], lambda x: x.unbind(1), gradcheck=True)
    check_op([(5, 3)], lambda x: x.narrow(0, 1, 3), gradcheck=True)


def test_gather_scatter_add():
    idx = np.array([[0, 2, 1], [3, 0, 0]], np.int64)
    check_op([(2, 4), idx], lambda x, i: x.gather(1, i), gradcheck=True)
    idx0 = np.array([[1, 0, 2]], np.int64)
    check_op([(3, 3), idx0], lambda x, i: x.gather(0, i), gradcheck=True)
    check_op([(3, 4), idx0, (1, 3)], lambda x, i, s: x.scatter_add(0, i, s), gradcheck=True)


def test_masked_fill_index_select_tril():
    mask = np.array([[True, False, False], [False, True, True]])
    check_op([(2, 3), mask], lambda x, m: x.masked_fill(m, -1.5), gradcheck=True)
    check_op([(4, 3), np.array([2, 0, 2], np.int64)], lambda x, i: x.index_select(0, i), gradcheck=True)
    check_op([(4, 4)], lambda x: x.tril(), gradcheck=True)
    check_op([(4, 4)], lambda x: x.triu(1), gradcheck=True)


@pytest.mark.parametrize("sa,sb", [((3, 4), (4, 5)), ((4,), (4,)), ((4,), (4, 3)), ((2, 4), (4,)),
                                   ((2, 3, 4), (4, 5)), ((2, 3, 4), (2, 4, 5)), ((1, 3, 4), (2, 4, 5)),
                                   ((2, 1, 3, 4), (5, 4, 2)), ((3, 4), (2, 4, 5)), ((0, 4), (4, 3)),
                                   ((3, 0), (0, 2))])
def test_matmul_shapes(sa, sb):
    check_op([sa, sb], lambda a, b: a @ b, gradcheck=True, atol=1e-5, rtol=1e-5)


def test_matmul_noncontiguous_and_transposed():
    check_op([(5, 6), (6, 7)], lambda a, b: a @ b, noncontig=True)
    check_op([(6, 5), (7, 6)], lambda a, b: a.t() @ b.t())
    check_op([(2, 6, 5), (2, 7, 6)], lambda a, b: a.mT @ b.mT)


def test_matmul_float64_and_larger():
    check_op([(65, 130), (130, 33)], lambda a, b: a @ b, dtype=np.float64, atol=1e-10, rtol=1e-10)
    check_op([(127, 257), (257, 129)], lambda a, b: a @ b, atol=1e-4, rtol=1e-5)


def test_mixed_dtype_promotion_matches_torch():
    a = np.arange(6, dtype=np.int64).reshape(2, 3)
    check_op([a, (2, 3)], lambda x, y: x + y)          # int64 + float32 -> float32
    check_op([a], lambda x: x * 0.5, grad=False)         # int tensor * float scalar -> float32
    check_op([a], lambda x: x / 2, grad=False)           # true division -> float32
    check_op([(2, 3), (2, 3)], lambda x, y: x.double() + y)  # float64 + float32 -> float64
    check_op([(2, 3)], lambda x: x.double() * 2.0)


def test_comparisons_and_logic():
    check_op([(3, 4), (3, 4)], lambda a, b: a < b, grad=False)
    check_op([(3, 4)], lambda a: a >= 0.5, grad=False)
    check_op([(3, 4), (4,)], lambda a, b: (a == a) & (b > 0), grad=False)


def test_norm():
    check_op([(3, 4)], lambda x: x.norm(), gradcheck=True)
    check_op([(3, 4)], lambda x: x.norm(1, 1), low=0.1, gradcheck=True)
