"""residual.py — skip connections: Residual(module) computes x + module(x), and BasicBlock, the two-conv
block of ResNet-18/34 (He et al. 2016; torchvision.models.resnet.BasicBlock's layout and state_dict keys).
"""
from __future__ import annotations

from .module import Module


class Residual(Module):
    """y = shortcut(x) + module(x), with shortcut the identity by default.

    The module must keep the shape of its input unless a shortcut maps x to module(x)'s shape
    (e.g. a 1x1 strided Conv2d). Gradients reach x through both paths, which is what lets deep
    stacks of such blocks train.

    Example::

        >>> import nerve
        >>> block = nerve.nn.Residual(nerve.nn.Sequential(nerve.nn.Linear(8, 8), nerve.nn.Linear(8, 8)))
        >>> block(nerve.randn(4, 8)).shape
        nerve.Size([4, 8])
    """

    def __init__(self, module: Module, shortcut: Module = None):
        super().__init__()
        self.module = module
        if shortcut is not None:
            self.shortcut = shortcut

    def forward(self, x):
        y = self.module(x)
        s = self.shortcut(x) if "shortcut" in self._modules else x
        if tuple(s.shape) != tuple(y.shape):
            raise ValueError(f"[Residual] the block maps {tuple(x.shape)} to {tuple(y.shape)}, which cannot be added "
                             f"to the shortcut's {tuple(s.shape)}; give a shortcut module that matches the shapes")
        return s + y


class BasicBlock(Module):
    """ResNet's basic block: relu(bn2(conv2(relu(bn1(conv1(x))))) + downsample(x)).

    conv1 is 3x3 with the given stride, conv2 3x3, both without bias; when the stride is not 1 or the
    channel count changes, downsample is a 1x1 strided conv + batch norm (torchvision's option B),
    else the identity. Keys: conv1, bn1, conv2, bn2, downsample.0, downsample.1.

    Example::

        >>> import nerve
        >>> nerve.nn.BasicBlock(16, 32, stride=2)(nerve.randn(2, 16, 8, 8)).shape
        nerve.Size([2, 32, 4, 4])
    """

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: Module = None):
        super().__init__()
        from . import BatchNorm2d, ReLU  # the norm and activation families register these in nerve.nn
        from .containers import Sequential
        from .conv import Conv2d
        self.conv1 = Conv2d(inplanes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = BatchNorm2d(planes)
        self.relu = ReLU()
        self.conv2 = Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = BatchNorm2d(planes)
        if downsample is None and (stride != 1 or inplanes != planes):
            downsample = Sequential(Conv2d(inplanes, planes, 1, stride=stride, bias=False), BatchNorm2d(planes))
        if downsample is not None:
            self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = self.downsample(x) if "downsample" in self._modules else x
        return self.relu(out + identity)
