// loss_impl.h — the float32 SIMD loss kernels, written once over activation_math.h's Vec and
// compiled by each back end (loss.cpp portable, loss_avx2.cpp, loss_avx512.cpp): the fused
// cross-entropy over (rows, C) logits (class indices or class probabilities), forward and
// backward, and the pointwise losses. loss.cpp splits the work across threads and handles the
// (N, C, d1, ...) layouts and float64 with its scalar kernels. Contracts: loss.h.
#pragma once
#include <cmath>
#include <cstdint>

#include "loss.h"
#include "softmax_rows.h"

namespace nerve {

struct LossArch {
  const char* name;
  // rows of C logits, class-index targets; wsum = sum of the class weights (C without weights).
  // loss (rows) is always written; loss.cpp sums it.
  bool (*ce_forward)(float* loss, float* stats, const float* x, const int64_t* target, const float* w, int64_t rows,
                     int64_t C, int64_t ignore_index, float eps, float wsum, int64_t* bad);
  bool (*ce_backward)(float* dx, const float* x, const float* stats, const int64_t* target, const float* w,
                      const float* dloss, float scale, int64_t rows, int64_t C, int64_t ignore_index, float eps,
                      float wsum, int64_t* bad);
  // rows of C logits, class-probability targets
  void (*ce_prob_forward)(float* loss, float* stats, const float* x, const float* target, const float* w,
                          int64_t rows, int64_t C, float eps);
  void (*ce_prob_backward)(float* dx, float* dtarget, const float* x, const float* stats, const float* target,
                           const float* w, const float* dloss, float scale, int64_t rows, int64_t C, float eps);
  // adds the sum of the losses to *sum; false if bce met a value outside [0, 1]
  bool (*point_forward)(float* loss, double* sum, const float* x, const float* t, const float* w, const float* pw,
                        int64_t n, PointLoss kind);
  void (*point_backward)(float* dx, float* dt, const float* x, const float* t, const float* w, const float* pw,
                         const float* dloss, float scale, int64_t n, PointLoss kind);
};

const LossArch& loss_arch_avx512();
const LossArch& loss_arch_avx2();

namespace {

// w[i, i + k) or ones
inline Vec load_or_one(const float* w, int64_t i, int64_t k) {
  if (!w) return 1.f;
  return k == Vec::W ? Vec::load(w + i) : Vec::load_n(w + i, k);
}

inline Vec load_k(const float* p, int64_t i, int64_t k, float fill = 0.f) {
  return k == Vec::W ? Vec::load(p + i) : Vec::load_n(p + i, k, fill);
}

inline void store_k(float* p, int64_t i, int64_t k, Vec v) {
  if (k == Vec::W) v.store(p + i);
  else v.store_n(p + i, k);
}

// f(i, k) over [0, n) in vectors of k <= W lanes
template <class F>
inline void for_vectors(int64_t n, F f) {
  int64_t i = 0;
  for (; i + Vec::W <= n; i += Vec::W) f(i, int64_t(Vec::W));
  if (i < n) f(i, n - i);
}

// ---- cross entropy, class indices ------------------------------------------------------------------

bool ce_forward(float* loss, float* stats, const float* x, const int64_t* target, const float* w, int64_t rows,
                int64_t C, int64_t ignore_index, float eps, float wsum, int64_t* bad) {
  bool ok = true;
  for (int64_t r = 0; r < rows; ++r, x += C) {
    const int64_t t = target[r];
    const bool ignored = t == ignore_index;
    if (!ignored && (t < 0 || t >= C)) {
      if (ok) *bad = t;
      ok = false;
      loss[r] = 0.f;
      continue;
    }
    const float m = row_max(x, C);
    const float ls = float(std::log(row_exp_sum(nullptr, x, C, m)));
    if (stats) stats[2 * r] = m, stats[2 * r + 1] = ls;
    float l = 0.f;
    if (!ignored) {
      const float wt = w ? w[t] : 1.f;
      l = (1.f - eps) * wt * ((m - x[t]) + ls);
      if (eps > 0.f) {  // sum_c w[c] (ls + m - x[c]) = wsum ls + sum_c w[c] (m - x[c]): no cancellation
        const Vec vm = m;
        const double wx =
            row_sum_of(x, C, 0.f, [&](int64_t i, Vec v, int64_t k) { return load_or_one(w, i, k) * (vm - v); });
        l += eps / float(C) * (wsum * ls + float(wx));
      }
    }
    loss[r] = l;
  }
  return ok;
}

bool ce_backward(float* dx, const float* x, const float* stats, const int64_t* target, const float* w,
                 const float* dloss, float scale, int64_t rows, int64_t C, int64_t ignore_index, float eps, float wsum,
                 int64_t* bad) {
  bool ok = true;
  for (int64_t r = 0; r < rows; ++r, x += C, dx += C) {
    const int64_t t = target[r];
    const bool ignored = t == ignore_index;
    if (!ignored && (t < 0 || t >= C)) {
      if (ok) *bad = t;
      ok = false;
      for_vectors(C, [&](int64_t i, int64_t k) { store_k(dx, i, k, 0.f); });
      continue;
    }
    const float g = dloss ? dloss[r] : scale;
    const float wt = ignored ? 0.f : (w ? w[t] : 1.f);
    // dx = p a - w[c] bs, and dx[t] -= g (1 - e) w[t]. An ignored sample gets p * 0: zero, or NaN
    // where its softmax is NaN (an all -inf row), which is what PyTorch's gradient holds there.
    const Vec a = ignored ? 0.f : g * ((1.f - eps) * wt + eps / float(C) * wsum);
    const Vec bs = ignored ? 0.f : g * eps / float(C);
    const Vec vm = stats[2 * r], vls = stats[2 * r + 1];
    for_vectors(C, [&](int64_t i, int64_t k) {
      const Vec p = exp_((load_k(x, i, k) - vm) - vls);
      store_k(dx, i, k, p * a - load_or_one(w, i, k) * bs);
    });
    if (!ignored) dx[t] -= g * (1.f - eps) * wt;
  }
  return ok;
}

// ---- cross entropy, class probabilities ----------------------------------------------------------

void ce_prob_forward(float* loss, float* stats, const float* x, const float* target, const float* w, int64_t rows,
                     int64_t C, float eps) {
  const Vec keep = 1.f - eps, spread = eps / float(C);
  for (int64_t r = 0; r < rows; ++r, x += C, target += C) {
    const float m = row_max(x, C);
    const float ls = float(std::log(row_exp_sum(nullptr, x, C, m)));
    if (stats) stats[2 * r] = m, stats[2 * r + 1] = ls;
    const Vec vm = m, vls = ls;
    // sum_c w[c] p'[c] (ls + m - x[c]); 0 * inf = NaN where a logit is -inf, as in PyTorch
    const float l = float(row_sum_of(x, C, 0.f, [&](int64_t i, Vec v, int64_t k) {
      return load_or_one(w, i, k) * fma(load_k(target, i, k), keep, spread) * (vls + (vm - v));
    }));
    loss[r] = l;
  }
}

void ce_prob_backward(float* dx, float* dtarget, const float* x, const float* stats, const float* target,
                      const float* w, const float* dloss, float scale, int64_t rows, int64_t C, float eps) {
  const Vec keep = 1.f - eps, spread = eps / float(C);
  for (int64_t r = 0; r < rows; ++r, x += C, dx += C, target += C) {
    const float g = dloss ? dloss[r] : scale;
    const Vec vm = stats[2 * r], vls = stats[2 * r + 1], vg = g;
    // dx = g (p sum_c w p' - w p'), dtarget = g (1 - e) w (ls + m - x)
    const Vec total = float(row_sum_of(target, C, 0.f, [&](int64_t i, Vec v, int64_t k) {
      return load_or_one(w, i, k) * fma(v, keep, spread);
    }));
    float* dt = dtarget ? dtarget + r * C : nullptr;
    for_vectors(C, [&](int64_t i, int64_t k) {
      const Vec v = load_k(x, i, k), wc = load_or_one(w, i, k);
      const Vec p = exp_((v - vm) - vls);
      store_k(dx, i, k, vg * (p * total - wc * fma(load_k(target, i, k), keep, spread)));
      if (dt) store_k(dt, i, k, vg * keep * wc * (vls + (vm - v)));
    });
  }
}

// ---- pointwise ---------------------------------------------------------------------------------------

inline Vec log_sigmoid_(Vec x) { return vmin(0.f, x) - log1p_(exp_(-vabs(x))); }

inline Vec sign_(Vec d) { return select(d > 0.f, 1.f, select(d < 0.f, -1.f, 0.f)); }

// One block of the forward; returns the block's sum and flags x or t outside [0, 1] for bce.
template <PointLoss K>
double point_forward_block(float* loss, const float* x, const float* t, const float* w, const float* pw, int64_t n,
                           bool* out_of_range) {
  Vec acc = 0.f, badness = 0.f;
  for_vectors(n, [&](int64_t i, int64_t k) {
    const Vec xv = load_k(x, i, k), tv = load_k(t, i, k);
    Vec l;
    if constexpr (K == PointLoss::mse) {
      const Vec d = xv - tv;
      l = d * d;
    } else if constexpr (K == PointLoss::l1) {
      l = vabs(xv - tv);
    } else if constexpr (K == PointLoss::bce) {
      // PyTorch: (t - 1) max(log1p(-x), -100) - t max(log x, -100), and x, t must lie in [0, 1]
      const Mask in = (xv >= 0.f) & (xv <= 1.f) & (tv >= 0.f) & (tv <= 1.f);
      badness = vmax(badness, select(in, 0.f, 1.f));
      l = (tv - 1.f) * vmax(-100.f, log1p_(-xv)) - tv * vmax(-100.f, log_(xv));
    } else {  // bce_logits: (1 - t) x - (1 + (pw - 1) t) log_sigmoid(x)
      const Vec ls = log_sigmoid_(xv);
      const Vec lw = pw ? fma(load_k(pw, i, k) - 1.f, tv, 1.f) : Vec(1.f);
      l = (1.f - tv) * xv - lw * ls;
    }
    if (w) l = l * load_k(w, i, k);
    if (loss) store_k(loss, i, k, l);
    acc = acc + (k == Vec::W ? l : select(lanes(k), l, 0.f));
  });
  if (hmax(badness) > 0.f) *out_of_range = true;
  return double(hsum(acc));
}

constexpr int64_t kPointBlock = 64 * Vec::W;  // values per float partial sum (as softmax_rows.h's kSumBlock)

template <PointLoss K>
bool point_forward_k(float* loss, double* sum, const float* x, const float* t, const float* w, const float* pw,
                     int64_t n) {
  bool bad = false;
  double total = 0;
  for (int64_t b = 0; b < n; b += kPointBlock) {
    const int64_t m = n - b < kPointBlock ? n - b : kPointBlock;
    total += point_forward_block<K>(loss ? loss + b : nullptr, x + b, t + b, w ? w + b : nullptr, pw ? pw + b : nullptr,
                                    m, &bad);
  }
  if (sum) *sum += total;
  return !bad;
}

bool point_forward(float* loss, double* sum, const float* x, const float* t, const float* w, const float* pw,
                   int64_t n, PointLoss kind) {
  switch (kind) {
    case PointLoss::mse: return point_forward_k<PointLoss::mse>(loss, sum, x, t, w, pw, n);
    case PointLoss::l1: return point_forward_k<PointLoss::l1>(loss, sum, x, t, w, pw, n);
    case PointLoss::bce: return point_forward_k<PointLoss::bce>(loss, sum, x, t, w, pw, n);
    default: return point_forward_k<PointLoss::bce_logits>(loss, sum, x, t, w, pw, n);
  }
}

template <PointLoss K>
void point_backward_k(float* dx, float* dt, const float* x, const float* t, const float* w, const float* pw,
                      const float* dloss, float scale, int64_t n) {
  const Vec vscale = scale;
  for_vectors(n, [&](int64_t i, int64_t k) {
    const Vec xv = load_k(x, i, k), tv = load_k(t, i, k);
    Vec g = dloss ? load_k(dloss, i, k) : vscale;
    if (w) g = g * load_k(w, i, k);
    Vec gx, gt;
    if constexpr (K == PointLoss::mse) {
      gx = 2.f * (xv - tv) * g;
      gt = -gx;
    } else if constexpr (K == PointLoss::l1) {
      gx = sign_(xv - tv) * g;
      gt = -gx;
    } else if constexpr (K == PointLoss::bce) {
      // PyTorch: g (x - t) / max((1 - x) x, 1e-12); the target's: -g logit(x)
      gx = g * (xv - tv) / vmax(1e-12f, (1.f - xv) * xv);
      gt = g * (log1p_(-xv) - log_(xv));
    } else if (pw) {  // ((pw t + 1 - t) sigmoid(x) - pw t) g; target: (log_sigmoid(-x) - pw log_sigmoid(x)) g
      const Vec pt = load_k(pw, i, k) * tv;
      gx = ((pt + 1.f - tv) * sigmoid_(xv) - pt) * g;
      gt = (log_sigmoid_(-xv) - load_k(pw, i, k) * log_sigmoid_(xv)) * g;
    } else {
      gx = (sigmoid_(xv) - tv) * g;
      gt = -xv * g;
    }
    if (dx) store_k(dx, i, k, gx);
    if (dt) store_k(dt, i, k, gt);
  });
}

void point_backward(float* dx, float* dt, const float* x, const float* t, const float* w, const float* pw,
                    const float* dloss, float scale, int64_t n, PointLoss kind) {
  switch (kind) {
    case PointLoss::mse: return point_backward_k<PointLoss::mse>(dx, dt, x, t, w, pw, dloss, scale, n);
    case PointLoss::l1: return point_backward_k<PointLoss::l1>(dx, dt, x, t, w, pw, dloss, scale, n);
    case PointLoss::bce: return point_backward_k<PointLoss::bce>(dx, dt, x, t, w, pw, dloss, scale, n);
    default: return point_backward_k<PointLoss::bce_logits>(dx, dt, x, t, w, pw, dloss, scale, n);
  }
}

LossArch make_loss_arch() {
  return {Vec::isa, ce_forward, ce_backward, ce_prob_forward, ce_prob_backward, point_forward, point_backward};
}

}  // namespace
}  // namespace nerve
