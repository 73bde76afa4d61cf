"""_api.py — torch's function forms of tensor methods (nerve.exp(x), nerve.matmul(a, b), ...)."""
from __future__ import annotations

from . import functional as F
from .tensor import Tensor, _operand, _raw


def _t(x):
    return x if isinstance(x, Tensor) else Tensor._make(__import__("numpy").asarray(x), False, None, 0)


def add(a, b, alpha=1):
    return _t(a) + (b * alpha if alpha != 1 else b)


def sub(a, b, alpha=1):
    return _t(a) - (b * alpha if alpha != 1 else b)


def mul(a, b):
    return _t(a) * b


def div(a, b):
    return _t(a) / b


def pow(a, b):
    return _t(a) ** b if isinstance(a, Tensor) else _t(b).__rpow__(a)


def neg(a):
    return -_t(a)


def matmul(a, b):
    return _t(a) @ b


def mm(a, b):
    return _t(a).mm(b)


def bmm(a, b):
    return _t(a).bmm(b)


def dot(a, b):
    return _t(a).dot(b)


def exp(x):
    return _t(x).exp()


def log(x):
    return _t(x).log()


def sqrt(x):
    return _t(x).sqrt()


def rsqrt(x):
    return _t(x).rsqrt()


def abs(x):
    return _t(x).abs()


def sin(x):
    return _t(x).sin()


def cos(x):
    return _t(x).cos()


def square(x):
    return _t(x).square()


def sign(x):
    return _t(x).sign()


def clamp(x, min=None, max=None):
    return _t(x).clamp(min, max)


clip = clamp


def maximum(a, b):
    return _t(a).maximum(b)


def minimum(a, b):
    return _t(a).minimum(b)


def where(condition, a, b):
    if isinstance(a, Tensor):
        return F.Where.apply(condition, a, b if isinstance(b, Tensor) else _raw(_operand(b)))
    if isinstance(b, Tensor):
        return F.Where.apply(condition, _raw(_operand(a)), b)
    return F.Where.apply(condition, _raw(_operand(a)), _raw(_operand(b)))


def sum(x, dim=None, keepdim=False, dtype=None):
    return _t(x).sum(dim, keepdim, dtype)


def mean(x, dim=None, keepdim=False):
    return _t(x).mean(dim, keepdim)


def var(x, dim=None, unbiased=True, keepdim=False, *, correction=None):
    return _t(x).var(dim, unbiased, keepdim, correction=correction)


def std(x, dim=None, unbiased=True, keepdim=False, *, correction=None):
    return _t(x).std(dim, unbiased, keepdim, correction=correction)


def max(x, dim=None, keepdim=False):
    return _t(x).max(dim, keepdim)


def min(x, dim=None, keepdim=False):
    return _t(x).min(dim, keepdim)


def amax(x, dim=(), keepdim=False):
    return _t(x).amax(dim, keepdim)


def amin(x, dim=(), keepdim=False):
    return _t(x).amin(dim, keepdim)


def argmax(x, dim=None, keepdim=False):
    return _t(x).argmax(dim, keepdim)


def argmin(x, dim=None, keepdim=False):
    return _t(x).argmin(dim, keepdim)


def logsumexp(x, dim, keepdim=False):
    return _t(x).logsumexp(dim, keepdim)


def norm(x, p=2, dim=None, keepdim=False):
    return _t(x).norm(p, dim, keepdim)


def reshape(x, shape):
    return _t(x).reshape(shape)


def flatten(x, start_dim=0, end_dim=-1):
    return _t(x).flatten(start_dim, end_dim)


def transpose(x, dim0, dim1):
    return _t(x).transpose(dim0, dim1)


def permute(x, dims):
    return _t(x).permute(dims)


def squeeze(x, dim=None):
    return _t(x).squeeze(dim)


def unsqueeze(x, dim):
    return _t(x).unsqueeze(dim)


def split(x, split_size_or_sections, dim=0):
    return _t(x).split(split_size_or_sections, dim)


def chunk(x, chunks, dim=0):
    return _t(x).chunk(chunks, dim)


def unbind(x, dim=0):
    return _t(x).unbind(dim)


def gather(x, dim, index):
    return _t(x).gather(dim, index)


def scatter_add(x, dim, index, src):
    return _t(x).scatter_add(dim, index, src)


def index_select(x, dim, index):
    return _t(x).index_select(dim, index)


def masked_fill(x, mask, value):
    return _t(x).masked_fill(mask, value)


def tril(x, diagonal=0):
    return _t(x).tril(diagonal)


def triu(x, diagonal=0):
    return _t(x).triu(diagonal)


def clone(x):
    return _t(x).clone()


def numel(x):
    return _t(x).numel()


def equal(a, b):
    return _t(a).equal(b)


def allclose(a, b, rtol=1e-5, atol=1e-8):
    return _t(a).allclose(b, rtol, atol)


def is_tensor(x):
    return isinstance(x, Tensor)


def relu(x):
    return _t(x).relu()


def sigmoid(x):
    return _t(x).sigmoid()


def tanh(x):
    return _t(x).tanh()


def softmax(x, dim):
    return _t(x).softmax(dim)


def log_softmax(x, dim):
    return _t(x).log_softmax(dim)


__all__ = [n for n, v in list(globals().items())
           if callable(v) and not n.startswith("_") and getattr(v, "__module__", None) == __name__]
