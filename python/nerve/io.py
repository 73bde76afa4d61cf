"""io.py — nerve.save / nerve.load: state dicts and checkpoints as safetensors files.

    nerve.save(model.state_dict(), "model.safetensors")
    model.load_state_dict(nerve.load("model.safetensors"))
    nerve.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 3}, "ckpt.safetensors")

What a file holds: every tensor as a safetensors tensor, and the rest of the object — dicts, lists,
tuples, numbers, strings, None — as JSON in the file's metadata (key "nerve"), each tensor replaced
by a reference to its name. A flat {name: Tensor} dict (a model state dict) stores its tensors
under their own names, so the file opens with `safetensors.torch.load_file` and loads into the
same-shaped torch model; nested objects name their tensors by dotted paths ("optimizer.state.0.
exp_avg"). Loading parses JSON and reads raw tensor bytes: it never runs code (no pickle). A file
without nerve's metadata (written by safetensors.torch.save_file, say) loads as {name: Tensor}.

Writes are atomic: the file is written to a temporary name in the same directory, flushed to disk
(fsync) and renamed over the target (os.replace), so a crash mid-write leaves the old file intact.
"""
from __future__ import annotations

import json
import math
import os
import uuid
from collections import OrderedDict
from typing import Any, Dict

import numpy as np

from .tensor import Tensor

_META_KEY = "nerve"
_VERSION = 1
# Tags of the JSON encoding (objects JSON has no literal for).
_T_TENSOR, _T_ARRAY, _T_TUPLE, _T_DICT, _T_FLOAT = "__tensor__", "__ndarray__", "__tuple__", "__dict__", "__float__"


def _safetensors():
    try:
        import safetensors
        import safetensors.numpy
    except ImportError as e:  # pragma: no cover - a dependency of nerve
        raise ImportError("[save] nerve.save/nerve.load need the `safetensors` package (pip install safetensors)") \
            from e
    return safetensors


def _contiguous(a: np.ndarray) -> np.ndarray:
    return a if a.flags.c_contiguous else np.array(a, order="C")  # (ascontiguousarray makes 0-d arrays 1-d)


def _is_array(v) -> bool:
    return isinstance(v, (Tensor, np.ndarray)) or hasattr(v, "__cuda_array_interface__") or \
        (type(v).__module__.startswith("torch") and hasattr(v, "detach") and hasattr(v, "numpy"))


def _host_array(v):
    """(numpy array, kind) for a tensor-like value, or None."""
    if isinstance(v, Tensor):
        return _contiguous(v.__array__()), _T_TENSOR
    if isinstance(v, np.ndarray):
        return _contiguous(v), _T_ARRAY
    if type(v).__module__.startswith("torch") and hasattr(v, "detach") and hasattr(v, "numpy"):
        return _contiguous(v.detach().cpu().numpy()), _T_TENSOR
    if hasattr(v, "__cuda_array_interface__") and hasattr(v, "get"):  # cupy
        return _contiguous(v.get()), _T_ARRAY
    return None


class _Encoder:
    def __init__(self):
        self.tensors: Dict[str, np.ndarray] = {}

    def name(self, path) -> str:
        base = ".".join(path) if path else "tensor"
        name, n = base, 1
        while name in self.tensors:
            name, n = f"{base}#{n}", n + 1
        return name

    def encode(self, v, path):
        arr = _host_array(v)
        if arr is not None:
            a, kind = arr
            if a.dtype == object or a.dtype.kind not in "biuf":
                raise TypeError(f"[save] cannot store the array at {'.'.join(path) or '<root>'} with dtype {a.dtype}")
            name = self.name(path)
            self.tensors[name] = a
            return {kind: name}
        if v is None or isinstance(v, (bool, str)):
            return v
        if isinstance(v, (int, np.integer)):
            return int(v)
        if isinstance(v, (float, np.floating)):
            v = float(v)
            return v if math.isfinite(v) else {_T_FLOAT: repr(v)}  # "inf", "-inf", "nan"
        if isinstance(v, tuple):
            return {_T_TUPLE: [self.encode(x, path + [str(i)]) for i, x in enumerate(v)]}
        if isinstance(v, list):
            return [self.encode(x, path + [str(i)]) for i, x in enumerate(v)]
        if isinstance(v, dict):
            items = []
            for k, x in v.items():
                if not (k is None or isinstance(k, (str, int, float, bool, tuple))):
                    raise TypeError(f"[save] cannot store a dict key of type {type(k).__name__} at "
                                    f"{'.'.join(path) or '<root>'}")
                items.append([self.encode(k, path), self.encode(x, path + [str(k)])])
            return {_T_DICT: items}
        raise TypeError(f"[save] cannot store a {type(v).__name__} at {'.'.join(path) or '<root>'}: only tensors, "
                        "arrays, numbers, strings, None, lists, tuples and dicts can be saved (no code is ever stored)")


def save(obj: Any, path) -> None:
    """Writes obj (a state dict, an optimizer state dict, or a checkpoint dict of those and
    scalars) to path as a safetensors file, atomically.

    Tensors (nerve, numpy, torch or cupy; CUDA ones are copied to the host) become safetensors
    tensors; everything else must be None, bool, int, float, str, list, tuple or dict.

    Example::

        >>> import nerve, tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "w.safetensors")
        >>> nerve.save({"weight": nerve.ones(2, 3)}, path)
        >>> nerve.load(path)["weight"].shape
        nerve.Size([2, 3])
    """
    st = _safetensors()
    enc = _Encoder()
    if isinstance(obj, dict) and obj and all(isinstance(k, str) for k in obj) and \
            all(_is_array(v) for v in obj.values()):
        # A flat state dict: tensors under their own names (what torch's load_file expects).
        structure = {_T_DICT: [[k, enc.encode(v, [k])] for k, v in obj.items()]}
    else:
        structure = enc.encode(obj, [])
    meta = {"format": "pt", _META_KEY: json.dumps({"version": _VERSION, "object": structure}, allow_nan=False)}
    path = os.fspath(path)
    if os.path.isdir(path):
        raise IsADirectoryError(f"[save] {path} is a directory")
    folder = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(folder, f".{os.path.basename(path)}.{uuid.uuid4().hex}.tmp")
    try:
        _write(st, enc.tensors, tmp, meta)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:  # the rename itself reaches the disk with the directory
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass


def _write(st, tensors, tmp, meta) -> None:
    st.numpy.save_file(tensors, tmp, metadata=meta)


class _Decoder:
    def __init__(self, handle, path):
        self.f, self.path = handle, path
        self.names = set(handle.keys())

    def tensor(self, name, kind):
        if not isinstance(name, str) or name not in self.names:
            raise ValueError(f"[load] {self.path}: the metadata refers to a tensor {name!r} the file does not hold")
        a = self.f.get_tensor(name)
        if not a.flags.writeable:
            a = a.copy()
        return Tensor._make(a, False, None, 0) if kind == _T_TENSOR else a

    def decode(self, v):
        if isinstance(v, list):
            return [self.decode(x) for x in v]
        if isinstance(v, dict):
            if len(v) != 1:
                raise ValueError(f"[load] {self.path}: malformed metadata (an object with keys {sorted(v)})")
            (tag, x), = v.items()
            if tag in (_T_TENSOR, _T_ARRAY):
                return self.tensor(x, tag)
            if tag == _T_TUPLE:
                return tuple(self.decode(y) for y in x)
            if tag == _T_DICT:
                return OrderedDict((_key(self.decode(k)), self.decode(y)) for k, y in x)
            if tag == _T_FLOAT:
                return float(x)
            raise ValueError(f"[load] {self.path}: malformed metadata (unknown tag {tag!r})")
        return v


def _key(k):
    return tuple(k) if isinstance(k, list) else k


def load(path, device=None) -> Any:
    """Reads what nerve.save wrote (tensors come back as nerve Tensors, numpy arrays as arrays);
    a safetensors file from elsewhere loads as an ordered {name: Tensor} dict.

    device: move the tensors there (e.g. "cuda"); default: the CPU.
    """
    st = _safetensors()
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"[load] no such file: {path}")
    try:
        handle = st.safe_open(path, framework="np")
    except Exception as e:  # SafetensorError: not a safetensors file, or a truncated one
        raise ValueError(f"[load] {path} is not a valid safetensors file ({e})") from None
    with handle as f:
        meta = f.metadata() or {}
        dec = _Decoder(f, path)
        if _META_KEY in meta:
            try:
                doc = json.loads(meta[_META_KEY])
            except ValueError as e:
                raise ValueError(f"[load] {path}: nerve metadata is not valid JSON ({e})") from None
            if not isinstance(doc, dict) or "object" not in doc:
                raise ValueError(f"[load] {path}: malformed nerve metadata")
            if doc.get("version", 0) > _VERSION:
                raise ValueError(f"[load] {path} was written by a newer nerve (format {doc['version']}, this one "
                                 f"reads {_VERSION})")
            obj = dec.decode(doc["object"])
        else:
            obj = OrderedDict((k, dec.tensor(k, _T_TENSOR)) for k in f.keys())
    return _to_device(obj, device) if device is not None else obj


def _to_device(v, device):
    if isinstance(v, Tensor):
        return v.to(device)
    if isinstance(v, dict):
        return type(v)((k, _to_device(x, device)) for k, x in v.items())
    if isinstance(v, (list, tuple)):
        return type(v)(_to_device(x, device) for x in v)
    return v
