// optim_avx2.cpp — the optimizer loops of optim_impl.h compiled for AVX2 + FMA (8 floats a vector).
#include "optim_impl.h"

NERVE_DEFINE_OPTIM_SPANS(avx2)
