"""rmsprop.py — nerve.optim.RMSprop (torch.optim.RMSprop: same defaults, state and formulas, with
momentum and centered variants), one fused kernel call per group."""
from __future__ import annotations

from .optimizer import Optimizer, ParamBatch, _new_step, column, state_array, zeros_state


class RMSprop(Optimizer):
    r"""RMSprop, as torch.optim.RMSprop.

    For each parameter with a gradient g (negated when maximize): g += weight_decay * p;
    v = alpha v + (1 - alpha) g^2; centered: a = alpha a + (1 - alpha) g, denom = sqrt(v - a^2) + eps,
    else denom = sqrt(v) + eps; momentum: b = momentum b + g / denom, p -= lr b; else p -= lr g / denom.

    Args:
        params: parameters or parameter groups to optimize.
        lr: learning rate (default: 1e-2).
        alpha: smoothing constant (default: 0.99).
        eps: added to the denominator (default: 1e-8).
        weight_decay: L2 penalty (default: 0).
        momentum: momentum factor (default: 0).
        centered: normalize by an estimate of the gradient's variance (default: False).
        maximize: maximize the objective (default: False).
        foreach: None/True: one kernel call for all parameters of a group; False: one per parameter.

    Example::

        >>> import nerve
        >>> model = nerve.nn.Linear(4, 2)
        >>> opt = nerve.optim.RMSprop(model.parameters(), lr=1e-2, momentum=0.9, centered=True)
    """

    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8, weight_decay: float = 0,
                 momentum: float = 0, centered: bool = False, capturable: bool = False, foreach=None,
                 maximize: bool = False, differentiable: bool = False):
        if not 0.0 <= lr:
            raise ValueError(f"[RMSprop] Invalid learning rate: {lr}")
        if not 0.0 <= eps:
            raise ValueError(f"[RMSprop] Invalid epsilon value: {eps}")
        if not 0.0 <= momentum:
            raise ValueError(f"[RMSprop] Invalid momentum value: {momentum}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"[RMSprop] Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= alpha:
            raise ValueError(f"[RMSprop] Invalid alpha value: {alpha}")
        if differentiable or capturable:
            raise NotImplementedError("[RMSprop] differentiable and capturable are not supported by nerve's fused "
                                      "kernels")
        defaults = dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered, weight_decay=weight_decay,
                        foreach=foreach, maximize=maximize)
        super().__init__(params, defaults)

    def _state_keys(self, group):
        return (["step", "square_avg"] + (["momentum_buffer"] if group["momentum"] > 0 else [])
                + (["grad_avg"] if group["centered"] else []))

    def step(self, closure=None):
        loss = self._loss(closure)
        index = 0
        for group in self.param_groups:
            momentum, centered = group["momentum"], group["centered"]
            batch = ParamBatch("RMSprop")
            for p in group["params"]:
                if p.grad is not None:
                    state = self.state[p]
                    if len(state) == 0:
                        state["step"] = _new_step()
                        state["square_avg"] = zeros_state(p)
                        if momentum > 0:
                            state["momentum_buffer"] = zeros_state(p)
                        if centered:
                            state["grad_avg"] = zeros_state(p)
                    if momentum > 0 and state.get("momentum_buffer") is None:
                        state["momentum_buffer"] = zeros_state(p)
                    if centered and state.get("grad_avg") is None:
                        state["grad_avg"] = zeros_state(p)
                    step = state["step"]._data
                    step += 1
                    batch.add(p, index, state_array(state["square_avg"], p, "RMSprop", "square_avg", index),
                              state_array(state["grad_avg"], p, "RMSprop", "grad_avg", index) if centered else None,
                              state_array(state["momentum_buffer"], p, "RMSprop", "momentum_buffer", index)
                              if momentum > 0 else None)
                index += 1
            hyper = dict(lr=group["lr"], alpha=group["alpha"], eps=group["eps"], weight_decay=group["weight_decay"],
                         momentum=momentum, centered=centered, maximize=group["maximize"])
            for kernels, rows in batch.calls():
                if group.get("foreach") is False:
                    for r in rows:
                        kernels.rmsprop_update([r[0]], [r[2]], [r[3]] if centered else [],
                                               [r[4]] if momentum > 0 else [], [r[1]], **hyper)
                else:
                    kernels.rmsprop_update(column(rows, 0), column(rows, 2), column(rows, 3) if centered else [],
                                           column(rows, 4) if momentum > 0 else [], column(rows, 1), **hyper)
            batch.finish()
        return loss
