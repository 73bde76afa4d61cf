"""callbacks.py — hooks into nerve.fit (Keras' callback API): EarlyStopping, ModelCheckpoint,
LRSchedulerCallback, CSVLogger, LambdaCallback.

fit calls, in order: on_train_begin(logs), then per epoch on_epoch_begin(epoch, logs),
on_train_batch_begin/end(batch, logs) around every step, and on_epoch_end(epoch, logs) once the
epoch's training and validation logs are in; last on_train_end(logs). Epochs count from 0 (file
names count from 1, as Keras). A callback reaches the run through `self.trainer` (model, optimizer,
scheduler, history, stop_training). state_dict()/load_state_dict() carry a callback's progress in
checkpoints, so a resumed run stops, saves and schedules as the uninterrupted one would.
"""
from __future__ import annotations

import csv
import math
import os
from typing import Optional

import numpy as np

from ..tensor import Tensor


class Callback:
    """Base class: override the hooks you need."""

    trainer = None

    def set_trainer(self, trainer) -> None:
        self.trainer = trainer

    @property
    def model(self):
        return self.trainer.model if self.trainer is not None else None

    def on_train_begin(self, logs=None): ...
    def on_train_end(self, logs=None): ...
    def on_epoch_begin(self, epoch, logs=None): ...
    def on_epoch_end(self, epoch, logs=None): ...
    def on_train_batch_begin(self, batch, logs=None): ...
    def on_train_batch_end(self, batch, logs=None): ...

    def state_dict(self) -> dict:
        """JSON-able values and nerve Tensors that let a resumed run continue this callback's progress."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


class LambdaCallback(Callback):
    """A callback from plain functions: LambdaCallback(on_epoch_end=lambda epoch, logs: ...)."""

    def __init__(self, **hooks):
        for name, fn in hooks.items():
            if not name.startswith("on_") or not hasattr(Callback, name):
                raise ValueError(f"[LambdaCallback] unknown hook {name!r}")
            setattr(self, name, fn)


def _monitor_mode(monitor: str, mode: str, op: str):
    """(mode, sign): sign * value is to be minimised."""
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"[{op}] mode must be 'auto', 'min' or 'max', got {mode!r}")
    if mode == "auto":
        base = monitor[4:] if monitor.startswith("val_") else monitor
        mode = "max" if base in ("accuracy", "acc", "binary_accuracy") or base.endswith("accuracy") else "min"
    return mode, (1.0 if mode == "min" else -1.0)


def _monitored(logs, monitor, op):
    value = (logs or {}).get(monitor)
    if value is None:
        raise KeyError(f"[{op}] monitor {monitor!r} is not in the logs (available: {sorted(logs or {})}); "
                       f"monitoring a val_ metric needs validation_data or validation_split")
    return float(value)


def _copy_state(module) -> dict:
    return {k: v._data.copy() for k, v in module.state_dict().items()}


class EarlyStopping(Callback):
    """Stops training when `monitor` has stopped improving (keras.callbacks.EarlyStopping).

    Args:
        monitor: a log entry ('val_loss', 'val_accuracy', 'loss', ...).
        min_delta: a change smaller than this is not an improvement.
        patience: epochs without improvement before stopping.
        mode: 'min', 'max', or 'auto' (max for accuracies, else min).
        restore_best_weights: at the end of training, load the weights of the best epoch.
        baseline: training stops unless the monitored value beats this within `patience` epochs.
        start_from_epoch: epochs to wait before watching (warm-up).
    Attributes after training: stopped_epoch (0-based, 0 if it never stopped), best, best_epoch.
    """

    def __init__(self, monitor: str = "val_loss", min_delta: float = 0.0, patience: int = 0, verbose: int = 0,
                 mode: str = "auto", baseline: Optional[float] = None, restore_best_weights: bool = False,
                 start_from_epoch: int = 0):
        if patience < 0:
            raise ValueError(f"[EarlyStopping] patience must be >= 0, got {patience}")
        self.monitor, self.patience, self.verbose = monitor, int(patience), verbose
        self.mode, self._sign = _monitor_mode(monitor, mode, "EarlyStopping")
        self.min_delta = abs(float(min_delta))
        self.baseline, self.restore_best_weights = baseline, restore_best_weights
        self.start_from_epoch = start_from_epoch
        self._reset()

    def _reset(self):
        self.wait, self.stopped_epoch, self.best_epoch = 0, 0, 0
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_weights = None

    def _improved(self, current, reference) -> bool:
        return self._sign * (current - reference) < -self.min_delta

    def on_train_begin(self, logs=None):
        if not getattr(self, "_resumed", False):
            self._reset()
        self._resumed = False

    def on_epoch_end(self, epoch, logs=None):
        if epoch < self.start_from_epoch:
            return
        current = _monitored(logs, self.monitor, "EarlyStopping")
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = _copy_state(self.model)
        self.wait += 1
        if self._improved(current, self.best):
            self.best, self.best_epoch = current, epoch
            if self.restore_best_weights:
                self.best_weights = _copy_state(self.model)
            if self.baseline is None or self._improved(current, self.baseline):
                self.wait = 0
                return
            # improving, but not yet past the baseline: the patience still runs out
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.trainer.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping ({self.monitor} best {self.best:.4g} at epoch "
                  f"{self.best_epoch + 1})")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose:
                print(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}")
            self.model.load_state_dict(self.best_weights)

    def state_dict(self):
        s = {"wait": self.wait, "stopped_epoch": self.stopped_epoch, "best_epoch": self.best_epoch,
             "best": self.best}
        if self.best_weights is not None:
            s["best_weights"] = {k: Tensor._make(v, False, None, 0) for k, v in self.best_weights.items()}
        return s

    def load_state_dict(self, state):
        self.wait, self.stopped_epoch = int(state["wait"]), int(state["stopped_epoch"])
        self.best_epoch, self.best = int(state["best_epoch"]), float(state["best"])
        bw = state.get("best_weights")
        self.best_weights = None if bw is None else {k: np.asarray(v._data if isinstance(v, Tensor) else v)
                                                     for k, v in bw.items()}
        self._resumed = True


class ModelCheckpoint(Callback):
    """Saves the run at the end of epochs (keras.callbacks.ModelCheckpoint), as safetensors via nerve.save.

    A checkpoint holds the model's state_dict, the optimizer's and scheduler's, the epoch, the random
    generators' states, the history and the callbacks' states, so `nerve.fit(..., resume=path)`
    continues exactly where it stopped. save_weights_only writes just the model's state_dict (a file
    that `model.load_state_dict(nerve.load(path))` and torch's safetensors loader read).
    Writes are atomic (temp file + rename): an interrupted save leaves the previous file intact.

    Args:
        filepath: where to write; may hold format fields: '{epoch:02d}' (1-based), any log entry ('{val_loss:.3f}').
        monitor, mode: what "best" means, for save_best_only.
        save_best_only: write only when `monitor` improves (the file then always holds the best epoch).
        save_weights_only: only the model's weights.
        save_freq: 'epoch', or an int: every that many epochs.
    """

    def __init__(self, filepath, monitor: str = "val_loss", verbose: int = 0, save_best_only: bool = False,
                 save_weights_only: bool = False, mode: str = "auto", save_freq="epoch"):
        self.filepath, self.monitor, self.verbose = os.fspath(filepath), monitor, verbose
        self.save_best_only, self.save_weights_only = save_best_only, save_weights_only
        self.mode, self._sign = _monitor_mode(monitor, mode, "ModelCheckpoint")
        if save_freq != "epoch" and (not isinstance(save_freq, int) or save_freq < 1):
            raise ValueError(f"[ModelCheckpoint] save_freq must be 'epoch' or a positive int, got {save_freq!r}")
        self.save_freq = 1 if save_freq == "epoch" else save_freq
        self.best = math.inf if self.mode == "min" else -math.inf
        self.last_saved: Optional[str] = None

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.save_freq:
            return
        if self.save_best_only:
            current = _monitored(logs, self.monitor, "ModelCheckpoint")
            if not self._sign * (current - self.best) < 0:
                return
            self.best = current
        path = self.filepath.format(epoch=epoch + 1, **(logs or {}))
        folder = os.path.dirname(path)
        if folder:
            os.makedirs(folder, exist_ok=True)
        from .checkpoint import save_checkpoint, save_weights
        if self.save_weights_only:
            save_weights(self.model, path)
        else:
            save_checkpoint(path, self.trainer, epoch)
        self.last_saved = path
        if self.verbose:
            print(f"Epoch {epoch + 1}: saved {'weights' if self.save_weights_only else 'checkpoint'} to {path}")

    def state_dict(self):
        return {"best": self.best}

    def load_state_dict(self, state):
        self.best = float(state["best"])


class LRSchedulerCallback(Callback):
    """Steps a nerve.optim.lr_scheduler scheduler: once per epoch (after validation) or once per batch.

    ReduceLROnPlateau is stepped with the monitored log value. fit(scheduler=...) makes one of these.
    The learning rate in force during each epoch is logged as 'lr'.
    """

    def __init__(self, scheduler, interval: str = "epoch", monitor: str = "val_loss"):
        if interval not in ("epoch", "batch", "step"):
            raise ValueError(f"[LRSchedulerCallback] interval must be 'epoch' or 'batch', got {interval!r}")
        if not hasattr(scheduler, "step"):
            raise TypeError(f"[LRSchedulerCallback] expected a learning-rate scheduler, got {type(scheduler).__name__}")
        self.scheduler, self.interval, self.monitor = scheduler, ("batch" if interval == "step" else interval), monitor

    def _plateau(self) -> bool:
        return type(self.scheduler).__name__ == "ReduceLROnPlateau"

    def on_train_batch_end(self, batch, logs=None):
        if self.interval == "batch":
            if self._plateau():
                raise ValueError("[LRSchedulerCallback] ReduceLROnPlateau steps once per epoch on a metric, "
                                 "not per batch")
            self.scheduler.step()

    def on_epoch_end(self, epoch, logs=None):
        if self.interval != "epoch":
            return
        if self._plateau():
            self.scheduler.step(_monitored(logs, self.monitor, "LRSchedulerCallback"))
        else:
            self.scheduler.step()

    def state_dict(self):
        return {}  # the scheduler's own state_dict goes into the checkpoint beside the optimizer's


class CSVLogger(Callback):
    """Appends one row per epoch (epoch, then every log entry, sorted) to a CSV file (keras.callbacks.CSVLogger).

    append=False starts a new file at on_train_begin, except when the run resumes from a checkpoint.
    """

    def __init__(self, filename, separator: str = ",", append: bool = False):
        self.filename, self.sep, self.append = os.fspath(filename), separator, append
        self._keys = None
        self._last_epoch = -1
        self._resume_epoch = None

    def on_train_begin(self, logs=None):
        resumed = self._resume_epoch is not None
        if not (self.append or resumed) and os.path.exists(self.filename):
            os.remove(self.filename)
        self._keys = None
        if os.path.exists(self.filename):
            with open(self.filename, newline="") as f:
                rows = list(csv.reader(f, delimiter=self.sep))
            if rows:
                self._keys = rows[0][1:]
            if resumed and rows:  # drop rows of epochs after the checkpoint (they are about to be redone)
                keep = [rows[0]] + [r for r in rows[1:] if r and int(r[0]) <= self._resume_epoch]
                with open(self.filename, "w", newline="") as f:
                    csv.writer(f, delimiter=self.sep).writerows(keep)
        self._resume_epoch = None

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        if self._keys is None:
            self._keys = sorted(logs)
        new = not os.path.exists(self.filename) or os.path.getsize(self.filename) == 0
        with open(self.filename, "a", newline="") as f:
            w = csv.writer(f, delimiter=self.sep)
            if new:
                w.writerow(["epoch"] + self._keys)
            w.writerow([epoch] + [_fmt(logs.get(k, "")) for k in self._keys])
        self._last_epoch = epoch

    def state_dict(self):
        return {"last_epoch": self._last_epoch}

    def load_state_dict(self, state):
        self._resume_epoch = int(state.get("last_epoch", -1))


def _fmt(v):
    return repr(float(v)) if isinstance(v, (float, np.floating)) else v
