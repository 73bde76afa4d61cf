"""loader.py — DataLoader, default_collate, Subset and random_split (torch.utils.data's API).

The fast path: a dataset that defines `get_batch(indices)` (TensorDataset, ArrayDataset and so
FashionMNIST and Digits, Subset of those) is asked for a whole batch with one index array, so a
batch is one numpy gather plus batched transforms, not batch_size Python calls. Any other dataset
goes sample by sample through collate_fn, as in torch; so does any dataset when collate_fn is given.

num_workers > 0 makes batches ahead of time on that many threads (prefetch_factor batches each);
the order of batches and their random draws do not depend on it (see sampling.py).
"""
from __future__ import annotations

import collections
import math
import numbers

import numpy as np

from ..random import Generator, _gen
from ..tensor import Tensor
from .dataset import Dataset
from .sampling import batch_stream, derived


def _stack(arrays):
    return Tensor._make(np.stack(arrays), False, None, 0)


def default_collate(batch):
    """Stacks a list of samples into a batch, structure preserved (torch's default_collate):
    tensors and arrays are stacked on a new first dim, numbers become 1-D tensors, tuples/lists/dicts
    are collated field by field, strings are kept as lists."""
    if not batch:
        raise ValueError("[default_collate] got an empty batch")
    first = batch[0]
    if isinstance(first, Tensor):
        return _stack([b._data for b in batch])
    if isinstance(first, np.ndarray):
        return _stack([np.asarray(b) for b in batch])
    if isinstance(first, (bool, np.bool_)):
        return Tensor._make(np.asarray(batch, np.bool_), False, None, 0)
    if isinstance(first, numbers.Integral):
        return Tensor._make(np.asarray(batch, np.int64), False, None, 0)
    if isinstance(first, numbers.Real):
        return Tensor._make(np.asarray(batch, np.float32 if isinstance(first, np.float32) else np.float64
                                       if isinstance(first, np.float64) else np.float32), False, None, 0)
    if isinstance(first, (str, bytes)):
        return list(batch)
    if isinstance(first, collections.abc.Mapping):
        return {k: default_collate([b[k] for b in batch]) for k in first}
    if isinstance(first, tuple) and hasattr(first, "_fields"):  # namedtuple
        return type(first)(*(default_collate(list(s)) for s in zip(*batch)))
    if isinstance(first, (tuple, list)):
        if any(len(b) != len(first) for b in batch):
            raise ValueError("[default_collate] each sample in a batch must have the same number of fields")
        return tuple(default_collate(list(s)) for s in zip(*batch))
    raise TypeError(f"[default_collate] batch must contain tensors, arrays, numbers, dicts or lists; found "
                    f"{type(first).__name__}")


class Subset(Dataset):
    """The samples of `dataset` at `indices` (torch.utils.data.Subset); keeps the batched fast path."""

    def __init__(self, dataset, indices):
        self.dataset = dataset
        self.indices = np.asarray(indices, np.int64)
        n = len(dataset)
        if self.indices.size and (self.indices.min() < -n or self.indices.max() >= n):
            raise IndexError(f"[Subset] indices must lie in [0, {n}) for a dataset of {n} samples")

    def __getitem__(self, i):
        if isinstance(i, (list, np.ndarray)):
            return [self.dataset[int(j)] for j in self.indices[i]]
        return self.dataset[int(self.indices[i])]

    def __len__(self):
        return len(self.indices)

    @property
    def get_batch(self):
        inner = getattr(self.dataset, "get_batch", None)
        if inner is None:
            raise AttributeError("get_batch")
        return lambda idx: inner(self.indices[idx])


def random_split(dataset, lengths, generator=None):
    """Splits a dataset into non-overlapping random Subsets of the given lengths (or fractions summing to 1,
    the remainder dealt round-robin, as torch does)."""
    n = len(dataset)
    lengths = list(lengths)
    if lengths and all(isinstance(x, float) for x in lengths) and math.isclose(sum(lengths), 1) and sum(lengths) <= 1:
        for i, frac in enumerate(lengths):
            if not 0 <= frac <= 1:
                raise ValueError(f"[random_split] fraction at index {i} is not between 0 and 1: {frac}")
        counts = [int(math.floor(n * f)) for f in lengths]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        lengths = counts
    if any(not isinstance(x, numbers.Integral) or x < 0 for x in lengths):
        raise ValueError(f"[random_split] lengths must be non-negative ints or fractions summing to 1, got {lengths}")
    if sum(lengths) != n:
        raise ValueError(f"[random_split] sum of input lengths ({sum(lengths)}) does not equal the length of the "
                         f"input dataset ({n})")
    perm = _gen(generator).permutation(n)
    out, start = [], 0
    for length in lengths:
        out.append(Subset(dataset, perm[start:start + length]))
        start += length
    return out


class DataLoader:
    """Iterates over a dataset in batches (torch.utils.data.DataLoader).

    Args:
        dataset: a map-style dataset (len and getitem), ideally with get_batch for the fast path.
        batch_size: samples per batch (None: yield single samples, uncollated). Default 1.
        shuffle: a new random order each epoch.
        drop_last: drop the last, smaller batch.
        collate_fn: turns a list of samples into a batch (default_collate); giving one disables the fast path.
        num_workers: 0 makes batches in the calling thread; k > 0 makes them on k threads, up to
            prefetch_factor * k batches ahead.
        generator: a nerve.Generator (or numpy Generator) for shuffling and augmentation; default: nerve's
            global generator. seed: shorthand for generator=nerve.Generator().manual_seed(seed).
        sampler: an iterable of indices to use instead of range/shuffle (per epoch: called if callable).

    Example::

        >>> import nerve
        >>> from nerve.data import DataLoader, TensorDataset
        >>> ds = TensorDataset(nerve.randn(100, 3), nerve.randint(0, 2, (100,)))
        >>> [tuple(x.shape) for x, y in DataLoader(ds, batch_size=40)]
        [(40, 3), (40, 3), (20, 3)]
    """

    def __init__(self, dataset, batch_size=1, shuffle=False, sampler=None, num_workers=0, collate_fn=None,
                 pin_memory=False, drop_last=False, timeout=0, worker_init_fn=None, *, generator=None, seed=None,
                 prefetch_factor=None, persistent_workers=False):
        if batch_size is not None and (not isinstance(batch_size, numbers.Integral) or isinstance(batch_size, bool)
                                       or batch_size < 1):
            raise ValueError(f"[DataLoader] batch_size should be a positive integer value, got {batch_size!r}")
        if not isinstance(num_workers, numbers.Integral) or num_workers < 0:
            raise ValueError(f"[DataLoader] num_workers option should be non-negative, got {num_workers!r}")
        if prefetch_factor is not None and num_workers == 0:
            raise ValueError("[DataLoader] prefetch_factor option could only be specified in multiprocessing: "
                             "let num_workers > 0 to enable it")
        if sampler is not None and shuffle:
            raise ValueError("[DataLoader] sampler option is mutually exclusive with shuffle")
        if generator is not None and seed is not None:
            raise ValueError("[DataLoader] give generator or seed, not both")
        if not hasattr(dataset, "__len__") or not hasattr(dataset, "__getitem__"):
            raise TypeError(f"[DataLoader] dataset must have __len__ and __getitem__, got {type(dataset).__name__}")
        self.dataset, self.batch_size, self.shuffle, self.drop_last = dataset, batch_size, bool(shuffle), drop_last
        self.sampler, self.num_workers, self.worker_init_fn = sampler, int(num_workers), worker_init_fn
        self.prefetch_factor = 2 if prefetch_factor is None else int(prefetch_factor)
        self.pin_memory, self.timeout, self.persistent_workers = pin_memory, timeout, persistent_workers
        self.collate_fn = collate_fn
        self.generator = Generator().manual_seed(seed) if seed is not None else generator

    def __len__(self):
        n = len(self.sampler) if self.sampler is not None and hasattr(self.sampler, "__len__") else len(self.dataset)
        if self.batch_size is None:
            return n
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _order(self, base):
        """This epoch's sample indices (an int64 array) or None for 0..n-1 in order."""
        if self.sampler is not None:
            s = self.sampler() if callable(self.sampler) else self.sampler
            return np.fromiter((int(i) for i in s), np.int64)
        if self.shuffle:
            return derived(base, 0).permutation(len(self.dataset))
        return None

    def _batches(self, order):
        n = len(order) if order is not None else len(self.dataset)
        bs = self.batch_size or 1
        stop = n - n % bs if self.drop_last else n
        for start in range(0, stop, bs):
            end = min(start + bs, n)
            yield order[start:end] if order is not None else np.arange(start, end)

    def _fetch(self, base, b, idx):
        fast = getattr(self.dataset, "get_batch", None) if self.collate_fn is None else None
        with batch_stream(derived(base, 1, b)):
            if self.batch_size is None:
                return self.dataset[int(idx[0])]
            if fast is not None:
                return fast(idx)
            return (self.collate_fn or default_collate)([self.dataset[int(i)] for i in idx])

    def __iter__(self):
        base = int(_gen(self.generator).integers(0, 2 ** 63 - 1))
        batches = self._batches(self._order(base))
        if self.num_workers == 0:
            for b, idx in enumerate(batches):
                yield self._fetch(base, b, idx)
            return
        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(self.num_workers, initializer=self._init_worker()) as pool:
            window = collections.deque()
            ahead = self.prefetch_factor * self.num_workers
            try:
                for b, idx in enumerate(batches):
                    window.append(pool.submit(self._fetch, base, b, idx))
                    if len(window) >= ahead:
                        yield window.popleft().result()
                while window:
                    yield window.popleft().result()
            finally:
                for f in window:
                    f.cancel()

    def _init_worker(self):
        if self.worker_init_fn is None:
            return None
        counter = iter(range(self.num_workers))
        return lambda: self.worker_init_fn(next(counter))

    def __repr__(self):
        return (f"DataLoader(dataset={type(self.dataset).__name__}({len(self.dataset)}), batch_size={self.batch_size}, "
                f"shuffle={self.shuffle}, drop_last={self.drop_last}, num_workers={self.num_workers})")
