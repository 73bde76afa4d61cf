// embedding.h — embedding lookup on the CPU: forward gathers rows of the weight, backward
// scatter-adds the output gradient into the weight gradient, deterministically (each weight row's
// sum runs over the indices in order, whatever the thread count), plus *_naive references.
//
// weight (V, D) and the other arrays contiguous; indices (n) int64 or int32. An index outside
// [0, V) is never read through: forward writes zeros in its row and both kernels return the first
// such position (the binding raises), or -1 when all are valid. Backward accumulates (dweight +=),
// so a zeroed (calloc'd) buffer needs no extra pass; rows equal to padding_idx (-1: none) get no
// gradient; scale_grad_by_freq divides each contribution by its index's count, as torch.
#pragma once
#include <cstdint>

namespace nerve {

template <class T, class I>
int64_t embedding_forward(T* out /* (n,D) */, const T* weight /* (V,D) */, const I* indices /* (n) */, int64_t n,
                          int64_t V, int64_t D);
template <class T, class I>
int64_t embedding_backward(T* dweight /* (V,D), += */, const T* dy /* (n,D) */, const I* indices /* (n) */,
                           int64_t n, int64_t V, int64_t D, int64_t padding_idx, bool scale_grad_by_freq);

template <class T, class I>
int64_t embedding_forward_naive(T* out, const T* weight, const I* indices, int64_t n, int64_t V, int64_t D);
template <class T, class I>
int64_t embedding_backward_naive(T* dweight, const T* dy, const I* indices, int64_t n, int64_t V, int64_t D,
                                 int64_t padding_idx, bool scale_grad_by_freq);

}  // namespace nerve
