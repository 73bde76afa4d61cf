"""nerve — a deep-learning library on hand-written CPU (C++/OpenMP/SIMD) and CUDA kernels.

    import nerve
    x = nerve.randn(64, 784)
    w = nerve.randn(784, 10, requires_grad=True)
    loss = (x @ w).square().mean()
    loss.backward()          # w.grad now holds d loss / d w
"""
from . import _C  # noqa: F401  (the compiled kernels; fails loudly if the build is missing)
from .version import __version__
from .dtypes import (dtype, float32, float64, float16, int64, int32, uint8, bool_ as bool,  # noqa: A001
                     get_default_dtype, set_default_dtype)
from .dtypes import float32 as float, float64 as double, int64 as long, float16 as half  # noqa: A001
from .device import device
from .tensor import Tensor, Size
from .autograd import no_grad, enable_grad, set_grad_enabled, is_grad_enabled, inference_mode
from . import autograd
from .creation import (tensor, as_tensor, from_numpy, from_dlpack, zeros, ones, empty, full, zeros_like, ones_like,
                       empty_like, full_like, arange, linspace, eye, cat, concat, concatenate, stack)
from .random import (manual_seed, seed, Generator, rand, randn, randint, randperm, rand_like, randn_like,
                     randint_like, bernoulli)
from ._api import *  # noqa: F401,F403  (torch's function forms: nerve.exp, nerve.matmul, ...)
from ._api import max, min, sum, abs, pow  # noqa: A004
from .config import set_num_threads, get_num_threads, show_config, config
from . import cuda, testing  # noqa: F401
from .io import save, load  # noqa: F401  (state dicts as safetensors files)
from . import optim  # noqa: F401

from . import nn, data  # noqa: F401  (torch.nn / torch.utils.data's places)
from .train import fit, evaluate, predict, History, callbacks  # noqa: F401  (the Keras-shaped loop)

__all__ = [n for n in dir() if not n.startswith("_")]
