"""tensor.py — nerve.Tensor: an array (numpy on the CPU, cupy on CUDA) plus autograd state.

Semantics and names follow torch.Tensor. Ops are Functions (functional.py, nerve/ops/) so every
method records the graph when an input requires grad. A Tensor owns no memory management of its
own: storage, views and broadcasting are the array library's; views made through nerve share the
version counter of their base, so an in-place write is seen by every saved copy of the storage.
"""
from __future__ import annotations

import numbers
from collections import namedtuple

import numpy as np

from . import dtypes
from . import functional as F
from .autograd import Function, RemovableHandle, _state, backward as _backward
from .backend import device_of

_ndarray = np.ndarray
_generic = np.generic
_new = object.__new__

values_indices = namedtuple("values_indices", ["values", "indices"])


class Size(tuple):
    """The shape of a tensor: a tuple that prints like torch.Size."""

    def __repr__(self):
        return f"nerve.Size({list(self)})"

    def numel(self) -> int:
        n = 1
        for s in self:
            n *= s
        return n


def _raw(x):
    return x._data if isinstance(x, Tensor) else x


def _operand(x):
    """A binary op's right-hand side: a Tensor, a Python number, or array-like made into an array."""
    if isinstance(x, Tensor) or isinstance(x, (int, float)):
        return x
    if isinstance(x, numbers.Number):
        return x.item() if hasattr(x, "item") else complex(x)
    if isinstance(x, (_ndarray, list, tuple)):
        return np.asarray(x)
    if hasattr(x, "__cuda_array_interface__"):
        return x
    raise TypeError(f"unsupported operand type for a nerve op: {type(x).__name__}")


def _shape_args(args, op):
    """reshape(2, 3) and reshape((2, 3)) both work, as in torch."""
    if len(args) == 1 and isinstance(args[0], (tuple, list, Size)):
        args = tuple(args[0])
    for a in args:
        if not isinstance(a, numbers.Integral):
            raise TypeError(f"[{op}] sizes must be ints, got {a!r}")
    return tuple(int(a) for a in args)


def _index(idx):
    """Converts Tensors and lists in an index to arrays; says whether the index is basic (a view)."""
    items = idx if isinstance(idx, tuple) else (idx,)
    out, basic = [], True
    for i in items:
        if isinstance(i, Tensor):
            i = i._data
        elif isinstance(i, list):
            i = np.asarray(i)
        if i is None or i is Ellipsis or isinstance(i, slice) or (isinstance(i, numbers.Integral)
                                                                    and not isinstance(i, (bool, np.bool_))):
            pass
        elif hasattr(i, "dtype") and i.ndim == 0 and i.dtype.kind in "iu":
            i = int(i)
        else:
            basic = False
            if hasattr(i, "dtype") and i.dtype.kind not in "iub":
                raise IndexError(f"[index] tensors used as indices must be long, int or bool, got {i.dtype}")
        out.append(i)
    return tuple(out), basic


class Tensor:
    """A multi-dimensional array with reverse-mode autograd (torch.Tensor's semantics).

    Example::

        >>> import nerve
        >>> x = nerve.tensor([[1., 2.], [3., 4.]], requires_grad=True)
        >>> (x @ x).sum().backward()
        >>> x.grad
        tensor([[ 7., 11.],
                [ 9., 13.]])
    """

    # _data: the array; _rg: requires_grad; grad_fn/_out_idx: the node (and which of its outputs)
    # that made this tensor. Rarely used state is set lazily and read with getattr defaults:
    # _version (in-place counter, shared by views: see _vcell), _accum (AccumulateGrad of a leaf),
    # _base (the tensor a view looks into), _retains (retain_grad was called).
    __slots__ = ("_data", "_rg", "grad", "grad_fn", "_out_idx", "_version", "_accum", "_base", "_retains",
                 "__weakref__")
    __array_priority__ = 1000  # numpy defers to Tensor's reflected operators

    def __init__(self, data=None, requires_grad: bool = False):
        from .creation import _to_array
        arr = _to_array(data if data is not None else [], None)
        self._data = arr
        self._rg = False
        self.grad = None
        self.grad_fn = None
        self._out_idx = 0
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _make(cls, arr, requires_grad, grad_fn, idx):
        if isinstance(arr, _generic):
            arr = np.asarray(arr)
        t = _new(cls)
        t._data = arr
        t._rg = requires_grad
        t.grad = None
        t.grad_fn = grad_fn
        t._out_idx = idx
        return t

    def _vcell(self):
        """The version counter, made on first use; views share their base's."""
        try:
            return self._version
        except AttributeError:
            self._version = cell = [0]
            return cell


    # ---- properties --------------------------------------------------------------------------
    @property
    def shape(self) -> Size:
        return Size(self._data.shape)

    def size(self, dim=None):
        if dim is None:
            return Size(self._data.shape)
        (d,) = F.norm_dims(dim, self.ndim, "size")
        return self._data.shape[d]

    @property
    def dtype(self):
        return dtypes.from_numpy_dtype(self._data.dtype)

    @property
    def device(self):
        return device_of(self._data)

    @property
    def is_cuda(self) -> bool:
        return type(self._data) is not _ndarray

    @property
    def ndim(self) -> int:
        return self._data.ndim

    def dim(self) -> int:
        return self._data.ndim

    def numel(self) -> int:
        return int(self._data.size)

    nelement = numel

    def element_size(self) -> int:
        return self._data.itemsize

    @property
    def requires_grad(self) -> bool:
        return self._rg

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        self.requires_grad_(value)

    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        if self.grad_fn is not None and not requires_grad:
            raise RuntimeError("[requires_grad_] you can only change requires_grad flags of leaf tensors; "
                               "use .detach() to get a tensor outside the graph")
        if requires_grad and self._data.dtype.kind != "f":
            raise RuntimeError(f"[requires_grad_] only tensors of floating point dtype can require gradients, "
                               f"got {self.dtype}")
        self._rg = bool(requires_grad)
        return self

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    @property
    def data(self) -> "Tensor":
        return self.detach()

    @data.setter
    def data(self, value: "Tensor") -> None:
        self._data = value._data if isinstance(value, Tensor) else np.asarray(value)

    @property
    def T(self) -> "Tensor":
        return self.permute(*reversed(range(self.ndim)))

    @property
    def mT(self) -> "Tensor":
        return self.transpose(-2, -1)

    def is_floating_point(self) -> bool:
        return self._data.dtype.kind == "f"

    def is_contiguous(self) -> bool:
        return bool(self._data.flags.c_contiguous)

    def data_ptr(self) -> int:
        if type(self._data) is _ndarray:
            return self._data.ctypes.data
        return self._data.data.ptr

    def stride(self, dim=None):
        s = tuple(st // self._data.itemsize for st in self._data.strides)
        return s if dim is None else s[F.norm_dims(dim, self.ndim, "stride")[0]]

    # ---- conversion --------------------------------------------------------------------------
    def numpy(self, force: bool = False) -> np.ndarray:
        if self._rg and not force:
            raise RuntimeError("[numpy] can't call numpy() on a tensor that requires grad; use "
                               "tensor.detach().numpy() instead")
        if type(self._data) is not _ndarray:
            if not force:
                raise TypeError(f"[numpy] can't convert a {self.device} tensor to numpy; use .cpu() first")
            return self._data.get()
        return self._data

    def __array__(self, dtype=None, copy=None):
        a = self._data if type(self._data) is _ndarray else self._data.get()
        return a if dtype is None else a.astype(dtype, copy=False)

    def __dlpack__(self, *args, **kwargs):
        return self._data.__dlpack__(*args, **kwargs)

    def __dlpack_device__(self):
        return self._data.__dlpack_device__()

    def item(self):
        if self._data.size != 1:
            raise RuntimeError(f"[item] a tensor with {self._data.size} elements cannot be converted to a Python "
                               "scalar; item() needs exactly one element")
        return self._data.item()

    def tolist(self):
        return self.__array__().tolist()

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        if self._data.dtype.kind not in "iu" or self._data.size != 1:
            raise TypeError("[index] only integer tensors of a single element can be converted to an index")
        return int(self.item())

    def __bool__(self):
        if self._data.size != 1:
            raise RuntimeError(f"[bool] the truth value of a tensor with {self._data.size} elements is ambiguous")
        return bool(self.item())

    def __len__(self):
        if self._data.ndim == 0:
            raise TypeError("[len] len() of a 0-d tensor")
        return self._data.shape[0]

    def __iter__(self):
        if self._data.ndim == 0:
            raise TypeError("[iter] iteration over a 0-d tensor")
        return (self[i] for i in range(self._data.shape[0]))

    def __hash__(self):
        return id(self)

    def __repr__(self) -> str:
        a = self.__array__()
        body = np.array2string(a, separator=", ", prefix="tensor(", precision=4, suppress_small=True,
                               threshold=1000, edgeitems=3, max_line_width=100)
        extras = []
        if self.is_cuda:
            extras.append(f"device='{self.device}'")
        if a.dtype not in (np.float32, np.int64, np.bool_) or a.size == 0:
            extras.append(f"dtype={self.dtype}")
        if self.grad_fn is not None:
            extras.append(f"grad_fn={self.grad_fn!r}")
        elif self._rg:
            extras.append("requires_grad=True")
        return "tensor(" + body + "".join(", " + e for e in extras) + ")"

    def __reduce_ex__(self, protocol):
        from .creation import tensor as _tensor
        return (_tensor, (self.__array__(), None, None, self._rg))

    # ---- device and dtype --------------------------------------------------------------------
    def to(self, *args, **kwargs) -> "Tensor":
        """to(dtype), to(device), to(device, dtype), to(other) — returns self when nothing changes."""
        from .device import device as Device
        dev, dt = kwargs.pop("device", None), kwargs.pop("dtype", None)
        kwargs.pop("non_blocking", None)
        copy = kwargs.pop("copy", False)
        if kwargs:
            raise TypeError(f"[to] unexpected arguments {sorted(kwargs)}")
        for a in args:
            if isinstance(a, Tensor):
                dev, dt = a.device, a.dtype
            elif isinstance(a, (str, Device)) or (isinstance(a, int) and not isinstance(a, bool)):
                dev = a  # an int is a CUDA device index, as in torch
            else:
                dt = a
        t = self
        if dev is not None and Device(dev) != self.device:
            t = _ToDevice.apply(t, Device(dev))
        if dt is not None:
            npdt = dtypes.to_numpy_dtype(dt)
            if npdt != t._data.dtype:
                t = F.Cast.apply(t, npdt)
        if copy and t is self:
            t = self.clone()
        return t

    def cpu(self) -> "Tensor":
        return self.to("cpu")

    def cuda(self, device=None) -> "Tensor":
        return self.to("cuda" if device is None else f"cuda:{device}" if isinstance(device, int) else device)

    def type(self, dtype=None):
        if dtype is None:
            return f"nerve.{self.dtype.name}"
        return self.to(dtype)

    def type_as(self, other) -> "Tensor":
        return self.to(other.dtype)

    def float(self):
        return self.to(dtypes.float32)

    def double(self):
        return self.to(dtypes.float64)

    def half(self):
        return self.to(dtypes.float16)

    def long(self):
        return self.to(dtypes.int64)

    def int(self):
        return self.to(dtypes.int32)

    def bool(self):
        return self.to(dtypes.bool_)

    # ---- autograd ----------------------------------------------------------------------------
    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None) -> None:
        if create_graph:
            raise NotImplementedError("[backward] create_graph=True (higher-order gradients) is not supported")
        if inputs is not None:
            raise NotImplementedError("[backward] inputs= is not supported; use nerve.autograd.grad")
        _backward(self, gradient, retain_graph)

    def detach(self) -> "Tensor":
        t = Tensor._make(self._data, False, None, 0)
        t._version = self._vcell()
        t._base = self
        return t

    def detach_(self) -> "Tensor":
        self.grad_fn = None
        self._rg = False
        return self

    def register_hook(self, hook):
        """hook(grad) -> Tensor or None runs when this tensor's gradient is computed."""
        if not self._rg:
            raise RuntimeError("[register_hook] cannot register a hook on a tensor that doesn't require gradient")
        if self.grad_fn is None:
            from .autograd import _edge
            node = _edge(self)[0]
            idx = 0
        else:
            node, idx = self.grad_fn, self._out_idx
        if node._hooks is None:
            node._hooks = {}
        hooks = node._hooks.setdefault(idx, [])
        hooks.append(hook)
        return RemovableHandle(hooks, hook)

    def retain_grad(self) -> None:
        if self.grad_fn is None or getattr(self, "_retains", False):
            return
        self._retains = True
        this = self

        def keep(g):
            this.grad = g.clone() if this.grad is None else this.grad + g

        self.register_hook(keep)

    @property
    def retains_grad(self) -> bool:
        return getattr(self, "_retains", False)

    # ---- arithmetic --------------------------------------------------------------------------
    def __add__(self, other):
        return F.Add.apply(self, _operand(other))

    __radd__ = __add__

    def __sub__(self, other):
        return F.Sub.apply(self, _operand(other))

    def __rsub__(self, other):
        other = _operand(other)
        if isinstance(other, Tensor) or hasattr(other, "shape"):
            return F.Sub.apply(_wrap_operand(other), self)
        return F.RSub.apply(self, other)

    def __mul__(self, other):
        return F.Mul.apply(self, _operand(other))

    __rmul__ = __mul__

    def __truediv__(self, other):
        return F.Div.apply(self, _operand(other))

    def __rtruediv__(self, other):
        other = _operand(other)
        if isinstance(other, Tensor) or hasattr(other, "shape"):
            return F.Div.apply(_wrap_operand(other), self)
        return F.RDiv.apply(self, other)

    def __pow__(self, other):
        return F.Pow.apply(self, _operand(other))

    def __rpow__(self, other):
        other = _operand(other)
        if isinstance(other, Tensor) or hasattr(other, "shape"):
            return F.Pow.apply(_wrap_operand(other), self)
        return F.RPow.apply(self, other)

    def __neg__(self):
        return F.Neg.apply(self)

    def __pos__(self):
        return self

    def __matmul__(self, other):
        if not isinstance(other, Tensor):
            other = _wrap_operand(_operand(other))
        return F.Matmul.apply(self, other)

    def __rmatmul__(self, other):
        return F.Matmul.apply(_wrap_operand(_operand(other)), self)

    def __floordiv__(self, other):
        return _nograd(self._data // _raw(_operand(other)))

    def __mod__(self, other):
        return _nograd(self._data % _raw(_operand(other)))

    add = __add__
    mul = __mul__
    matmul = __matmul__
    neg = __neg__

    def sub(self, other, alpha=1):
        return self - other * alpha if alpha != 1 else self - other

    def div(self, other):
        return self / other

    def pow(self, exponent):
        return self ** exponent

    def mm(self, other):
        if self.ndim != 2 or getattr(other, "ndim", 0) != 2:
            raise ValueError(f"[mm] expected 2-D tensors, got {self.ndim}-D and {getattr(other, 'ndim', '?')}-D")
        return self @ other

    def bmm(self, other):
        if self.ndim != 3 or getattr(other, "ndim", 0) != 3:
            raise ValueError(f"[bmm] expected 3-D tensors, got {self.ndim}-D and {getattr(other, 'ndim', '?')}-D")
        return self @ other

    def dot(self, other):
        if self.ndim != 1 or other.ndim != 1:
            raise ValueError(f"[dot] expected 1-D tensors, got {self.ndim}-D and {other.ndim}-D")
        return self @ other

    # comparisons return bool tensors outside the graph
    def __eq__(self, other):
        return _nograd(self._data == _raw(_operand(other)))

    def __ne__(self, other):
        return _nograd(self._data != _raw(_operand(other)))

    def __lt__(self, other):
        return _nograd(self._data < _raw(_operand(other)))

    def __le__(self, other):
        return _nograd(self._data <= _raw(_operand(other)))

    def __gt__(self, other):
        return _nograd(self._data > _raw(_operand(other)))

    def __ge__(self, other):
        return _nograd(self._data >= _raw(_operand(other)))

    eq, ne, lt, le, gt, ge = __eq__, __ne__, __lt__, __le__, __gt__, __ge__

    def __and__(self, other):
        return _nograd(self._data & _raw(_operand(other)))

    def __or__(self, other):
        return _nograd(self._data | _raw(_operand(other)))

    def __xor__(self, other):
        return _nograd(self._data ^ _raw(_operand(other)))

    def __invert__(self):
        return _nograd(~self._data)

    logical_not = __invert__

    def equal(self, other) -> bool:
        return self.shape == other.shape and bool((self._data == other._data).all())

    def allclose(self, other, rtol=1e-5, atol=1e-8) -> bool:
        return bool(np.allclose(self.__array__(), np.asarray(other), rtol=rtol, atol=atol))

    # ---- elementwise math --------------------------------------------------------------------
    def exp(self):
        return F.Exp.apply(self)

    def log(self):
        return F.Log.apply(self)

    def sqrt(self):
        return F.Sqrt.apply(self)

    def rsqrt(self):
        return 1.0 / F.Sqrt.apply(self)

    def abs(self):
        return F.Abs.apply(self)

    __abs__ = abs

    def sin(self):
        return F.Sin.apply(self)

    def cos(self):
        return F.Cos.apply(self)

    def square(self):
        return self * self

    def sign(self):
        return _nograd(np.sign(self._data) if type(self._data) is _ndarray else self._data.__class__.sign(self._data))

    def clamp(self, min=None, max=None):
        return F.Clamp.apply(self, _raw(min), _raw(max))

    clip = clamp

    def clamp_min(self, min):
        return self.clamp(min=min)

    def clamp_max(self, max):
        return self.clamp(max=max)

    def maximum(self, other):
        return F.Maximum.apply(self, _wrap_operand(_operand(other)))

    def minimum(self, other):
        return F.Minimum.apply(self, _wrap_operand(_operand(other)))

    def where(self, condition, other):
        return F.Where.apply(condition, self, _raw(_operand(other)) if not isinstance(other, Tensor) else other)

    def lerp(self, end, weight):
        return self + (end - self) * weight

    # activations that live in nerve/ops (kernels)
    def relu(self):
        from .ops import activation
        return activation.relu(self)

    def sigmoid(self):
        from .ops import activation
        return activation.sigmoid(self)

    def tanh(self):
        from .ops import activation
        return activation.tanh(self)

    def softmax(self, dim):
        from .ops import softmax
        return softmax.softmax(self, dim)

    def log_softmax(self, dim):
        from .ops import softmax
        return softmax.log_softmax(self, dim)

    # ---- reductions --------------------------------------------------------------------------
    def sum(self, dim=None, keepdim=False, dtype=None):
        return F.Sum.apply(self, dim, keepdim, None if dtype is None else dtypes.to_numpy_dtype(dtype))

    def mean(self, dim=None, keepdim=False):
        return F.Mean.apply(self, dim, keepdim)

    def var(self, dim=None, unbiased=True, keepdim=False, *, correction=None):
        if correction is None:
            correction = 1 if unbiased else 0
        return F.Var.apply(self, dim, correction, keepdim)

    def std(self, dim=None, unbiased=True, keepdim=False, *, correction=None):
        return self.var(dim, unbiased, keepdim, correction=correction).sqrt()

    def _maxmin(self, dim, keepdim, is_max):
        if isinstance(dim, Tensor):
            return self.maximum(dim) if is_max else self.minimum(dim)
        if dim is None:
            return F.MaxMin.apply(self, None, False, is_max)
        return values_indices(*F.MaxMinDim.apply(self, dim, keepdim, is_max))

    def max(self, dim=None, keepdim=False):
        return self._maxmin(dim, keepdim, True)

    def min(self, dim=None, keepdim=False):
        return self._maxmin(dim, keepdim, False)

    def amax(self, dim=(), keepdim=False):
        return F.MaxMin.apply(self, dim if dim != () else None, keepdim, True)

    def amin(self, dim=(), keepdim=False):
        return F.MaxMin.apply(self, dim if dim != () else None, keepdim, False)

    def _arg(self, dim, keepdim, is_max):
        a = self._data
        m = np if type(a) is _ndarray else a.__class__
        fn = np.argmax if is_max else np.argmin
        if type(a) is not _ndarray:
            import cupy
            fn = cupy.argmax if is_max else cupy.argmin
        if dim is None:
            if a.size == 0:
                raise RuntimeError("[argmax] cannot take the argmax of an empty tensor")
            r = fn(a.reshape(-1))
            return _nograd(r.astype(np.int64).reshape((1,) * a.ndim) if keepdim else r.astype(np.int64))
        (d,) = F.norm_dims(dim, a.ndim, "argmax" if is_max else "argmin")
        return _nograd(fn(a, axis=d, keepdims=keepdim).astype(np.int64))

    def argmax(self, dim=None, keepdim=False):
        return self._arg(dim, keepdim, True)

    def argmin(self, dim=None, keepdim=False):
        return self._arg(dim, keepdim, False)

    def logsumexp(self, dim, keepdim=False):
        return F.LogSumExp.apply(self, dim, keepdim)

    def norm(self, p=2, dim=None, keepdim=False):
        if p == 2 or p == "fro":
            return (self * self).sum(dim, keepdim).sqrt()
        if p == 1:
            return self.abs().sum(dim, keepdim)
        if p == float("inf"):
            return self.abs().amax(dim if dim is not None else (), keepdim)
        return (self.abs() ** p).sum(dim, keepdim) ** (1.0 / p)

    def all(self, dim=None, keepdim=False):
        return _nograd(self._data.all(axis=dim, keepdims=keepdim))

    def any(self, dim=None, keepdim=False):
        return _nograd(self._data.any(axis=dim, keepdims=keepdim))

    def prod(self, dim=None, keepdim=False):
        if self._rg:
            raise NotImplementedError("[prod] has no gradient in nerve; use exp(log(x).sum()) for positive x")
        return _nograd(self._data.prod(axis=dim, keepdims=keepdim))

    def cumsum(self, dim):
        if self._rg:
            raise NotImplementedError("[cumsum] has no gradient in nerve")
        return _nograd(self._data.cumsum(axis=dim))

    # ---- shapes ------------------------------------------------------------------------------
    def reshape(self, *shape):
        shape = _shape_args(shape, "reshape")
        if shape == self._data.shape:
            return self if not self._rg else F.Reshape.apply(self, shape)
        return _checked_reshape(F.Reshape, self, shape, "reshape")

    def view(self, *shape):
        if len(shape) == 1 and not isinstance(shape[0], (tuple, list, Size, numbers.Integral)):
            return self.to(shape[0])  # view(dtype) is not reinterpreting here; only same-size casts matter
        return _checked_reshape(F.View, self, _shape_args(shape, "view"), "view")

    def reshape_as(self, other):
        return self.reshape(other.shape)

    def view_as(self, other):
        return self.view(other.shape)

    def flatten(self, start_dim=0, end_dim=-1):
        if self.ndim == 0:
            return self.reshape(1)
        s, e = F.norm_dims(start_dim, self.ndim, "flatten")[0], F.norm_dims(end_dim, self.ndim, "flatten")[0]
        if s > e:
            raise ValueError(f"[flatten] start_dim {start_dim} comes after end_dim {end_dim}")
        shp = self._data.shape
        n = 1
        for x in shp[s:e + 1]:
            n *= x
        return self.reshape(shp[:s] + (n,) + shp[e + 1:])

    def unflatten(self, dim, sizes):
        (d,) = F.norm_dims(dim, self.ndim, "unflatten")
        shp = self._data.shape
        return self.reshape(shp[:d] + tuple(sizes) + shp[d + 1:])

    def permute(self, *dims):
        dims = _shape_args(dims, "permute")
        if len(dims) != self.ndim:
            raise ValueError(f"[permute] expected {self.ndim} dims for a tensor of shape {tuple(self.shape)}, "
                             f"got {dims}")
        for d in dims:
            F.norm_dims(d, self.ndim, "permute")  # range check
        axes = tuple(d % max(self.ndim, 1) for d in dims)
        if sorted(axes) != list(range(self.ndim)):
            raise ValueError(f"[permute] dims {dims} is not a permutation of {self.ndim} dimensions")
        return F.Permute.apply(self, axes)

    def transpose(self, dim0, dim1):
        if self.ndim < 2 and dim0 in (0, -1) and dim1 in (0, -1):
            return self
        d0, d1 = (F.norm_dims(d, self.ndim, "transpose")[0] for d in (dim0, dim1))
        axes = list(range(self.ndim))
        axes[d0], axes[d1] = axes[d1], axes[d0]
        return F.Permute.apply(self, tuple(axes))

    swapaxes = transpose

    def t(self):
        if self.ndim > 2:
            raise ValueError(f"[t] expects a tensor with <= 2 dimensions, got {self.ndim}")
        return self.transpose(0, 1) if self.ndim == 2 else self

    def squeeze(self, dim=None):
        shp = self._data.shape
        if dim is None:
            new = tuple(s for s in shp if s != 1)
        else:
            dims = F.norm_dims(dim, self.ndim, "squeeze")
            new = tuple(s for i, s in enumerate(shp) if not (i in dims and s == 1))
        return self if new == shp else self.reshape(new)

    def unsqueeze(self, dim):
        nd = self.ndim + 1
        if not -nd <= dim < nd:
            raise IndexError(f"[unsqueeze] dim {dim} is out of range for a result with {nd} dimensions")
        d = dim % nd
        shp = self._data.shape
        return self.reshape(shp[:d] + (1,) + shp[d:])

    def expand(self, *sizes):
        sizes = _shape_args(sizes, "expand")
        shp = self._data.shape
        if len(sizes) < len(shp):
            raise ValueError(f"[expand] the number of sizes ({len(sizes)}) must be at least the number of "
                             f"dimensions ({len(shp)})")
        lead = len(sizes) - len(shp)
        target = tuple(shp[i - lead] if (s == -1 and i >= lead) else s for i, s in enumerate(sizes))
        for i, s in enumerate(shp):
            if s != 1 and s != target[lead + i]:
                raise ValueError(f"[expand] the expanded size {target[lead + i]} must match the existing size {s} "
                                 f"at non-singleton dimension {lead + i}; shape {tuple(shp)} -> {sizes}")
        return self if target == shp else F.Expand.apply(self, target)

    def expand_as(self, other):
        return self.expand(other.shape)

    def broadcast_to(self, shape):
        return self.expand(shape)

    def repeat(self, *sizes):
        sizes = _shape_args(sizes, "repeat")
        if len(sizes) < self.ndim:
            raise ValueError(f"[repeat] needs at least {self.ndim} repeat counts, got {len(sizes)}")
        shp = (1,) * (len(sizes) - self.ndim) + self._data.shape
        x = self.reshape(shp)
        inter = []
        for r, s in zip(sizes, shp):
            inter += [1, s]
        big = []
        for r, s in zip(sizes, shp):
            big += [r, s]
        return x.reshape(inter).expand(big).reshape(tuple(r * s for r, s in zip(sizes, shp)))

    def contiguous(self):
        if self._data.flags.c_contiguous:
            return self
        return F.Contiguous.apply(self)

    def clone(self):
        return F.Clone.apply(self)

    def split(self, split_size_or_sections, dim=0):
        (d,) = F.norm_dims(dim, self.ndim, "split")
        n = self._data.shape[d]
        if isinstance(split_size_or_sections, numbers.Integral):
            step = int(split_size_or_sections)
            if step <= 0:
                raise ValueError(f"[split] split_size must be positive, got {step}")
            sizes = [min(step, n - i) for i in range(0, n, step)] or [0]
        else:
            sizes = [int(s) for s in split_size_or_sections]
            if sum(sizes) != n:
                raise ValueError(f"[split] sections {sizes} sum to {sum(sizes)}, but dim {dim} has size {n}")
        return F.Split.apply(self, sizes, d)

    def chunk(self, chunks, dim=0):
        if chunks <= 0:
            raise ValueError(f"[chunk] chunks must be positive, got {chunks}")
        (d,) = F.norm_dims(dim, self.ndim, "chunk")
        n = self._data.shape[d]
        step = max(1, -(-n // chunks))
        return self.split(step, dim)

    def unbind(self, dim=0):
        (d,) = F.norm_dims(dim, self.ndim, "unbind")
        return tuple(p.squeeze(d) for p in self.split(1, d))

    def narrow(self, dim, start, length):
        (d,) = F.norm_dims(dim, self.ndim, "narrow")
        idx = [slice(None)] * self.ndim
        idx[d] = slice(start, start + length)
        return self[tuple(idx)]

    def gather(self, dim, index):
        (d,) = F.norm_dims(dim, self.ndim, "gather")
        return F.Gather.apply(self, d, index)

    def scatter_add(self, dim, index, src):
        (d,) = F.norm_dims(dim, self.ndim, "scatter_add")
        return F.ScatterAdd.apply(self, d, index, src)

    def index_select(self, dim, index):
        (d,) = F.norm_dims(dim, self.ndim, "index_select")
        return self[(slice(None),) * d + (index,)]

    def masked_fill(self, mask, value):
        return F.MaskedFill.apply(self, mask, float(value) if self.is_floating_point() else value)

    def tril(self, diagonal=0):
        m = F.xp(self._data)
        return self.masked_fill(_nograd(~m.tril(m.ones(self._data.shape[-2:], bool), diagonal)), 0)

    def triu(self, diagonal=0):
        m = F.xp(self._data)
        return self.masked_fill(_nograd(~m.triu(m.ones(self._data.shape[-2:], bool), diagonal)), 0)

    # ---- indexing ----------------------------------------------------------------------------
    def __getitem__(self, idx):
        idx, basic = _index(idx)
        t = (F.BasicIndex if basic else F.Index).apply(self, idx)
        if basic:
            base = getattr(self, "_base", None)
            t._base = base if base is not None else self
        return t

    def __setitem__(self, idx, value):
        idx, _ = _index(idx)
        if not isinstance(value, Tensor):
            value = _operand(value)
        recording = _state.__dict__.get("enabled", True) and (self._rg or (isinstance(value, Tensor) and value._rg))
        if not recording:
            try:
                self._data[idx] = _raw(value)
            except (IndexError, ValueError) as e:
                raise type(e)(f"[index_put] {e} (tensor shape {tuple(self.shape)})") from None
            self._vcell()[0] += 1
            return
        self._inplace_result(F.IndexPut.apply(self, idx, value), "index_put_")

    # ---- in-place ops ------------------------------------------------------------------------
    def _inplace_result(self, result, op):
        """Writes an out-of-place result into self's storage and takes over its place in the graph."""
        if self.grad_fn is None and self._rg:
            raise RuntimeError(f"[{op}] a leaf Variable that requires grad is being used in an in-place operation; "
                               "wrap it in nerve.no_grad() or use an out-of-place op")
        base = getattr(self, "_base", None)
        if base is not None and (base._rg or self._rg):
            raise RuntimeError(f"[{op}] in-place operations on a view of a tensor that requires grad are not "
                               "supported; use an out-of-place op")
        self._data[...] = result._data
        self._vcell()[0] += 1
        if result.grad_fn is not None:
            self.grad_fn, self._out_idx, self._rg = result.grad_fn, result._out_idx, True
            mine, theirs = self._vcell(), getattr(result, "_version", None)
            result.grad_fn._saved_versions = [
                (i, (mine, mine[0])) if cell is theirs else (i, (cell, v))
                for i, (cell, v) in (result.grad_fn._saved_versions or [])]
        return self

    def _inplace(self, fn, args, np_fn, op):
        recording = _state.__dict__.get("enabled", True) and (
            self._rg or any(isinstance(a, Tensor) and a._rg for a in args))
        if not recording:
            if self._data.dtype.kind != "f" and any(isinstance(_raw(a), float) for a in args):
                raise RuntimeError(f"[{op}] result type float can't be cast to the desired output type "
                                   f"{self.dtype}")
            np_fn(self._data, *[_raw(a) for a in args])
            self._vcell()[0] += 1
            return self
        return self._inplace_result(fn(self, *args), op)

    def add_(self, other, alpha=1):
        other = _operand(other)
        if alpha != 1:
            other = other * alpha
        return self._inplace(Tensor.__add__, (other,), lambda a, b: np.add(a, b, out=a, casting="unsafe")
                             if type(a) is _ndarray else a.__iadd__(b), "add_")

    def sub_(self, other, alpha=1):
        other = _operand(other)
        if alpha != 1:
            other = other * alpha
        return self._inplace(Tensor.__sub__, (other,), lambda a, b: np.subtract(a, b, out=a, casting="unsafe")
                             if type(a) is _ndarray else a.__isub__(b), "sub_")

    def mul_(self, other):
        return self._inplace(Tensor.__mul__, (_operand(other),), lambda a, b: np.multiply(a, b, out=a,
                             casting="unsafe") if type(a) is _ndarray else a.__imul__(b), "mul_")

    def div_(self, other):
        return self._inplace(Tensor.__truediv__, (_operand(other),), lambda a, b: np.divide(a, b, out=a,
                             casting="unsafe") if type(a) is _ndarray else a.__itruediv__(b), "div_")

    def pow_(self, exponent):
        return self._inplace(Tensor.__pow__, (_operand(exponent),), lambda a, b: np.power(a, b, out=a,
                             casting="unsafe") if type(a) is _ndarray else a.__ipow__(b), "pow_")

    def clamp_(self, min=None, max=None):
        def np_clamp(a, lo, hi):
            m = np if type(a) is _ndarray else a.__class__
            if lo is not None:
                m.maximum(a, lo, out=a)
            if hi is not None:
                m.minimum(a, hi, out=a)
        return self._inplace(lambda s, lo, hi: s.clamp(lo, hi), (min, max), np_clamp, "clamp_")

    def neg_(self):
        return self.mul_(-1)

    __iadd__ = add_
    __isub__ = sub_
    __imul__ = mul_
    __itruediv__ = div_

    def zero_(self):
        return self.fill_(0)

    def fill_(self, value):
        return self._inplace(lambda s, v: s * 0 + v, (_raw(value),),
                             lambda a, v: a.fill(v) if not hasattr(v, "shape") else a.__setitem__(Ellipsis, v),
                             "fill_")

    def copy_(self, src):
        src_t = src if isinstance(src, Tensor) else Tensor._make(np.asarray(src), False, None, 0)
        if src_t.is_cuda != self.is_cuda:
            src_t = src_t.to(self.device)
        return self._inplace(lambda s, v: s * 0 + v.to(s.dtype), (src_t,),
                             lambda a, v: a.__setitem__(Ellipsis, v), "copy_")

    def masked_fill_(self, mask, value):
        return self._inplace(lambda s, m, v: s.masked_fill(m, v), (mask, value),
                             lambda a, m, v: a.__setitem__(_raw(m), v), "masked_fill_")

    def uniform_(self, a=0.0, b=1.0, generator=None):
        from .random import _gen
        with _no_grad_ctx():
            self._data[...] = self._like_here(_gen(generator).uniform(a, b, self._data.shape))
        self._vcell()[0] += 1
        return self

    def normal_(self, mean=0.0, std=1.0, generator=None):
        from .random import _gen
        with _no_grad_ctx():
            self._data[...] = self._like_here(_gen(generator).normal(mean, std, self._data.shape))
        self._vcell()[0] += 1
        return self

    def _like_here(self, host):
        """A host array of draws, on this tensor's device (cupy takes no numpy operands)."""
        if type(self._data) is _ndarray:
            return host
        from .backend import cuda
        return cuda.to_device(host.astype(self._data.dtype, copy=False), self._data.device.id)

    # ---- new tensors like this one -----------------------------------------------------------
    def new_zeros(self, *size, dtype=None, device=None):
        from .creation import zeros
        return zeros(*size, dtype=dtype or self.dtype, device=device or self.device)

    def new_ones(self, *size, dtype=None, device=None):
        from .creation import ones
        return ones(*size, dtype=dtype or self.dtype, device=device or self.device)

    def new_full(self, size, fill_value, dtype=None, device=None):
        from .creation import full
        return full(size, fill_value, dtype=dtype or self.dtype, device=device or self.device)

    def new_empty(self, *size, dtype=None, device=None):
        from .creation import empty
        return empty(*size, dtype=dtype or self.dtype, device=device or self.device)

    def new_tensor(self, data, dtype=None, device=None, requires_grad=False):
        from .creation import tensor
        return tensor(data, dtype=dtype or self.dtype, device=device or self.device, requires_grad=requires_grad)


def _nograd(arr) -> Tensor:
    return Tensor._make(arr, False, None, 0)


def _wrap_operand(x):
    return x if isinstance(x, Tensor) else Tensor._make(np.asarray(x) if not hasattr(x, "shape") else x, False, None, 0)


def _checked_reshape(fn, t, shape, op):
    n = t._data.size
    neg = [i for i, s in enumerate(shape) if s == -1]
    if len(neg) > 1 or any(s < -1 for s in shape):
        raise ValueError(f"[{op}] invalid shape {shape}: at most one -1 and no other negative sizes")
    known = 1
    for s in shape:
        if s != -1:
            known *= s
    if (neg and (known == 0 or n % known)) or (not neg and known != n):
        raise ValueError(f"[{op}] shape {shape} is invalid for input of size {n} (shape {tuple(t.shape)})")
    return fn.apply(t, shape)


def _no_grad_ctx():
    from .autograd import no_grad
    return no_grad()


class _ToDevice(Function):
    """Copies between host and device memory; the gradient flows back across."""

    @staticmethod
    def forward(ctx, a, dev):
        from .backend import cuda
        ctx.src = device_of(a)
        if dev.type == "cuda":
            return cuda.to_device(a, dev.index or 0)
        return cuda.to_host(a)

    @staticmethod
    def backward(ctx, g):
        from .backend import cuda
        if ctx.src.type == "cpu":
            return (g if type(g) is _ndarray else cuda.to_host(g)), None
        return cuda.to_device(g, ctx.src.index or 0), None


import nerve.autograd as _autograd  # noqa: E402

_autograd.Tensor = Tensor
