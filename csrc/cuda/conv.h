// conv.h — host entries of the CUDA convolution: the contract of csrc/cpu/conv.h (dx and y
// written, dw and db accumulated with +=) over device pointers, launched on `stream` (a
// cudaStream_t; 0 is the legacy default stream). `kernel`: 0 automatic, 1 the simple reference,
// 2 the 64x64-tile kernel, 3 the 128x128-tile kernel (float32 only; float64 always runs the
// simple kernels). `split_k` > 0 splits the weight gradient's reduction into that many slices
// (0: chosen by size); a split adds its slices with atomics, so the last bits of dw may then
// differ from run to run. The bias gradient is reproducible.
#pragma once
#include "../cpu/conv.h"

namespace nerve::cuda {

template <class T>
void conv2d_forward(T* y /* (N,K,OH,OW) */, const T* x /* (N,C,H,W) */, const T* w /* (K,C/g,R,S) */,
                    const T* bias /* (K) or null */, const Conv2dShape& s, void* stream, int kernel = 0);
template <class T>
void conv2d_backward_input(T* dx /* (N,C,H,W) */, const T* dy /* (N,K,OH,OW) */, const T* w /* (K,C/g,R,S) */,
                           const Conv2dShape& s, void* stream, int kernel = 0);
template <class T>
void conv2d_backward_weight(T* dw /* (K,C/g,R,S), += */, const T* dy /* (N,K,OH,OW) */, const T* x /* (N,C,H,W) */,
                            const Conv2dShape& s, void* stream, int kernel = 0, int split_k = 0);
template <class T>
void conv2d_backward_bias(T* db /* (K), += */, const T* dy /* (N,K,OH,OW) */, const Conv2dShape& s, void* stream);

}  // namespace nerve::cuda
