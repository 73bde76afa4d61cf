// gemm_avx2.cpp — the AVX2+FMA GEMM back end (compiled with -mavx2 -mfma; used when isa() says so).
//
// float: 6 x 16 micro-tile = 12 ymm accumulators + 2 for B + 1 broadcast (16 ymm registers in all).
// double: 6 x 8, same shape.
#include <immintrin.h>

#include "gemm_impl.h"

namespace nerve {
namespace {

struct V256f {
  using T = float;
  using reg = __m256;
  static constexpr int W = 8;
  static __m256i mask(int n) { return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)); }
  static reg zero() { return _mm256_setzero_ps(); }
  static reg load(const T* p) { return _mm256_loadu_ps(p); }
  static void store(T* p, reg r) { _mm256_storeu_ps(p, r); }
  static reg load_n(const T* p, int n) { return _mm256_maskload_ps(p, mask(n)); }
  static void store_n(T* p, reg r, int n) { _mm256_maskstore_ps(p, mask(n), r); }
  static reg set1(T x) { return _mm256_set1_ps(x); }
  static reg fmadd(reg a, reg b, reg c) { return _mm256_fmadd_ps(a, b, c); }
  static reg mul(reg a, reg b) { return _mm256_mul_ps(a, b); }
};

struct V256d {
  using T = double;
  using reg = __m256d;
  static constexpr int W = 4;
  static __m256i mask(int n) { return _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), _mm256_setr_epi64x(0, 1, 2, 3)); }
  static reg zero() { return _mm256_setzero_pd(); }
  static reg load(const T* p) { return _mm256_loadu_pd(p); }
  static void store(T* p, reg r) { _mm256_storeu_pd(p, r); }
  static reg load_n(const T* p, int n) { return _mm256_maskload_pd(p, mask(n)); }
  static void store_n(T* p, reg r, int n) { _mm256_maskstore_pd(p, mask(n), r); }
  static reg set1(T x) { return _mm256_set1_pd(x); }
  static reg fmadd(reg a, reg b, reg c) { return _mm256_fmadd_pd(a, b, c); }
  static reg mul(reg a, reg b) { return _mm256_mul_pd(a, b); }
};

constexpr int kMr = 6;
constexpr int64_t kKc = 256;

// r[0..7] (8 rows of 8 floats) -> transposed in place.
inline void transpose8x8(__m256 r[8]) {
  __m256 t[8], s[8];
  for (int i = 0; i < 4; ++i) {
    t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 2; ++i) {
    s[4 * i + 0] = _mm256_shuffle_ps(t[4 * i + 0], t[4 * i + 2], _MM_SHUFFLE(1, 0, 1, 0));
    s[4 * i + 1] = _mm256_shuffle_ps(t[4 * i + 0], t[4 * i + 2], _MM_SHUFFLE(3, 2, 3, 2));
    s[4 * i + 2] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(1, 0, 1, 0));
    s[4 * i + 3] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int i = 0; i < 4; ++i) {
    r[i] = _mm256_permute2f128_ps(s[i], s[4 + i], 0x20);
    r[4 + i] = _mm256_permute2f128_ps(s[i], s[4 + i], 0x31);
  }
}

void pack_b_f32(float* dst, const float* B, int64_t rs, int64_t cs, int64_t kc, int n) {
  constexpr int NR = 16;
  if (!(rs == 1 && cs != 1 && n == NR)) return pack_b_portable<float, NR>(dst, B, rs, cs, kc, n);
  int64_t k0 = 0;
  for (; k0 + 8 <= kc; k0 += 8)
    for (int g = 0; g < NR; g += 8) {
      __m256 r[8];
      for (int j = 0; j < 8; ++j) r[j] = _mm256_loadu_ps(B + (g + j) * cs + k0);
      transpose8x8(r);
      for (int kk = 0; kk < 8; ++kk) _mm256_storeu_ps(dst + (k0 + kk) * NR + g, r[kk]);
    }
  if (k0 < kc) pack_b_portable<float, NR>(dst + k0 * NR, B + k0, rs, cs, kc - k0, n);
}

}  // namespace

const GemmArch<float>& gemm_arch_avx2_f32() {
  static const GemmArch<float> arch = [] {
    GemmArch<float> a{"avx2", kMr, 16, kKc, {}, {}, pack_a_portable<float, kMr, kKc>, pack_b_f32};
    fill_kernels<V256f, kMr, 2, kKc>(a.kernels);
    fill_direct<V256f, kMr>(a.direct);
    return a;
  }();
  return arch;
}

const GemmArch<double>& gemm_arch_avx2_f64() {
  static const GemmArch<double> arch = [] {
    GemmArch<double> a{"avx2", kMr, 8, kKc, {}, {}, pack_a_portable<double, kMr, kKc>, pack_b_portable<double, 8>};
    fill_kernels<V256d, kMr, 2, kKc>(a.kernels);
    fill_direct<V256d, kMr>(a.direct);
    return a;
  }();
  return arch;
}

}  // namespace nerve
