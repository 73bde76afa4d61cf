"""transformer.py — TransformerEncoderLayer, TransformerEncoder, TransformerDecoderLayer,
TransformerDecoder and Transformer, shaped like torch.nn's (same sub-module and parameter names,
so torch state dicts load), on MultiheadAttention (the fused attention kernel), Linear, LayerNorm,
Dropout and the relu / gelu kernels.

Each layer is post-norm (x = norm(x + block(x)), the 2017 layout) or, with norm_first, pre-norm
(x = x + block(norm(x))). Masks follow MultiheadAttention: (L, S) or (N * nhead, L, S) attention
masks and (N, S) key padding masks, bool True meaning "do not attend". `is_causal` (or a mask equal
to generate_square_subsequent_mask) lets the kernel apply the causal mask itself.
"""
from __future__ import annotations

import copy

import numpy as np

from .. import creation, dtypes
from ..ops import activation as A
from ..tensor import Tensor
from .attention import MultiheadAttention
from .containers import ModuleList
from .dropout import Dropout
from .linear import Linear
from .module import Module


def generate_square_subsequent_mask(sz: int, device=None, dtype=None) -> Tensor:
    """(sz, sz) float mask: 0 on and below the diagonal, -inf above (torch.nn.Transformer's)."""
    m = np.triu(np.full((sz, sz), -np.inf), 1)
    return creation.tensor(m, dtype=dtype if dtype is not None else dtypes.get_default_dtype(), device=device)


def _layer_norm(d_model, eps, bias, **kw):
    from . import LayerNorm  # provided by the norm family (nerve.nn.LayerNorm)
    return LayerNorm(d_model, eps=eps, bias=bias, **kw)


def _activation(activation, op):
    if callable(activation):
        return activation
    if activation == "relu":
        return A.relu
    if activation == "gelu":
        return A.gelu
    raise RuntimeError(f"[{op}] activation should be relu/gelu, not {activation}")


def _is_causal_mask(mask, sz) -> bool:
    """True when mask is exactly the causal float mask of size sz (torch's _detect_is_causal_mask)."""
    if mask is None or tuple(mask.shape) != (sz, sz):
        return False
    m = mask.numpy() if not mask.requires_grad else mask.detach().numpy()
    if m.dtype == np.bool_:
        return bool((m == np.triu(np.ones((sz, sz), bool), 1)).all())
    return bool((m == np.triu(np.full((sz, sz), -np.inf), 1)).all())


def _check_input(x, d_model, batch_first, op, name):
    if not isinstance(x, Tensor):
        raise TypeError(f"[{op}] {name} must be a nerve.Tensor, got {type(x).__name__}")
    if x.ndim not in (2, 3) or x.shape[-1] != d_model:
        layout = "(N, L, d_model)" if batch_first else "(L, N, d_model)"
        raise ValueError(f"[{op}] expected {name} of shape {layout} or (L, d_model) with d_model={d_model}, got "
                         f"{tuple(x.shape)}")


class TransformerEncoderLayer(Module):
    """Self-attention and a feed-forward block (torch.nn.TransformerEncoderLayer).

    Args: d_model, nhead, dim_feedforward=2048, dropout=0.1, activation='relu' ('gelu' or a callable),
    layer_norm_eps=1e-5, batch_first=False, norm_first=False, bias=True.
    forward(src, src_mask=None, src_key_padding_mask=None, is_causal=False).

    Example::

        >>> import nerve
        >>> layer = nerve.nn.TransformerEncoderLayer(32, 4, 64, batch_first=True)
        >>> tuple(layer(nerve.randn(2, 10, 32)).shape)
        (2, 10, 32)
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation="relu", layer_norm_eps: float = 1e-5, batch_first: bool = False, norm_first: bool = False,
                 bias: bool = True, device=None, dtype=None):
        super().__init__()
        kw = dict(device=device, dtype=dtype)
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first, **kw)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, **kw)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, **kw)
        self.norm_first = norm_first
        self.norm1 = _layer_norm(d_model, layer_norm_eps, bias, **kw)
        self.norm2 = _layer_norm(d_model, layer_norm_eps, bias, **kw)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.activation = _activation(activation, "TransformerEncoderLayer")
        self.d_model, self.batch_first = d_model, batch_first

    def forward(self, src, src_mask=None, src_key_padding_mask=None, is_causal: bool = False):
        _check_input(src, self.d_model, self.batch_first, "TransformerEncoderLayer", "src")
        x = src
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            x = x + self._ff_block(self.norm2(x))
        else:
            x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal))
            x = self.norm2(x + self._ff_block(x))
        return x

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal):
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask, need_weights=False,
                           is_causal=is_causal)[0]
        return self.dropout1(x)

    def _ff_block(self, x):
        return self.dropout2(self.linear2(self.dropout(self.activation(self.linear1(x)))))


class TransformerDecoderLayer(Module):
    """Self-attention, attention over the encoder's memory, and a feed-forward block
    (torch.nn.TransformerDecoderLayer). Args as TransformerEncoderLayer.
    forward(tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
    memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False).
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation="relu", layer_norm_eps: float = 1e-5, batch_first: bool = False, norm_first: bool = False,
                 bias: bool = True, device=None, dtype=None):
        super().__init__()
        kw = dict(device=device, dtype=dtype)
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first, **kw)
        self.multihead_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first,
                                                 **kw)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, **kw)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, **kw)
        self.norm_first = norm_first
        self.norm1 = _layer_norm(d_model, layer_norm_eps, bias, **kw)
        self.norm2 = _layer_norm(d_model, layer_norm_eps, bias, **kw)
        self.norm3 = _layer_norm(d_model, layer_norm_eps, bias, **kw)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.dropout3 = Dropout(dropout)
        self.activation = _activation(activation, "TransformerDecoderLayer")
        self.d_model, self.batch_first = d_model, batch_first

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal: bool = False, memory_is_causal: bool = False):
        _check_input(tgt, self.d_model, self.batch_first, "TransformerDecoderLayer", "tgt")
        _check_input(memory, self.d_model, self.batch_first, "TransformerDecoderLayer", "memory")
        x = tgt
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), tgt_mask, tgt_key_padding_mask, tgt_is_causal)
            x = x + self._mha_block(self.norm2(x), memory, memory_mask, memory_key_padding_mask, memory_is_causal)
            x = x + self._ff_block(self.norm3(x))
        else:
            x = self.norm1(x + self._sa_block(x, tgt_mask, tgt_key_padding_mask, tgt_is_causal))
            x = self.norm2(x + self._mha_block(x, memory, memory_mask, memory_key_padding_mask, memory_is_causal))
            x = self.norm3(x + self._ff_block(x))
        return x

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal):
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask, is_causal=is_causal,
                           need_weights=False)[0]
        return self.dropout1(x)

    def _mha_block(self, x, mem, attn_mask, key_padding_mask, is_causal):
        x = self.multihead_attn(x, mem, mem, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                                is_causal=is_causal, need_weights=False)[0]
        return self.dropout2(x)

    def _ff_block(self, x):
        return self.dropout3(self.linear2(self.dropout(self.activation(self.linear1(x)))))


def _clones(module, n):
    return ModuleList([copy.deepcopy(module) for _ in range(n)])


class TransformerEncoder(Module):
    """A stack of num_layers copies of encoder_layer, then an optional norm (torch.nn.TransformerEncoder).

    forward(src, mask=None, src_key_padding_mask=None, is_causal=None); is_causal=None detects a
    causal `mask` and lets the kernel apply it.
    """

    def __init__(self, encoder_layer, num_layers: int, norm=None, enable_nested_tensor: bool = True,
                 mask_check: bool = True):
        super().__init__()
        if not isinstance(num_layers, int) or num_layers < 1:
            raise ValueError(f"[TransformerEncoder] num_layers must be a positive integer, got {num_layers!r}")
        self.layers = _clones(encoder_layer, num_layers)
        self.num_layers, self.norm = num_layers, norm

    def forward(self, src, mask=None, src_key_padding_mask=None, is_causal=None):
        seq = src.shape[1] if getattr(self.layers[0], "batch_first", False) and src.ndim == 3 else src.shape[0]
        causal = _is_causal_mask(mask, seq) if is_causal is None else bool(is_causal)
        out = src
        for layer in self.layers:
            out = layer(out, src_mask=mask, is_causal=causal, src_key_padding_mask=src_key_padding_mask)
        return self.norm(out) if self.norm is not None else out


class TransformerDecoder(Module):
    """A stack of num_layers copies of decoder_layer, then an optional norm (torch.nn.TransformerDecoder)."""

    def __init__(self, decoder_layer, num_layers: int, norm=None):
        super().__init__()
        if not isinstance(num_layers, int) or num_layers < 1:
            raise ValueError(f"[TransformerDecoder] num_layers must be a positive integer, got {num_layers!r}")
        self.layers = _clones(decoder_layer, num_layers)
        self.num_layers, self.norm = num_layers, norm

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal=None, memory_is_causal: bool = False):
        seq = tgt.shape[1] if getattr(self.layers[0], "batch_first", False) and tgt.ndim == 3 else tgt.shape[0]
        causal = _is_causal_mask(tgt_mask, seq) if tgt_is_causal is None else bool(tgt_is_causal)
        out = tgt
        for layer in self.layers:
            out = layer(out, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                        tgt_key_padding_mask=tgt_key_padding_mask, memory_key_padding_mask=memory_key_padding_mask,
                        tgt_is_causal=causal, memory_is_causal=memory_is_causal)
        return self.norm(out) if self.norm is not None else out


class Transformer(Module):
    """Encoder-decoder Transformer (torch.nn.Transformer): encoder, decoder, each with a final LayerNorm.

    Args: d_model=512, nhead=8, num_encoder_layers=6, num_decoder_layers=6, dim_feedforward=2048,
    dropout=0.1, activation='relu', layer_norm_eps=1e-5, batch_first=False, norm_first=False, bias=True.
    """

    def __init__(self, d_model: int = 512, nhead: int = 8, num_encoder_layers: int = 6, num_decoder_layers: int = 6,
                 dim_feedforward: int = 2048, dropout: float = 0.1, activation="relu", custom_encoder=None,
                 custom_decoder=None, layer_norm_eps: float = 1e-5, batch_first: bool = False,
                 norm_first: bool = False, bias: bool = True, device=None, dtype=None):
        super().__init__()
        kw = dict(device=device, dtype=dtype)
        layer_kw = dict(dim_feedforward=dim_feedforward, dropout=dropout, activation=activation,
                        layer_norm_eps=layer_norm_eps, batch_first=batch_first, norm_first=norm_first, bias=bias, **kw)
        self.encoder = custom_encoder or TransformerEncoder(
            TransformerEncoderLayer(d_model, nhead, **layer_kw), num_encoder_layers,
            _layer_norm(d_model, layer_norm_eps, bias, **kw))
        self.decoder = custom_decoder or TransformerDecoder(
            TransformerDecoderLayer(d_model, nhead, **layer_kw), num_decoder_layers,
            _layer_norm(d_model, layer_norm_eps, bias, **kw))
        self.d_model, self.nhead, self.batch_first = d_model, nhead, batch_first

    generate_square_subsequent_mask = staticmethod(generate_square_subsequent_mask)

    def forward(self, src, tgt, src_mask=None, tgt_mask=None, memory_mask=None, src_key_padding_mask=None,
                tgt_key_padding_mask=None, memory_key_padding_mask=None, src_is_causal=None, tgt_is_causal=None,
                memory_is_causal: bool = False):
        if src.ndim == 3 and tgt.ndim == 3 and src.shape[0 if self.batch_first else 1] != \
                tgt.shape[0 if self.batch_first else 1]:
            raise RuntimeError("[Transformer] the batch number of src and tgt must be equal")
        if src.shape[-1] != self.d_model or tgt.shape[-1] != self.d_model:
            raise RuntimeError("[Transformer] the feature number of src and tgt must be equal to d_model")
        memory = self.encoder(src, mask=src_mask, src_key_padding_mask=src_key_padding_mask, is_causal=src_is_causal)
        return self.decoder(tgt, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                            tgt_key_padding_mask=tgt_key_padding_mask,
                            memory_key_padding_mask=memory_key_padding_mask, tgt_is_causal=tgt_is_causal,
                            memory_is_causal=memory_is_causal)
