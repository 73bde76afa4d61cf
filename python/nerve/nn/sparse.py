"""sparse.py — nn.Embedding (torch.nn.Embedding): a lookup table of num_embeddings vectors."""
from __future__ import annotations

from .. import creation
from ..autograd import no_grad
from ..ops.embedding import embedding
from . import init
from .module import Module
from .parameter import Parameter


class Embedding(Module):
    """A table of num_embeddings vectors of size embedding_dim, indexed by integer tensors.

    Args: num_embeddings, embedding_dim, padding_idx=None (that row starts at zero and gets no
    gradient), max_norm=None (looked-up rows renormalised in place to at most this norm),
    norm_type=2.0, scale_grad_by_freq=False, sparse=False (sparse gradients are not supported).
    Shape: input (*) int64 or int32 -> output (*, embedding_dim).
    Init (as PyTorch): weight ~ N(0, 1), the padding row zeroed.

    Example::

        >>> import nerve
        >>> emb = nerve.nn.Embedding(10, 3, padding_idx=0)
        >>> emb(nerve.tensor([[1, 2, 4, 5], [4, 3, 2, 9]])).shape
        nerve.Size([2, 4, 3])
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx=None, max_norm=None,
                 norm_type: float = 2.0, scale_grad_by_freq: bool = False, sparse: bool = False, _weight=None,
                 _freeze: bool = False, device=None, dtype=None):
        super().__init__()
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(f"[Embedding] Padding_idx must be within num_embeddings ({num_embeddings}), "
                                 f"got {padding_idx}")
            if padding_idx < 0:
                padding_idx = num_embeddings + padding_idx
        self.padding_idx, self.max_norm, self.norm_type = padding_idx, max_norm, norm_type
        self.scale_grad_by_freq = scale_grad_by_freq
        if sparse:
            raise NotImplementedError("[Embedding] sparse gradients are not supported; use sparse=False")
        self.sparse = sparse
        if _weight is None:
            self.weight = Parameter(creation.empty(num_embeddings, embedding_dim, dtype=dtype, device=device),
                                    requires_grad=not _freeze)
            self.reset_parameters()
        else:
            if list(_weight.shape) != [num_embeddings, embedding_dim]:
                raise ValueError(f"[Embedding] Shape of weight {tuple(_weight.shape)} does not match "
                                 f"num_embeddings and embedding_dim ({num_embeddings}, {embedding_dim})")
            self.weight = Parameter(_weight, requires_grad=not _freeze)

    def reset_parameters(self) -> None:
        init.normal_(self.weight)
        self._fill_padding_idx_with_zero()

    def _fill_padding_idx_with_zero(self) -> None:
        if self.padding_idx is not None:
            with no_grad():
                self.weight._data[self.padding_idx] = 0
                self.weight._vcell()[0] += 1

    def forward(self, input):
        return embedding(input, self.weight, self.padding_idx, self.max_norm, self.norm_type,
                         self.scale_grad_by_freq, self.sparse)

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        if self.max_norm is not None:
            s += f", max_norm={self.max_norm}"
        if self.norm_type != 2:
            s += f", norm_type={self.norm_type}"
        if self.scale_grad_by_freq is not False:
            s += f", scale_grad_by_freq={self.scale_grad_by_freq}"
        return s

    @classmethod
    def from_pretrained(cls, embeddings, freeze: bool = True, padding_idx=None, max_norm=None, norm_type: float = 2.0,
                        scale_grad_by_freq: bool = False, sparse: bool = False) -> "Embedding":
        """An Embedding whose weight is `embeddings` (2-D; shared, not copied); freeze=True: no gradient."""
        if embeddings.ndim != 2:
            raise ValueError(f"[Embedding] Embeddings parameter is expected to be 2-dimensional, got shape "
                             f"{tuple(embeddings.shape)}")
        rows, cols = embeddings.shape
        return cls(rows, cols, padding_idx=padding_idx, max_norm=max_norm, norm_type=norm_type,
                   scale_grad_by_freq=scale_grad_by_freq, sparse=sparse, _weight=embeddings, _freeze=freeze)
