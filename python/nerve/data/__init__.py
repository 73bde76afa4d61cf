"""nerve.data — datasets, loaders and transforms, shaped like torch.utils.data and torchvision."""
from .dataset import Dataset, TensorDataset, ArrayDataset, ConcatDataset  # noqa: F401
from .loader import DataLoader, Subset, default_collate, random_split  # noqa: F401
from . import datasets, transforms  # noqa: F401
