// softmax.cu — nvcc translation unit for the CUDA softmax / log_softmax (kernels live in softmax.cuh).
#include "softmax.cuh"
#include "softmax.h"

namespace nerve::cuda {

void softmax_forward(float* y, const float* x, int64_t outer, int64_t dim, int64_t inner, bool log, void* stream) {
  softmax_forward_launch(y, x, outer, dim, inner, log, static_cast<cudaStream_t>(stream));
}
void softmax_forward(double* y, const double* x, int64_t outer, int64_t dim, int64_t inner, bool log, void* stream) {
  softmax_forward_launch(y, x, outer, dim, inner, log, static_cast<cudaStream_t>(stream));
}
void softmax_backward(float* dx, const float* dy, const float* y, int64_t outer, int64_t dim, int64_t inner, bool log,
                      void* stream) {
  softmax_backward_launch(dx, dy, y, outer, dim, inner, log, static_cast<cudaStream_t>(stream));
}
void softmax_backward(double* dx, const double* dy, const double* y, int64_t outer, int64_t dim, int64_t inner,
                      bool log, void* stream) {
  softmax_backward_launch(dx, dy, y, outer, dim, inner, log, static_cast<cudaStream_t>(stream));
}

}  // namespace nerve::cuda
