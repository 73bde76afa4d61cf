"""conv.py — Conv1d, Conv2d, ConvTranspose1d, ConvTranspose2d (torch.nn's convolution layers).

Parameter shapes, default initialisation (kaiming_uniform_ with a=sqrt(5), bias ~ U(-1/sqrt(fan_in),
1/sqrt(fan_in))), attribute names, state_dict keys and repr follow torch; forward is one call to
nerve.nn.functional's conv ops. padding_mode 'reflect', 'replicate' and 'circular' pad the input
first through an index gather (its backward scatters back), as torch pads with F.pad.
"""
from __future__ import annotations

import math

import numpy as np

from .. import creation
from ..ops.conv import conv1d, conv2d, conv_transpose1d, conv_transpose2d
from . import init
from .module import Module
from .parameter import Parameter

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _ntuple(v, n, name, layer):
    if isinstance(v, int) and not isinstance(v, bool):
        return (v,) * n
    if isinstance(v, (tuple, list)) and len(v) == n and all(isinstance(i, int) and not isinstance(i, bool) for i in v):
        return tuple(v)
    raise ValueError(f"[{layer}] {name} must be an int or a tuple of {n} ints, got {v!r}")


def _pad_index(n, before, after, mode):
    """Source positions of a length-n axis padded by (before, after) in mode reflect/replicate/circular."""
    pos = np.arange(-before, n + after)
    if mode == "replicate":
        return np.clip(pos, 0, n - 1)
    if mode == "circular":
        return pos % n
    period = 2 * (n - 1)  # reflect without repeating the edge, as torch
    pos = np.abs(pos) % period if period else np.zeros_like(pos)
    return np.where(pos >= n, period - pos, pos)


def pad_nd(x, pads, mode, layer):
    """Pads the trailing len(pads) dims of x; pads[i] = (before, after) for those dims in order."""
    nd = len(pads)
    spatial = x.shape[x.ndim - nd:]
    for (b, a), n in zip(pads, spatial):
        if mode == "reflect" and (b >= n or a >= n):
            raise ValueError(f"[{layer}] padding ({b}, {a}) must be smaller than the input size {n} for "
                             f"padding_mode='reflect'")
        if mode == "circular" and (b > n or a > n):
            raise ValueError(f"[{layer}] padding ({b}, {a}) must be at most the input size {n} for "
                             f"padding_mode='circular'")
    for k, ((b, a), n) in enumerate(zip(pads, spatial)):
        if b == 0 and a == 0:
            continue
        idx = (slice(None),) * (x.ndim - nd + k) + (_pad_index(n, b, a, mode),)
        x = x[idx]
    return x


class _ConvNd(Module):
    """Shared state and init of the convolution layers (torch.nn.modules.conv._ConvNd)."""

    _nd = 2
    _transposed = False

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, padding_mode="zeros", output_padding=0, device=None, dtype=None):
        super().__init__()
        name, n = type(self).__name__, self._nd
        for v, what in ((in_channels, "in_channels"), (out_channels, "out_channels"), (groups, "groups")):
            if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                raise ValueError(f"[{name}] {what} must be a positive int, got {v!r}")
        if in_channels % groups != 0:
            raise ValueError(f"[{name}] in_channels ({in_channels}) must be divisible by groups ({groups})")
        if out_channels % groups != 0:
            raise ValueError(f"[{name}] out_channels ({out_channels}) must be divisible by groups ({groups})")
        if padding_mode not in _PADDING_MODES:
            raise ValueError(f"[{name}] padding_mode must be one of {_PADDING_MODES}, got {padding_mode!r}")
        self.kernel_size = _ntuple(kernel_size, n, "kernel_size", name)
        self.stride = _ntuple(stride, n, "stride", name)
        self.dilation = _ntuple(dilation, n, "dilation", name)
        if min(self.kernel_size) < 1 or min(self.stride) < 1 or min(self.dilation) < 1:
            raise ValueError(f"[{name}] kernel_size, stride and dilation must be >= 1, got {kernel_size!r}, "
                             f"{stride!r}, {dilation!r}")
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"[{name}] invalid padding string {padding!r}, should be one of {{'valid', 'same'}}")
            if padding == "same" and any(s != 1 for s in self.stride):
                raise ValueError(f"[{name}] padding='same' is not supported for strided convolutions")
            self.padding = padding
        else:
            self.padding = _ntuple(padding, n, "padding", name)
            if min(self.padding) < 0:
                raise ValueError(f"[{name}] padding must be non-negative, got {padding!r}")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.padding_mode, self.transposed = padding_mode, self._transposed
        self.output_padding = _ntuple(output_padding, n, "output_padding", name)
        if self._transposed:
            shape = (in_channels, out_channels // groups) + self.kernel_size
        else:
            shape = (out_channels, in_channels // groups) + self.kernel_size
        self.weight = Parameter(creation.empty(*shape, dtype=dtype, device=device))
        if bias:
            self.bias = Parameter(creation.empty(out_channels, dtype=dtype, device=device))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            if fan_in != 0:
                bound = 1 / math.sqrt(fan_in)
                init.uniform_(self.bias, -bound, bound)

    def _check_input(self, x):
        name, n = type(self).__name__, self._nd
        if x.ndim not in (n + 1, n + 2):
            dims = "(N, C, L) or (C, L)" if n == 1 else "(N, C, H, W) or (C, H, W)"
            raise ValueError(f"[{name}] expected input {dims}, got shape {tuple(x.shape)}")
        c = x.shape[-n - 1]
        if c != self.in_channels:
            raise ValueError(f"[{name}] input has {c} channels (shape {tuple(x.shape)}), the layer expects "
                             f"{self.in_channels}")

    def extra_repr(self) -> str:
        n = self._nd
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0,) * n:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * n:
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * n:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class _Conv(_ConvNd):
    _fn = None

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, padding_mode="zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, 0, device, dtype)

    def _explicit_pads(self):
        """(before, after) per spatial dim for the non-zeros padding modes."""
        if self.padding == "valid":
            return [(0, 0)] * self._nd
        if self.padding == "same":
            pads = []
            for k, d in zip(self.kernel_size, self.dilation):
                total = d * (k - 1)
                pads.append((total // 2, total - total // 2))
            return pads
        return [(p, p) for p in self.padding]

    def forward(self, input):
        self._check_input(input)
        fn = type(self)._fn
        if self.padding_mode != "zeros":
            x = pad_nd(input, self._explicit_pads(), self.padding_mode, type(self).__name__)
            return fn(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)
        return fn(input, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


class Conv1d(_Conv):
    """1-D convolution over (N, C_in, L) inputs (torch.nn.Conv1d); weight (C_out, C_in/groups, k).

    Example::

        >>> import nerve
        >>> nerve.nn.Conv1d(16, 33, 3, stride=2)(nerve.randn(20, 16, 50)).shape
        nerve.Size([20, 33, 24])
    """

    _nd = 1
    _fn = staticmethod(conv1d)


class Conv2d(_Conv):
    """2-D convolution over (N, C_in, H, W) inputs (torch.nn.Conv2d); weight (C_out, C_in/groups, kH, kW).

    Args: in_channels, out_channels, kernel_size, stride=1, padding=0 (int, pair, 'valid' or 'same'),
    dilation=1, groups=1, bias=True, padding_mode='zeros' ('reflect', 'replicate', 'circular').

    Example::

        >>> import nerve
        >>> nerve.nn.Conv2d(1, 32, 3, padding=1)(nerve.randn(8, 1, 28, 28)).shape
        nerve.Size([8, 32, 28, 28])
    """

    _nd = 2
    _fn = staticmethod(conv2d)


class _ConvTranspose(_ConvNd):
    _transposed = True
    _fn = None

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1,
                 bias=True, dilation=1, padding_mode="zeros", device=None, dtype=None):
        if padding_mode != "zeros":
            raise ValueError(f'[{type(self).__name__}] only "zeros" padding mode is supported, got {padding_mode!r}')
        if isinstance(padding, str):
            raise ValueError(f"[{type(self).__name__}] padding must be an int or a tuple of ints, got {padding!r}")
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, output_padding, device, dtype)

    def _output_padding(self, input, output_size):
        """torch's ConvTranspose _output_padding: the extra size that makes the output output_size."""
        if output_size is None:
            return self.output_padding
        n, name = self._nd, type(self).__name__
        output_size = list(output_size)
        if len(output_size) == n + 2 or (len(output_size) == n + 1 and input.ndim == n + 1):
            output_size = output_size[-n:]
        if len(output_size) != n:
            raise ValueError(f"[{name}] output_size must have {n} or {n + 2} elements (got {len(output_size)})")
        spatial = input.shape[input.ndim - n:]
        out = []
        for d in range(n):
            lo = ((spatial[d] - 1) * self.stride[d] - 2 * self.padding[d] + self.dilation[d] *
                  (self.kernel_size[d] - 1) + 1)
            hi = lo + self.stride[d] - 1
            if not lo <= output_size[d] <= hi:
                raise ValueError(f"[{name}] requested an output size of {output_size}, but valid sizes range from "
                                 f"{lo} to {hi} (for an input of {list(spatial)})")
            out.append(output_size[d] - lo)
        return tuple(out)

    def forward(self, input, output_size=None):
        self._check_input(input)
        op = self._output_padding(input, output_size)
        return type(self)._fn(input, self.weight, self.bias, self.stride, self.padding, op, self.groups,
                              self.dilation)


class ConvTranspose1d(_ConvTranspose):
    """Transposed 1-D convolution (torch.nn.ConvTranspose1d); weight (C_in, C_out/groups, k)."""

    _nd = 1
    _fn = staticmethod(conv_transpose1d)


class ConvTranspose2d(_ConvTranspose):
    """Transposed 2-D convolution, the gradient of Conv2d with respect to its input
    (torch.nn.ConvTranspose2d); weight (C_in, C_out/groups, kH, kW).

    Example::

        >>> import nerve
        >>> nerve.nn.ConvTranspose2d(16, 8, 3, stride=2, padding=1, output_padding=1)(nerve.randn(2, 16, 7, 7)).shape
        nerve.Size([2, 8, 14, 14])
    """

    _nd = 2
    _fn = staticmethod(conv_transpose2d)
