// norm.h — host entries of the CUDA batch_norm / layer_norm kernels (float32): the contract of
// csrc/cpu/norm.h (float64 saved statistics, gradients written), device pointers, launched on
// `stream`. `work` is caller-provided float32 scratch of *_workspace(...) values.
#pragma once
#include <cstdint>

namespace nerve::cuda {

int64_t batch_norm_workspace(int64_t N, int64_t C, int64_t L);
void batch_norm_forward_f32(float* y, double* save_mean, double* save_invstd, float* running_mean, float* running_var,
                            const float* x, const float* weight, const float* bias, int64_t N, int64_t C, int64_t L,
                            bool training, double momentum, double eps, float* work, void* stream);
void batch_norm_backward_f32(float* dx, float* dweight, float* dbias, const float* dy, const float* x,
                             const double* save_mean, const double* save_invstd, const float* weight, int64_t N,
                             int64_t C, int64_t L, bool training, float* work, void* stream);

int64_t layer_norm_workspace(int64_t M, int64_t D);
void layer_norm_forward_f32(float* y, double* mean, double* rstd, const float* x, const float* weight,
                            const float* bias, int64_t M, int64_t D, double eps, void* stream);
void layer_norm_backward_f32(float* dx, float* dweight, float* dbias, const float* dy, const float* x,
                             const double* mean, const double* rstd, const float* weight, int64_t M, int64_t D,
                             float* work, void* stream);

}  // namespace nerve::cuda
