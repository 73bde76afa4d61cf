// dropout.cpp — the dropout driver (threads over 64-element blocks), the portable block kernels and
// the naive oracle. The AVX-512 block kernels are in dropout_avx512.cpp.
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

namespace nerve {
namespace {

using philox::kBlock;

// The 4 x 16 words of block b (16 counters b*16 + l), written as plain lane loops.
inline void block_words(uint32_t words[4][16], int64_t b, uint64_t seed, uint64_t offset) {
  uint32_t c0[16], c1[16], c2[16], c3[16];
  for (int l = 0; l < 16; ++l) {
    const uint64_t c = uint64_t(b) * 16 + uint64_t(l);
    c0[l] = uint32_t(c), c1[l] = uint32_t(c >> 32), c2[l] = uint32_t(offset), c3[l] = uint32_t(offset >> 32);
  }
  uint32_t k0 = uint32_t(seed), k1 = uint32_t(seed >> 32);
  for (int r = 0; r < philox::kRounds; ++r) {
    if (r) k0 += philox::kW0, k1 += philox::kW1;
#pragma omp simd
    for (int l = 0; l < 16; ++l) {
      const uint64_t p0 = uint64_t(philox::kM0) * c0[l], p1 = uint64_t(philox::kM1) * c2[l];
      const uint32_t n0 = uint32_t(p1 >> 32) ^ c1[l] ^ k0, n2 = uint32_t(p0 >> 32) ^ c3[l] ^ k1;
      c1[l] = uint32_t(p1), c3[l] = uint32_t(p0), c0[l] = n0, c2[l] = n2;
    }
  }
  for (int l = 0; l < 16; ++l) words[0][l] = c0[l], words[1][l] = c1[l], words[2][l] = c2[l], words[3][l] = c3[l];
}

template <class T>
void forward_blocks_portable(T* y, uint8_t* mask, const T* x, int64_t b0, int64_t b1, int64_t n, uint32_t thr,
                             T scale, uint64_t seed, uint64_t offset) {
  uint32_t words[4][16];
  const T factor[2] = {T(0), scale};  // indexed by the keep bit: random bits must not become branches
  for (int64_t b = b0; b < b1; ++b) {
    block_words(words, b, seed, offset);
    for (int w = 0; w < 4; ++w) {
      const int64_t e0 = b * kBlock + w * 16;
      const int m = int(std::min<int64_t>(16, std::max<int64_t>(0, n - e0)));
      unsigned bits = 0;
      for (int l = 0; l < m; ++l) {
        const bool keep = words[w][l] < thr;
        bits |= unsigned(keep) << l;
        y[e0 + l] = x[e0 + l] * factor[keep];
      }
      if (mask) mask[(e0 >> 3)] = uint8_t(bits), mask[(e0 >> 3) + 1] = uint8_t(bits >> 8);
    }
  }
}

template <class T>
void backward_blocks_portable(T* dx, const T* dy, const uint8_t* mask, int64_t b0, int64_t b1, int64_t n, T scale) {
  const int64_t e1 = std::min(n, b1 * kBlock);
  const T factor[2] = {T(0), scale};  // indexed by the keep bit: random bits must not become branches
  for (int64_t e = b0 * kBlock; e < e1; ++e) dx[e] = dy[e] * factor[(mask[e >> 3] >> (e & 7)) & 1];
}

template <class T>
const DropoutKernels<T>& kernels_for(Isa isa) {
  static const DropoutKernels<T> portable{forward_blocks_portable<T>, backward_blocks_portable<T>};
#ifdef NERVE_X86_KERNELS
  if (isa == Isa::avx512) {
    if constexpr (sizeof(T) == 4) return dropout_kernels_avx512_f32();
    else return dropout_kernels_avx512_f64();
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

const char* dropout_backend() { return isa() == Isa::avx512 ? "avx512" : "generic"; }

#define NERVE_DROPOUT_INSTANTIATE(T)                                                                   \
  template void dropout_forward<T>(T*, uint8_t*, const T*, int64_t, double, uint64_t, uint64_t);       \
  template void dropout_backward<T>(T*, const T*, const uint8_t*, int64_t, double);                    \
  template void dropout_forward_naive<T>(T*, uint8_t*, const T*, int64_t, double, uint64_t, uint64_t); \
  template void dropout_backward_naive<T>(T*, const T*, const uint8_t*, int64_t, double);
NERVE_DROPOUT_INSTANTIATE(float)
NERVE_DROPOUT_INSTANTIATE(double)
#undef NERVE_DROPOUT_INSTANTIATE

}  // namespace nerve
