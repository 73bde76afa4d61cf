// optim_avx512.cpp — the optimizer loops of optim_impl.h compiled for AVX-512 (16 floats a vector;
// used when isa() says so). Memory-bound: one read of param, grad and state, one write back.
#include "optim_impl.h"

NERVE_DEFINE_OPTIM_SPANS(avx512)
