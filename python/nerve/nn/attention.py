"""attention.py — MultiheadAttention (torch.nn.MultiheadAttention) and positional embeddings.

MultiheadAttention keeps torch's parameter names (in_proj_weight / in_proj_bias, or q_proj_weight,
k_proj_weight, v_proj_weight when kdim / vdim differ; out_proj; bias_k, bias_v) and init, so torch
state dicts load. With need_weights=False it runs the fused attention kernel (no attention matrix
stored); need_weights=True (torch's default) computes the weights explicitly, as torch does, to
return them.

Positional embeddings add position information to a (L, N, E) or (N, L, E) batch:
SinusoidalPositionalEmbedding (the fixed sin/cos table of "Attention Is All You Need", a buffer)
and LearnedPositionalEmbedding (a trained (max_len, E) table).
"""
from __future__ import annotations

import math

import numpy as np

from .. import creation
from ..ops.attention import _mha_forward
from ..tensor import Tensor
from . import init
from .linear import Linear
from .module import Module
from .parameter import Parameter


class MultiheadAttention(Module):
    """Attention over num_heads subspaces of embed_dim (torch.nn.MultiheadAttention).

    Args: embed_dim, num_heads, dropout=0.0 (on the attention weights, training only), bias=True,
    add_bias_kv=False, add_zero_attn=False, kdim=None, vdim=None, batch_first=False.
    forward(query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
    average_attn_weights=True, is_causal=False) -> (attn_output, attn_weights or None).
    Masks: key_padding_mask (N, S) and attn_mask (L, S) or (N * num_heads, L, S); bool True means
    "do not attend", a float mask is added to the scores.

    Example::

        >>> import nerve
        >>> mha = nerve.nn.MultiheadAttention(16, 4, batch_first=True)
        >>> x = nerve.randn(2, 5, 16)
        >>> out, w = mha(x, x, x)
        >>> tuple(out.shape), tuple(w.shape)
        ((2, 5, 16), (2, 5, 5))
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 add_bias_kv: bool = False, add_zero_attn: bool = False, kdim=None, vdim=None,
                 batch_first: bool = False, device=None, dtype=None):
        super().__init__()
        if not isinstance(embed_dim, int) or embed_dim <= 0 or not isinstance(num_heads, int) or num_heads <= 0:
            raise ValueError(f"[MultiheadAttention] embed_dim and num_heads must be greater than 0, got "
                             f"embed_dim={embed_dim} and num_heads={num_heads} instead")
        if embed_dim % num_heads:
            raise ValueError(f"[MultiheadAttention] embed_dim must be divisible by num_heads, got embed_dim="
                             f"{embed_dim} and num_heads={num_heads}")
        if not 0.0 <= dropout <= 1.0:
            raise ValueError(f"[MultiheadAttention] dropout must be in [0, 1], got {dropout}")
        self.embed_dim, self.num_heads, self.dropout, self.batch_first = embed_dim, num_heads, float(dropout), batch_first
        self.kdim = kdim if kdim is not None else embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.head_dim = embed_dim // num_heads
        kw = dict(dtype=dtype, device=device)
        if self._qkv_same_embed_dim:
            self.in_proj_weight = Parameter(creation.empty(3 * embed_dim, embed_dim, **kw))
            self.register_parameter("q_proj_weight", None)
            self.register_parameter("k_proj_weight", None)
            self.register_parameter("v_proj_weight", None)
        else:
            self.register_parameter("in_proj_weight", None)
            self.q_proj_weight = Parameter(creation.empty(embed_dim, embed_dim, **kw))
            self.k_proj_weight = Parameter(creation.empty(embed_dim, self.kdim, **kw))
            self.v_proj_weight = Parameter(creation.empty(embed_dim, self.vdim, **kw))
        if bias:
            self.in_proj_bias = Parameter(creation.empty(3 * embed_dim, **kw))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias, **kw)
        if add_bias_kv:
            self.bias_k = Parameter(creation.empty(1, 1, embed_dim, **kw))
            self.bias_v = Parameter(creation.empty(1, 1, embed_dim, **kw))
        else:
            self.bias_k = self.bias_v = None
        self.add_zero_attn = add_zero_attn
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            init.xavier_uniform_(self.q_proj_weight)
            init.xavier_uniform_(self.k_proj_weight)
            init.xavier_uniform_(self.v_proj_weight)
        if self.in_proj_bias is not None:
            init.constant_(self.in_proj_bias, 0.0)
            init.constant_(self.out_proj.bias, 0.0)
        if self.bias_k is not None:
            init.xavier_normal_(self.bias_k)
            init.xavier_normal_(self.bias_v)

    def forward(self, query, key, value, key_padding_mask=None, need_weights: bool = True, attn_mask=None,
                average_attn_weights: bool = True, is_causal: bool = False):
        op = "MultiheadAttention"
        for name, t in (("query", query), ("key", key), ("value", value)):
            if not isinstance(t, Tensor):
                raise TypeError(f"[{op}] {name} must be a nerve.Tensor, got {type(t).__name__}")
        if query.ndim not in (2, 3):
            raise ValueError(f"[{op}] query should be unbatched 2D or batched 3D tensor but received "
                             f"{query.ndim}-D query tensor")
        for name, t, want in (("query", query, self.embed_dim), ("key", key, self.kdim), ("value", value, self.vdim)):
            if t.shape[-1] != want:
                raise ValueError(f"[{op}] {name} has {t.shape[-1]} features (shape {tuple(t.shape)}), expected {want}")
        return _mha_forward(
            query, key, value, self.num_heads, self.in_proj_weight, self.in_proj_bias, self.bias_k, self.bias_v,
            self.add_zero_attn, self.dropout, self.out_proj.weight, self.out_proj.bias, self.training,
            key_padding_mask, need_weights, attn_mask, self.q_proj_weight, self.k_proj_weight, self.v_proj_weight,
            average_attn_weights, is_causal, op, batch_first=self.batch_first)

    def extra_repr(self) -> str:
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, dropout={self.dropout}, " \
               f"batch_first={self.batch_first}"


def sinusoidal_table(max_len: int, d_model: int) -> np.ndarray:
    """(max_len, d_model): sin at even features, cos at odd ones, wavelengths 2 pi .. 10000 * 2 pi."""
    pos = np.arange(max_len, dtype=np.float64)[:, None]
    div = np.exp(np.arange(0, d_model, 2, dtype=np.float64) * (-math.log(10000.0) / d_model))
    table = np.zeros((max_len, d_model))
    table[:, 0::2] = np.sin(pos * div)
    table[:, 1::2] = np.cos(pos * div[: d_model // 2])
    return table


class _PositionalEmbedding(Module):
    def __init__(self, max_len: int, d_model: int, batch_first: bool):
        super().__init__()
        if max_len <= 0 or d_model <= 0:
            raise ValueError(f"[{type(self).__name__}] max_len and d_model must be positive, got {max_len}, {d_model}")
        self.max_len, self.d_model, self.batch_first = max_len, d_model, batch_first

    def _check(self, x):
        if x.ndim != 3 or x.shape[-1] != self.d_model:
            raise ValueError(f"[{type(self).__name__}] expected input of shape ({'N, L' if self.batch_first else 'L, N'}"
                             f", {self.d_model}), got {tuple(x.shape)}")
        L = x.shape[1] if self.batch_first else x.shape[0]
        if L > self.max_len:
            raise ValueError(f"[{type(self).__name__}] sequence of length {L} exceeds max_len {self.max_len}")
        return L

    def _add(self, x, table):
        L = self._check(x)
        rows = table[:L]
        return x + (rows.unsqueeze(0) if self.batch_first else rows.unsqueeze(1))

    def extra_repr(self) -> str:
        return f"max_len={self.max_len}, d_model={self.d_model}, batch_first={self.batch_first}"


class SinusoidalPositionalEmbedding(_PositionalEmbedding):
    """x + PE[:L], PE the fixed sinusoidal table (a non-trained buffer).

    Args: max_len, d_model, batch_first=False. Input (L, N, E) or, batch_first, (N, L, E).

    Example::

        >>> import nerve
        >>> pe = nerve.nn.SinusoidalPositionalEmbedding(100, 8, batch_first=True)
        >>> tuple(pe(nerve.zeros(2, 10, 8)).shape)
        (2, 10, 8)
    """

    def __init__(self, max_len: int, d_model: int, batch_first: bool = False, device=None, dtype=None):
        super().__init__(max_len, d_model, batch_first)
        self.register_buffer("pe", creation.tensor(sinusoidal_table(max_len, d_model), dtype=dtype, device=device),
                             persistent=False)

    def forward(self, x):
        return self._add(x, self.pe.to(dtype=x.dtype))


class LearnedPositionalEmbedding(_PositionalEmbedding):
    """x + P[:L], P a trained (max_len, d_model) table initialised N(0, 0.02^2) (GPT-2's choice).

    Args: max_len, d_model, batch_first=False. Input (L, N, E) or, batch_first, (N, L, E).
    """

    def __init__(self, max_len: int, d_model: int, batch_first: bool = False, device=None, dtype=None):
        super().__init__(max_len, d_model, batch_first)
        self.weight = Parameter(creation.empty(max_len, d_model, dtype=dtype, device=device))
        init.normal_(self.weight, 0.0, 0.02)

    def forward(self, x):
        return self._add(x, self.weight)
