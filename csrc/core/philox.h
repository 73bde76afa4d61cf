// philox.h — Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11),
// the counter-based generator behind dropout, and the map from an element to its random word.
// Host and device: compiled by g++ into the CPU kernels and by nvcc into csrc/cuda/dropout.cuh,
// so both draw the very same bits for the same (seed, offset, element).
//
// A call maps a 128-bit counter and a 64-bit key to four 32-bit words. Dropout keys it with the
// call's seed and numbers counters so that element i's word depends only on (seed, offset, i):
//   counter c = (i / 64) * 16 + i % 16, word w = (i / 16) % 4,
//   counter words (lo32(c), hi32(c), lo32(offset), hi32(offset)).
// So one 64-element block takes 16 consecutive counters, and word w of those 16 counters covers 16
// consecutive elements: a 16-lane vector (AVX-512) or a half-warp (CUDA) computes one block with
// no shuffling, and the keep bits of 16 consecutive elements come out as one 16-bit mask.
//
// Keep/drop: element i is kept when its word < keep_threshold(p), an integer compare, so CPU and
// GPU agree bit for bit. The keep mask is stored 1 bit per element, bit i % 8 of byte i / 8,
// padded to whole 64-element blocks (dropout_mask_bytes).
#pragma once
#include <cstdint>

#if defined(__CUDACC__)
#define NERVE_PHILOX_HD __host__ __device__ __forceinline__
#else
#define NERVE_PHILOX_HD inline
#endif

namespace nerve::philox {

constexpr uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u;  // round multipliers
constexpr uint32_t kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;  // key schedule (golden ratio, sqrt(3) - 1)
constexpr int kRounds = 10;

struct U4 {
  uint32_t x, y, z, w;
};

NERVE_PHILOX_HD void mulhilo(uint32_t a, uint32_t b, uint32_t* hi, uint32_t* lo) {
  const uint64_t p = uint64_t(a) * uint64_t(b);
  *hi = uint32_t(p >> 32);
  *lo = uint32_t(p);
}

// Philox4x32-10 of counter (c0, c1, c2, c3) under key (k0, k1).
NERVE_PHILOX_HD U4 philox4x32(U4 c, uint32_t k0, uint32_t k1) {
  for (int r = 0; r < kRounds; ++r) {
    if (r) k0 += kW0, k1 += kW1;
    uint32_t hi0, lo0, hi1, lo1;
    mulhilo(kM0, c.x, &hi0, &lo0);
    mulhilo(kM1, c.z, &hi1, &lo1);
    c = U4{hi1 ^ c.y ^ k0, lo1, hi0 ^ c.w ^ k1, lo0};
  }
  return c;
}

// ---- dropout's use of it ----------------------------------------------------------------------

constexpr int64_t kBlock = 64;  // elements per block of 16 counters

// Keep when word < threshold: round((1 - p) * 2^32), for 0 < p < 1 (p = 0 and p = 1 are handled
// before any kernel runs: identity and zeros). Clamped so that every such p drops and keeps some.
inline uint32_t keep_threshold(double p) {
  double t = (1.0 - p) * 4294967296.0 + 0.5;
  if (t < 1.0) t = 1.0;
  if (t > 4294967295.0) t = 4294967295.0;
  return uint32_t(t);
}

inline int64_t dropout_mask_bytes(int64_t n) { return (n + kBlock - 1) / kBlock * (kBlock / 8); }

NERVE_PHILOX_HD uint64_t counter_of(int64_t i) { return uint64_t(i / kBlock) * 16 + uint64_t(i % 16); }
NERVE_PHILOX_HD int word_of(int64_t i) { return int((i / 16) % 4); }

// The random word of element i (the reference every kernel must agree with).
NERVE_PHILOX_HD uint32_t element_word(uint64_t seed, uint64_t offset, int64_t i) {
  const uint64_t c = counter_of(i);
  const U4 r = philox4x32(U4{uint32_t(c), uint32_t(c >> 32), uint32_t(offset), uint32_t(offset >> 32)},
                          uint32_t(seed), uint32_t(seed >> 32));
  const int w = word_of(i);
  return w == 0 ? r.x : w == 1 ? r.y : w == 2 ? r.z : r.w;
}

}  // namespace nerve::philox
