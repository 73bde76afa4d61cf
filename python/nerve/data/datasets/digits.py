"""digits.py — scikit-learn's bundled handwritten digits (1,797 8x8 grey images, 10 classes, from the UCI
optdigits test set), as an in-memory dataset. Needs scikit-learn; nothing is downloaded.
"""
from __future__ import annotations

import importlib.util
import os
from typing import Optional

import numpy as np

from ..dataset import ArrayDataset


def _load() -> np.ndarray:
    """The (1797, 65) table of sklearn/datasets/data/digits.csv.gz (64 pixels 0..16, then the label), read
    straight from scikit-learn's folder: importing sklearn itself takes seconds."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or spec.origin is None:
        raise ImportError("[Digits] needs scikit-learn (`pip install scikit-learn`), which bundles the digits data")
    path = os.path.join(os.path.dirname(spec.origin), "datasets", "data", "digits.csv.gz")
    if os.path.exists(path):
        return np.loadtxt(path, delimiter=",", dtype=np.float64)
    from sklearn.datasets import load_digits  # a layout we do not know: ask sklearn
    bunch = load_digits()
    return np.concatenate([bunch.data, bunch.target[:, None]], 1)


class Digits(ArrayDataset):
    """scikit-learn's load_digits as (image, label) pairs: images float32 (1, 8, 8) in [0, 1], labels int64.

    Args: train (True: the training part, False: the held-out part, None: all 1,797 images),
    test_fraction (size of the held-out part), split_seed (the fixed shuffle that makes the split),
    transform, target_transform.
    """

    classes = tuple(str(i) for i in range(10))

    def __init__(self, train: Optional[bool] = True, transform=None, target_transform=None,
                 test_fraction: float = 0.2, split_seed: int = 0):
        from ...creation import from_numpy
        if not 0 < test_fraction < 1:
            raise ValueError(f"[Digits] test_fraction must lie in (0, 1), got {test_fraction}")
        table = _load()
        images = (table[:, :64].reshape(-1, 8, 8) / 16).astype(np.float32)
        labels = table[:, 64].astype(np.int64)
        if train is not None:
            order = np.random.default_rng(split_seed).permutation(len(labels))
            n_test = int(round(len(labels) * test_fraction))
            keep = order[n_test:] if train else order[:n_test]
            images, labels = images[keep], labels[keep]
        self.data = from_numpy(np.ascontiguousarray(images[:, None]))
        self.targets = from_numpy(labels)
        self.transform, self.target_transform = transform, target_transform
        self.train = train
