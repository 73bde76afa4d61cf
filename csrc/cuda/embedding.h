// embedding.h — host entries of the CUDA embedding kernels (float32 weights; indices int64 or
// int32, `index64` says which): the contract of csrc/cpu/embedding.h, device pointers, launched
// on `stream`. Forward records n - (first bad position) in *status (int64, zeroed by the caller);
// backward accumulates into dweight and needs embedding_workspace(n, V) int32 values of scratch.
#pragma once
#include <cstdint>

namespace nerve::cuda {

int64_t embedding_workspace(int64_t n, int64_t V);
void embedding_forward_f32(float* out, const float* weight, const void* indices, bool index64, int64_t n, int64_t V,
                           int64_t D, int64_t* status, void* stream);
void embedding_backward_f32(float* dweight, const float* dy, const void* indices, bool index64, int64_t n, int64_t V,
                            int64_t D, int64_t padding_idx, bool scale_grad_by_freq, int32_t* work, void* stream);

}  // namespace nerve::cuda
