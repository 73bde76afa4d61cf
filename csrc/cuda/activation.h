// activation.h — host entry of the CUDA activations: same contract as csrc/cpu/activation.h,
// device pointers, launched on `stream` (a cudaStream_t; 0 is the legacy default stream).
#pragma once
#include "../cpu/activation.h"

namespace nerve::cuda {

void activation_forward(float* y, const float* x, int64_t n, Act op, ActParams p, void* stream);
void activation_forward(double* y, const double* x, int64_t n, Act op, ActParams p, void* stream);
void activation_backward(float* dx, const float* dy, const float* s, int64_t n, Act op, ActParams p, bool from_output,
                         void* stream);
void activation_backward(double* dx, const double* dy, const double* s, int64_t n, Act op, ActParams p,
                         bool from_output, void* stream);

}  // namespace nerve::cuda
