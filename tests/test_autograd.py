"""The autograd engine: accumulation, retain_graph, freed graphs, in-place checks, hooks, no_grad,
autograd.grad, custom Functions, detach — each compared with what torch does."""
import numpy as np
import pytest
import torch

import nerve
from nerve.testing import assert_close


def test_gradients_accumulate_across_backward_calls():
    x = nerve.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (x * x).sum().backward()
    (x * 3).sum().backward()
    assert_close(x.grad, nerve.tensor([5.0, 7.0, 9.0]))


def test_shared_subexpression_and_diamond_graph():
    x = nerve.tensor([0.5, -1.0], requires_grad=True)
    tx = torch.tensor([0.5, -1.0], requires_grad=True)
    for lib, v in ((nerve, x), (torch, tx)):
        a = v * 2
        b = a.exp() + a * a  # a feeds two branches that meet again
        (b * a).sum().backward()
    assert_close(x.grad, tx.grad)


def test_backward_twice_through_freed_graph_raises():
    x = nerve.randn(3, requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()


def test_retain_graph_allows_second_backward():
    x = nerve.randn(3, requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    g1 = x.grad.numpy().copy()
    y.backward()
    assert_close(x.grad, nerve.tensor(2 * g1))


def test_inplace_modification_of_saved_tensor_raises():
    x = nerve.randn(4, requires_grad=True)
    y = x * 1
    z = y * y  # saves y
    y.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        z.sum().backward()


def test_inplace_on_view_shares_version_counter():
    x = nerve.randn(4, requires_grad=True)
    y = x * 1
    z = y.exp()  # saves its output
    w = z[1:3]
    with nerve.no_grad():
        w.mul_(2)  # writes into z's storage through a view
    with pytest.raises(RuntimeError, match="inplace"):
        z.sum().backward()


def test_inplace_on_leaf_requiring_grad_raises():
    x = nerve.randn(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable"):
        x.add_(1)
    with nerve.no_grad():
        x.add_(1)  # allowed outside the graph (optimizer steps)


def test_inplace_ops_record_graph_like_torch():
    for op in ("add_", "mul_", "sub_", "div_"):
        x = nerve.tensor([1.0, 2.0, 3.0], requires_grad=True)
        tx = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
        for v in (x, tx):
            y = v * 2
            getattr(y, op)(1.5)
            (y * y).sum().backward()
        assert_close(x.grad, tx.grad, msg=op)


def test_non_scalar_backward_needs_gradient():
    x = nerve.randn(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="only for scalar outputs"):
        (x * 2).backward()
    (x * 2).backward(nerve.ones(3))
    assert_close(x.grad, nerve.full((3,), 2.0))
    with pytest.raises(RuntimeError, match="gradient has shape"):
        (x * 2).backward(nerve.ones(4))


def test_no_grad_and_enable_grad():
    x = nerve.randn(3, requires_grad=True)
    with nerve.no_grad():
        y = x * 2
        assert not y.requires_grad and y.grad_fn is None
        with nerve.enable_grad():
            assert (x * 2).requires_grad
    assert (x * 2).requires_grad

    @nerve.no_grad()
    def f(v):
        return v * 2

    assert not f(x).requires_grad
    assert nerve.is_grad_enabled()


def test_requires_grad_only_on_float():
    with pytest.raises(RuntimeError, match="floating point"):
        nerve.tensor([1, 2]).requires_grad_()


def test_detach_shares_storage_and_cuts_graph():
    x = nerve.randn(3, requires_grad=True)
    d = x.detach()
    assert not d.requires_grad
    with nerve.no_grad():
        d.mul_(0)
    assert x.numpy(force=True).sum() == 0


def test_register_hook_on_leaf_and_intermediate():
    x = nerve.tensor([1.0, 2.0], requires_grad=True)
    seen = []
    x.register_hook(lambda g: seen.append(g.numpy().copy()))
    y = x * 3
    h = y.register_hook(lambda g: g * 10)  # replaces the gradient flowing on
    y.sum().backward()
    assert_close(x.grad, nerve.tensor([30.0, 30.0]))
    assert np.allclose(seen[0], [30.0, 30.0])
    h.remove()
    x.grad = None
    (x * 3).sum().backward()
    assert_close(x.grad, nerve.tensor([3.0, 3.0]))


def test_retain_grad_on_intermediate():
    x = nerve.randn(3, requires_grad=True)
    y = x * 2
    y.retain_grad()
    (y * y).sum().backward()
    assert_close(y.grad, 2 * y.detach())


def test_autograd_grad_leaves_dot_grad_untouched():
    x = nerve.tensor([1.0, 2.0], requires_grad=True)
    w = nerve.tensor([3.0, 4.0], requires_grad=True)
    y = (x * w).sum()
    gx, gw = nerve.autograd.grad(y, [x, w])
    assert_close(gx, w.detach())
    assert_close(gw, x.detach())
    assert x.grad is None and w.grad is None


def test_autograd_grad_unused_input():
    x = nerve.randn(2, requires_grad=True)
    z = nerve.randn(2, requires_grad=True)
    y = (x * 2).sum()
    with pytest.raises(RuntimeError, match="not have been used"):
        nerve.autograd.grad(y, [x, z], retain_graph=True)
    gx, gz = nerve.autograd.grad(y, [x, z], allow_unused=True)
    assert gz is None and gx is not None


def test_custom_function():
    class Cube(nerve.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x ** 3

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 3 * x * x * g

    x = nerve.tensor([2.0, -1.0], requires_grad=True)
    Cube.apply(x).sum().backward()
    assert_close(x.grad, nerve.tensor([12.0, 3.0]))
    assert nerve.testing.gradcheck(Cube.apply, (nerve.randn(4, dtype=nerve.float64, requires_grad=True),))


def test_gradcheck_catches_a_wrong_gradient():
    class Wrong(nerve.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * x

        @staticmethod
        def backward(ctx, g):
            return g  # should be 2 x g

    with pytest.raises(AssertionError, match="Jacobian mismatch"):
        nerve.testing.gradcheck(Wrong.apply, (nerve.randn(3, dtype=nerve.float64, requires_grad=True),))


def test_multi_output_with_unused_output_gets_zero_gradient():
    x = nerve.randn(6, requires_grad=True)
    a, b, c = x.split(2)
    (b * 2).sum().backward()
    assert_close(x.grad, nerve.tensor([0, 0, 2, 2, 0, 0], dtype=nerve.float32))


def test_same_array_returned_for_two_inputs_does_not_alias_grads():
    x = nerve.randn(3, requires_grad=True)
    y = nerve.randn(3, requires_grad=True)
    (x + y).sum().backward()
    with nerve.no_grad():
        x.grad.add_(1)
    assert_close(y.grad, nerve.ones(3))


def test_long_chain_has_no_recursion_limit():
    x = nerve.tensor([1.0], requires_grad=True)
    y = x
    for _ in range(5000):
        y = y * 1.0001
    y.sum().backward()
    assert abs(x.grad.item() - 1.0001 ** 5000) < 1e-2


def test_leaf_grad_dtype_and_broadcast():
    x = nerve.randn(3, 1, requires_grad=True)
    y = x.double() * nerve.ones(3, 4, dtype=nerve.float64)
    y.sum().backward()
    assert x.grad.dtype == nerve.float32
    assert_close(x.grad, nerve.full((3, 1), 4.0))


def test_backward_gradient_is_read_in_place_never_written_or_aliased():
    """backward(gradient=g) reads g without copying it; g is left as it was and no .grad aliases it."""
    g = nerve.randn(3, 4)
    before = g.numpy().copy()
    x = nerve.randn(3, 4, requires_grad=True)
    nerve.nn.functional.relu(x * 2).backward(g)
    assert np.array_equal(g.numpy(), before)
    assert_close(x.grad, nerve.tensor(np.where(x.detach().numpy() > 0, 2 * before, 0).astype(np.float32)))
    leaf = nerve.randn(3, 4, requires_grad=True)
    leaf.backward(g)  # the gradient goes straight into the leaf's .grad: a copy of it
    g.numpy()[...] = 0
    assert np.array_equal(leaf.grad.numpy(), before)
    leaf.grad.numpy()[...] += 1  # the .grad is the leaf's own, writable
    strided = nerve.tensor(np.arange(24, dtype=np.float32).reshape(3, 8)[:, ::2])  # non-contiguous, as given
    y = nerve.randn(3, 4, requires_grad=True)
    (y * 1).backward(strided)
    assert np.array_equal(y.grad.numpy(), np.arange(24, dtype=np.float32).reshape(3, 8)[:, ::2])
