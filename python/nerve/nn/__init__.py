"""nerve.nn — layers, losses and initialisation, shaped like torch.nn."""
from . import functional, init  # noqa: F401
from .parameter import Parameter  # noqa: F401
from .module import Module  # noqa: F401
from .containers import Sequential, ModuleList, ModuleDict  # noqa: F401
from .linear import Linear, Identity, Flatten, Unflatten  # noqa: F401
from . import utils  # noqa: F401
from .conv import Conv1d, Conv2d, ConvTranspose1d, ConvTranspose2d  # noqa: F401
from .pooling import (MaxPool1d, MaxPool2d, AvgPool1d, AvgPool2d, AdaptiveAvgPool2d,  # noqa: F401
                      AdaptiveMaxPool2d)
from .residual import Residual, BasicBlock  # noqa: F401
from .dropout import Dropout  # noqa: F401
from .activation import (ELU, GELU, Hardtanh, LeakyReLU, LogSoftmax, ReLU, Sigmoid, SiLU, Softmax,  # noqa: F401
                         Softplus, Tanh)
from .loss import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, L1Loss, MSELoss, NLLLoss  # noqa: F401
from .normalization import BatchNorm1d, BatchNorm2d, LayerNorm, GroupNorm  # noqa: F401
from .sparse import Embedding  # noqa: F401
from .rnn import (RNNBase, RNN, LSTM, GRU, RNNCellBase, RNNCell, LSTMCell, GRUCell, PackedSequence,  # noqa: F401
                  pack_padded_sequence, pad_packed_sequence, pad_sequence, pack_sequence)
from .attention import MultiheadAttention, SinusoidalPositionalEmbedding, LearnedPositionalEmbedding  # noqa: F401
from .transformer import (TransformerEncoderLayer, TransformerEncoder, TransformerDecoderLayer,  # noqa: F401
                          TransformerDecoder, Transformer, generate_square_subsequent_mask)
