// dropout.cpp — the dropout driver (threads over 64-element blocks), the portable copy of the block
// kernels (dropout_blocks.h) and the naive oracle. AVX-512 block kernels: dropout_avx512.cpp;
// AVX2: dropout_avx2.cpp (the portable source with AVX2 flags).
//
// A block is 16 Philox counters = 64 elements (philox.h), so threads split the array at block
// boundaries and each writes whole bytes of the mask: the result cannot depend on the split.
// Forward is memory-bound at 2 threads (read x, write y and 1/32 of it as mask) once Philox runs
// 16 lanes wide; backward reads the mask instead of regenerating it, which measured cheaper than
// ten Philox rounds per four elements (bench_dropout.py).
#include "dropout.h"

#include <algorithm>

#include "../core/cpu_features.h"
#include "../core/parallel.h"
#include "../core/philox.h"

#define NERVE_DROPOUT_ISA dropout_generic
#include "dropout_blocks.h"
#undef NERVE_DROPOUT_ISA

namespace nerve {
namespace {

using philox::kBlock;

template <class T>
const DropoutKernels<T>& kernels_for(Isa isa) {
  static const DropoutKernels<T> portable = dropout_generic::make_kernels<T>();
#ifdef NERVE_X86_KERNELS
  if (isa == Isa::avx512) {
    if constexpr (sizeof(T) == 4) return dropout_kernels_avx512_f32();
    else return dropout_kernels_avx512_f64();
  }
  if (isa == Isa::avx2) {
    if constexpr (sizeof(T) == 4) return dropout_kernels_avx2_f32();
    else return dropout_kernels_avx2_f64();
  }
#endif
  return portable;
}

// Blocks per thread chunk: at least 16K elements, so threads never share a mask cache line.
constexpr int64_t kGrainBlocks = 256;

}  // namespace

template <class T>
void dropout_forward(T* y, uint8_t* mask, const T* x, int64_t n, double p, uint64_t seed, uint64_t offset) {
  const DropoutKernels<T>& k = kernels_for<T>(isa());
  const uint32_t thr = philox::keep_threshold(p);
  const T scale = T(1) / T(1 - p);
  const int64_t blocks = (n + kBlock - 1) / kBlock;
  parallel_for(blocks, kGrainBlocks, [&](int64_t b0, int64_t b1) { k.forward(y, mask, x, b0, b1, n, thr, scale, seed, offset); });
}

template <class T>
void dropout_backward(T* dx, const T* dy, const uint8_t* mask, int64_t n, double p) {
  const DropoutKernels<T>& k = kernels_for<T>(isa());
  const T scale = T(1) / T(1 - p);
  const int64_t blocks = (n + kBlock - 1) / kBlock;
  parallel_for(blocks, kGrainBlocks, [&](int64_t b0, int64_t b1) { k.backward(dx, dy, mask, b0, b1, n, scale); });
}

template <class T>
void dropout_forward_naive(T* y, uint8_t* mask, const T* x, int64_t n, double p, uint64_t seed, uint64_t offset) {
  const uint32_t thr = philox::keep_threshold(p);
  const T scale = T(1) / T(1 - p);
  if (mask) std::fill(mask, mask + philox::dropout_mask_bytes(n), uint8_t(0));
  for (int64_t i = 0; i < n; ++i) {
    const bool keep = philox::element_word(seed, offset, i) < thr;
    if (mask && keep) mask[i >> 3] |= uint8_t(1u << (i & 7));
    y[i] = x[i] * (keep ? scale : T(0));
  }
}

template <class T>
void dropout_backward_naive(T* dx, const T* dy, const uint8_t* mask, int64_t n, double p) {
  const T scale = T(1) / T(1 - p);
  for (int64_t i = 0; i < n; ++i) dx[i] = dy[i] * ((mask[i >> 3] >> (i & 7)) & 1 ? scale : T(0));
}

const char* dropout_backend() { return isa_name(isa()); }

#define NERVE_DROPOUT_INSTANTIATE(T)                                                                   \
  template void dropout_forward<T>(T*, uint8_t*, const T*, int64_t, double, uint64_t, uint64_t);       \
  template void dropout_backward<T>(T*, const T*, const uint8_t*, int64_t, double);                    \
  template void dropout_forward_naive<T>(T*, uint8_t*, const T*, int64_t, double, uint64_t, uint64_t); \
  template void dropout_backward_naive<T>(T*, const T*, const uint8_t*, int64_t, double);
NERVE_DROPOUT_INSTANTIATE(float)
NERVE_DROPOUT_INSTANTIATE(double)
#undef NERVE_DROPOUT_INSTANTIATE

}  // namespace nerve
