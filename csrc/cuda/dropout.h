// dropout.h — host entries of the CUDA dropout kernels: same contract as csrc/cpu/dropout.h
// (same Philox words, same threshold, same bit mask), device pointers, launched on `stream`.
#pragma once
#include <cstdint>

namespace nerve::cuda {

void dropout_forward_f32(float* y, uint8_t* mask, const float* x, int64_t n, double p, uint64_t seed,
                         uint64_t offset, void* stream);
void dropout_forward_f64(double* y, uint8_t* mask, const double* x, int64_t n, double p, uint64_t seed,
                         uint64_t offset, void* stream);
void dropout_backward_f32(float* dx, const float* dy, const uint8_t* mask, int64_t n, double p, void* stream);
void dropout_backward_f64(double* dx, const double* dy, const uint8_t* mask, int64_t n, double p, void* stream);

}  // namespace nerve::cuda
