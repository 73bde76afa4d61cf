"""dataset.py — Dataset (anything with __getitem__ and __len__), TensorDataset, and ArrayDataset, the
base of in-memory datasets (FashionMNIST, Digits).

`get_batch(indices)` is the batched fast path the DataLoader takes when a dataset defines it: one
gather per tensor and, for ArrayDataset, the transform applied to the whole batch when it can be
(transform.batched, as every nerve.data.transforms transform is), else image by image.
"""
from __future__ import annotations

import numpy as np

from ..tensor import Tensor


def _array(t):
    return t._data if isinstance(t, Tensor) else np.asarray(t)


def _wrap(a):
    return Tensor._make(a, False, None, 0)


def _take(a, idx):
    if isinstance(idx, np.ndarray) and type(a) is np.ndarray:
        return np.take(a, idx, axis=0)
    return a[idx]


class Dataset:
    """Map-style dataset: subclasses implement __getitem__(i) and __len__()."""

    def __getitem__(self, index):
        raise NotImplementedError

    def __len__(self) -> int:
        raise NotImplementedError

    def __add__(self, other):
        return ConcatDataset([self, other])


class TensorDataset(Dataset):
    """Samples are the i-th rows of each tensor (torch.utils.data.TensorDataset).

    Tensors may be nerve Tensors or numpy arrays; batches come back as nerve Tensors.
    """

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("[TensorDataset] needs at least one tensor")
        n = len(tensors[0])
        for i, t in enumerate(tensors):
            if len(t) != n:
                raise ValueError(f"[TensorDataset] size mismatch between tensors: tensor 0 has {n} rows, "
                                 f"tensor {i} has {len(t)}")
        self.tensors = tensors
        self._arrays = tuple(_array(t) for t in tensors)

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)

    def __len__(self) -> int:
        return len(self.tensors[0])

    def get_batch(self, indices):
        return tuple(_wrap(_take(a, indices)) for a in self._arrays)


class ArrayDataset(Dataset):
    """(input, target) pairs held as two arrays in memory, with optional transforms.

    Subclasses set `self.data` (N, ...) and `self.targets` (N,) as nerve Tensors, and
    `self.transform` / `self.target_transform` (or None).
    """

    transform = None
    target_transform = None

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i):
        x, y = self.data[i], self.targets[i]
        if self.transform is not None:
            x = self.transform(x)
        if self.target_transform is not None:
            y = self.target_transform(y)
        return x, y

    def get_batch(self, indices):
        x = _wrap(_take(self.data._data, indices))
        y = _wrap(_take(self.targets._data, indices))
        if self.transform is not None:
            if getattr(self.transform, "batched", False):
                x = self.transform(x)
            else:
                x = _wrap(np.stack([_array(self.transform(_wrap(xi))) for xi in x._data]))
        if self.target_transform is not None:
            y = _wrap(np.stack([_array(self.target_transform(_wrap(yi))) for yi in y._data]))
        return x, y


class ConcatDataset(Dataset):
    """The samples of several datasets one after another (torch.utils.data.ConcatDataset)."""

    def __init__(self, datasets):
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("[ConcatDataset] datasets should not be an empty iterable")
        self.cumulative_sizes = np.cumsum([len(d) for d in self.datasets]).tolist()

    def __len__(self):
        return self.cumulative_sizes[-1]

    def __getitem__(self, i):
        if i < 0:
            if -i > len(self):
                raise IndexError(f"[ConcatDataset] index {i} out of range for {len(self)} samples")
            i += len(self)
        d = int(np.searchsorted(self.cumulative_sizes, i, side="right"))
        if d >= len(self.datasets):
            raise IndexError(f"[ConcatDataset] index {i} out of range for {len(self)} samples")
        return self.datasets[d][i - (self.cumulative_sizes[d - 1] if d else 0)]
