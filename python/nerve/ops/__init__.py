"""nerve.ops — autograd Functions backed by nerve's own kernels, one module per kernel family,
named with the stem of its C++ files (ops/conv.py <-> csrc/cpu/conv.cpp, csrc/cuda/conv.cu)."""
