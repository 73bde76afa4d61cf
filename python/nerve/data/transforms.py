"""transforms.py — image transforms and augmentation (torchvision.transforms' names and defaults).

Every transform takes one image (C, H, W) or a batch (N, C, H, W), as a nerve Tensor or a numpy
array, and returns the same kind. On a batch each image still gets its own random draw (its own
crop offset, flip, erased box), computed for the whole batch at once with numpy: the DataLoader
applies the transforms of in-memory datasets to whole batches (see Dataset.get_batch), so an
augmented Fashion-MNIST epoch costs a fraction of a second.

Randomness comes from sampling.rng(): the stream the DataLoader set for the current batch, else
nerve's global generator (nerve.manual_seed), unless a transform is given its own generator.

    >>> import nerve
    >>> from nerve.data import transforms as T
    >>> aug = T.Compose([T.RandomCrop(28, padding=2), T.RandomHorizontalFlip(), T.Normalize(0.286, 0.353)])
    >>> aug(nerve.rand(64, 1, 28, 28)).shape
    nerve.Size([64, 1, 28, 28])
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from ..tensor import Tensor
from .sampling import rng


def _unwrap(x, op):
    """(array, rewrap) where rewrap turns a result array back into the input's kind."""
    if isinstance(x, Tensor):
        return x._data, lambda a: Tensor._make(a, False, None, 0)
    if isinstance(x, np.ndarray):
        return x, lambda a: a
    raise TypeError(f"[{op}] expected a nerve Tensor or a numpy array, got {type(x).__name__}")


def _image_dims(a, op):
    """True for a batch (N, C, H, W), False for one image (C, H, W)."""
    if a.ndim == 4:
        return True
    if a.ndim == 3:
        return False
    raise ValueError(f"[{op}] expected an image (C, H, W) or a batch (N, C, H, W), got shape {a.shape}")


def _pair(v, name, op):
    if isinstance(v, numbers.Integral) and not isinstance(v, bool):
        return int(v), int(v)
    if isinstance(v, (tuple, list)) and len(v) == 2 and all(isinstance(i, numbers.Integral) for i in v):
        return int(v[0]), int(v[1])
    raise ValueError(f"[{op}] {name} must be an int or a pair of ints, got {v!r}")


class Transform:
    """Base class: `batched` says the transform accepts (N, C, H, W) batches with per-image draws."""

    batched = True

    def __call__(self, x):
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}({self.extra_repr()})"

    def extra_repr(self) -> str:
        return ""


class Compose(Transform):
    """Applies transforms in order (torchvision.transforms.Compose)."""

    def __init__(self, transforms):
        self.transforms = list(transforms)

    @property
    def batched(self):
        return all(getattr(t, "batched", False) for t in self.transforms)

    def __call__(self, x):
        for t in self.transforms:
            x = t(x)
        return x

    def __repr__(self):
        return "Compose(\n" + "".join(f"    {t!r}\n" for t in self.transforms) + ")"


class Lambda(Transform):
    """Wraps a function; say batched=True when it handles (N, C, H, W) batches itself."""

    def __init__(self, fn, batched: bool = False):
        if not callable(fn):
            raise TypeError(f"[Lambda] expected a callable, got {type(fn).__name__}")
        self.fn, self.batched = fn, batched

    def __call__(self, x):
        return self.fn(x)


class ToTensor(Transform):
    """uint8 images (H, W), (H, W, C) or batches (N, H, W, C) -> float32 Tensors (C, H, W) in [0, 1].

    Float arrays are only moved to channels-first (not rescaled); PIL images go through numpy.
    A (N, H, W) uint8 array counts as a batch of single-channel images only via ToTensor(batch=True).
    """

    def __init__(self, batch: bool = False):
        self.batch = batch

    def __call__(self, pic):
        if isinstance(pic, Tensor):
            a = pic.__array__()
        else:
            a = np.asarray(pic)
        if self.batch:
            if a.ndim == 3:
                a = a[..., None]
            if a.ndim != 4:
                raise ValueError(f"[ToTensor] expected a batch (N, H, W) or (N, H, W, C), got shape {a.shape}")
            a = a.transpose(0, 3, 1, 2)
        else:
            if a.ndim == 2:
                a = a[..., None]
            if a.ndim != 3:
                raise ValueError(f"[ToTensor] expected an image (H, W) or (H, W, C), got shape {a.shape}")
            a = a.transpose(2, 0, 1)
        if a.dtype == np.uint8:
            a = a.astype(np.float32) / np.float32(255)
        elif a.dtype.kind in "iub":
            a = a.astype(np.float32)
        return Tensor._make(np.ascontiguousarray(a), False, None, 0)


class Normalize(Transform):
    """(x - mean) / std per channel (torchvision.transforms.Normalize); mean/std: a number or one per channel."""

    def __init__(self, mean, std, inplace: bool = False):
        self.mean = np.atleast_1d(np.asarray(mean, np.float64))
        self.std = np.atleast_1d(np.asarray(std, np.float64))
        if self.mean.ndim != 1 or self.std.ndim != 1:
            raise ValueError("[Normalize] mean and std must be numbers or sequences of numbers")
        if np.any(self.std == 0):
            raise ValueError(f"[Normalize] std evaluated to zero after conversion to float64, leading to division "
                             f"by zero (std={std!r})")
        self.inplace = inplace

    def __call__(self, x):
        a, wrap = _unwrap(x, "Normalize")
        _image_dims(a, "Normalize")
        c = a.shape[-3]
        if len(self.mean) not in (1, c) or len(self.std) not in (1, c):
            raise ValueError(f"[Normalize] image has {c} channels but mean has {len(self.mean)} and std "
                             f"{len(self.std)} values")
        dt = a.dtype if a.dtype.kind == "f" else np.float32
        mean = self.mean.astype(dt).reshape(-1, 1, 1)
        inv = (1 / self.std).astype(dt).reshape(-1, 1, 1)
        if self.inplace and a.dtype.kind == "f":
            a -= mean
            a *= inv
            return x
        return wrap((a - mean) * inv)

    def extra_repr(self):
        return f"mean={self.mean.tolist()}, std={self.std.tolist()}"


_PAD_MODES = {"constant": "constant", "edge": "edge", "reflect": "reflect", "symmetric": "symmetric"}


class RandomCrop(Transform):
    """Crops a random size[0] x size[1] window, after optional padding (torchvision.transforms.RandomCrop).

    Args: size, padding (int, (left/right, top/bottom) or (left, top, right, bottom)), pad_if_needed,
    fill, padding_mode ('constant', 'edge', 'reflect', 'symmetric'), generator.
    """

    def __init__(self, size, padding=None, pad_if_needed: bool = False, fill=0, padding_mode: str = "constant",
                 generator=None):
        self.size = _pair(size, "size", "RandomCrop")
        if padding is None:
            padding = 0
        if isinstance(padding, numbers.Integral):
            padding = (padding,) * 4
        elif len(padding) == 2:
            padding = (padding[0], padding[1], padding[0], padding[1])
        elif len(padding) != 4:
            raise ValueError(f"[RandomCrop] padding must be an int or a sequence of 2 or 4 ints, got {padding!r}")
        if min(padding) < 0:
            raise ValueError(f"[RandomCrop] padding must be non-negative, got {padding!r}")
        if padding_mode not in _PAD_MODES:
            raise ValueError(f"[RandomCrop] padding_mode must be one of {sorted(_PAD_MODES)}, got {padding_mode!r}")
        self.padding = tuple(int(p) for p in padding)  # left, top, right, bottom
        self.pad_if_needed, self.fill, self.padding_mode = pad_if_needed, fill, padding_mode
        self.generator = generator

    def _pad(self, a):
        left, top, right, bottom = self.padding
        h, w = a.shape[-2] + top + bottom, a.shape[-1] + left + right
        if self.pad_if_needed:
            extra_h, extra_w = max(0, self.size[0] - h), max(0, self.size[1] - w)
            top, bottom, left, right = top + extra_h, bottom + extra_h, left + extra_w, right + extra_w
        if not (left or top or right or bottom):
            return a
        widths = [(0, 0)] * (a.ndim - 2) + [(top, bottom), (left, right)]
        if self.padding_mode == "constant":
            return np.pad(a, widths, mode="constant", constant_values=self.fill)
        return np.pad(a, widths, mode=_PAD_MODES[self.padding_mode])

    def __call__(self, x):
        a, wrap = _unwrap(x, "RandomCrop")
        batch = _image_dims(a, "RandomCrop")
        a = self._pad(a)
        H, W = a.shape[-2:]
        h, w = self.size
        if h > H or w > W:
            raise ValueError(f"[RandomCrop] crop size {self.size} is larger than the (padded) image {H}x{W}")
        g = rng(self.generator)
        if not batch:
            i, j = int(g.integers(0, H - h + 1)), int(g.integers(0, W - w + 1))
            return wrap(np.ascontiguousarray(a[:, i:i + h, j:j + w]))
        n = a.shape[0]
        tops, lefts = g.integers(0, H - h + 1, n), g.integers(0, W - w + 1, n)
        # windows[n, c, i, j] is the h x w crop at (i, j): one gather of N crops, whole rows at a time
        windows = np.lib.stride_tricks.sliding_window_view(a, (h, w), axis=(2, 3))
        return wrap(np.ascontiguousarray(windows[np.arange(n), :, tops, lefts]))

    def extra_repr(self):
        return f"size={self.size}, padding={self.padding}"


class RandomHorizontalFlip(Transform):
    """Mirrors each image left-right with probability p (torchvision.transforms.RandomHorizontalFlip)."""

    axis = -1

    def __init__(self, p: float = 0.5, generator=None):
        if not 0 <= p <= 1:
            raise ValueError(f"[{type(self).__name__}] p must be in [0, 1], got {p}")
        self.p, self.generator = p, generator

    def __call__(self, x):
        a, wrap = _unwrap(x, type(self).__name__)
        batch = _image_dims(a, type(self).__name__)
        g = rng(self.generator)
        if not batch:
            return wrap(np.flip(a, self.axis).copy()) if g.random() < self.p else x
        flip = g.random(a.shape[0]) < self.p
        out = a.copy()
        out[flip] = np.flip(a[flip], self.axis)
        return wrap(out)

    def extra_repr(self):
        return f"p={self.p}"


class RandomVerticalFlip(RandomHorizontalFlip):
    """Mirrors each image top-bottom with probability p (torchvision.transforms.RandomVerticalFlip)."""

    axis = -2


class RandomErasing(Transform):
    """Erases a random rectangle of each image with probability p (Zhong et al. 2017; torchvision's
    RandomErasing, which expects normalised tensors).

    Args: p, scale (range of the erased area's fraction), ratio (range of its aspect ratio, drawn
    log-uniformly), value (a number, one per channel, or 'random' for standard-normal noise),
    inplace, generator. Like torchvision, up to 10 boxes are drawn per image and the first that fits
    is used; if none fits the image is left as it is.
    """

    def __init__(self, p: float = 0.5, scale=(0.02, 0.33), ratio=(0.3, 3.3), value=0, inplace: bool = False,
                 generator=None):
        if not 0 <= p <= 1:
            raise ValueError(f"[RandomErasing] p must be in [0, 1], got {p}")
        if scale[0] > scale[1] or ratio[0] > ratio[1]:
            raise ValueError(f"[RandomErasing] scale and ratio must be (min, max) ranges, got {scale}, {ratio}")
        if scale[0] < 0 or scale[1] > 1:
            raise ValueError(f"[RandomErasing] scale must lie in [0, 1], got {scale}")
        if isinstance(value, str) and value != "random":
            raise ValueError(f"[RandomErasing] value must be a number, a sequence or 'random', got {value!r}")
        self.p, self.scale, self.ratio, self.value = p, tuple(scale), tuple(ratio), value
        self.inplace, self.generator = inplace, generator

    def _boxes(self, g, n, H, W):
        """(apply, top, left, h, w), each (n,): torchvision's 10 tries, vectorised, first fitting one kept."""
        tries = 10
        area = H * W * g.uniform(self.scale[0], self.scale[1], (n, tries))
        aspect = np.exp(g.uniform(math.log(self.ratio[0]), math.log(self.ratio[1]), (n, tries)))
        h = np.rint(np.sqrt(area * aspect)).astype(np.int64)
        w = np.rint(np.sqrt(area / aspect)).astype(np.int64)
        fits = (h < H) & (w < W) & (h > 0) & (w > 0)
        first = fits.argmax(1)
        rows = np.arange(n)
        h, w, ok = h[rows, first], w[rows, first], fits[rows, first]
        top = (g.random(n) * (H - h + 1)).astype(np.int64)
        left = (g.random(n) * (W - w + 1)).astype(np.int64)
        apply = (g.random(n) < self.p) & ok
        return apply, top, left, h, w

    def __call__(self, x):
        a, wrap = _unwrap(x, "RandomErasing")
        batch = _image_dims(a, "RandomErasing")
        b = a if batch else a[None]
        n, c, H, W = b.shape
        g = rng(self.generator)
        apply, top, left, h, w = self._boxes(g, n, H, W)
        if not apply.any():
            return x
        r, col = np.arange(H), np.arange(W)
        in_rows = (r >= top[:, None]) & (r < (top + h)[:, None])          # (n, H)
        in_cols = (col >= left[:, None]) & (col < (left + w)[:, None])    # (n, W)
        mask = (in_rows[:, :, None] & in_cols[:, None, :] & apply[:, None, None])[:, None]  # (n, 1, H, W)
        if isinstance(self.value, str):
            fill = g.standard_normal(b.shape).astype(b.dtype)
        else:
            v = np.atleast_1d(np.asarray(self.value, b.dtype))
            if len(v) not in (1, c):
                raise ValueError(f"[RandomErasing] value has {len(v)} entries for {c} channels")
            fill = v.reshape(1, -1, 1, 1)
        if self.inplace:
            np.copyto(b, np.broadcast_to(fill, b.shape), where=np.broadcast_to(mask, b.shape))
            return x
        out = np.where(mask, fill, b).astype(b.dtype, copy=False)
        return wrap(out if batch else out[0])

    def extra_repr(self):
        return f"p={self.p}, scale={self.scale}, ratio={self.ratio}, value={self.value!r}"


class GaussianNoise(Transform):
    """Adds N(mean, sigma^2) noise to every pixel, then clips to [0, 1] when clip
    (torchvision.transforms.v2.GaussianNoise)."""

    def __init__(self, mean: float = 0.0, sigma: float = 0.1, clip: bool = True, generator=None):
        if sigma < 0:
            raise ValueError(f"[GaussianNoise] sigma should be non-negative, got {sigma}")
        self.mean, self.sigma, self.clip, self.generator = mean, sigma, clip, generator

    def __call__(self, x):
        a, wrap = _unwrap(x, "GaussianNoise")
        if a.dtype.kind != "f":
            raise TypeError(f"[GaussianNoise] expected a float image, got dtype {a.dtype}")
        noise = rng(self.generator).standard_normal(a.shape, dtype=a.dtype if a.dtype in (np.float32, np.float64)
                                                    else np.float32)
        out = a + (noise * a.dtype.type(self.sigma) + a.dtype.type(self.mean))
        if self.clip:
            np.clip(out, 0, 1, out=out)
        return wrap(out.astype(a.dtype, copy=False))

    def extra_repr(self):
        return f"mean={self.mean}, sigma={self.sigma}, clip={self.clip}"
