"""loss.py — loss layers, torch.nn's: MSELoss, L1Loss, CrossEntropyLoss, NLLLoss, BCELoss,
BCEWithLogitsLoss, with every option of their functional forms. Class weights (and pos_weight)
are buffers, so they move with .to() and appear in state_dict under torch's key names.

    >>> import nerve
    >>> loss = nerve.nn.CrossEntropyLoss(label_smoothing=0.1)
    >>> loss(nerve.randn(8, 5), nerve.randint(0, 5, (8,))).shape
    nerve.Size([])
"""
from __future__ import annotations

from ..ops import loss as L
from ..ops.loss import _reduction
from .module import Module


class _Loss(Module):
    def __init__(self, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__()
        self.reduction = _reduction(size_average, reduce, reduction, type(self).__name__)


class _WeightedLoss(_Loss):
    def __init__(self, weight=None, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)


class MSELoss(_Loss):
    """mean (or sum, or each) of (input - target)^2 (torch.nn.MSELoss)."""

    def forward(self, input, target):
        return L.mse_loss(input, target, reduction=self.reduction)


class L1Loss(_Loss):
    """mean (or sum, or each) of |input - target| (torch.nn.L1Loss)."""

    def forward(self, input, target):
        return L.l1_loss(input, target, reduction=self.reduction)


class CrossEntropyLoss(_WeightedLoss):
    """log_softmax + NLL over raw logits, fused (torch.nn.CrossEntropyLoss).

    Args: weight (C,) or None, ignore_index=-100, reduction='mean', label_smoothing=0.0.
    Shape: input (C,), (N, C) or (N, C, d1, ...); target class indices (), (N,) or (N, d1, ...)
    (int64), or class probabilities shaped like the input.
    """

    def __init__(self, weight=None, size_average=None, ignore_index: int = -100, reduce=None,
                 reduction: str = "mean", label_smoothing: float = 0.0):
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index, self.label_smoothing = ignore_index, label_smoothing

    def forward(self, input, target):
        return L.cross_entropy(input, target, weight=self.weight, ignore_index=self.ignore_index,
                               reduction=self.reduction, label_smoothing=self.label_smoothing)


class NLLLoss(_WeightedLoss):
    """-input[n, target[n]] over log-probabilities (torch.nn.NLLLoss)."""

    def __init__(self, weight=None, size_average=None, ignore_index: int = -100, reduce=None,
                 reduction: str = "mean"):
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index

    def forward(self, input, target):
        return L.nll_loss(input, target, weight=self.weight, ignore_index=self.ignore_index, reduction=self.reduction)


class BCELoss(_WeightedLoss):
    """binary cross-entropy of probabilities in [0, 1] (torch.nn.BCELoss; logs clamped at -100)."""

    def forward(self, input, target):
        return L.binary_cross_entropy(input, target, weight=self.weight, reduction=self.reduction)


class BCEWithLogitsLoss(_Loss):
    """sigmoid + binary cross-entropy, fused and stable for any logit (torch.nn.BCEWithLogitsLoss)."""

    def __init__(self, weight=None, size_average=None, reduce=None, reduction: str = "mean", pos_weight=None):
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)
        self.register_buffer("pos_weight", pos_weight)

    def forward(self, input, target):
        return L.binary_cross_entropy_with_logits(input, target, self.weight, pos_weight=self.pos_weight,
                                                  reduction=self.reduction)
