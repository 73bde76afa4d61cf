"""adagrad.py — nerve.optim.Adagrad (torch.optim.Adagrad: same defaults, state — created at
construction, as torch does — and formulas), one fused kernel call per group."""
from __future__ import annotations

from .optimizer import Optimizer, ParamBatch, _new_step, column, state_array, zeros_state


class Adagrad(Optimizer):
    r"""Adagrad, as torch.optim.Adagrad.

    For each parameter with a gradient g (negated when maximize), at step t: g += weight_decay * p;
    clr = lr / (1 + (t - 1) lr_decay); s += g^2; p -= clr g / (sqrt(s) + eps).

    Args:
        params: parameters or parameter groups to optimize.
        lr: learning rate (default: 1e-2).
        lr_decay: learning rate decay (default: 0).
        weight_decay: L2 penalty (default: 0).
        initial_accumulator_value: starting value of the sum of squares (default: 0).
        eps: added to the denominator (default: 1e-10).
        maximize: maximize the objective (default: False).
        foreach: None/True: one kernel call for all parameters of a group; False: one per parameter.

    Example::

        >>> import nerve
        >>> model = nerve.nn.Linear(4, 2)
        >>> opt = nerve.optim.Adagrad(model.parameters(), lr=1e-2, lr_decay=1e-4)
    """

    def __init__(self, params, lr: float = 1e-2, lr_decay: float = 0, weight_decay: float = 0,
                 initial_accumulator_value: float = 0, eps: float = 1e-10, foreach=None, *, maximize: bool = False,
                 differentiable: bool = False, fused=None):
        if not 0.0 <= lr:
            raise ValueError(f"[Adagrad] Invalid learning rate: {lr}")
        if not 0.0 <= lr_decay:
            raise ValueError(f"[Adagrad] Invalid lr_decay value: {lr_decay}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"[Adagrad] Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= initial_accumulator_value:
            raise ValueError(f"[Adagrad] Invalid initial_accumulator_value value: {initial_accumulator_value}")
        if not 0.0 <= eps:
            raise ValueError(f"[Adagrad] Invalid epsilon value: {eps}")
        if differentiable:
            raise NotImplementedError("[Adagrad] differentiable=True is not supported by nerve's fused kernels")
        defaults = dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, foreach=foreach, maximize=maximize)
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(p)

    def _init_state(self, p):
        state = self.state[p]
        state["step"] = _new_step()
        state["sum"] = zeros_state(p, self.defaults["initial_accumulator_value"])

    def _state_keys(self, group):
        return ["step", "sum"]

    def step(self, closure=None):
        loss = self._loss(closure)
        index = 0
        for group in self.param_groups:
            batch = ParamBatch("Adagrad")
            for p in group["params"]:
                if p.grad is not None:
                    state = self.state[p]
                    if len(state) == 0:
                        self._init_state(p)
                    step = state["step"]._data
                    step += 1
                    batch.add(p, index, state_array(state["sum"], p, "Adagrad", "sum", index), float(step))
                index += 1
            hyper = dict(lr=group["lr"], lr_decay=group["lr_decay"], weight_decay=group["weight_decay"],
                         eps=group["eps"], maximize=group["maximize"])
            for kernels, rows in batch.calls():
                if group.get("foreach") is False:
                    for r in rows:
                        kernels.adagrad_update([r[0]], [r[2]], [r[1]], r[3], **hyper)
                else:
                    kernels.adagrad_update(column(rows, 0), column(rows, 2), column(rows, 1), column(rows, 3), **hyper)
            batch.finish()
        return loss
