"""dataset.py — Dataset (anything with __getitem__ and __len__) and TensorDataset."""
from __future__ import annotations


class Dataset:
    """Map-style dataset: subclasses implement __getitem__(i) and __len__()."""

    def __getitem__(self, index):
        raise NotImplementedError

    def __len__(self) -> int:
        raise NotImplementedError


class TensorDataset(Dataset):
    """Samples are the i-th rows of each tensor (torch.utils.data.TensorDataset)."""

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("[TensorDataset] needs at least one tensor")
        n = len(tensors[0])
        for i, t in enumerate(tensors):
            if len(t) != n:
                raise ValueError(f"[TensorDataset] size mismatch between tensors: tensor 0 has {n} rows, "
                                 f"tensor {i} has {len(t)}")
        self.tensors = tensors

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)

    def __len__(self) -> int:
        return len(self.tensors[0])
