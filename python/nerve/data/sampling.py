"""sampling.py — where the data pipeline's randomness comes from.

A DataLoader draws one base seed per epoch from its generator (its own, or nerve's global one);
the epoch's permutation and each batch's augmentation then come from streams derived from that
seed and the batch number. A batch's random crops and flips are thus the same whether it is made
in the main thread or a prefetch thread, whatever the scheduling, and a run restarted from saved
generator states draws exactly what the uninterrupted run drew.

Transforms ask `rng(generator)` for their generator: an explicit one wins, then the stream the
loader set for the current batch (thread-local), then nerve's global generator.
"""
from __future__ import annotations

import contextlib
import threading

import numpy as np

from ..random import _gen

_local = threading.local()


def rng(generator=None) -> np.random.Generator:
    """The numpy Generator a transform should draw from."""
    if generator is not None:
        return _gen(generator)
    g = getattr(_local, "gen", None)
    return g if g is not None else _gen(None)


@contextlib.contextmanager
def batch_stream(gen: np.random.Generator):
    """Makes `gen` the transforms' generator in this thread for the duration of the block."""
    prev = getattr(_local, "gen", None)
    _local.gen = gen
    try:
        yield gen
    finally:
        _local.gen = prev


def derived(base_seed: int, *key: int) -> np.random.Generator:
    """An independent stream for (base_seed, *key): PCG64 seeded by a SeedSequence over all of them."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([int(base_seed), *map(int, key)])))


def get_state(generator=None) -> dict:
    """The bit-generator state of `generator` (nerve's global one when None), a JSON-able dict."""
    return _jsonable(_gen(generator).bit_generator.state)


def set_state(state: dict, generator=None) -> None:
    """Restores a state returned by get_state, in place (so every holder of the generator sees it)."""
    _gen(generator).bit_generator.state = state


def _jsonable(v):
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, np.integer):
        return int(v)
    return v
