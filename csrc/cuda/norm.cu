// norm.cu — nvcc translation unit for the CUDA batch_norm / layer_norm (kernels live in norm.cuh).
#include "norm.cuh"
#include "norm.h"

namespace nerve::cuda {

int64_t batch_norm_workspace(int64_t N, int64_t C, int64_t L) { return bn_workspace_floats(N, C, L); }

void batch_norm_forward_f32(float* y, double* save_mean, double* save_invstd, float* running_mean, float* running_var,
                            const float* x, const float* weight, const float* bias, int64_t N, int64_t C, int64_t L,
                            bool training, double momentum, double eps, float* work, void* stream) {
  batch_norm_forward_launch(y, save_mean, save_invstd, running_mean, running_var, x, weight, bias, N, C, L, training,
                            momentum, eps, work, static_cast<cudaStream_t>(stream));
}

void batch_norm_backward_f32(float* dx, float* dweight, float* dbias, const float* dy, const float* x,
                             const double* save_mean, const double* save_invstd, const float* weight, int64_t N,
                             int64_t C, int64_t L, bool training, float* work, void* stream) {
  batch_norm_backward_launch(dx, dweight, dbias, dy, x, save_mean, save_invstd, weight, N, C, L, training, work,
                             static_cast<cudaStream_t>(stream));
}

int64_t layer_norm_workspace(int64_t M, int64_t D) { return ln_workspace_floats(M, D); }

void layer_norm_forward_f32(float* y, double* mean, double* rstd, const float* x, const float* weight,
                            const float* bias, int64_t M, int64_t D, double eps, void* stream) {
  layer_norm_forward_launch(y, mean, rstd, x, weight, bias, M, D, eps, static_cast<cudaStream_t>(stream));
}

void layer_norm_backward_f32(float* dx, float* dweight, float* dbias, const float* dy, const float* x,
                             const double* mean, const double* rstd, const float* weight, int64_t M, int64_t D,
                             float* work, void* stream) {
  layer_norm_backward_launch(dx, dweight, dbias, dy, x, mean, rstd, weight, M, D, work,
                             static_cast<cudaStream_t>(stream));
}

}  // namespace nerve::cuda
