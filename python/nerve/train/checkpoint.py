"""checkpoint.py — what ModelCheckpoint writes and fit(resume=...) reads: one safetensors file (nerve.save,
atomic) holding everything a run needs to continue exactly as if it had never stopped.

    model/...       the model's state_dict (PyTorch key names)
    optimizer/...   the optimizer's state_dict (moments, step counts, param groups)
    schedulers/i/...  the state_dict of each learning-rate scheduler the run steps
    callbacks/...   tensors of callback states (EarlyStopping's best weights)
    trainer         JSON: format, epoch just finished, generator states (nerve's global one and the
                    training loader's), the history so far, the callbacks' other state, the model's class
"""
from __future__ import annotations

import json
import os

from ..tensor import Tensor
from ..data import sampling

FORMAT = "nerve.checkpoint/1"


def _io():
    from .. import io  # nerve.save / nerve.load: safetensors, atomic writes
    return io


def save_weights(model, path) -> None:
    """The model's state_dict alone, as a plain safetensors file."""
    _io().save(model.state_dict(), path)


def _split(state: dict):
    """(tensors, plain) halves of a callback's state_dict; nested dicts of tensors go to the first."""
    tensors, plain = {}, {}
    for k, v in state.items():
        if isinstance(v, Tensor) or (isinstance(v, dict) and v and all(isinstance(x, Tensor) for x in v.values())):
            tensors[k] = v
        else:
            plain[k] = v
    return tensors, plain


def trainer_state(trainer, epoch: int) -> dict:
    loader_gen = getattr(trainer.train_loader, "generator", None)
    cbs = {}
    for i, cb in enumerate(trainer.callbacks):
        _, plain = _split(cb.state_dict())
        cbs[str(i)] = {"class": type(cb).__name__, "state": plain}
    return {
        "format": FORMAT,
        "epoch": int(epoch),
        "model_class": type(trainer.model).__name__,
        "rng": {"global": sampling.get_state(None),
                "train_loader": None if loader_gen is None else sampling.get_state(loader_gen)},
        "history": trainer.history.state_dict(),
        "callbacks": cbs,
    }


def save_checkpoint(path, trainer, epoch: int) -> None:
    """Writes the run's state after `epoch` (0-based) to `path`, atomically."""
    payload = {"model": trainer.model.state_dict(), "optimizer": trainer.optimizer.state_dict()}
    if trainer.schedulers:
        payload["schedulers"] = {str(i): s.state_dict() for i, s in enumerate(trainer.schedulers)}
    cb_tensors = {}
    for i, cb in enumerate(trainer.callbacks):
        tensors, _ = _split(cb.state_dict())
        if tensors:
            cb_tensors[str(i)] = tensors
    if cb_tensors:
        payload["callbacks"] = cb_tensors
    payload["trainer"] = json.dumps(trainer_state(trainer, epoch))
    _io().save(payload, os.fspath(path))


def load_checkpoint(path) -> dict:
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"[fit] checkpoint {path} does not exist")
    payload = _io().load(path)
    if not isinstance(payload, dict) or "trainer" not in payload or "model" not in payload:
        raise ValueError(f"[fit] {path} is not a nerve training checkpoint (it lacks the trainer state; a "
                         f"weights-only file loads with model.load_state_dict(nerve.load(path)))")
    meta = payload["trainer"]
    meta = json.loads(meta if isinstance(meta, str) else bytes(meta).decode())
    if meta.get("format") != FORMAT:
        raise ValueError(f"[fit] {path} has checkpoint format {meta.get('format')!r}, expected {FORMAT!r}")
    payload["trainer"] = meta
    return payload


def restore(trainer, payload: dict, path) -> int:
    """Loads a checkpoint into a run; returns the epoch to start from."""
    meta = payload["trainer"]
    try:
        trainer.model.load_state_dict(payload["model"])
    except (RuntimeError, ValueError, KeyError) as e:
        raise ValueError(f"[fit] checkpoint {path} was saved from a different model ({meta['model_class']}) "
                         f"than this {type(trainer.model).__name__}:\n{e}") from None
    try:
        trainer.optimizer.load_state_dict(payload["optimizer"])
    except (RuntimeError, ValueError, KeyError, IndexError) as e:
        raise ValueError(f"[fit] the optimizer state in {path} does not fit this optimizer "
                         f"({type(trainer.optimizer).__name__}): {e}") from None
    saved_scheds = payload.get("schedulers", {})
    if len(saved_scheds) != len(trainer.schedulers):
        raise ValueError(f"[fit] {path} holds {len(saved_scheds)} learning-rate scheduler state(s), this run has "
                         f"{len(trainer.schedulers)} scheduler(s)")
    for i, sched in enumerate(trainer.schedulers):
        sched.load_state_dict(saved_scheds[str(i)])
    sampling.set_state(meta["rng"]["global"], None)
    loader_gen = getattr(trainer.train_loader, "generator", None)
    if meta["rng"]["train_loader"] is not None:
        if loader_gen is None:
            raise ValueError(f"[fit] {path} was saved from a run whose training loader had its own generator "
                             f"(seed=...); pass the same seed to resume it exactly")
        sampling.set_state(meta["rng"]["train_loader"], loader_gen)
    trainer.history.load_state_dict(meta["history"])
    saved = meta["callbacks"]
    tensors = payload.get("callbacks", {})
    for i, cb in enumerate(trainer.callbacks):
        entry = saved.get(str(i))
        if entry is None or entry["class"] != type(cb).__name__:
            continue  # a callback the saved run did not have starts fresh
        state = dict(entry["state"])
        state.update(tensors.get(str(i), {}))
        cb.load_state_dict(state)
    return int(meta["epoch"]) + 1
