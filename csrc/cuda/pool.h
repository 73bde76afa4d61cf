// pool.h — host entries of the CUDA pooling: the contract of csrc/cpu/pool.h over device
// pointers (float or double), launched on `stream` (a cudaStream_t; 0 is the legacy default
// stream). Backward passes write dx. max_pool2d_backward's `window` says which outputs can point
// at an input: kMaxWindow (the window in `s`) or kAdaptiveWindow gather deterministically;
// kAnyWindow scatters with atomics and skips indices outside [0, H*W).
#pragma once
#include <cstdint>

#include "../cpu/pool.h"

namespace nerve::cuda {

enum PoolWindow { kAnyWindow = 0, kMaxWindow = 1, kAdaptiveWindow = 2 };

template <class T>
void max_pool2d_forward(T* y /* (N,C,OH,OW) */, int64_t* indices /* (N,C,OH,OW) or null */, const T* x /* (N,C,H,W) */,
                        const Pool2dShape& s, void* stream);
template <class T>
void adaptive_max_pool2d_forward(T* y, int64_t* indices, const T* x, const Pool2dShape& s, void* stream);
template <class T>
void max_pool2d_backward(T* dx /* (N,C,H,W) */, const T* dy /* (N,C,OH,OW) */, const int64_t* indices,
                         const Pool2dShape& s, int window, void* stream);
template <class T>
void avg_pool2d_forward(T* y, const T* x, const Pool2dShape& s, bool count_include_pad, int64_t divisor, void* stream);
template <class T>
void avg_pool2d_backward(T* dx, const T* dy, const Pool2dShape& s, bool count_include_pad, int64_t divisor,
                         void* stream);
template <class T>
void adaptive_avg_pool2d_forward(T* y, const T* x, const Pool2dShape& s, void* stream);
template <class T>
void adaptive_avg_pool2d_backward(T* dx, const T* dy, const Pool2dShape& s, void* stream);

}  // namespace nerve::cuda
