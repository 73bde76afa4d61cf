"""nerve.nn — layers, losses and initialisation, shaped like torch.nn."""
from . import functional, init  # noqa: F401
from .parameter import Parameter  # noqa: F401
from .module import Module  # noqa: F401
from .containers import Sequential, ModuleList, ModuleDict  # noqa: F401
from .linear import Linear, Identity, Flatten, Unflatten  # noqa: F401
from . import utils  # noqa: F401
from .dropout import Dropout  # noqa: F401
from .activation import (ELU, GELU, Hardtanh, LeakyReLU, LogSoftmax, ReLU, Sigmoid, SiLU, Softmax,  # noqa: F401
                         Softplus, Tanh)
from .loss import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, L1Loss, MSELoss, NLLLoss  # noqa: F401
from .normalization import BatchNorm1d, BatchNorm2d, LayerNorm, GroupNorm  # noqa: F401
from .sparse import Embedding  # noqa: F401
