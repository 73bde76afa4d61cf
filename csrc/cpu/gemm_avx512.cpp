// gemm_avx512.cpp — the AVX-512 GEMM back end (compiled with AVX-512 flags; used when isa() says so).
//
// float: 12 x 32 micro-tile = 24 zmm accumulators + 2 for B + 1 broadcast; at kc = 512 an A panel
// (24 KiB) stays in L1 while a 512 x 256 block of packed B (512 KiB) streams from L2. On Zen 5 this
// kernel runs at the FMA peak measured by gemm_peak_avx512.cpp when its operands sit in L1, and
// within ~4% of it inside a large GEMM. double: 12 x 16, same shape, kc = 256.
#include <immintrin.h>

#include "gemm_impl.h"

// GCC 12's AVX-512 shuffle intrinsics start from a self-initialised "undefined" register and then
// warn about it; the warning is about the header, not this code.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace nerve {
namespace {

struct V512f {
  using T = float;
  using reg = __m512;
  static constexpr int W = 16;
  static reg zero() { return _mm512_setzero_ps(); }
  static reg load(const T* p) { return _mm512_loadu_ps(p); }
  static void store(T* p, reg r) { _mm512_storeu_ps(p, r); }
  static reg load_n(const T* p, int n) { return _mm512_maskz_loadu_ps(__mmask16((1u << n) - 1), p); }
  static void store_n(T* p, reg r, int n) { _mm512_mask_storeu_ps(p, __mmask16((1u << n) - 1), r); }
  static reg set1(T x) { return _mm512_set1_ps(x); }
  static reg fmadd(reg a, reg b, reg c) { return _mm512_fmadd_ps(a, b, c); }
  static reg mul(reg a, reg b) { return _mm512_mul_ps(a, b); }
};

struct V512d {
  using T = double;
  using reg = __m512d;
  static constexpr int W = 8;
  static reg zero() { return _mm512_setzero_pd(); }
  static reg load(const T* p) { return _mm512_loadu_pd(p); }
  static void store(T* p, reg r) { _mm512_storeu_pd(p, r); }
  static reg load_n(const T* p, int n) { return _mm512_maskz_loadu_pd(__mmask8((1u << n) - 1), p); }
  static void store_n(T* p, reg r, int n) { _mm512_mask_storeu_pd(p, __mmask8((1u << n) - 1), r); }
  static reg set1(T x) { return _mm512_set1_pd(x); }
  static reg fmadd(reg a, reg b, reg c) { return _mm512_fmadd_pd(a, b, c); }
  static reg mul(reg a, reg b) { return _mm512_mul_pd(a, b); }
};

constexpr int kMr = 12;
constexpr int64_t kKc = 512;   // float: a 12 x 512 A panel (24 KiB) still leaves L1 room for the B stream
constexpr int64_t kKcD = 256;  // double: the same bytes

// r[0..15] (16 rows of 16 floats) -> transposed in place.
inline void transpose16x16(__m512 r[16]) {
  __m512 t[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 4; ++i) {
    r[4 * i + 0] = _mm512_shuffle_ps(t[4 * i + 0], t[4 * i + 2], _MM_SHUFFLE(1, 0, 1, 0));
    r[4 * i + 1] = _mm512_shuffle_ps(t[4 * i + 0], t[4 * i + 2], _MM_SHUFFLE(3, 2, 3, 2));
    r[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(1, 0, 1, 0));
    r[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  // r[4q + s] now holds, in 128-bit lane l, rows 4q..4q+3 of column 4l + s.
  for (int h = 0; h < 2; ++h)
    for (int s = 0; s < 4; ++s) {
      t[8 * h + s] = _mm512_shuffle_f32x4(r[8 * h + s], r[8 * h + 4 + s], 0x88);
      t[8 * h + 4 + s] = _mm512_shuffle_f32x4(r[8 * h + s], r[8 * h + 4 + s], 0xdd);
    }
  for (int s = 0; s < 8; ++s) {
    r[s] = _mm512_shuffle_f32x4(t[s], t[8 + s], 0x88);
    r[8 + s] = _mm512_shuffle_f32x4(t[s], t[8 + s], 0xdd);
  }
}

// A panels from a column-major A ("ki" layout): one masked 12-float copy per k.
void pack_a_f32(float* dst, const float* A, int64_t rs, int64_t cs, int m, int64_t kc, bool ik) {
  if (ik || rs != 1) return pack_a_portable<float, kMr, kKc>(dst, A, rs, cs, m, kc, ik);
  const __mmask16 load = __mmask16((1u << m) - 1), store = __mmask16((1u << kMr) - 1);
  for (int64_t k = 0; k < kc; ++k) _mm512_mask_storeu_ps(dst + k * kMr, store, _mm512_maskz_loadu_ps(load, A + k * cs));
}

// B panels: a column-major full panel is transposed 16 x 16 at a time in registers.
void pack_b_f32(float* dst, const float* B, int64_t rs, int64_t cs, int64_t kc, int n) {
  constexpr int NR = 32;
  if (!(rs == 1 && cs != 1 && n == NR)) return pack_b_portable<float, NR>(dst, B, rs, cs, kc, n);
  int64_t k0 = 0;
  for (; k0 + 16 <= kc; k0 += 16)
    for (int g = 0; g < NR; g += 16) {
      __m512 r[16];
      for (int j = 0; j < 16; ++j) r[j] = _mm512_loadu_ps(B + (g + j) * cs + k0);
      transpose16x16(r);
      for (int kk = 0; kk < 16; ++kk) _mm512_storeu_ps(dst + (k0 + kk) * NR + g, r[kk]);
    }
  if (k0 < kc) pack_b_portable<float, NR>(dst + k0 * NR, B + k0, rs, cs, kc - k0, n);
}

}  // namespace

const GemmArch<float>& gemm_arch_avx512_f32() {
  static const GemmArch<float> arch = [] {
    GemmArch<float> a{"avx512", kMr, 32, kKc, {}, {}, pack_a_f32, pack_b_f32};
    fill_kernels<V512f, kMr, 2, kKc>(a.kernels);
    fill_direct<V512f, kMr>(a.direct);
    return a;
  }();
  return arch;
}

const GemmArch<double>& gemm_arch_avx512_f64() {
  static const GemmArch<double> arch = [] {
    GemmArch<double> a{"avx512", kMr, 16, kKcD, {}, {}, pack_a_portable<double, kMr, kKcD>, pack_b_portable<double, 16>};
    fill_kernels<V512d, kMr, 2, kKcD>(a.kernels);
    fill_direct<V512d, kMr>(a.direct);
    return a;
  }();
  return arch;
}

}  // namespace nerve
