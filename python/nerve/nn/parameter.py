"""parameter.py — Parameter: a leaf Tensor that a Module registers as a learnable weight."""
from __future__ import annotations

import numpy as np

from ..tensor import Tensor


class Parameter(Tensor):
    """A Tensor that requires grad by default and that Module.__setattr__ registers (torch.nn.Parameter).

    Example::

        >>> import nerve
        >>> p = nerve.nn.Parameter(nerve.zeros(3))
        >>> p.requires_grad
        True
    """

    __slots__ = ()

    def __init__(self, data=None, requires_grad: bool = True):
        if data is None:
            data = np.empty(0, np.float32)
        arr = data._data if isinstance(data, Tensor) else np.asarray(data)
        self._data = arr
        self._rg = False
        self.grad = None
        self.grad_fn = None
        self._out_idx = 0
        if requires_grad:
            self.requires_grad_(True)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + Tensor.__repr__(self.detach())

    def __reduce_ex__(self, protocol):
        return (Parameter, (Tensor._make(self.__array__(), False, None, 0), self._rg))


def is_parameter(x) -> bool:
    return isinstance(x, Parameter)
