"""Bundled dataset readers (files found locally; nothing is downloaded without checksums)."""
from .fashion_mnist import FashionMNIST, read_idx  # noqa: F401
from .digits import Digits  # noqa: F401
from .text import CharDataset, Shakespeare, TextFile  # noqa: F401
