// softmax.h — host entry of the CUDA softmax / log_softmax: same contract as csrc/cpu/softmax.h,
// device pointers, launched on `stream` (a cudaStream_t; 0 is the legacy default stream).
#pragma once
#include <cstdint>

namespace nerve::cuda {

void softmax_forward(float* y, const float* x, int64_t outer, int64_t dim, int64_t inner, bool log, void* stream);
void softmax_forward(double* y, const double* x, int64_t outer, int64_t dim, int64_t inner, bool log, void* stream);
void softmax_backward(float* dx, const float* dy, const float* y, int64_t outer, int64_t dim, int64_t inner, bool log,
                      void* stream);
void softmax_backward(double* dx, const double* dy, const double* y, int64_t outer, int64_t dim, int64_t inner,
                      bool log, void* stream);

}  // namespace nerve::cuda
