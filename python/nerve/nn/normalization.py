"""normalization.py — BatchNorm1d, BatchNorm2d, LayerNorm and GroupNorm (torch.nn's, same arguments,
buffers, state_dict keys and initialisation: weight 1, bias 0, running_mean 0, running_var 1)."""
from __future__ import annotations

import numbers

from .. import creation, dtypes
from ..autograd import no_grad
from ..ops.norm import batch_norm, group_norm, layer_norm
from . import init
from .module import Module
from .parameter import Parameter


class _BatchNorm(Module):
    """Shared by BatchNorm1d / BatchNorm2d (torch's _BatchNorm): per-channel normalisation with
    batch statistics in training and running statistics in eval; momentum=None keeps a cumulative
    average (momentum 1 / num_batches_tracked)."""

    _dims = ()

    def __init__(self, num_features: int, eps: float = 1e-5, momentum=0.1, affine: bool = True,
                 track_running_stats: bool = True, device=None, dtype=None, *, bias: bool = True):
        super().__init__()
        name = type(self).__name__
        if not isinstance(num_features, numbers.Integral) or num_features < 1:
            raise ValueError(f"[{name}] num_features must be a positive int, got {num_features!r}")
        if momentum is not None and not isinstance(momentum, numbers.Real):
            raise TypeError(f"[{name}] momentum must be a number or None, got {momentum!r}")
        self.num_features, self.eps, self.momentum = int(num_features), eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        if affine:
            self.weight = Parameter(creation.empty(num_features, dtype=dtype, device=device))
            if bias:
                self.bias = Parameter(creation.empty(num_features, dtype=dtype, device=device))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", creation.zeros(num_features, dtype=dtype, device=device))
            self.register_buffer("running_var", creation.ones(num_features, dtype=dtype, device=device))
            self.register_buffer("num_batches_tracked", creation.tensor(0, dtype=dtypes.int64, device=device))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            with no_grad():
                self.running_mean.zero_()
                self.running_var.fill_(1)
                self.num_batches_tracked.zero_()

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def _check_input(self, input) -> None:
        name = type(self).__name__
        if input.ndim not in self._dims:
            dims = " or ".join(f"{d}D" for d in self._dims)
            raise ValueError(f"[{name}] expected {dims} input (got {input.ndim}D input)")
        if input.shape[1] != self.num_features:
            raise ValueError(f"[{name}] input has {input.shape[1]} channels (shape {tuple(input.shape)}), "
                             f"expected {self.num_features}")

    def forward(self, input):
        self._check_input(input)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            with no_grad():
                self.num_batches_tracked.add_(1)
            if self.momentum is None:  # cumulative moving average
                factor = 1.0 / float(self.num_batches_tracked.item())
        use_batch = self.training or (self.running_mean is None and self.running_var is None)
        track = not self.training or self.track_running_stats
        return batch_norm(input, self.running_mean if track else None, self.running_var if track else None,
                          self.weight, self.bias, use_batch, factor, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalisation over (N, C) or (N, C, L) inputs (torch.nn.BatchNorm1d).

    Args: num_features (C), eps=1e-5, momentum=0.1 (None: cumulative average), affine=True,
    track_running_stats=True, keyword bias=True (with affine).
    Shape: input (N, C) or (N, C, L) -> output of the same shape.

    Example::

        >>> import nerve
        >>> nerve.nn.BatchNorm1d(100)(nerve.randn(20, 100)).shape
        nerve.Size([20, 100])
    """

    _dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalisation over (N, C, H, W) inputs, per channel (torch.nn.BatchNorm2d).

    Args: num_features (C), eps=1e-5, momentum=0.1 (None: cumulative average), affine=True,
    track_running_stats=True, keyword bias=True (with affine).
    Shape: input (N, C, H, W) -> output of the same shape.

    Example::

        >>> import nerve
        >>> nerve.nn.BatchNorm2d(16)(nerve.randn(4, 16, 8, 8)).shape
        nerve.Size([4, 16, 8, 8])
    """

    _dims = (4,)


class LayerNorm(Module):
    """Normalises over the trailing normalized_shape dims (torch.nn.LayerNorm).

    Args: normalized_shape (int or tuple), eps=1e-5, elementwise_affine=True, bias=True.
    Shape: input (*, *normalized_shape) -> output of the same shape.

    Example::

        >>> import nerve
        >>> nerve.nn.LayerNorm(10)(nerve.randn(20, 5, 10)).shape
        nerve.Size([20, 5, 10])
    """

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True, bias: bool = True,
                 device=None, dtype=None):
        super().__init__()
        if isinstance(normalized_shape, numbers.Integral):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(int(s) for s in normalized_shape)
        self.eps, self.elementwise_affine = eps, elementwise_affine
        if elementwise_affine:
            self.weight = Parameter(creation.empty(*self.normalized_shape, dtype=dtype, device=device))
            if bias:
                self.bias = Parameter(creation.empty(*self.normalized_shape, dtype=dtype, device=device))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.elementwise_affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def forward(self, input):
        return layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}, "
                f"bias={self.bias is not None}")


class GroupNorm(Module):
    """Normalises over groups of channels (torch.nn.GroupNorm).

    Args: num_groups, num_channels (divisible by num_groups), eps=1e-5, affine=True, keyword bias=True.
    Shape: input (N, C, *) -> output of the same shape.

    Example::

        >>> import nerve
        >>> nerve.nn.GroupNorm(3, 6)(nerve.randn(20, 6, 10, 10)).shape
        nerve.Size([20, 6, 10, 10])
    """

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True, device=None,
                 dtype=None, *, bias: bool = True):
        super().__init__()
        if num_groups < 1 or num_channels % num_groups:
            raise ValueError(f"[GroupNorm] num_channels must be divisible by num_groups, got {num_channels} and "
                             f"{num_groups}")
        self.num_groups, self.num_channels, self.eps, self.affine = num_groups, num_channels, eps, affine
        if affine:
            self.weight = Parameter(creation.empty(num_channels, dtype=dtype, device=device))
            if bias:
                self.bias = Parameter(creation.empty(num_channels, dtype=dtype, device=device))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def forward(self, input):
        return group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, bias={self.bias is not None}"
