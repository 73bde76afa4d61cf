// softmax_rows.h — float32 SIMD building blocks over one contiguous row, shared by the softmax
// kernels (softmax_impl.h) and the fused cross-entropy (loss_impl.h): max, sum of exp(x - m) (with
// or without storing it), scaling, dot products. Compiled per ISA with activation_math.h's Vec.
//
// Sums run in float vectors over blocks of kSumBlock elements (32 per lane of each of the two
// accumulators), each block's total added into a double: a long row loses no more digits than a
// short one, and the one-lane portable build no more than the vector ones.
#pragma once
#include <cstdint>
#include <limits>

#include "activation_math.h"

namespace nerve {
namespace {

constexpr int64_t kSumBlock = 64 * Vec::W;
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// max over the row (-inf for n == 0). A NaN may or may not win; the exp that follows makes the
// whole row NaN either way, as in PyTorch.
inline float row_max(const float* x, int64_t n) {
  Vec m0 = kNegInf, m1 = kNegInf;
  int64_t i = 0;
  for (; i + 2 * Vec::W <= n; i += 2 * Vec::W) {
    m0 = vmax(m0, Vec::load(x + i));
    m1 = vmax(m1, Vec::load(x + i + Vec::W));
  }
  for (; i + Vec::W <= n; i += Vec::W) m0 = vmax(m0, Vec::load(x + i));
  if (i < n) m1 = vmax(m1, Vec::load_n(x + i, n - i, kNegInf));
  return hmax(vmax(m0, m1));
}

// sum of f(i, v, k) over the row: v holds x[i, i + k) (k < W only at the end, where the other
// lanes hold `fill` and what f returns for them is dropped); vector blocks in float, block totals
// in a double.
template <class F>
inline double row_sum_of(const float* x, int64_t n, float fill, F f) {
  double total = 0;
  for (int64_t b = 0; b < n; b += kSumBlock) {
    const int64_t e = b + kSumBlock < n ? b + kSumBlock : n;
    Vec s0 = 0.f, s1 = 0.f;
    int64_t i = b;
    for (; i + 2 * Vec::W <= e; i += 2 * Vec::W) {
      s0 = s0 + f(i, Vec::load(x + i), Vec::W);
      s1 = s1 + f(i + Vec::W, Vec::load(x + i + Vec::W), Vec::W);
    }
    for (; i + Vec::W <= e; i += Vec::W) s0 = s0 + f(i, Vec::load(x + i), Vec::W);
    if (i < e) s1 = s1 + select(lanes(e - i), f(i, Vec::load_n(x + i, e - i, fill), e - i), 0.f);
    total += double(hsum(s0 + s1));
  }
  return total;
}

// sum of exp(x - m); when y is given it also receives exp(x - m). Missing lanes read -inf: e^-inf = 0.
inline double row_exp_sum(float* y, const float* x, int64_t n, float m) {
  const Vec vm = m;
  if (!y) return row_sum_of(x, n, kNegInf, [&](int64_t, Vec v, int64_t) { return exp_(v - vm); });
  return row_sum_of(x, n, kNegInf, [&](int64_t i, Vec v, int64_t k) {
    const Vec e = exp_(v - vm);
    if (k == Vec::W) e.store(y + i);
    else e.store_n(y + i, k);
    return e;
  });
}

inline void row_scale(float* y, int64_t n, float s) {
  const Vec vs = s;
  int64_t i = 0;
  for (; i + Vec::W <= n; i += Vec::W) (Vec::load(y + i) * vs).store(y + i);
  if (i < n) (Vec::load_n(y + i, n - i) * vs).store_n(y + i, n - i);
}

// y = (x - m) - l, in that order: the row's maximum then gets exactly -l (log_softmax's largest
// values carry its most important digits; x - (m + l) would round m + l first).
inline void row_shift(float* y, const float* x, int64_t n, float m, float l) {
  const Vec vm = m, vl = l;
  int64_t i = 0;
  for (; i + Vec::W <= n; i += Vec::W) ((Vec::load(x + i) - vm) - vl).store(y + i);
  if (i < n) ((Vec::load_n(x + i, n - i) - vm) - vl).store_n(y + i, n - i);
}

inline double row_dot(const float* a, const float* b, int64_t n) {
  return row_sum_of(a, n, 0.f, [&](int64_t i, Vec v, int64_t k) {
    return v * (k == Vec::W ? Vec::load(b + i) : Vec::load_n(b + i, k));
  });
}

inline double row_sum(const float* a, int64_t n) {
  return row_sum_of(a, n, 0.f, [](int64_t, Vec v, int64_t) { return v; });
}

}  // namespace
}  // namespace nerve
