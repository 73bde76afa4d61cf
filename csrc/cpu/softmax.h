// softmax.h — softmax and log_softmax on the CPU over the middle axis of a contiguous
// (outer, dim, inner) array (softmax over dim d of a tensor: outer = prod(shape[:d]),
// inner = prod(shape[d+1:])), forward and backward, plus plain-loop *_naive references (double).
//
// Backward runs from the output y: softmax dx = y (dy - sum(dy y)), log_softmax dx = dy - e^y sum(dy),
// with sums over dim; activation gradients are written (dx =). dx may be dy. float32 runs on the
// SIMD back end isa() picks (softmax_avx512.cpp, softmax_avx2.cpp, portable), float64 on scalar libm.
#pragma once
#include <cstdint>

namespace nerve {

template <class T>
void softmax_forward(T* y /* (outer, dim, inner) */, const T* x /* (outer, dim, inner) */, int64_t outer, int64_t dim,
                     int64_t inner, bool log);
template <class T>
void softmax_backward(T* dx /* (outer, dim, inner) */, const T* dy /* (outer, dim, inner) */,
                      const T* y /* (outer, dim, inner): the forward's output */, int64_t outer, int64_t dim,
                      int64_t inner, bool log);

template <class T>
void softmax_forward_naive(T* y, const T* x, int64_t outer, int64_t dim, int64_t inner, bool log);
template <class T>
void softmax_backward_naive(T* dx, const T* dy, const T* y, int64_t outer, int64_t dim, int64_t inner, bool log);

const char* softmax_backend();  // "avx512", "avx2" or "generic"

}  // namespace nerve
