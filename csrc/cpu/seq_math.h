// seq_math.h — exp, sigmoid and tanh written so that loops over arrays of them vectorise (no
// branches, no calls): the float forms are Cephes' polynomials (about 2 ulp); double calls std::.
// Internal to the sequence kernels (rnn_cells.h, attention_rows.h); everything has internal
// linkage, because each includer is compiled once per ISA (portable, AVX2, AVX-512).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

// The arrays of one pass never overlap; saying so spares the vectoriser its run-time alias checks
// (too many of them and GCC gives up on the loop).
#if defined(__clang__)
#define NERVE_IVDEP _Pragma("clang loop vectorize(assume_safety)")
#elif defined(__GNUC__)
#define NERVE_IVDEP _Pragma("GCC ivdep")
#else
#define NERVE_IVDEP
#endif

namespace nerve {
namespace {

inline float fast_exp(float x) {
  x = std::min(std::max(x, -87.0f), 88.0f);          // NaN stays NaN; 2^n stays a normal float
  const float t = x * 1.44269504088896341f + 12582912.0f;  // 1.5 * 2^23: rounds x log2(e) to an integer n
  const float n = t - 12582912.0f;
  int32_t ni;
  std::memcpy(&ni, &t, sizeof ni);
  ni -= 0x4B400000;
  const float r = (x - n * 0.693359375f) - n * -2.12194440e-4f;  // x - n ln 2 in two parts
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * (r * r) + r + 1.0f;
  const int32_t e = (ni + 127) << 23;
  float scale;
  std::memcpy(&scale, &e, sizeof scale);
  return p * scale;
}

inline double fast_exp(double x) { return std::exp(x); }

inline float act_sigmoid(float x) { return 1.0f / (1.0f + fast_exp(-x)); }
inline double act_sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

inline float act_tanh(float x) {
  const float a = std::fabs(x);
  const float big = 1.0f - 2.0f / (fast_exp(2.0f * a) + 1.0f);  // accurate away from 0
  const float z = x * x;
  float p = -5.70498872745e-3f;  // odd polynomial near 0, where the form above cancels
  p = p * z + 2.06390887954e-2f;
  p = p * z - 5.37397155531e-2f;
  p = p * z + 1.33314422036e-1f;
  p = p * z - 3.33332819422e-1f;
  const float small = p * z * x + x;
  return a < 0.625f ? small : std::copysign(big, x);
}
inline double act_tanh(double x) { return std::tanh(x); }

}  // namespace
}  // namespace nerve
