"""optimizer.py — nerve.optim.Optimizer, the base of every optimizer (torch.optim.Optimizer's API).

An optimizer holds `param_groups` (dicts: "params" plus the group's hyper-parameters, filled from
`defaults`) and `state` (a dict keyed by parameter). `step()` gathers, per group, the parameters
that have a gradient and hands them to one fused kernel call (`nerve.backend.kernels(array)`, so
CUDA parameters run the CUDA twin); `state_dict()` / `load_state_dict()` use torch's layout,
parameters numbered by their position across the groups:

    {"state": {0: {"step": tensor(3.), "exp_avg": ..., ...}, ...},
     "param_groups": [{"lr": 0.001, ..., "params": [0, 1, 2]}]}

so a nerve optimizer's state dict loads into the same torch optimizer and back (through
`nerve.save` / `nerve.load`, or directly with torch tensors as values).
"""
from __future__ import annotations

import contextlib
import copy
from collections import defaultdict
from itertools import chain
from typing import Any, Callable, Dict, Iterable, List, Optional

import numpy as np

from .. import backend, dtypes
from ..autograd import enable_grad
from ..tensor import Tensor


class _RequiredParameter:
    """Marks a hyper-parameter that every param group must give (torch.optim.optimizer.required)."""

    def __repr__(self) -> str:
        return "<required parameter>"


required = _RequiredParameter()


def _scalar_dtype():
    """dtype of a "step" count: float64 when that is the default dtype, else float32 (torch's rule)."""
    return np.float64 if dtypes.get_default_dtype() == dtypes.float64 else np.float32


def _new_step(value: float = 0.0) -> Tensor:
    return Tensor._make(np.array(value, _scalar_dtype()), False, None, 0)


class Optimizer:
    """Base class of all optimizers: keeps param_groups, defaults and per-parameter state.

    Args:
        params: an iterable of Tensors, of (name, Tensor) pairs, or of dicts defining parameter
            groups (each with a "params" entry and optional per-group hyper-parameters).
        defaults: hyper-parameters of groups that do not set them.

    Example::

        >>> import nerve
        >>> w = nerve.nn.Parameter(nerve.ones(3))
        >>> opt = nerve.optim.SGD([w], lr=0.1)
        >>> (w * w).sum().backward()
        >>> opt.step(); opt.zero_grad()
        >>> w
        Parameter containing:
        tensor([0.8, 0.8, 0.8])
    """

    # Names of the per-parameter state entries; subclasses list what their options require.
    def _state_keys(self, group: dict) -> List[str]:
        return []

    def __init__(self, params, defaults: Dict[str, Any]):
        self.defaults = defaults
        self.state: Dict[Tensor, Dict[str, Any]] = defaultdict(dict)
        self.param_groups: List[Dict[str, Any]] = []
        if isinstance(params, Tensor):
            raise TypeError(f"[{self._name}] params argument given to the optimizer should be an iterable of "
                            f"Tensors or dicts, but got {type(params).__name__}")
        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError(f"[{self._name}] optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for group in param_groups:
            self.add_param_group(dict(group))

    @property
    def _name(self) -> str:
        return type(self).__name__

    def __getstate__(self):
        return {"defaults": self.defaults, "state": self.state, "param_groups": self.param_groups}

    def __setstate__(self, state):
        self.__dict__.update(state)

    def __repr__(self) -> str:
        s = self._name + " ("
        for i, group in enumerate(self.param_groups):
            s += f"\nParameter Group {i}"
            for key in sorted(group):
                if key != "params":
                    s += f"\n    {key}: {group[key]}"
        return s + "\n)"

    # ---- groups ---------------------------------------------------------------------------------
    def add_param_group(self, param_group: Dict[str, Any]) -> None:
        """Adds a group of parameters (with optional per-group hyper-parameters) to optimize."""
        if not isinstance(param_group, dict):
            raise TypeError(f"[{self._name}] param_group must be a dict, but got {type(param_group).__name__}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError(f"[{self._name}] optimizer parameters need to be organized in ordered collections, but "
                            "the ordering of tensors in sets will change between runs. Please use a list instead.")
        else:
            params = list(params)
        names = [p[0] for p in params if isinstance(p, tuple)]
        tensors = [p[1] if isinstance(p, tuple) else p for p in params]
        if names:
            if len(names) != len(tensors):
                raise ValueError(f"[{self._name}] all optimizer params should be with/without names. "
                                 "Some param names are missing")
            param_group["param_names"] = names
        param_group["params"] = tensors
        for p in tensors:
            if not isinstance(p, Tensor):
                raise TypeError(f"[{self._name}] optimizer can only optimize Tensors, but one of the params is "
                                f"{type(p).__name__}")
            if not p.is_leaf and not p.retains_grad:
                raise ValueError(f"[{self._name}] can't optimize a non-leaf Tensor")
            if not p.is_floating_point():
                raise ValueError(f"[{self._name}] can only optimize floating-point tensors, got {p.dtype}")
        for name, default in self.defaults.items():
            if default is required and name not in param_group:
                raise ValueError(f"[{self._name}] parameter group didn't specify a value of required optimization "
                                 f"parameter {name}")
            param_group.setdefault(name, default)
        if len({id(p) for p in tensors}) != len(tensors):
            raise ValueError(f"[{self._name}] a parameter group contains the same parameter more than once")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in tensors):
            raise ValueError(f"[{self._name}] some parameters appear in more than one parameter group")
        for g in self.param_groups:
            if ("param_names" in g) != ("param_names" in param_group):
                raise ValueError(f"[{self._name}] all optimizer param groups should be with/without names. cannot add "
                                 f"param group {'with' if 'param_names' in param_group else 'without'} names to the "
                                 "optimizer")
        self.param_groups.append(param_group)

    # ---- gradients ------------------------------------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Resets the gradients of all optimized tensors: to None (default) or to zeros in place."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    if p.grad.grad_fn is not None:
                        p.grad = p.grad.detach()
                    p.grad._data[...] = 0

    def step(self, closure: Optional[Callable[[], Any]] = None):
        """Performs one optimization step; `closure` re-evaluates the model and returns the loss."""
        raise NotImplementedError

    @staticmethod
    def _loss(closure):
        if closure is None:
            return None
        with enable_grad():
            return closure()

    # ---- state dicts ----------------------------------------------------------------------------
    def state_dict(self) -> Dict[str, Any]:
        """{"state": {index: {name: value}}, "param_groups": [{..., "params": [index, ...]}]}, as torch."""
        mapping: Dict[int, int] = {}
        groups = []
        start = 0
        for g in self.param_groups:
            packed = {k: v for k, v in g.items() if k != "params"}
            for i, p in enumerate(g["params"], start):
                mapping.setdefault(id(p), i)
            packed["params"] = [mapping[id(p)] for p in g["params"]]
            start += len(packed["params"])
            groups.append(packed)
        state = {mapping[id(p)] if isinstance(p, Tensor) else p: v for p, v in self.state.items()
                 if not isinstance(p, Tensor) or id(p) in mapping}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        """Loads an optimizer state: a state_dict() of this optimizer type (nerve's or torch's).

        Tensors may be nerve Tensors, numpy arrays or torch tensors; state is copied onto each
        parameter's device and dtype ("step" stays a CPU scalar). Raises ValueError when the groups
        or parameters do not match this optimizer, or a state entry is missing or mis-shaped.
        """
        where = f"[{self._name}.load_state_dict]"
        if not isinstance(state_dict, dict) or "state" not in state_dict or "param_groups" not in state_dict:
            got = sorted(map(str, state_dict)) if isinstance(state_dict, dict) else type(state_dict).__name__
            raise ValueError(f"{where} expected an optimizer state_dict with 'state' and 'param_groups', got {got}")
        groups = self.param_groups
        saved_groups = copy.deepcopy(list(state_dict["param_groups"]))
        if len(groups) != len(saved_groups):
            raise ValueError(f"{where} loaded state dict has a different number of parameter groups "
                             f"({len(saved_groups)}, the optimizer has {len(groups)})")
        for i, (g, sg) in enumerate(zip(groups, saved_groups)):
            if not isinstance(sg, dict) or "params" not in sg:
                raise ValueError(f"{where} param_groups[{i}] has no 'params' list")
            if len(g["params"]) != len(sg["params"]):
                raise ValueError(f"{where} loaded state dict contains a parameter group that doesn't match the size "
                                 f"of optimizer's group: param_groups[{i}] has {len(sg['params'])} parameters, the "
                                 f"optimizer's has {len(g['params'])}")
            missing = [k for k in self.defaults if k not in sg]
            if missing:
                raise ValueError(f"{where} param_groups[{i}] lacks {', '.join(map(repr, missing))}")
        id_map = dict(zip(chain.from_iterable(sg["params"] for sg in saved_groups),
                          chain.from_iterable(g["params"] for g in groups)))
        group_of = {id(p): sg for sg, g in zip(saved_groups, groups) for p in g["params"]}
        state: Dict[Tensor, Dict[str, Any]] = defaultdict(dict)
        for key, value in dict(state_dict["state"]).items():
            k = int(key) if isinstance(key, str) and key.lstrip("-").isdigit() else key
            if k not in id_map:
                raise ValueError(f"{where} state has an entry for parameter {key!r}, which no param group lists")
            p = id_map[k]
            if not isinstance(value, dict):
                raise ValueError(f"{where} state of parameter {k} must be a dict, got {type(value).__name__}")
            entry = {name: self._cast_state(p, k, name, v, where) for name, v in value.items()}
            if entry:
                need = [n for n in self._state_keys(group_of[id(p)]) if entry.get(n) is None]
                if need:
                    raise ValueError(f"{where} state of parameter {k} lacks {', '.join(map(repr, need))}")
            state[p] = entry
        for g, sg in zip(groups, saved_groups):
            sg["params"] = g["params"]
            if "param_names" in g and "param_names" not in sg:
                sg["param_names"] = g["param_names"]
        self.state = state
        self.param_groups = saved_groups

    @staticmethod
    def _cast_state(p: Tensor, index, name: str, value, where: str):
        """A copy of one loaded state value, as a nerve Tensor on p's device and dtype when it is an array."""
        if name == "step" and isinstance(value, (int, float)) and not isinstance(value, bool):
            return _new_step(float(value))
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        arr = _host_or_device_array(value)
        if arr is None:
            return copy.deepcopy(value)
        if name == "step":
            if arr.size != 1:
                raise ValueError(f"{where} state 'step' of parameter {index} must hold one number, got shape "
                                 f"{tuple(arr.shape)}")
            return _new_step(float(arr.reshape(())))
        if tuple(arr.shape) != tuple(p.shape):
            raise ValueError(f"{where} state {name!r} of parameter {index} has shape {tuple(arr.shape)}, but the "
                             f"parameter has shape {tuple(p.shape)}")
        target = p._data
        xp = backend.xp(target)
        if xp is np:
            out = np.array(arr.get() if hasattr(arr, "get") else arr, dtype=target.dtype, order="C", copy=True)
        else:
            with xp.cuda.Device(target.device.id):
                out = xp.array(arr, dtype=target.dtype, order="C", copy=True)
        return Tensor._make(out, False, None, 0)


def _host_or_device_array(v):
    """numpy/cupy array behind a nerve Tensor, torch tensor or array; None for other objects."""
    if isinstance(v, Tensor):
        return v._data
    if type(v).__module__.startswith("torch") and hasattr(v, "detach"):
        return v.detach().cpu().numpy()
    if isinstance(v, (np.ndarray, np.generic)):
        return np.asarray(v)
    if hasattr(v, "__cuda_array_interface__"):
        return v
    return None


# ---- helpers the optimizers share -------------------------------------------------------------------

def _on_device(arr):
    """A context that makes arr's GPU current (cupy allocates and launches on the current one)."""
    if backend.is_host(arr):
        return contextlib.nullcontext()
    return backend.xp(arr).cuda.Device(arr.device.id)


def zeros_state(p: Tensor, fill: float = 0.0) -> Tensor:
    """A new state buffer shaped like p (contiguous, p's device and dtype)."""
    arr = p._data
    xp = backend.xp(arr)
    with _on_device(arr):
        out = xp.full(arr.shape, fill, dtype=arr.dtype) if fill else xp.zeros(arr.shape, dtype=arr.dtype)
    return Tensor._make(out, False, None, 0)


def state_array(t: Tensor, p: Tensor, op: str, name: str, index: int):
    """The contiguous array of state tensor t, checked against its parameter."""
    arr = t._data
    if arr.shape != p._data.shape:
        raise ValueError(f"[{op}] state {name!r} of parameter {index} has shape {tuple(arr.shape)}, but the "
                         f"parameter has shape {tuple(p._data.shape)}")
    return arr


class ParamBatch:
    """The arrays of the parameters that take part in one kernel call, bucketed by backend and dtype.

    `add(p, ...)` records a parameter with a gradient: its array (a contiguous copy when the
    parameter is not contiguous, written back by `finish`) and its gradient as a contiguous array
    of the parameter's dtype. `calls()` yields (kernels, rows) per bucket, rows being the records.
    """

    def __init__(self, op: str):
        self.op = op
        self.buckets: Dict[tuple, list] = {}
        self.writeback: list = []
        self.params: list = []

    def add(self, p: Tensor, index: int, *extra):
        arr = p._data
        xp = backend.xp(arr)
        host = backend.is_host(arr)
        if not (arr.flags.c_contiguous and (not host or arr.flags.writeable)):
            with _on_device(arr):
                work = xp.array(arr, order="C")  # (ascontiguousarray would make a 0-d array 1-d)
            self.writeback.append((p, work))
            arr = work
        g = p.grad._data
        if g.shape != arr.shape:
            raise ValueError(f"[{self.op}] gradient of parameter {index} has shape {tuple(g.shape)}, but the parameter "
                             f"has shape {tuple(arr.shape)}")
        if g.dtype != arr.dtype or not g.flags.c_contiguous:
            with _on_device(arr):
                g = xp.array(g, dtype=arr.dtype, order="C")
        key = (type(arr), arr.dtype, None if host else arr.device.id)
        self.buckets.setdefault(key, []).append((arr, g) + extra)
        self.params.append(p)

    def calls(self):
        """(kernels, rows) per bucket; a GPU bucket's calls run with that GPU current."""
        for rows in self.buckets.values():
            with _on_device(rows[0][0]):
                yield backend.kernels(rows[0][0]), rows

    def finish(self):
        for p, work in self.writeback:
            p._data[...] = work
        for p in self.params:
            p._vcell()[0] += 1  # an in-place update: graphs that saved p now hold stale data


def column(rows, i):
    return [r[i] for r in rows]
