"""dropout.py — nn.Dropout (torch.nn.Dropout): dropout in training mode, the identity in eval mode."""
from __future__ import annotations

from ..ops.dropout import _check_p, dropout
from .module import Module


class Dropout(Module):
    """Zeroes each element with probability p during training and scales the others by 1/(1-p).

    Args: p=0.5, inplace=False.
    Shape: any; the output has the input's shape.
    The mask comes from a counter-based RNG seeded from nerve's generator: nerve.manual_seed
    makes it repeatable, and it does not depend on the thread count or the device.

    Example::

        >>> import nerve
        >>> m = nerve.nn.Dropout(p=0.2)
        >>> m(nerve.randn(20, 16)).shape
        nerve.Size([20, 16])
    """

    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        self.p = _check_p(p, "Dropout")
        self.inplace = inplace

    def forward(self, input):
        return dropout(input, self.p, self.training, self.inplace)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"
