"""regularization.py — L1 and L2 penalty terms to add to a loss (Keras' kernel_regularizer=l1(...),
written the PyTorch way: the penalty is an ordinary differentiable term of the loss).

    loss = criterion(model(x), y) + nerve.optim.l1_penalty(model.parameters(), 1e-4)
    loss.backward()                                     # gradients include weight * sign(p)

For L2 prefer the optimizers' weight_decay (the same gradient, 2 * weight * p, folded into the
fused update without building a graph); l2_penalty is here for symmetry and for losses that must
report the penalised value.
"""
from __future__ import annotations

from ..tensor import Tensor


def _params(parameters):
    if isinstance(parameters, Tensor):
        return [parameters]
    if hasattr(parameters, "parameters") and callable(parameters.parameters):  # a Module
        return list(parameters.parameters())
    return list(parameters)


def _penalty(parameters, weight: float, op: str, term):
    weight = float(weight)
    if weight < 0:
        raise ValueError(f"[{op}] weight must be >= 0, got {weight}")
    params = _params(parameters)
    if not params:
        raise ValueError(f"[{op}] got no parameters")
    total = None
    for p in params:
        if not isinstance(p, Tensor):
            raise TypeError(f"[{op}] expected Tensors (or a Module), got {type(p).__name__}")
        t = term(p)
        total = t if total is None else total + t
    return total * weight


def l1_penalty(parameters, weight: float = 0.01) -> Tensor:
    """weight * sum over parameters of sum(|p|): a scalar Tensor to add to the loss (Keras' l1(weight)).

    `parameters` is a Tensor, an iterable of Tensors, or a Module (all its parameters; pass
    e.g. `[m.weight for m in layers]` to spare the biases, as Keras' kernel_regularizer does).
    Its gradient is weight * sign(p) (0 at p == 0, as torch's abs).

    Example::

        >>> import nerve
        >>> w = nerve.tensor([1.0, -2.0, 0.0], requires_grad=True)
        >>> nerve.optim.l1_penalty([w], 0.5)
        tensor(1.5, grad_fn=<MulBackward>)
    """
    return _penalty(parameters, weight, "l1_penalty", lambda p: p.abs().sum())


def l2_penalty(parameters, weight: float = 0.01) -> Tensor:
    """weight * sum over parameters of sum(p^2) (Keras' l2(weight)); see l1_penalty."""
    return _penalty(parameters, weight, "l2_penalty", lambda p: p.square().sum())
