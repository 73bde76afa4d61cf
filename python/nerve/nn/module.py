"""module.py — nerve.nn.Module, the base class of every layer and model (torch.nn.Module's API).

Parameters, buffers and sub-modules assigned as attributes are registered in three ordered dicts,
so parameters(), named_parameters(), state_dict() and repr() walk them in definition order with
PyTorch's dotted key names ("features.0.weight"). state_dict values are detached Tensors sharing
storage; load_state_dict copies into the existing tensors (strict by default, with precise
messages for missing, unexpected and mis-shaped keys).
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Callable, Dict, Iterator, Optional, Tuple

import numpy as np

from ..autograd import RemovableHandle
from ..tensor import Tensor
from .parameter import Parameter


class _IncompatibleKeys(tuple):
    def __new__(cls, missing, unexpected):
        t = super().__new__(cls, (missing, unexpected))
        t.missing_keys, t.unexpected_keys = missing, unexpected
        return t

    def __repr__(self):
        return f"<All keys matched successfully>" if not self.missing_keys and not self.unexpected_keys else \
            f"_IncompatibleKeys(missing_keys={self.missing_keys}, unexpected_keys={self.unexpected_keys})"


class Module:
    """Base class for all layers: define sub-modules/parameters in __init__, computation in forward.

    Example::

        >>> import nerve
        >>> class MLP(nerve.nn.Module):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.fc1 = nerve.nn.Linear(4, 8)
        ...         self.fc2 = nerve.nn.Linear(8, 2)
        ...     def forward(self, x):
        ...         return self.fc2(self.fc1(x).relu())
        >>> [n for n, _ in MLP().named_parameters()]
        ['fc1.weight', 'fc1.bias', 'fc2.weight', 'fc2.bias']
    """

    training: bool

    def __init__(self):
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_forward_hooks", OrderedDict())
        object.__setattr__(self, "_forward_pre_hooks", OrderedDict())

    # ---- attribute registration ------------------------------------------------------------
    def __setattr__(self, name, value):
        d = self.__dict__
        if "_parameters" not in d:
            raise AttributeError(f"cannot assign '{name}' before Module.__init__() call "
                                 f"(call super().__init__() first in {type(self).__name__}.__init__)")
        params, buffers, modules = d["_parameters"], d["_buffers"], d["_modules"]
        if isinstance(value, Parameter):
            d.pop(name, None)
            buffers.pop(name, None)
            modules.pop(name, None)
            params[name] = value
        elif name in params:
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as parameter '{name}' "
                                "(nerve.nn.Parameter or None expected)")
            params[name] = None
        elif isinstance(value, Module):
            d.pop(name, None)
            params.pop(name, None)
            buffers.pop(name, None)
            modules[name] = value
        elif name in modules:
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as child module '{name}' "
                                "(nerve.nn.Module or None expected)")
            modules[name] = None
        elif name in buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign '{type(value).__name__}' as buffer '{name}' "
                                "(nerve.Tensor or None expected)")
            buffers[name] = value
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name):
        d = self.__dict__
        for store in ("_parameters", "_buffers", "_modules"):
            s = d.get(store)
            if s is not None and name in s:
                return s[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name):
        for s in (self._parameters, self._buffers, self._modules):
            if name in s:
                del s[name]
                return
        object.__delattr__(self, name)

    def register_parameter(self, name: str, param: Optional[Parameter]) -> None:
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"[register_parameter] cannot assign {type(param).__name__} as parameter '{name}' "
                            "(nerve.nn.Parameter or None required)")
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor: Optional[Tensor], persistent: bool = True) -> None:
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"[register_buffer] cannot assign {type(tensor).__name__} as buffer '{name}' "
                            "(nerve.Tensor or None required)")
        self.__dict__.pop(name, None)
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent.discard(name)
        else:
            self._non_persistent.add(name)

    def add_module(self, name: str, module: Optional["Module"]) -> None:
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"[add_module] {type(module).__name__} is not a Module")
        self._modules[name] = module

    register_module = add_module

    def get_submodule(self, target: str) -> "Module":
        mod = self
        for part in target.split(".") if target else []:
            if part not in mod._modules:
                raise AttributeError(f"[get_submodule] {type(mod).__name__} has no submodule '{part}'")
            mod = mod._modules[part]
        return mod

    # ---- calling ------------------------------------------------------------------------------
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"Module [{type(self).__name__}] is missing the required \"forward\" function")

    def __call__(self, *args, **kwargs):
        if self._forward_pre_hooks:
            for hook in list(self._forward_pre_hooks.values()):
                r = hook(self, args)
                if r is not None:
                    args = r if isinstance(r, tuple) else (r,)
        out = self.forward(*args, **kwargs)
        if self._forward_hooks:
            for hook in list(self._forward_hooks.values()):
                r = hook(self, args, out)
                if r is not None:
                    out = r
        return out

    def register_forward_hook(self, hook: Callable):
        key = id(hook)
        self._forward_hooks[key] = hook
        return _DictHandle(self._forward_hooks, key)

    def register_forward_pre_hook(self, hook: Callable):
        key = id(hook)
        self._forward_pre_hooks[key] = hook
        return _DictHandle(self._forward_pre_hooks, key)

    # ---- traversal ----------------------------------------------------------------------------
    def named_modules(self, memo=None, prefix: str = "", remove_duplicate: bool = True):
        if memo is None:
            memo = set()
        if self in memo and remove_duplicate:
            return
        memo.add(self)
        yield prefix, self
        for name, m in self._modules.items():
            if m is None:
                continue
            yield from m.named_modules(memo, prefix + ("." if prefix else "") + name, remove_duplicate)

    def modules(self) -> Iterator["Module"]:
        for _, m in self.named_modules():
            yield m

    def named_children(self):
        seen = set()
        for name, m in self._modules.items():
            if m is not None and m not in seen:
                seen.add(m)
                yield name, m

    def children(self):
        for _, m in self.named_children():
            yield m

    def _named_members(self, store: str, prefix: str, recurse: bool, remove_duplicate: bool = True):
        seen = set()
        mods = self.named_modules(prefix=prefix) if recurse else [(prefix, self)]
        for mod_prefix, mod in mods:
            for name, v in getattr(mod, store).items():
                if v is None or (remove_duplicate and id(v) in seen):
                    continue
                seen.add(id(v))
                yield mod_prefix + ("." if mod_prefix else "") + name, v

    def named_parameters(self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True):
        yield from self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True):
        yield from self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    # ---- modes and bulk changes -----------------------------------------------------------------
    def train(self, mode: bool = True) -> "Module":
        if not isinstance(mode, bool):
            raise ValueError("[train] training mode is expected to be boolean")
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self) -> "Module":
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> "Module":
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.parameters():
            if p.grad is not None:
                if set_to_none:
                    p.grad = None
                else:
                    p.grad._data[...] = 0

    def apply(self, fn: Callable[["Module"], None]) -> "Module":
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    def _apply_to_tensors(self, fn: Callable[[Tensor], Tensor]) -> "Module":
        """Replaces every parameter's and buffer's storage by fn(tensor) (device and dtype moves)."""
        for m in self.modules():
            for name, p in m._parameters.items():
                if p is None:
                    continue
                new = fn(p.detach())
                p._data = new._data
                if p.grad is not None:
                    p.grad = fn(p.grad)
            for name, b in m._buffers.items():
                if b is not None:
                    m._buffers[name] = fn(b)
        return self

    def to(self, *args, **kwargs) -> "Module":
        """to(device), to(dtype) or both: moves parameters and buffers in place (dtype: floats only)."""
        from ..device import device as Device
        dev, dt = kwargs.get("device"), kwargs.get("dtype")
        for a in args:
            if isinstance(a, Tensor):  # torch: module.to(tensor) takes its device and dtype
                dev, dt = a.device, a.dtype
            elif isinstance(a, (str, Device)) or (isinstance(a, int) and not isinstance(a, bool)):
                dev = a  # an int is a CUDA device index
            else:
                dt = a

        def move(t: Tensor) -> Tensor:
            if dev is not None:
                t = t.to(dev)
            if dt is not None and t.is_floating_point():
                t = t.to(dt)
            return t

        return self._apply_to_tensors(move)

    def cpu(self) -> "Module":
        return self.to("cpu")

    def cuda(self, device=None) -> "Module":
        return self.to("cuda" if device is None else f"cuda:{device}" if isinstance(device, int) else device)

    def float(self) -> "Module":
        from .. import dtypes
        return self.to(dtypes.float32)

    def double(self) -> "Module":
        from .. import dtypes
        return self.to(dtypes.float64)

    # ---- state dicts ----------------------------------------------------------------------------
    def state_dict(self, destination=None, prefix: str = "", keep_vars: bool = False) -> "OrderedDict[str, Tensor]":
        """Parameters and persistent buffers by PyTorch's dotted names, as detached tensors sharing storage."""
        out = OrderedDict() if destination is None else destination
        for mod_prefix, mod in self.named_modules(prefix=prefix.rstrip(".")):
            dot = mod_prefix + ("." if mod_prefix else "")
            for name, p in mod._parameters.items():
                if p is not None:
                    out[dot + name] = p if keep_vars else p.detach()
            for name, b in mod._buffers.items():
                if b is not None and name not in mod._non_persistent:
                    out[dot + name] = b if keep_vars else b.detach()
        return out

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """Copies tensors from state_dict into this module's parameters and buffers.

        Values may be nerve Tensors, numpy arrays or torch tensors. With strict=True (the default),
        missing or unexpected keys raise; a shape mismatch always raises, naming the key.
        """
        own = self.state_dict(keep_vars=True)
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        errors = []
        for k, target in own.items():
            if k not in state_dict:
                continue
            src = _as_array(state_dict[k])
            if tuple(src.shape) != tuple(target.shape):
                errors.append(f"size mismatch for {k}: copying a param with shape {tuple(src.shape)} from "
                              f"checkpoint, the shape in current model is {tuple(target.shape)}")
        if strict and (missing or unexpected):
            if missing:
                errors.insert(0, "Missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in missing))
            if unexpected:
                errors.insert(0, "Unexpected key(s) in state_dict: " + ", ".join(f'"{k}"' for k in unexpected))
        if errors:
            raise RuntimeError(f"[load_state_dict] Error(s) in loading state_dict for {type(self).__name__}:\n\t"
                               + "\n\t".join(errors))
        for k, target in own.items():
            if k in state_dict:
                src = _as_array(state_dict[k])
                _copy_into(target, src)
        return _IncompatibleKeys(missing, unexpected)

    def save(self, path) -> None:
        """Writes state_dict() to path as a safetensors file (nerve.save; opens with safetensors.torch.load_file)."""
        from ..io import save
        save(self.state_dict(), path)

    def load(self, path, strict: bool = True):
        """Loads a safetensors state dict from path (nerve.load) into this module (load_state_dict)."""
        from ..io import load
        return self.load_state_dict(load(path), strict=strict)

    # ---- printing ------------------------------------------------------------------------------
    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        lines = []
        extra = self.extra_repr()
        if extra:
            lines = extra.split("\n")
        for name, m in self._modules.items():
            sub = repr(m).replace("\n", "\n  ")
            lines.append(f"({name}): {sub}")
        main = type(self).__name__ + "("
        if lines:
            if len(lines) == 1 and not self._modules:
                main += lines[0]
            else:
                main += "\n  " + "\n  ".join(lines) + "\n"
        return main + ")"

    def __dir__(self):
        return list(super().__dir__()) + list(self._parameters) + list(self._buffers) + list(self._modules)


class _DictHandle(RemovableHandle):
    def __init__(self, d, key):
        self._d, self._key = d, key

    def remove(self) -> None:
        self._d.pop(self._key, None)


def _as_array(v):
    if isinstance(v, Tensor):
        return v.__array__() if not v.is_cuda else v._data
    if hasattr(v, "detach") and hasattr(v, "numpy"):  # torch.Tensor
        return v.detach().cpu().numpy()
    return np.asarray(v)


def _copy_into(target: Tensor, src) -> None:
    arr = target._data
    if type(arr) is np.ndarray:
        arr[...] = np.asarray(src) if not hasattr(src, "get") else src.get()
    else:
        from ..backend import cuda
        arr[...] = cuda.xp().asarray(src)
    target._vcell()[0] += 1
