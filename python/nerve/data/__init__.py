"""nerve.data — datasets, loaders and transforms, shaped like torch.utils.data and torchvision."""
from .dataset import Dataset, TensorDataset  # noqa: F401
from . import datasets  # noqa: F401
