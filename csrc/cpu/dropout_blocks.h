// dropout_blocks.h — the portable dropout block kernels (DropoutKernels of dropout.h): Philox on
// 16 counters as plain lane loops, written once and compiled twice, into dropout.cpp with the
// portable flags and into dropout_avx2.cpp with AVX2 flags (where the lane loops become vpmuludq),
// each time inside its own namespace (NERVE_DROPOUT_ISA) so the copies never meet at link time.
// No std:: inline functions here for the same reason. AVX-512 has intrinsics of its own
// (dropout_avx512.cpp).
#ifndef NERVE_DROPOUT_ISA
#error "define NERVE_DROPOUT_ISA (the namespace of this copy) before including dropout_blocks.h"
#endif
#include <cstdint>

#include "../core/philox.h"
#include "dropout.h"

namespace nerve::NERVE_DROPOUT_ISA {

using philox::kBlock;

inline int64_t clamp16(int64_t m) { return m < 0 ? 0 : m > 16 ? 16 : m; }

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
void forward_blocks(T* y, uint8_t* mask, const T* x, int64_t b0, int64_t b1, int64_t n, uint32_t thr, T scale,
                    uint64_t seed, uint64_t offset) {
  uint32_t words[4][16];
  const T factor[2] = {T(0), scale};  // indexed by the keep bit: random bits must not become branches
  for (int64_t b = b0; b < b1; ++b) {
    block_words(words, b, seed, offset);
    for (int w = 0; w < 4; ++w) {
      const int64_t e0 = b * kBlock + w * 16;
      const int m = int(clamp16(n - e0));
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
void backward_blocks(T* dx, const T* dy, const uint8_t* mask, int64_t b0, int64_t b1, int64_t n, T scale) {
  const int64_t e1 = n < b1 * kBlock ? n : b1 * kBlock;
  const T factor[2] = {T(0), scale};
  for (int64_t e = b0 * kBlock; e < e1; ++e) dx[e] = dy[e] * factor[(mask[e >> 3] >> (e & 7)) & 1];
}

template <class T>
DropoutKernels<T> make_kernels() {
  return DropoutKernels<T>{forward_blocks<T>, backward_blocks<T>};
}

}  // namespace nerve::NERVE_DROPOUT_ISA
