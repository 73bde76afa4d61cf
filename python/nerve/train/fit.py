"""fit.py — nerve.fit, nerve.evaluate, nerve.predict: a Keras-shaped training loop over nerve modules.

    history = nerve.fit(model, train_set, loss=nn.CrossEntropyLoss(), optimizer=optim.Adam(model.parameters()),
                        epochs=10, batch_size=128, validation_split=0.1,
                        callbacks=[EarlyStopping(patience=3, restore_best_weights=True)])
    history.plot("curves.png")

Each epoch: model.train(); for every batch, forward, loss, zero_grad, backward, optimizer.step();
then model.eval() and the validation pass under no_grad; then the epoch's logs (loss, metrics,
val_*, lr) go into the History and to the callbacks. Data may be a Dataset, a DataLoader, or an
(inputs, targets) pair of tensors/arrays; datasets are batched through DataLoader's fast path.

Determinism: the run draws from nerve's global generator (nerve.manual_seed) and, with seed=, from
the training loader's own; a checkpoint records both, so fit(resume=path) repeats the losses of an
uninterrupted run exactly.
"""
from __future__ import annotations

import numbers
import time
from typing import Optional

import numpy as np

from ..autograd import no_grad
from ..data import DataLoader, Dataset, Subset, TensorDataset
from ..tensor import Tensor
from .callbacks import Callback, LRSchedulerCallback, ModelCheckpoint
from .history import History
from .metrics import check_labels, get_metric
from .progress import EpochProgress


class Trainer:
    """The state of one fit call, shared with callbacks (callback.trainer)."""

    def __init__(self, model, optimizer, loss_fn, metrics, callbacks, train_loader, val_loader, device, history):
        self.model, self.optimizer, self.loss_fn = model, optimizer, loss_fn
        self.metrics, self.callbacks = metrics, callbacks
        self.train_loader, self.val_loader, self.device = train_loader, val_loader, device
        self.history = history
        self.schedulers = [cb.scheduler for cb in callbacks if isinstance(cb, LRSchedulerCallback)]
        self.stop_training = False
        self.epoch = 0

    @property
    def scheduler(self):
        return self.schedulers[0] if self.schedulers else None

    def call(self, hook, *args):
        cbs = self.callbacks
        if hook == "on_epoch_end":
            # schedulers step first, checkpoints save last: a checkpoint must see the state the next epoch starts from
            cbs = sorted(cbs, key=lambda c: 0 if isinstance(c, LRSchedulerCallback) else
                         2 if isinstance(c, ModelCheckpoint) else 1)
        for cb in cbs:
            getattr(cb, hook)(*args)


def _n(data):
    return data.shape[0] if hasattr(data, "shape") else len(data)


def _as_dataset(data, what: str):
    """A Dataset or DataLoader from the forms fit accepts."""
    if isinstance(data, (DataLoader, Dataset)):
        return data
    if isinstance(data, (tuple, list)) and len(data) == 2 and all(isinstance(d, (Tensor, np.ndarray)) for d in data):
        x, y = data
        if _n(x) != _n(y):
            raise ValueError(f"[fit] {what}: inputs have {_n(x)} samples but targets have {_n(y)}")
        return TensorDataset(x, y)
    if isinstance(data, (Tensor, np.ndarray)):
        return TensorDataset(data)
    if hasattr(data, "__getitem__") and hasattr(data, "__len__"):
        return data
    raise TypeError(f"[fit] {what} must be a Dataset, a DataLoader or an (inputs, targets) pair, got "
                    f"{type(data).__name__}")


def _loader(data, batch_size, shuffle, seed, num_workers, what):
    data = _as_dataset(data, what)
    if isinstance(data, DataLoader):
        return data
    return DataLoader(data, batch_size=batch_size, shuffle=shuffle, seed=seed, num_workers=num_workers)


def _resolve_loss(loss):
    if callable(loss):
        return loss
    if isinstance(loss, str):
        from .. import nn
        names = {"cross_entropy": "CrossEntropyLoss", "categorical_crossentropy": "CrossEntropyLoss",
                 "sparse_categorical_crossentropy": "CrossEntropyLoss", "nll": "NLLLoss", "mse": "MSELoss",
                 "mean_squared_error": "MSELoss", "l1": "L1Loss", "mae": "L1Loss", "bce": "BCELoss",
                 "bce_with_logits": "BCEWithLogitsLoss", "binary_crossentropy": "BCEWithLogitsLoss"}
        if loss not in names:
            raise ValueError(f"[fit] unknown loss {loss!r}; known: {sorted(names)} or any callable(output, target)")
        return getattr(nn, names[loss])()
    raise TypeError(f"[fit] loss must be a callable(output, target) or a name, got {type(loss).__name__}")


def _resolve_optimizer(optimizer, model):
    if isinstance(optimizer, str):
        from .. import optim
        names = {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW", "rmsprop": "RMSprop", "adagrad": "Adagrad"}
        if optimizer.lower() not in names:
            raise ValueError(f"[fit] unknown optimizer {optimizer!r}; known: {sorted(names)} or an optimizer instance")
        return getattr(optim, names[optimizer.lower()])(model.parameters())
    if optimizer is None or not hasattr(optimizer, "step") or not hasattr(optimizer, "zero_grad"):
        raise TypeError(f"[fit] optimizer must be a nerve.optim optimizer (or a name), got {type(optimizer).__name__}")
    return optimizer


def _split_batch(batch, op):
    if isinstance(batch, (tuple, list)) and len(batch) == 2:
        return batch[0], batch[1]
    raise ValueError(f"[{op}] each batch must be an (input, target) pair, got "
                     f"{type(batch).__name__} of {len(batch) if hasattr(batch, '__len__') else '?'} items")


def _to(t, device):
    if device is None or device == "cpu" or not isinstance(t, Tensor):
        return t
    return t.to(device)


def _lr(optimizer):
    groups = getattr(optimizer, "param_groups", None)
    return float(groups[0]["lr"]) if groups and "lr" in groups[0] else None


def _evaluate(model, loader, loss_fn, metrics, device, op="evaluate"):
    """{'loss': ..., metric names: ...} over a loader, model in eval mode, no graph."""
    was_training = model.training
    model.eval()
    for m in metrics:
        m.reset()
    total, seen = 0.0, 0
    try:
        with no_grad():
            for batch in loader:
                x, y = _split_batch(batch, op)
                x, y = _to(x, device), _to(y, device)
                out = model(x)
                check_labels(out, y, op)
                n = _n(y)
                if loss_fn is not None:
                    total += float(loss_fn(out, y).item()) * n
                for m in metrics:
                    m.update(out, y)
                seen += n
    finally:
        model.train(was_training)
    logs = {}
    if loss_fn is not None:
        logs["loss"] = total / seen if seen else float("nan")
    for m in metrics:
        logs[m.name] = m.result()
    return logs


def _train_epoch(tr: Trainer, epoch: int, epochs: int, verbose: int):
    model, opt, loss_fn = tr.model, tr.optimizer, tr.loss_fn
    model.train()
    for m in tr.metrics:
        m.reset()
    total, seen = 0.0, 0
    bar = EpochProgress(verbose, epoch, epochs, len(tr.train_loader))
    t0 = time.perf_counter()
    for b, batch in enumerate(tr.train_loader):
        x, y = _split_batch(batch, "fit")
        x, y = _to(x, tr.device), _to(y, tr.device)
        tr.call("on_train_batch_begin", b, {})
        out = model(x)
        check_labels(out, y)
        loss = loss_fn(out, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        lv = float(loss.item())
        n = _n(y)
        total += lv * n
        seen += n
        for m in tr.metrics:
            m.update(out, y)
        tr.call("on_train_batch_end", b, {"loss": lv, "size": n})
        bar.update(seen, total, tr.metrics, time.perf_counter() - t0)
        if tr.stop_training:
            break
    dt = time.perf_counter() - t0
    logs = {"loss": total / seen if seen else float("nan")}
    for m in tr.metrics:
        logs[m.name] = m.result()
    return logs, bar, dt, seen


def fit(model, train_data, *, loss, optimizer, epochs: int = 1, batch_size: int = 32, validation_data=None,
        validation_split: Optional[float] = None, metrics=("accuracy",), callbacks=(), device="cpu",
        shuffle: bool = True, seed: Optional[int] = None, scheduler=None, scheduler_interval: str = "epoch",
        verbose: int = 1, num_workers: int = 0, resume=None, validation_batch_size: Optional[int] = None) -> History:
    """Trains `model` and returns a History of per-epoch logs.

    Args:
        model: a nerve.nn.Module mapping an input batch to outputs.
        train_data: a Dataset, a DataLoader, or an (inputs, targets) pair of Tensors/arrays.
        loss: callable(output, target) -> scalar Tensor (e.g. nn.CrossEntropyLoss()), or a name ('cross_entropy', 'mse').
        optimizer: a nerve.optim optimizer over model.parameters() (or a name with default settings).
        epochs: the epoch to stop after (with resume=, the total, counting the epochs already done).
        batch_size: samples per step (ignored when train_data is a DataLoader).
        validation_data: data in the same forms, evaluated after every epoch (logs val_loss, val_<metric>).
        validation_split: fraction in (0, 1) of the training samples, taken from the end (as Keras), held out
            for validation instead; not with a DataLoader.
        metrics: names ('accuracy', 'binary_accuracy', 'mae', 'mse'), Metric objects or f(output, target).
        callbacks: Callback instances (EarlyStopping, ModelCheckpoint, CSVLogger, LRSchedulerCallback, ...).
        device: 'cpu' or 'cuda'; the model and each batch are moved there.
        shuffle: a new sample order each epoch. seed: the training loader's own generator seed (else nerve's
            global generator, set by nerve.manual_seed, drives shuffling and augmentation).
        scheduler: a learning-rate scheduler, stepped every epoch (or every batch: scheduler_interval='batch';
            ReduceLROnPlateau gets val_loss).
        verbose: 0 quiet, 1 a progress bar per epoch (loss, metrics, samples/s), 2 one line per epoch.
        num_workers: prefetch threads for the training loader.
        resume: path of a checkpoint written by ModelCheckpoint: the run continues from it exactly.
    """
    if not isinstance(epochs, numbers.Integral) or epochs < 0:
        raise ValueError(f"[fit] epochs must be a non-negative int, got {epochs!r}")
    if not isinstance(batch_size, numbers.Integral) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"[fit] batch_size must be a positive int, got {batch_size!r}")
    if validation_split is not None:
        if not isinstance(validation_split, numbers.Real) or not 0 < validation_split < 1:
            raise ValueError(f"[fit] validation_split must lie strictly between 0 and 1, got {validation_split!r}")
        if validation_data is not None:
            raise ValueError("[fit] give validation_data or validation_split, not both")
    loss_fn = _resolve_loss(loss)
    optimizer = _resolve_optimizer(optimizer, model)
    if device not in (None, "cpu"):
        model.to(device)

    train_set = _as_dataset(train_data, "train_data")
    val_set = None if validation_data is None else _as_dataset(validation_data, "validation_data")
    if validation_split is not None:
        if isinstance(train_set, DataLoader):
            raise ValueError("[fit] validation_split needs a dataset or arrays, not a DataLoader: split the dataset "
                             "(nerve.data.random_split) and pass validation_data")
        n = len(train_set)
        split_at = int(n * (1 - validation_split))
        if split_at < 1 or split_at >= n:
            raise ValueError(f"[fit] validation_split={validation_split} leaves {split_at} of {n} samples for "
                             f"training and {n - split_at} for validation; both need at least one")
        train_set, val_set = Subset(train_set, np.arange(split_at)), Subset(train_set, np.arange(split_at, n))
    train_loader = _loader(train_set, batch_size, shuffle, seed, num_workers, "train_data")
    val_loader = None if val_set is None else _loader(val_set, validation_batch_size or max(batch_size, 256),
                                                      False, None, 0, "validation_data")

    cbs = list(callbacks or [])
    for cb in cbs:
        if not isinstance(cb, Callback):
            raise TypeError(f"[fit] callbacks must be nerve Callback instances, got {type(cb).__name__}")
    if scheduler is not None:
        cbs.insert(0, LRSchedulerCallback(scheduler, scheduler_interval))
    metric_objs = [get_metric(m) for m in (metrics or [])]
    history = History()
    history.params = {"epochs": epochs, "batch_size": batch_size, "steps": len(train_loader)}
    history.samples_per_second = []
    tr = Trainer(model, optimizer, loss_fn, metric_objs, cbs, train_loader, val_loader, device, history)

    start = 0
    if resume is not None:
        from .checkpoint import load_checkpoint, restore
        start = restore(tr, load_checkpoint(resume), resume)
    for cb in cbs:
        cb.set_trainer(tr)
    tr.call("on_train_begin", {})
    for epoch in range(start, epochs):
        tr.epoch = epoch
        lr = _lr(optimizer)
        tr.call("on_epoch_begin", epoch, {})
        logs, bar, dt, seen = _train_epoch(tr, epoch, epochs, verbose)
        if val_loader is not None:
            val = _evaluate(model, val_loader, loss_fn, metric_objs, device, "fit")
            logs.update({f"val_{k}": v for k, v in val.items()})
        if lr is not None:
            logs["lr"] = lr
        bar.close(logs, dt, seen)
        history.append(epoch, logs)
        history.samples_per_second.append(seen / dt if dt > 0 else float("nan"))
        tr.call("on_epoch_end", epoch, logs)
        if tr.stop_training:
            break
    tr.call("on_train_end", {"last": history.epoch[-1] if history.epoch else None})
    return history


def evaluate(model, data, *, loss=None, metrics=("accuracy",), batch_size: int = 256, device="cpu") -> dict:
    """Loss (when given) and metrics of `model` over `data` (a Dataset, DataLoader or (inputs, targets) pair),
    in eval mode without a graph: {'loss': ..., 'accuracy': ...}."""
    loader = _loader(data, batch_size, False, None, 0, "data")
    loss_fn = None if loss is None else _resolve_loss(loss)
    return _evaluate(model, loader, loss_fn, [get_metric(m) for m in (metrics or [])], device)


def predict(model, data, *, batch_size: int = 256, device="cpu") -> Tensor:
    """The model's outputs for every sample of `data` (inputs, a Dataset, a DataLoader or an (inputs, targets)
    pair; targets are ignored), concatenated along the batch dim, in eval mode without a graph."""
    loader = _loader(data, batch_size, False, None, 0, "data")
    was_training = model.training
    model.eval()
    outs = []
    try:
        with no_grad():
            for batch in loader:
                x = batch[0] if isinstance(batch, (tuple, list)) else batch
                outs.append(model(_to(x, device))._data)
    finally:
        model.train(was_training)
    if not outs:
        raise ValueError("[predict] data holds no samples")
    from ..backend import xp
    return Tensor._make(xp(outs[0]).concatenate(outs), False, None, 0)
