"""sgd.py — nerve.optim.SGD: stochastic gradient descent with momentum, dampening, Nesterov and
weight decay (torch.optim.SGD, same defaults, state and formulas), one fused kernel call per group."""
from __future__ import annotations

from .optimizer import Optimizer, ParamBatch, column, state_array, zeros_state


class SGD(Optimizer):
    r"""Stochastic gradient descent (optionally with momentum), as torch.optim.SGD.

    For each parameter with a gradient g (negated when maximize):
    g += weight_decay * p; b = g on the first step, else momentum * b + (1 - dampening) * g;
    g = g + momentum * b (nesterov) or b; p -= lr * g.

    Args:
        params: parameters or parameter groups to optimize.
        lr: learning rate (default: 1e-3).
        momentum: momentum factor (default: 0).
        dampening: dampening for momentum (default: 0).
        weight_decay: L2 penalty (default: 0).
        nesterov: Nesterov momentum (default: False).
        maximize: maximize the objective instead of minimizing (default: False).
        foreach: None/True: one kernel call for all parameters of a group; False: one per parameter.

    Example::

        >>> import nerve
        >>> model = nerve.nn.Linear(4, 2)
        >>> opt = nerve.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        >>> model(nerve.randn(8, 4)).square().mean().backward()
        >>> opt.step()
    """

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0, dampening: float = 0, weight_decay: float = 0,
                 nesterov: bool = False, *, maximize: bool = False, foreach=None, differentiable: bool = False,
                 fused=None):
        if lr < 0.0:
            raise ValueError(f"[SGD] Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"[SGD] Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"[SGD] Invalid weight_decay value: {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("[SGD] Nesterov momentum requires a momentum and zero dampening")
        if differentiable:
            raise NotImplementedError("[SGD] differentiable=True is not supported by nerve's fused kernels")
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay, nesterov=nesterov,
                        maximize=maximize, foreach=foreach)
        super().__init__(params, defaults)

    def _state_keys(self, group):
        return ["momentum_buffer"] if group["momentum"] != 0 else []

    def step(self, closure=None):
        loss = self._loss(closure)
        index = 0
        for group in self.param_groups:
            momentum = group["momentum"]
            batch = ParamBatch("SGD")
            for p in group["params"]:
                if p.grad is not None:
                    if momentum != 0:
                        state = self.state[p]
                        buf = state.get("momentum_buffer")
                        init = buf is None
                        if init:
                            buf = state["momentum_buffer"] = zeros_state(p)
                        batch.add(p, index, state_array(buf, p, "SGD", "momentum_buffer", index), init)
                    else:
                        batch.add(p, index, None, False)
                index += 1
            hyper = dict(lr=group["lr"], momentum=momentum, dampening=group["dampening"],
                         weight_decay=group["weight_decay"], nesterov=group["nesterov"], maximize=group["maximize"])
            for kernels, rows in batch.calls():
                bufs = column(rows, 2) if momentum != 0 else []
                if group.get("foreach") is False:
                    for r, b in zip(rows, bufs or [None] * len(rows)):
                        kernels.sgd_update([r[0]], [b] if b is not None else [], [r[1]], init_buffers=r[3], **hyper)
                else:
                    kernels.sgd_update(column(rows, 0), bufs, column(rows, 1), init_buffers=column(rows, 3), **hyper)
            batch.finish()
        return loss
