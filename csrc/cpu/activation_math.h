// activation_math.h — float32 SIMD vectors and the transcendental functions the activation,
// softmax and loss kernels need (exp, expm1, log, log1p, erf, tanh), written once over a vector
// type `Vec` whose width is the translation unit's ISA: 16 lanes under AVX-512 (files named
// *_avx512.cpp), 8 under AVX2 (*_avx2.cpp), 1 elsewhere (the portable path, which the compiler
// may still vectorise inside `#pragma omp simd` loops).
//
// Accuracy (float32, against double precision over all of their useful range, checked by
// tests/test_activation.py::test_vector_math_accuracy): exp 1.3 ulp, expm1 2.2, log 0.8, log1p 1.5,
// erf 1.1, tanh 1.3, sigmoid 3.2; GELU's normal CDF 2.5e-7 absolute (4.5 ulp where it is >= 1/2;
// PyTorch's GELU: 1.5e-7 absolute); exp(-inf) = 0, exp(+inf) =
// inf, NaN in gives NaN out, subnormal results and inputs are handled. PyTorch's own float32
// kernels (Sleef's u10 functions; in GELU an erf good to 1.5e-7 absolute) are no closer.
//
// Everything sits in an anonymous namespace: the same names compiled with different -m flags in
// different translation units must never be merged by the linker (see gemm_impl.h).
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

namespace nerve {
namespace {

#if defined(__AVX512F__)

struct Mask {
  __mmask16 m;
};
struct Vec {
  __m512 v;
  static constexpr int W = 16;
  static constexpr const char* isa = "avx512";
  Vec() = default;
  Vec(__m512 r) : v(r) {}
  Vec(float a) : v(_mm512_set1_ps(a)) {}
  static __mmask16 first(int64_t n) { return __mmask16((1u << n) - 1u); }
  static Vec load(const float* p) { return _mm512_loadu_ps(p); }
  static Vec load_n(const float* p, int64_t n, float fill = 0.f) {
    return _mm512_mask_loadu_ps(_mm512_set1_ps(fill), first(n), p);
  }
  void store(float* p) const { _mm512_storeu_ps(p, v); }
  void store_n(float* p, int64_t n) const { _mm512_mask_storeu_ps(p, first(n), v); }
  void stream(float* p) const { _mm512_stream_ps(p, v); }  // p 64-byte aligned
};
inline Vec operator+(Vec a, Vec b) { return _mm512_add_ps(a.v, b.v); }
inline Vec operator-(Vec a, Vec b) { return _mm512_sub_ps(a.v, b.v); }
inline Vec operator*(Vec a, Vec b) { return _mm512_mul_ps(a.v, b.v); }
inline Vec operator/(Vec a, Vec b) { return _mm512_div_ps(a.v, b.v); }
inline Vec operator-(Vec a) { return _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(a.v), _mm512_set1_epi32(int(0x80000000u)))); }
inline Vec fma(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a.v, b.v, c.v); }  // a * b + c
// min/max return b when either is NaN (the x86 rule): pass the value that must keep its NaN as b.
inline Vec vmin(Vec a, Vec b) { return _mm512_min_ps(a.v, b.v); }
inline Vec vmax(Vec a, Vec b) { return _mm512_max_ps(a.v, b.v); }
inline Vec vabs(Vec a) { return _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(a.v), _mm512_set1_epi32(0x7fffffff))); }
inline Vec copysign(Vec mag, Vec sgn) {
  // bitwise s ? sgn : mag, with s the sign bit (truth table 0xca)
  const __m512i s = _mm512_set1_epi32(int(0x80000000u));
  return _mm512_castsi512_ps(_mm512_ternarylogic_epi32(s, _mm512_castps_si512(sgn.v), _mm512_castps_si512(mag.v), 0xca));
}
inline Mask operator<(Vec a, Vec b) { return {_mm512_cmp_ps_mask(a.v, b.v, _CMP_LT_OQ)}; }
inline Mask operator<=(Vec a, Vec b) { return {_mm512_cmp_ps_mask(a.v, b.v, _CMP_LE_OQ)}; }
inline Mask operator>(Vec a, Vec b) { return {_mm512_cmp_ps_mask(a.v, b.v, _CMP_GT_OQ)}; }
inline Mask operator>=(Vec a, Vec b) { return {_mm512_cmp_ps_mask(a.v, b.v, _CMP_GE_OQ)}; }
inline Mask operator==(Vec a, Vec b) { return {_mm512_cmp_ps_mask(a.v, b.v, _CMP_EQ_OQ)}; }
inline Mask operator|(Mask a, Mask b) { return {__mmask16(a.m | b.m)}; }
inline Mask operator&(Mask a, Mask b) { return {__mmask16(a.m & b.m)}; }
inline Vec select(Mask m, Vec a, Vec b) { return _mm512_mask_blend_ps(m.m, b.v, a.v); }  // m ? a : b
inline Mask lanes(int64_t k) { return {Vec::first(k)}; }  // the first k lanes
inline bool any(Mask m) { return m.m != 0; }
inline Vec round_int(Vec a) { return _mm512_roundscale_ps(a.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
// p * 2^n for integer-valued n; scalef saturates to 0 / inf and produces subnormals itself.
inline Vec ldexp_int(Vec p, Vec n) { return _mm512_scalef_ps(p.v, n.v); }
// x = m * 2^e with m in [0.5, 1) for positive finite x (subnormals included).
inline void frexp_pos(Vec x, Vec& m, Vec& e) {
  m = _mm512_getmant_ps(x.v, _MM_MANT_NORM_p5_1, _MM_MANT_SIGN_zero);
  e = _mm512_add_ps(_mm512_getexp_ps(x.v), _mm512_set1_ps(1.f));
}
inline float hsum(Vec a) { return _mm512_reduce_add_ps(a.v); }
inline float hmax(Vec a) { return _mm512_reduce_max_ps(a.v); }
inline void stream_fence() { _mm_sfence(); }

#elif defined(__AVX2__)

struct Mask {
  __m256 m;
};
struct Vec {
  __m256 v;
  static constexpr int W = 8;
  static constexpr const char* isa = "avx2";
  Vec() = default;
  Vec(__m256 r) : v(r) {}
  Vec(float a) : v(_mm256_set1_ps(a)) {}
  static __m256i first(int64_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(int(n)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static Vec load(const float* p) { return _mm256_loadu_ps(p); }
  static Vec load_n(const float* p, int64_t n, float fill = 0.f) {
    const __m256i m = first(n);
    return _mm256_blendv_ps(_mm256_set1_ps(fill), _mm256_maskload_ps(p, m), _mm256_castsi256_ps(m));
  }
  void store(float* p) const { _mm256_storeu_ps(p, v); }
  void store_n(float* p, int64_t n) const { _mm256_maskstore_ps(p, first(n), v); }
  void stream(float* p) const { _mm256_stream_ps(p, v); }  // p 32-byte aligned
};
inline Vec operator+(Vec a, Vec b) { return _mm256_add_ps(a.v, b.v); }
inline Vec operator-(Vec a, Vec b) { return _mm256_sub_ps(a.v, b.v); }
inline Vec operator*(Vec a, Vec b) { return _mm256_mul_ps(a.v, b.v); }
inline Vec operator/(Vec a, Vec b) { return _mm256_div_ps(a.v, b.v); }
inline Vec operator-(Vec a) { return _mm256_xor_ps(a.v, _mm256_set1_ps(-0.f)); }
inline Vec fma(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a.v, b.v, c.v); }
inline Vec vmin(Vec a, Vec b) { return _mm256_min_ps(a.v, b.v); }
inline Vec vmax(Vec a, Vec b) { return _mm256_max_ps(a.v, b.v); }
inline Vec vabs(Vec a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.f), a.v); }
inline Vec copysign(Vec mag, Vec sgn) {
  const __m256 s = _mm256_set1_ps(-0.f);
  return _mm256_or_ps(_mm256_andnot_ps(s, mag.v), _mm256_and_ps(s, sgn.v));
}
inline Mask operator<(Vec a, Vec b) { return {_mm256_cmp_ps(a.v, b.v, _CMP_LT_OQ)}; }
inline Mask operator<=(Vec a, Vec b) { return {_mm256_cmp_ps(a.v, b.v, _CMP_LE_OQ)}; }
inline Mask operator>(Vec a, Vec b) { return {_mm256_cmp_ps(a.v, b.v, _CMP_GT_OQ)}; }
inline Mask operator>=(Vec a, Vec b) { return {_mm256_cmp_ps(a.v, b.v, _CMP_GE_OQ)}; }
inline Mask operator==(Vec a, Vec b) { return {_mm256_cmp_ps(a.v, b.v, _CMP_EQ_OQ)}; }
inline Mask operator|(Mask a, Mask b) { return {_mm256_or_ps(a.m, b.m)}; }
inline Mask operator&(Mask a, Mask b) { return {_mm256_and_ps(a.m, b.m)}; }
inline Vec select(Mask m, Vec a, Vec b) { return _mm256_blendv_ps(b.v, a.v, m.m); }
inline Mask lanes(int64_t k) { return {_mm256_castsi256_ps(Vec::first(k))}; }
inline bool any(Mask m) { return _mm256_movemask_ps(m.m) != 0; }
inline Vec round_int(Vec a) { return _mm256_round_ps(a.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
inline Vec pow2i(__m256i k) {  // 2^k for k in [-126, 127]
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(k, _mm256_set1_epi32(127)), 23));
}
// p * 2^n for integer-valued n in [-252, 254], as two in-range powers of two.
inline Vec ldexp_int(Vec p, Vec n) {
  const __m256i k = _mm256_cvtps_epi32(n.v), k1 = _mm256_srai_epi32(k, 1), k2 = _mm256_sub_epi32(k, k1);
  return _mm256_mul_ps(_mm256_mul_ps(p.v, pow2i(k1).v), pow2i(k2).v);
}
inline void frexp_pos(Vec x, Vec& m, Vec& e) {
  // Subnormals are first scaled into the normal range by 2^25.
  const __m256 tiny = _mm256_cmp_ps(x.v, _mm256_set1_ps(std::numeric_limits<float>::min()), _CMP_LT_OQ);
  const __m256 xs = _mm256_blendv_ps(x.v, _mm256_mul_ps(x.v, _mm256_set1_ps(33554432.f)), tiny);
  const __m256i bits = _mm256_castps_si256(xs);
  const __m256i ex = _mm256_sub_epi32(_mm256_srli_epi32(bits, 23), _mm256_set1_epi32(126));
  m = _mm256_castsi256_ps(_mm256_or_si256(_mm256_and_si256(bits, _mm256_set1_epi32(0x807fffff)),
                                          _mm256_set1_epi32(0x3f000000)));
  e = _mm256_sub_ps(_mm256_cvtepi32_ps(ex), _mm256_and_ps(tiny, _mm256_set1_ps(25.f)));
}
inline float hsum(Vec a) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(a.v), _mm256_extractf128_ps(a.v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
inline float hmax(Vec a) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(a.v), _mm256_extractf128_ps(a.v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
inline void stream_fence() { _mm_sfence(); }

#else  // portable: one lane

struct Mask {
  bool m;
};
struct Vec {
  float v;
  static constexpr int W = 1;
  static constexpr const char* isa = "generic";
  Vec() = default;
  Vec(float a) : v(a) {}
  static Vec load(const float* p) { return *p; }
  static Vec load_n(const float* p, int64_t n, float fill = 0.f) { return n > 0 ? *p : fill; }
  void store(float* p) const { *p = v; }
  void store_n(float* p, int64_t n) const {
    if (n > 0) *p = v;
  }
  void stream(float* p) const { *p = v; }
};
inline Vec operator+(Vec a, Vec b) { return a.v + b.v; }
inline Vec operator-(Vec a, Vec b) { return a.v - b.v; }
inline Vec operator*(Vec a, Vec b) { return a.v * b.v; }
inline Vec operator/(Vec a, Vec b) { return a.v / b.v; }
inline Vec operator-(Vec a) { return -a.v; }
inline Vec fma(Vec a, Vec b, Vec c) { return a.v * b.v + c.v; }  // contracted where the target has FMA
inline Vec vmin(Vec a, Vec b) { return a.v < b.v ? a.v : b.v; }
inline Vec vmax(Vec a, Vec b) { return a.v > b.v ? a.v : b.v; }
inline Vec vabs(Vec a) { return std::fabs(a.v); }
inline Vec copysign(Vec mag, Vec sgn) { return std::copysign(mag.v, sgn.v); }
inline Mask operator<(Vec a, Vec b) { return {a.v < b.v}; }
inline Mask operator<=(Vec a, Vec b) { return {a.v <= b.v}; }
inline Mask operator>(Vec a, Vec b) { return {a.v > b.v}; }
inline Mask operator>=(Vec a, Vec b) { return {a.v >= b.v}; }
inline Mask operator==(Vec a, Vec b) { return {a.v == b.v}; }
inline Mask operator|(Mask a, Mask b) { return {a.m || b.m}; }
inline Mask operator&(Mask a, Mask b) { return {a.m && b.m}; }
inline Vec select(Mask m, Vec a, Vec b) { return m.m ? a : b; }
inline Mask lanes(int64_t k) { return {k > 0}; }
inline bool any(Mask m) { return m.m; }
inline Vec round_int(Vec a) { return std::nearbyint(a.v); }
inline float pow2i(int32_t k) {
  const uint32_t bits = uint32_t(k + 127) << 23;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}
inline Vec ldexp_int(Vec p, Vec n) {
  const int32_t k = n.v != n.v ? 0 : int32_t(n.v), k1 = k >> 1, k2 = k - k1;
  return p.v * pow2i(k1) * pow2i(k2);
}
inline void frexp_pos(Vec x, Vec& m, Vec& e) {
  const bool tiny = x.v < std::numeric_limits<float>::min();
  const float xs = tiny ? x.v * 33554432.f : x.v;
  uint32_t bits;
  std::memcpy(&bits, &xs, 4);
  const int32_t ex = int32_t(bits >> 23) - 126;
  bits = (bits & 0x807fffffu) | 0x3f000000u;
  std::memcpy(&m.v, &bits, 4);
  e = float(ex) - (tiny ? 25.f : 0.f);
}
inline float hsum(Vec a) { return a.v; }
inline float hmax(Vec a) { return a.v; }
inline void stream_fence() {}

#endif

inline Vec vinf() { return std::numeric_limits<float>::infinity(); }
inline Mask isnan_(Vec a) {
#if defined(__AVX512F__)
  return {_mm512_cmp_ps_mask(a.v, a.v, _CMP_UNORD_Q)};
#elif defined(__AVX2__)
  return {_mm256_cmp_ps(a.v, a.v, _CMP_UNORD_Q)};
#else
  return {a.v != a.v};
#endif
}

// ---- exp ---------------------------------------------------------------------------------------
// Cody-Waite reduction x = n ln2 + r, |r| <= ln2/2, and Cephes' degree-6 polynomial for e^r.
inline Vec exp_(Vec x) {
  // Clamped so that 2^n stays representable as a scale factor; NaN passes through (second operand).
  x = vmin(88.8f, vmax(-104.5f, x));
  const Vec n = round_int(x * 1.44269504088896341f);
  Vec r = fma(n, -0.693359375f, x);
  r = fma(n, 2.12194440e-4f, r);
  Vec p = 1.9875691500e-4f;
  p = fma(p, r, 1.3981999507e-3f);
  p = fma(p, r, 8.3334519073e-3f);
  p = fma(p, r, 4.1665795894e-2f);
  p = fma(p, r, 1.6666665459e-1f);
  p = fma(p, r, 5.0000001201e-1f);
  p = fma(p * r, r, r + 1.f);
  return ldexp_int(p, n);
}

// e^x - 1: a degree-9 Taylor polynomial where the subtraction would cancel (|x| < 0.5).
inline Vec expm1_(Vec x) {
  Vec p = 2.75573192e-6f;  // 1/9!
  p = fma(p, x, 2.48015873e-5f);
  p = fma(p, x, 1.98412698e-4f);
  p = fma(p, x, 1.38888889e-3f);
  p = fma(p, x, 8.33333333e-3f);
  p = fma(p, x, 4.16666667e-2f);
  p = fma(p, x, 1.66666667e-1f);
  p = fma(p, x, 0.5f);
  const Vec small = fma(p * x, x, x);
  return select(vabs(x) < 0.5f, small, exp_(x) - 1.f);
}

// ---- log ---------------------------------------------------------------------------------------
// Cephes logf: x = m 2^e with m in [sqrt(1/2), sqrt(2)), then a degree-9 polynomial in m - 1.
inline Vec log_(Vec x) {
  Vec m, e;
  frexp_pos(x, m, e);
  const Mask lo = m < 0.707106781186547524f;
  e = select(lo, e - 1.f, e);
  m = select(lo, m + m - 1.f, m - 1.f);
  const Vec z = m * m;
  Vec y = 7.0376836292e-2f;
  y = fma(y, m, -1.1514610310e-1f);
  y = fma(y, m, 1.1676998740e-1f);
  y = fma(y, m, -1.2420140846e-1f);
  y = fma(y, m, 1.4249322787e-1f);
  y = fma(y, m, -1.6668057665e-1f);
  y = fma(y, m, 2.0000714765e-1f);
  y = fma(y, m, -2.4999993993e-1f);
  y = fma(y, m, 3.3333331174e-1f);
  y = y * m * z;
  y = fma(e, -2.12194440e-4f, y);
  y = fma(z, -0.5f, y);
  Vec r = fma(e, 0.693359375f, m + y);
  // log(0) = -inf, log(inf) = inf, log(x < 0) = NaN, log(NaN) = NaN
  r = select(x == 0.f, -vinf(), r);
  r = select(x == vinf(), vinf(), r);
  return select((x < 0.f) | isnan_(x), std::numeric_limits<float>::quiet_NaN(), r);
}

// log(1 + t) for t >= -1 without losing t's low bits: log(u) corrected by the rounding of u = 1 + t.
inline Vec log1p_(Vec t) {
  const Vec u = t + 1.f;
  const Vec r = log_(u) - ((u - 1.f) - t) / u;
  return select(u == vinf(), u, select(u == 1.f, t, select(u == 0.f, -vinf(), r)));
}

// ---- erf ---------------------------------------------------------------------------------------
// Two minimax fits (N. Juffa's erff, max error ~1 ulp): an odd polynomial for |x| < 0.9277, and
// 1 - erfc(|x|) with erfc(t) = exp(p(t)) beyond, both evaluated and blended.
inline Vec erfc_tail_(Vec t) {  // erfc(t) for t >= 0.9277, to ~6e-8 absolute (fit for 1 - erfc)
  const Vec s = t * t;
  Vec r = fma(-1.72853470e-5f, t, 3.83197126e-4f);
  const Vec u = fma(-3.88396438e-3f, t, 2.42546219e-2f);
  r = fma(r, s, u);
  r = fma(r, t, -1.06777877e-1f);
  r = fma(r, t, -6.34846687e-1f);
  r = fma(r, t, -1.28717512e-1f);
  r = fma(r, t, -t);
  return exp_(r);
}

inline Vec erf_(Vec a) {
  const Vec t = vabs(a), s = a * a;
  const Vec big = copysign(1.f - erfc_tail_(t), a);
  Vec q = -5.96761703e-4f;
  q = fma(q, s, 4.99119423e-3f);
  q = fma(q, s, -2.67681349e-2f);
  q = fma(q, s, 1.12819925e-1f);
  q = fma(q, s, -3.76125336e-1f);
  q = fma(q, s, 1.28379166e-1f);
  const Vec small = fma(q, a, a);
  return select(t > 0.927734375f, big, small);
}

// 2 Phi(x) = 1 + erf(x / sqrt 2), what GELU needs, at half erf_'s cost on typical data: a rational
// minimax fit t P(t^2) / Q(t^2) of erf(t) for |t| <= 2.5 (within 4.5 ulp, 2.5e-7 absolute: the
// floor of float32's rounding of the ratio), and past it — evaluated only for the vectors that
// hold such a lane, rare for activations of unit scale — 2 - erfc or erfc from erfc_tail_.
inline Vec gelu_cdf2_(Vec x) {
  const Vec a = x * 0.70710678118654752f;
  const Vec t = vmin(2.5f, vabs(a)), s = t * t;
  Vec p = -1.2219692765e-06f;
  p = fma(p, s, 9.7544974007e-05f);
  p = fma(p, s, 2.0810927265e-03f);
  p = fma(p, s, 4.4560675634e-02f);
  p = fma(p, s, 1.6051568093e-01f);
  p = fma(p, s, 1.1283791659e+00f);
  Vec q = 5.6903962479e-04f;
  q = fma(q, s, 1.0767519514e-02f);
  q = fma(q, s, 9.8020090090e-02f);
  q = fma(q, s, 4.7558660473e-01f);
  q = fma(q, s, 1.f);
  const Vec core = 1.f + copysign(t * p / q, a);
  const Mask far = vabs(a) > 2.5f;  // false for NaN: the core carries it
  if (!any(far)) return core;
  const Vec e = erfc_tail_(vabs(a));
  return select(far, select(x > 0.f, 2.f - e, e), core);
}

// ---- tanh --------------------------------------------------------------------------------------
// Cephes tanhf: an odd polynomial for |x| < 0.625, 1 - 2 / (e^{2|x|} + 1) beyond.
inline Vec tanh_(Vec x) {
  const Vec t = vabs(x), z = x * x;
  Vec p = -5.70498872745e-3f;
  p = fma(p, z, 2.06390887954e-2f);
  p = fma(p, z, -5.37397155531e-2f);
  p = fma(p, z, 1.33314422036e-1f);
  p = fma(p, z, -3.33332819422e-1f);
  const Vec small = fma(p * z, x, x);
  const Vec big = copysign(1.f - 2.f / (exp_(t + t) + 1.f), x);
  return select(t < 0.625f, small, big);
}

inline Vec sigmoid_(Vec x) { return 1.f / (1.f + exp_(-x)); }

}  // namespace
}  // namespace nerve
