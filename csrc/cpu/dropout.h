// dropout.h — dropout on the CPU with a counter-based RNG (Philox4x32-10, csrc/core/philox.h):
// element i is kept when its random word, a function of (seed, offset, i) alone, is below
// keep_threshold(p); so the mask is the same for any thread count, and the CUDA kernel
// (csrc/cuda/dropout.cuh) draws the same one. Kept elements are scaled by 1 / (1 - p) computed in T,
// dropped ones multiplied by 0 (inf and NaN inputs give NaN, as torch's input * mask does).
//
// Arrays are contiguous and hold n elements; the mask holds philox::dropout_mask_bytes(n) bytes,
// bit i % 8 of byte i / 8 set for a kept element (bits past n are 0). Requires 0 < p < 1
// (the binding checks). Outputs may alias inputs (y == x, dx == dy): in-place dropout.
#pragma once
#include <cstdint>

namespace nerve {

// y = x * keep / (1 - p); mask may be null (no gradient needed).
template <class T>
void dropout_forward(T* y /* (n) */, uint8_t* mask /* (mask bytes) or null */, const T* x /* (n) */, int64_t n,
                     double p, uint64_t seed, uint64_t offset);
// dx = dy * keep / (1 - p), with keep read from the forward's mask.
template <class T>
void dropout_backward(T* dx /* (n) */, const T* dy /* (n) */, const uint8_t* mask, int64_t n, double p);

// The oracle: one element at a time through philox::element_word.
template <class T>
void dropout_forward_naive(T* y, uint8_t* mask, const T* x, int64_t n, double p, uint64_t seed, uint64_t offset);
template <class T>
void dropout_backward_naive(T* dx, const T* dy, const uint8_t* mask, int64_t n, double p);

const char* dropout_backend();  // "avx512", "avx2" or "generic": the block kernels dropout uses now

// Per-ISA block kernels (internal to dropout*.cpp): 64-element blocks [b0, b1) of an n-element array.
template <class T>
struct DropoutKernels {
  void (*forward)(T* y, uint8_t* mask, const T* x, int64_t b0, int64_t b1, int64_t n, uint32_t threshold, T scale,
                  uint64_t seed, uint64_t offset);
  void (*backward)(T* dx, const T* dy, const uint8_t* mask, int64_t b0, int64_t b1, int64_t n, T scale);
};
const DropoutKernels<float>& dropout_kernels_avx512_f32();
const DropoutKernels<double>& dropout_kernels_avx512_f64();
const DropoutKernels<float>& dropout_kernels_avx2_f32();
const DropoutKernels<double>& dropout_kernels_avx2_f64();

}  // namespace nerve
