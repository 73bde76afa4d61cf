// dropout.cu — nvcc translation unit for the CUDA dropout (kernels live in dropout.cuh).
#include "dropout.cuh"
#include "dropout.h"

namespace nerve::cuda {

void dropout_forward_f32(float* y, uint8_t* mask, const float* x, int64_t n, double p, uint64_t seed,
                         uint64_t offset, void* stream) {
  dropout_forward_launch(y, mask, x, n, p, seed, offset, static_cast<cudaStream_t>(stream));
}
void dropout_forward_f64(double* y, uint8_t* mask, const double* x, int64_t n, double p, uint64_t seed,
                         uint64_t offset, void* stream) {
  dropout_forward_launch(y, mask, x, n, p, seed, offset, static_cast<cudaStream_t>(stream));
}
void dropout_backward_f32(float* dx, const float* dy, const uint8_t* mask, int64_t n, double p, void* stream) {
  dropout_backward_launch(dx, dy, mask, n, p, static_cast<cudaStream_t>(stream));
}
void dropout_backward_f64(double* dx, const double* dy, const uint8_t* mask, int64_t n, double p, void* stream) {
  dropout_backward_launch(dx, dy, mask, n, p, static_cast<cudaStream_t>(stream));
}

}  // namespace nerve::cuda
