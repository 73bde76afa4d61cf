"""adam.py — nerve.optim.Adam and AdamW (torch.optim.Adam / AdamW: same defaults, state, bias
correction, amsgrad, maximize and weight decay, coupled or decoupled), one fused kernel call per group."""
from __future__ import annotations

from typing import Optional

from .optimizer import Optimizer, ParamBatch, _new_step, column, state_array, zeros_state


class Adam(Optimizer):
    r"""Adam, as torch.optim.Adam (decoupled_weight_decay=True makes it AdamW).

    For each parameter with a gradient g (negated when maximize), at step t:
    g += weight_decay * p (or p *= 1 - lr * weight_decay when decoupled);
    m = beta1 m + (1 - beta1) g; v = beta2 v + (1 - beta2) g^2; v_max = max(v_max, v) (amsgrad);
    p -= lr / (1 - beta1^t) * m / (sqrt(v or v_max) / sqrt(1 - beta2^t) + eps).

    Args:
        params: parameters or parameter groups to optimize.
        lr: learning rate (default: 1e-3).
        betas: coefficients of the running averages of the gradient and its square (default: (0.9, 0.999)).
        eps: added to the denominator (default: 1e-8).
        weight_decay: weight decay (default: 0).
        amsgrad: use the AMSGrad variant (default: False).
        maximize: maximize the objective (default: False).
        decoupled_weight_decay: AdamW's decoupled weight decay (default: False).
        foreach: None/True: one kernel call for all parameters of a group; False: one per parameter.

    Example::

        >>> import nerve
        >>> model = nerve.nn.Linear(4, 2)
        >>> opt = nerve.optim.Adam(model.parameters(), lr=1e-3)
        >>> model(nerve.randn(8, 4)).square().mean().backward()
        >>> opt.step()
    """

    _decoupled_default = False

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0,
                 amsgrad: bool = False, *, foreach=None, maximize: bool = False, capturable: bool = False,
                 differentiable: bool = False, fused=None, decoupled_weight_decay: Optional[bool] = None):
        name = type(self).__name__
        if not 0.0 <= lr:
            raise ValueError(f"[{name}] Invalid learning rate: {lr}")
        if not 0.0 <= eps:
            raise ValueError(f"[{name}] Invalid epsilon value: {eps}")
        if len(betas) != 2:
            raise ValueError(f"[{name}] betas must hold two values, got {betas!r}")
        if not 0.0 <= betas[0] < 1.0:
            raise ValueError(f"[{name}] Invalid beta parameter at index 0: {betas[0]}")
        if not 0.0 <= betas[1] < 1.0:
            raise ValueError(f"[{name}] Invalid beta parameter at index 1: {betas[1]}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"[{name}] Invalid weight_decay value: {weight_decay}")
        if differentiable or capturable:
            raise NotImplementedError(f"[{name}] differentiable and capturable are not supported by nerve's fused "
                                      "kernels")
        if decoupled_weight_decay is None:
            decoupled_weight_decay = self._decoupled_default
        defaults = dict(lr=lr, betas=(float(betas[0]), float(betas[1])), eps=eps, weight_decay=weight_decay,
                        amsgrad=amsgrad, maximize=maximize, foreach=foreach,
                        decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults)

    def _state_keys(self, group):
        return ["step", "exp_avg", "exp_avg_sq"] + (["max_exp_avg_sq"] if group["amsgrad"] else [])

    def step(self, closure=None):
        loss = self._loss(closure)
        name = type(self).__name__
        index = 0
        for group in self.param_groups:
            amsgrad = group["amsgrad"]
            batch = ParamBatch(name)
            for p in group["params"]:
                if p.grad is not None:
                    state = self.state[p]
                    if len(state) == 0:
                        state["step"] = _new_step()
                        state["exp_avg"] = zeros_state(p)
                        state["exp_avg_sq"] = zeros_state(p)
                        if amsgrad:
                            state["max_exp_avg_sq"] = zeros_state(p)
                    elif amsgrad and state.get("max_exp_avg_sq") is None:
                        state["max_exp_avg_sq"] = zeros_state(p)
                    step = state["step"]._data
                    step += 1
                    batch.add(p, index, state_array(state["exp_avg"], p, name, "exp_avg", index),
                              state_array(state["exp_avg_sq"], p, name, "exp_avg_sq", index),
                              state_array(state["max_exp_avg_sq"], p, name, "max_exp_avg_sq", index)
                              if amsgrad else None, float(step))
                index += 1
            beta1, beta2 = group["betas"]
            hyper = dict(lr=group["lr"], beta1=beta1, beta2=beta2, eps=group["eps"],
                         weight_decay=group["weight_decay"], amsgrad=amsgrad, maximize=group["maximize"],
                         decoupled_weight_decay=group.get("decoupled_weight_decay", False))
            for kernels, rows in batch.calls():
                if group.get("foreach") is False:
                    for r in rows:
                        kernels.adam_update([r[0]], [r[2]], [r[3]], [r[4]] if amsgrad else [], [r[1]], r[5], **hyper)
                else:
                    kernels.adam_update(column(rows, 0), column(rows, 2), column(rows, 3),
                                        column(rows, 4) if amsgrad else [], column(rows, 1), column(rows, 5), **hyper)
            batch.finish()
        return loss


class AdamW(Adam):
    r"""AdamW: Adam with decoupled weight decay (torch.optim.AdamW; weight_decay defaults to 1e-2).

    Example::

        >>> import nerve
        >>> model = nerve.nn.Linear(4, 2)
        >>> opt = nerve.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-2)
    """

    _decoupled_default = True

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 1e-2,
                 amsgrad: bool = False, *, maximize: bool = False, foreach=None, capturable: bool = False,
                 differentiable: bool = False, fused=None):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach, maximize=maximize,
                         capturable=capturable, differentiable=differentiable, fused=fused,
                         decoupled_weight_decay=True)

    def load_state_dict(self, state_dict):
        super().load_state_dict(state_dict)
        for group in self.param_groups:
            group["decoupled_weight_decay"] = True
