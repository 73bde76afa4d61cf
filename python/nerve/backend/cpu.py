"""backend/cpu.py — host arrays are numpy arrays; kernels are nerve._C.cpu."""
import numpy as np

from .. import _C

xp = np
kernels = _C.cpu
