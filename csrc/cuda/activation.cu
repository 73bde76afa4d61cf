// activation.cu — nvcc translation unit for the CUDA activations (kernels live in activation.cuh).
#include "activation.cuh"
#include "activation.h"

namespace nerve::cuda {

void activation_forward(float* y, const float* x, int64_t n, Act op, ActParams p, void* stream) {
  activation_forward_launch(y, x, n, op, p, static_cast<cudaStream_t>(stream));
}
void activation_forward(double* y, const double* x, int64_t n, Act op, ActParams p, void* stream) {
  activation_forward_launch(y, x, n, op, p, static_cast<cudaStream_t>(stream));
}
void activation_backward(float* dx, const float* dy, const float* s, int64_t n, Act op, ActParams p, bool from_output,
                         void* stream) {
  activation_backward_launch(dx, dy, s, n, op, p, from_output, static_cast<cudaStream_t>(stream));
}
void activation_backward(double* dx, const double* dy, const double* s, int64_t n, Act op, ActParams p,
                         bool from_output, void* stream) {
  activation_backward_launch(dx, dy, s, n, op, p, from_output, static_cast<cudaStream_t>(stream));
}

}  // namespace nerve::cuda
