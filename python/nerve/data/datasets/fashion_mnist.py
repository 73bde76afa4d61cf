"""fashion_mnist.py — Fashion-MNIST (Zalando, MIT): 70,000 28x28 grey images of 10 clothing classes.

Where the four IDX files are looked for, in order: `root=`, $NERVE_DATA, ~/.cache/nerve/fashion-mnist,
/usr/share/datasets/fashion-mnist (Debian: `apt-get install dataset-fashion-mnist`), and last the
upstream URLs (checked against their SHA-256) — offline that step fails with a message saying how to
get the files.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import struct
import tempfile
from pathlib import Path
from typing import Optional

import numpy as np

from ..dataset import ArrayDataset

CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
           "Ankle boot")
FILES = {
    (True, "images"): "train-images-idx3-ubyte.gz",
    (True, "labels"): "train-labels-idx1-ubyte.gz",
    (False, "images"): "t10k-images-idx3-ubyte.gz",
    (False, "labels"): "t10k-labels-idx1-ubyte.gz",
}
# SHA-256 of the decompressed IDX payloads (a re-gzipped copy still matches), measured on the files of
# Debian's dataset-fashion-mnist (2020-06-05 release of the upstream data).
SHA256 = {
    "train-images-idx3-ubyte.gz": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte.gz": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte.gz": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte.gz": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}
URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
DEBIAN_DIR = "/usr/share/datasets/fashion-mnist"

_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def _read_bytes(path: Path) -> bytes:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            return f.read()
    except (OSError, EOFError) as e:
        raise ValueError(f"[read_idx] {path} is not a readable IDX file: {e}") from None


def read_idx(path, sha256: Optional[str] = None) -> np.ndarray:
    """Reads an IDX file (optionally gzipped) into a numpy array; raises ValueError if it is corrupt
    or, when `sha256` is given, if the decompressed bytes do not have that SHA-256."""
    path = Path(path)
    data = _read_bytes(path)
    if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
        raise ValueError(f"[read_idx] {path} does not match its published SHA-256: the file is corrupt or not "
                         f"the file it is named after")
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _DTYPES:
        raise ValueError(f"[read_idx] {path} has a bad IDX header (magic {data[:4].hex() if data else 'empty'})")
    ndim = data[3]
    if len(data) < 4 + 4 * ndim:
        raise ValueError(f"[read_idx] {path} is truncated inside its header")
    shape = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    dt = np.dtype(_DTYPES[data[2]])
    need = int(np.prod(shape)) * dt.itemsize
    body = data[4 + 4 * ndim:]
    if len(body) != need:
        raise ValueError(f"[read_idx] {path} holds {len(body)} bytes of data, its header promises {need} "
                         f"(shape {shape}): the file is truncated or corrupt")
    return np.frombuffer(body, dt).reshape(shape).astype(dt.newbyteorder("="), copy=True)


def _candidates(root: Optional[str]):
    if root is not None:
        yield Path(root)
        return
    if os.environ.get("NERVE_DATA"):
        yield Path(os.environ["NERVE_DATA"]) / "fashion-mnist"
        yield Path(os.environ["NERVE_DATA"])
    yield Path.home() / ".cache" / "nerve" / "fashion-mnist"
    yield Path(DEBIAN_DIR)


def _download(name: str, dest_dir: Path) -> Path:
    import urllib.request  # only here: it costs 20 ms of import time
    dest_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest_dir, suffix=".part.gz")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(URL + name, timeout=30) as r:
            out.write(r.read())
        if hashlib.sha256(_read_bytes(Path(tmp))).hexdigest() != SHA256[name]:
            raise ValueError(f"checksum mismatch for downloaded {name}")
        os.replace(tmp, dest_dir / name)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return dest_dir / name


def find_file(name: str, root: Optional[str] = None, download: bool = True) -> Path:
    tried = []
    for d in _candidates(root):
        p = d / name
        tried.append(str(d))
        if p.exists():
            return p
    if download and root is None:
        try:
            return _download(name, Path.home() / ".cache" / "nerve" / "fashion-mnist")
        except Exception as e:  # offline, blocked, or bad checksum
            reason = f"; download failed ({e})"
    else:
        reason = ""
    raise FileNotFoundError(
        f"[FashionMNIST] {name} not found in {', '.join(tried)}{reason}. Install the Debian package "
        f"(`apt-get install dataset-fashion-mnist`, files land in {DEBIAN_DIR}), or pass root= a folder "
        f"holding the four IDX .gz files, or set NERVE_DATA.")


class FashionMNIST(ArrayDataset):
    """Fashion-MNIST as (image, label) pairs: images float32 (1, 28, 28) in [0, 1], labels int64.

    Args: root (folder with the .gz files, or None to search), train (60k split, else the 10k test
    split), transform (applied to each image tensor), target_transform, download (try the upstream
    URLs when no local copy exists).
    The whole split is also available as tensors: `.data` (N, 1, 28, 28) float32 and `.targets` (N,);
    a DataLoader fetches batches with one gather and applies batched transforms to whole batches.
    """

    classes = CLASSES

    def __init__(self, root: Optional[str] = None, train: bool = True, transform=None, target_transform=None,
                 download: bool = True, verify: bool = True):
        from ...creation import from_numpy
        img_name, lbl_name = FILES[(train, "images")], FILES[(train, "labels")]
        img_path = find_file(img_name, root, download)
        lbl_path = find_file(lbl_name, root, download)
        images = read_idx(img_path, SHA256[img_name] if verify else None)
        labels = read_idx(lbl_path, SHA256[lbl_name] if verify else None)
        if images.ndim != 3 or labels.ndim != 1:
            raise ValueError(f"[FashionMNIST] expected images (N, 28, 28) and labels (N,), got {images.shape} and "
                             f"{labels.shape}")
        if len(images) != len(labels):
            raise ValueError(f"[FashionMNIST] {len(images)} images but {len(labels)} labels")
        if labels.size and labels.max() >= len(CLASSES):
            raise ValueError(f"[FashionMNIST] label {int(labels.max())} is outside the 10 classes")
        self.data = from_numpy((images.astype(np.float32) / 255.0)[:, None])
        self.targets = from_numpy(labels.astype(np.int64))
        self.transform, self.target_transform = transform, target_transform
        self.train = train
