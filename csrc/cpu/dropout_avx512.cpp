// dropout_avx512.cpp — AVX-512 block kernels of dropout (compiled with AVX-512 flags; used when
// isa() says so). One block = 16 Philox counters = 64 random words (see block_words). The keep
// bits of word w are one __mmask16 for elements w*16 .. w*16+15 of the block: the multiplier
// (scale or 0) is a masked move, the mask is stored as two bytes.
#include <immintrin.h>

#include "../core/philox.h"
#include "dropout.h"

// GCC 12's AVX-512 shift/multiply intrinsics start from a self-initialised "undefined" register
// and then warn about it; the warning is about the header, not this code.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace nerve {
namespace {

using philox::kBlock;

// Local, so no std:: inline function is compiled here with AVX-512 flags (the linker could pick
// that copy for the portable code too).
inline int64_t lmin(int64_t a, int64_t b) { return a < b ? a : b; }

struct Words {
  __m512i w[4];  // word w of counters base + l in lane l
};

// The round keys of one seed, broadcast once per call.
struct Keys {
  __m512i k0[philox::kRounds], k1[philox::kRounds];
  explicit Keys(uint64_t seed) {
    uint32_t a = uint32_t(seed), b = uint32_t(seed >> 32);
    for (int r = 0; r < philox::kRounds; ++r) {
      if (r) a += philox::kW0, b += philox::kW1;
      k0[r] = _mm512_set1_epi64(a), k1[r] = _mm512_set1_epi64(b);
    }
  }
};

// Philox of 16 counters, eight per register in the low halves of 64-bit lanes (h = 0: counters
// base + 0..7, h = 1: base + 8..15). vpmuludq reads only those low halves, so the products need no
// shuffling: hi is a 64-bit shift, lo the product itself, and the garbage left in the upper halves
// never reaches a multiply or the result. A round is 4 multiplies, 4 shifts and 4 three-way xors.
inline Words block_words(int64_t b, uint64_t offset, const Keys& key) {
  const uint64_t base = uint64_t(b) * 16;  // the low word never wraps inside a block (base % 16 == 0)
  const __m512i lane = _mm512_setr_epi64(0, 1, 2, 3, 4, 5, 6, 7);
  __m512i c0[2], c1[2], c2[2], c3[2];
  for (int h = 0; h < 2; ++h) {
    c0[h] = _mm512_add_epi64(_mm512_set1_epi64(uint32_t(base) + 8 * h), lane);
    c1[h] = _mm512_set1_epi64(uint32_t(base >> 32));
    c2[h] = _mm512_set1_epi64(uint32_t(offset));
    c3[h] = _mm512_set1_epi64(uint32_t(offset >> 32));
  }
  const __m512i m0 = _mm512_set1_epi64(philox::kM0), m1 = _mm512_set1_epi64(philox::kM1);
#pragma GCC unroll 10
  for (int r = 0; r < philox::kRounds; ++r) {
#pragma GCC unroll 2
    for (int h = 0; h < 2; ++h) {
      const __m512i p0 = _mm512_mul_epu32(c0[h], m0), p1 = _mm512_mul_epu32(c2[h], m1);
      c0[h] = _mm512_ternarylogic_epi64(_mm512_srli_epi64(p1, 32), c1[h], key.k0[r], 0x96);  // a ^ b ^ c
      c2[h] = _mm512_ternarylogic_epi64(_mm512_srli_epi64(p0, 32), c3[h], key.k1[r], 0x96);
      c1[h] = p1, c3[h] = p0;
    }
  }
  // The low halves of both registers into one 16-lane vector per word.
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  return Words{{_mm512_permutex2var_epi32(c0[0], even, c0[1]), _mm512_permutex2var_epi32(c1[0], even, c1[1]),
                _mm512_permutex2var_epi32(c2[0], even, c2[1]), _mm512_permutex2var_epi32(c3[0], even, c3[1])}};
}

inline __mmask16 keep_bits(__m512i w, __m512i thr) { return _mm512_cmplt_epu32_mask(w, thr); }

inline __mmask16 tail_mask(int64_t m) { return m >= 16 ? __mmask16(0xFFFF) : m <= 0 ? 0 : __mmask16((1u << m) - 1); }

inline void store_bits(uint8_t* mask, int64_t e0, __mmask16 k) {
  mask[e0 >> 3] = uint8_t(k), mask[(e0 >> 3) + 1] = uint8_t(k >> 8);
}

void forward_f32(float* y, uint8_t* mask, const float* x, int64_t b0, int64_t b1, int64_t n, uint32_t threshold,
                 float scale, uint64_t seed, uint64_t offset) {
  const __m512i thr = _mm512_set1_epi32(int(threshold));
  const Keys key(seed);
  const __m512 s = _mm512_set1_ps(scale);
  const int64_t full = lmin(b1, n / kBlock);  // blocks with all 64 elements present
  int64_t b = b0;
  for (; b < full; ++b) {
    const Words r = block_words(b, offset, key);
    const float* xb = x + b * kBlock;
    float* yb = y + b * kBlock;
    uint64_t bits = 0;
#pragma GCC unroll 4
    for (int w = 0; w < 4; ++w) {
      const __mmask16 k = keep_bits(r.w[w], thr);
      _mm512_storeu_ps(yb + w * 16, _mm512_mul_ps(_mm512_loadu_ps(xb + w * 16), _mm512_maskz_mov_ps(k, s)));
      bits |= uint64_t(k) << (16 * w);
    }
    if (mask) __builtin_memcpy(mask + b * 8, &bits, 8);
  }
  for (; b < b1; ++b) {  // the last, partial block
    const Words r = block_words(b, offset, key);
    for (int w = 0; w < 4; ++w) {
      const int64_t e0 = b * kBlock + w * 16;
      const __mmask16 valid = tail_mask(n - e0);
      const __mmask16 k = keep_bits(r.w[w], thr) & valid;
      const __m512 v = _mm512_maskz_loadu_ps(valid, x + lmin(e0, n));
      _mm512_mask_storeu_ps(y + lmin(e0, n), valid, _mm512_mul_ps(v, _mm512_maskz_mov_ps(k, s)));
      if (mask) store_bits(mask, e0, k);
    }
  }
}

void forward_f64(double* y, uint8_t* mask, const double* x, int64_t b0, int64_t b1, int64_t n, uint32_t threshold,
                 double scale, uint64_t seed, uint64_t offset) {
  const __m512i thr = _mm512_set1_epi32(int(threshold));
  const Keys key(seed);
  const __m512d s = _mm512_set1_pd(scale);
  for (int64_t b = b0; b < b1; ++b) {
    const Words r = block_words(b, offset, key);
    for (int w = 0; w < 4; ++w) {
      const int64_t e0 = b * kBlock + w * 16;
      const __mmask16 valid = tail_mask(n - e0);
      const __mmask16 k = keep_bits(r.w[w], thr) & valid;
      for (int h = 0; h < 2; ++h) {
        const int64_t e = lmin(e0 + 8 * h, n);
        const __mmask8 vh = __mmask8(valid >> (8 * h)), kh = __mmask8(k >> (8 * h));
        const __m512d v = _mm512_maskz_loadu_pd(vh, x + e);
        _mm512_mask_storeu_pd(y + e, vh, _mm512_mul_pd(v, _mm512_maskz_mov_pd(kh, s)));
      }
      if (mask) store_bits(mask, e0, k);
    }
  }
}

void backward_f32(float* dx, const float* dy, const uint8_t* mask, int64_t b0, int64_t b1, int64_t n, float scale) {
  const __m512 s = _mm512_set1_ps(scale);
  for (int64_t b = b0; b < b1; ++b) {
    for (int w = 0; w < 4; ++w) {
      const int64_t e0 = b * kBlock + w * 16;
      if (e0 >= n) break;
      __mmask16 k;
      __builtin_memcpy(&k, mask + (e0 >> 3), 2);
      const __mmask16 valid = tail_mask(n - e0);
      const __m512 g = _mm512_maskz_loadu_ps(valid, dy + e0);
      _mm512_mask_storeu_ps(dx + e0, valid, _mm512_mul_ps(g, _mm512_maskz_mov_ps(k, s)));
    }
  }
}

void backward_f64(double* dx, const double* dy, const uint8_t* mask, int64_t b0, int64_t b1, int64_t n,
                  double scale) {
  const __m512d s = _mm512_set1_pd(scale);
  for (int64_t b = b0; b < b1; ++b) {
    for (int h = 0; h < 8; ++h) {
      const int64_t e0 = b * kBlock + h * 8;
      if (e0 >= n) break;
      const __mmask8 k = mask[e0 >> 3];
      const __mmask8 valid = __mmask8(tail_mask(n - e0));
      const __m512d g = _mm512_maskz_loadu_pd(valid, dy + e0);
      _mm512_mask_storeu_pd(dx + e0, valid, _mm512_mul_pd(g, _mm512_maskz_mov_pd(k, s)));
    }
  }
}

}  // namespace

const DropoutKernels<float>& dropout_kernels_avx512_f32() {
  static const DropoutKernels<float> k{forward_f32, backward_f32};
  return k;
}

const DropoutKernels<double>& dropout_kernels_avx512_f64() {
  static const DropoutKernels<double> k{forward_f64, backward_f64};
  return k;
}

}  // namespace nerve
