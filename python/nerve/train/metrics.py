"""metrics.py — the running metrics fit/evaluate report per epoch: accuracy, binary_accuracy, mae, mse,
or any function f(output, target) -> number. Each is averaged over samples (batch results weighted
by batch size), computed on detached outputs with the array module of the output's device.
"""
from __future__ import annotations

from ..backend import xp
from ..tensor import Tensor


def _raw(t):
    return t._data if isinstance(t, Tensor) else t


def check_labels(out, target, op="fit"):
    """Class-index targets must name one of the model's outputs: a clear error instead of a wrong loss."""
    o, y = _raw(out), _raw(target)
    if y.dtype.kind not in "iu" or o.ndim < 2 or y.ndim != o.ndim - 1 or y.size == 0:
        return
    m = xp(y)
    lo, hi = int(m.min(y)), int(m.max(y))
    classes = o.shape[1]
    if lo < 0 or hi >= classes:
        bad = lo if lo < 0 else hi
        raise ValueError(f"[{op}] target label {bad} is out of range for a model with {classes} outputs "
                         f"(labels must lie in 0..{classes - 1})")


class Metric:
    """Accumulates a per-sample mean over batches; subclasses implement batch(out, target) -> (sum, count)."""

    name = "metric"

    def __init__(self):
        self.reset()

    def reset(self):
        self.total, self.count = 0.0, 0

    def batch(self, out, target):
        raise NotImplementedError

    def update(self, out, target) -> float:
        s, n = self.batch(_raw(out), _raw(target))
        self.total += s
        self.count += n
        return s / max(n, 1)

    def result(self) -> float:
        return self.total / self.count if self.count else float("nan")


class Accuracy(Metric):
    """Fraction of samples whose arg-max output is the target class; a single output is read as a logit
    (positive means class 1), as with BCEWithLogitsLoss."""

    name = "accuracy"

    def batch(self, out, y):
        m = xp(out)
        if out.ndim >= 2 and out.shape[1] > 1 and y.ndim == out.ndim - 1:
            hits = (m.argmax(out, 1) == y)
        else:
            pred = out.reshape(y.shape) > 0 if out.size == y.size else m.argmax(out, -1)
            hits = pred == (y > 0.5 if y.dtype.kind == "f" else y)
        return float(hits.sum()), int(hits.size)


class BinaryAccuracy(Metric):
    """Fraction of outputs on the target's side of `threshold` (0 for logits, 0.5 for probabilities)."""

    name = "binary_accuracy"

    def __init__(self, threshold: float = 0.0):
        self.threshold = threshold
        super().__init__()

    def batch(self, out, y):
        hits = (out.reshape(y.shape) > self.threshold) == (y > 0.5)
        return float(hits.sum()), int(hits.size)


class MeanAbsoluteError(Metric):
    name = "mae"

    def batch(self, out, y):
        m = xp(out)
        d = m.abs(out.reshape(y.shape) - y) if out.size == y.size else m.abs(out - y)
        return float(d.mean()) * len(y), len(y)


class MeanSquaredError(Metric):
    name = "mse"

    def batch(self, out, y):
        d = out.reshape(y.shape) - y if out.size == y.size else out - y
        return float((d * d).mean()) * len(y), len(y)


class FunctionMetric(Metric):
    """Wraps f(output, target) -> number (Tensors in), averaged over batches weighted by batch size."""

    def __init__(self, fn, name=None):
        self.fn, self.name = fn, name or getattr(fn, "__name__", "metric")
        super().__init__()

    def batch(self, out, y):
        v = self.fn(Tensor._make(out, False, None, 0), Tensor._make(y, False, None, 0))
        v = v.item() if isinstance(v, Tensor) else float(v)
        return v * len(y), len(y)


_NAMED = {"accuracy": Accuracy, "acc": Accuracy, "binary_accuracy": BinaryAccuracy, "mae": MeanAbsoluteError,
          "mean_absolute_error": MeanAbsoluteError, "mse": MeanSquaredError, "mean_squared_error": MeanSquaredError}


def get_metric(spec) -> Metric:
    if isinstance(spec, Metric):
        return spec
    if isinstance(spec, str):
        if spec not in _NAMED:
            raise ValueError(f"[fit] unknown metric {spec!r}; known: {sorted(_NAMED)} or a function f(output, target)")
        m = _NAMED[spec]()
        if spec == "acc":
            m.name = "acc"
        return m
    if callable(spec):
        return FunctionMetric(spec)
    raise TypeError(f"[fit] a metric must be a name, a Metric or a function, got {type(spec).__name__}")
