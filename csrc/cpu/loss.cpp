// loss.cpp — loss entry points: float32 (N, C) cross-entropy and the pointwise losses through the
// SIMD back end isa() picks (loss_impl.h); the (N, C, d1, ...) layouts, nll_loss and float64
// through scalar kernels here (sums in double); and the naive oracle.
//
// Reductions are deterministic: per-sample losses are summed in fixed blocks whose partial sums
// are added in order, so 'mean' and 'sum' do not depend on the thread count. Threads split rows,
// (sample, column block) pairs or fixed blocks of values, each worth at least kGrain values, so a
// (128, 10) loss runs on the calling thread alone.
#include "loss.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include "../core/cpu_features.h"
#include "../core/parallel.h"
#include "loss_impl.h"

namespace nerve {
namespace {

constexpr int64_t kGrain = int64_t{1} << 14;
constexpr int64_t kCols = 64;                  // columns per work unit of the (N, C, inner) walk
constexpr int64_t kBlock = int64_t{1} << 16;   // values per partial sum of a reduction

const LossArch& portable_arch() {
  static const LossArch arch = make_loss_arch();
  return arch;
}

const LossArch& arch() {
#ifdef NERVE_X86_KERNELS
  const Isa i = isa();
  if (i == Isa::avx512) return loss_arch_avx512();
  if (i == Isa::avx2) return loss_arch_avx2();
#endif
  return portable_arch();
}

// A bad target seen by any thread: the first flag wins, its value is reported.
struct BadTarget {
  std::atomic<bool> seen{false};
  std::atomic<int64_t> value{0};
  void report(int64_t v) {
    bool expected = false;
    if (seen.compare_exchange_strong(expected, true)) value.store(v);
  }
  bool ok(int64_t* bad) const {
    if (seen.load() && bad) *bad = value.load();
    return !seen.load();
  }
};

bool bad_target(int64_t t, int64_t C, int64_t ignore_index) { return t != ignore_index && (t < 0 || t >= C); }

// sum of v[0, n) in double, in fixed blocks added in order
template <class T>
double fixed_sum(const T* v, int64_t n) {
  const int64_t nb = (n + kBlock - 1) / kBlock;
  std::vector<double> part(size_t(std::max<int64_t>(nb, 1)), 0.0);
  parallel_for(nb, 4, [&](int64_t b, int64_t e) {
    for (int64_t k = b; k < e; ++k) {
      double s = 0;
      for (int64_t i = k * kBlock, end = std::min(n, i + kBlock); i < end; ++i) s += double(v[i]);
      part[size_t(k)] = s;
    }
  });
  double s = 0;
  for (double p : part) s += p;
  return s;
}

// sum of w[t] (1 without weights) over the targets that are not ignored (bad ones skipped)
template <class T>
double target_weight_sum(const int64_t* target, const T* w, int64_t samples, int64_t C, int64_t ignore_index) {
  double s = 0;
  for (int64_t j = 0; j < samples; ++j) {
    const int64_t t = target[j];
    if (t == ignore_index || t < 0 || t >= C) continue;
    s += w ? double(w[t]) : 1.0;
  }
  return s;
}

template <class T>
double class_weight_sum(const T* w, int64_t C) {
  if (!w) return double(C);
  double s = 0;
  for (int64_t c = 0; c < C; ++c) s += double(w[c]);
  return s;
}

// fn(n, c0, c1) over every sample n and column block [c0, c1) of inner, across threads
template <class F>
void for_units(const ClassShape& s, F&& fn) {
  const int64_t blocks = (s.inner + kCols - 1) / kCols;
  const int64_t per_unit = std::max<int64_t>(1, s.C * std::min(s.inner, kCols));
  parallel_for(s.N * blocks, std::max<int64_t>(1, kGrain / per_unit), [&](int64_t b, int64_t e) {
    for (int64_t u = b; u < e; ++u) {
      const int64_t n = u / blocks, c0 = (u % blocks) * kCols;
      fn(n, c0, std::min(s.inner, c0 + kCols));
    }
  });
}

template <class T>
T nan_max(T m, T v) {
  return (v > m || v != v) ? v : m;
}

// ---- scalar kernels over (N, C, inner): float64, and float32 with inner > 1 -------------------------
// Per column block: max down the classes, then sum of exp in double, then each sample's terms.

template <class T>
void column_stats(const T* xs, int64_t C, int64_t inner, int64_t w, double* m, double* ls) {
  for (int64_t i = 0; i < w; ++i) m[i] = -std::numeric_limits<double>::infinity(), ls[i] = 0;
  for (int64_t c = 0; c < C; ++c)
    for (int64_t i = 0; i < w; ++i) m[i] = nan_max(m[i], double(xs[c * inner + i]));
  for (int64_t c = 0; c < C; ++c)
    for (int64_t i = 0; i < w; ++i) ls[i] += std::exp(double(xs[c * inner + i]) - m[i]);
  for (int64_t i = 0; i < w; ++i) ls[i] = std::log(ls[i]);
}

template <class T>
void ce_forward_scalar(T* loss, T* stats, const T* x, const int64_t* target, const T* w, const ClassShape& s,
                       int64_t ignore_index, double eps, double wsum, BadTarget& bad) {
  for_units(s, [&](int64_t n, int64_t c0, int64_t c1) {
    const int64_t width = c1 - c0;
    const T* xs = x + n * s.C * s.inner + c0;
    double m[kCols], ls[kCols];
    column_stats(xs, s.C, s.inner, width, m, ls);
    for (int64_t i = 0; i < width; ++i) {
      const int64_t j = n * s.inner + c0 + i, t = target[j];
      if (stats) stats[2 * j] = T(m[i]), stats[2 * j + 1] = T(ls[i]);
      double l = 0;
      if (bad_target(t, s.C, ignore_index)) {
        bad.report(t);
      } else if (t != ignore_index) {
        const double wt = w ? double(w[t]) : 1.0;
        l = (1 - eps) * wt * ((m[i] - double(xs[t * s.inner + i])) + ls[i]);
        if (eps > 0) {
          double wx = 0;
          for (int64_t c = 0; c < s.C; ++c) wx += (w ? double(w[c]) : 1.0) * (m[i] - double(xs[c * s.inner + i]));
          l += eps / double(s.C) * (wsum * ls[i] + wx);
        }
      }
      loss[j] = T(l);
    }
  });
}

template <class T>
void ce_backward_scalar(T* dx, const T* x, const T* stats, const int64_t* target, const T* w, const T* dloss,
                        double scale, const ClassShape& s, int64_t ignore_index, double eps, double wsum,
                        BadTarget& bad) {
  for_units(s, [&](int64_t n, int64_t c0, int64_t c1) {
    const int64_t width = c1 - c0, off = n * s.C * s.inner + c0;
    double a[kCols], bs[kCols], m[kCols], ls[kCols], gt[kCols];
    bool skip[kCols];
    for (int64_t i = 0; i < width; ++i) {
      const int64_t j = n * s.inner + c0 + i, t = target[j];
      skip[i] = bad_target(t, s.C, ignore_index);
      if (skip[i]) bad.report(t);
      const bool ignored = skip[i] || t == ignore_index;
      const double g = dloss ? double(dloss[j]) : scale, wt = ignored ? 0.0 : (w ? double(w[t]) : 1.0);
      a[i] = ignored ? 0.0 : g * ((1 - eps) * wt + eps / double(s.C) * wsum);
      bs[i] = ignored ? 0.0 : g * eps / double(s.C);
      gt[i] = ignored ? 0.0 : g * (1 - eps) * wt;
      m[i] = double(stats[2 * j]), ls[i] = double(stats[2 * j + 1]);
    }
    for (int64_t c = 0; c < s.C; ++c) {
      const double wc = w ? double(w[c]) : 1.0;
      for (int64_t i = 0; i < width; ++i) {
        const int64_t k = off + c * s.inner + i;
        dx[k] = skip[i] ? T(0) : T(std::exp((double(x[k]) - m[i]) - ls[i]) * a[i] - wc * bs[i]);
      }
    }
    for (int64_t i = 0; i < width; ++i) {
      const int64_t t = target[n * s.inner + c0 + i];
      if (!skip[i] && t != ignore_index) dx[off + t * s.inner + i] -= T(gt[i]);
    }
  });
}

template <class T>
void ce_prob_forward_scalar(T* loss, T* stats, const T* x, const T* target, const T* w, const ClassShape& s,
                            double eps) {
  for_units(s, [&](int64_t n, int64_t c0, int64_t c1) {
    const int64_t width = c1 - c0, off = n * s.C * s.inner + c0;
    double m[kCols], ls[kCols], l[kCols] = {};
    column_stats(x + off, s.C, s.inner, width, m, ls);
    for (int64_t c = 0; c < s.C; ++c) {
      const double wc = w ? double(w[c]) : 1.0;
      for (int64_t i = 0; i < width; ++i) {
        const int64_t k = off + c * s.inner + i;
        const double tp = (1 - eps) * double(target[k]) + eps / double(s.C);
        l[i] += wc * tp * (ls[i] + (m[i] - double(x[k])));
      }
    }
    for (int64_t i = 0; i < width; ++i) {
      const int64_t j = n * s.inner + c0 + i;
      loss[j] = T(l[i]);
      if (stats) stats[2 * j] = T(m[i]), stats[2 * j + 1] = T(ls[i]);
    }
  });
}

template <class T>
void ce_prob_backward_scalar(T* dx, T* dtarget, const T* x, const T* stats, const T* target, const T* w,
                             const T* dloss, double scale, const ClassShape& s, double eps) {
  for_units(s, [&](int64_t n, int64_t c0, int64_t c1) {
    const int64_t width = c1 - c0, off = n * s.C * s.inner + c0;
    double g[kCols], m[kCols], ls[kCols], total[kCols] = {};
    for (int64_t i = 0; i < width; ++i) {
      const int64_t j = n * s.inner + c0 + i;
      g[i] = dloss ? double(dloss[j]) : scale, m[i] = double(stats[2 * j]), ls[i] = double(stats[2 * j + 1]);
    }
    for (int64_t c = 0; c < s.C; ++c)
      for (int64_t i = 0; i < width; ++i)
        total[i] += (w ? double(w[c]) : 1.0) * ((1 - eps) * double(target[off + c * s.inner + i]) + eps / double(s.C));
    for (int64_t c = 0; c < s.C; ++c) {
      const double wc = w ? double(w[c]) : 1.0;
      for (int64_t i = 0; i < width; ++i) {
        const int64_t k = off + c * s.inner + i;
        const double tp = (1 - eps) * double(target[k]) + eps / double(s.C);
        const double p = std::exp((double(x[k]) - m[i]) - ls[i]);
        dx[k] = T(g[i] * (p * total[i] - wc * tp));
        if (dtarget) dtarget[k] = T(g[i] * (1 - eps) * wc * (ls[i] + (m[i] - double(x[k]))));
      }
    }
  });
}

// ---- pointwise, scalar (float64) ------------------------------------------------------------------

template <class T>
T log_sigmoid(T x) {
  return std::min(x, T(0)) - std::log1p(std::exp(-std::abs(x)));
}

template <class T>
T point_loss(PointLoss kind, T x, T t, T pw, bool has_pw, bool* bad) {
  switch (kind) {
    case PointLoss::mse: return (x - t) * (x - t);
    case PointLoss::l1: return std::abs(x - t);
    case PointLoss::bce:
      if (!(x >= 0 && x <= 1 && t >= 0 && t <= 1)) *bad = true;
      return (t - 1) * std::max(std::log1p(-x), T(-100)) - t * std::max(std::log(x), T(-100));
    default: {
      const T lw = has_pw ? 1 + (pw - 1) * t : T(1);
      return (1 - t) * x - lw * log_sigmoid(x);
    }
  }
}

// (d loss / dx, d loss / dt) times g
template <class T>
void point_grads(PointLoss kind, T x, T t, T pw, bool has_pw, T g, T* gx, T* gt) {
  switch (kind) {
    case PointLoss::mse: *gx = 2 * (x - t) * g, *gt = -*gx; return;
    case PointLoss::l1: *gx = T((x > t) - (x < t)) * g, *gt = -*gx; return;
    case PointLoss::bce:
      *gx = g * (x - t) / std::max((1 - x) * x, T(1e-12));
      *gt = g * (std::log1p(-x) - std::log(x));
      return;
    default: {
      const T sg = 1 / (1 + std::exp(-x));
      if (has_pw) {
        *gx = ((pw * t + 1 - t) * sg - pw * t) * g;
        *gt = (log_sigmoid(-x) - pw * log_sigmoid(x)) * g;
      } else {
        *gx = (sg - t) * g, *gt = -x * g;
      }
    }
  }
}

template <class T>
bool point_forward_scalar(T* loss, double* sum, const T* x, const T* t, const T* w, const T* pw, int64_t lo,
                          int64_t hi, PointLoss kind) {
  bool bad = false;
  double s = 0;
  for (int64_t i = lo; i < hi; ++i) {
    T l = point_loss(kind, x[i], t[i], pw ? pw[i] : T(1), pw != nullptr, &bad);
    if (w) l *= w[i];
    if (loss) loss[i] = l;
    s += double(l);
  }
  *sum += s;
  return !bad;
}

template <class T>
void point_backward_scalar(T* dx, T* dt, const T* x, const T* t, const T* w, const T* pw, const T* dloss, double scale,
                           int64_t lo, int64_t hi, PointLoss kind) {
  for (int64_t i = lo; i < hi; ++i) {
    T g = dloss ? dloss[i] : T(scale);
    if (w) g *= w[i];
    T gx, gt;
    point_grads(kind, x[i], t[i], pw ? pw[i] : T(1), pw != nullptr, g, &gx, &gt);
    if (dx) dx[i] = gx;
    if (dt) dt[i] = gt;
  }
}

bool simd_rows(const ClassShape& s) { return s.inner == 1; }

// fn(r0, r1) over row blocks of about kGrain values
template <class F>
void for_row_blocks(const ClassShape& s, F&& fn) {
  parallel_for(s.N, std::max<int64_t>(1, kGrain / std::max<int64_t>(1, s.C)), fn);
}

}  // namespace

// ---- cross entropy -----------------------------------------------------------------------------------

template <class T>
bool cross_entropy_forward(T* loss, T* stats, double* sums, const T* x, const int64_t* target, const T* weight,
                           ClassShape s, int64_t ignore_index, double eps, int64_t* bad) {
  const int64_t samples = s.N * s.inner;
  std::vector<T> tmp;
  if (!loss) tmp.resize(size_t(samples)), loss = tmp.data();
  BadTarget b;
  const double wsum = class_weight_sum(weight, s.C);
  bool done = false;
  if constexpr (std::is_same<T, float>::value) {
    if (simd_rows(s)) {
      const LossArch& k = arch();
      for_row_blocks(s, [&](int64_t r0, int64_t r1) {
        int64_t v = 0;
        if (!k.ce_forward(loss + r0, stats ? stats + 2 * r0 : nullptr, x + r0 * s.C, target + r0, weight, r1 - r0,
                          s.C, ignore_index, float(eps), float(wsum), &v))
          b.report(v);
      });
      done = true;
    }
  }
  if (!done) ce_forward_scalar(loss, stats, x, target, weight, s, ignore_index, eps, wsum, b);
  if (sums) sums[0] = fixed_sum(loss, samples), sums[1] = target_weight_sum(target, weight, samples, s.C, ignore_index);
  return b.ok(bad);
}

template <class T>
bool cross_entropy_backward(T* dx, const T* x, const T* stats, const int64_t* target, const T* weight, const T* dloss,
                            double scale, ClassShape s, int64_t ignore_index, double eps, int64_t* bad) {
  BadTarget b;
  const double wsum = class_weight_sum(weight, s.C);
  if constexpr (std::is_same<T, float>::value) {
    if (simd_rows(s)) {
      const LossArch& k = arch();
      for_row_blocks(s, [&](int64_t r0, int64_t r1) {
        int64_t v = 0;
        if (!k.ce_backward(dx + r0 * s.C, x + r0 * s.C, stats + 2 * r0, target + r0, weight,
                           dloss ? dloss + r0 : nullptr, float(scale), r1 - r0, s.C, ignore_index, float(eps),
                           float(wsum), &v))
          b.report(v);
      });
      return b.ok(bad);
    }
  }
  ce_backward_scalar(dx, x, stats, target, weight, dloss, scale, s, ignore_index, eps, wsum, b);
  return b.ok(bad);
}

template <class T>
void cross_entropy_prob_forward(T* loss, T* stats, double* sums, const T* x, const T* target, const T* weight,
                                ClassShape s, double eps) {
  const int64_t samples = s.N * s.inner;
  std::vector<T> tmp;
  if (!loss) tmp.resize(size_t(samples)), loss = tmp.data();
  bool done = false;
  if constexpr (std::is_same<T, float>::value) {
    if (simd_rows(s)) {
      const LossArch& k = arch();
      for_row_blocks(s, [&](int64_t r0, int64_t r1) {
        k.ce_prob_forward(loss + r0, stats ? stats + 2 * r0 : nullptr, x + r0 * s.C, target + r0 * s.C, weight,
                          r1 - r0, s.C, float(eps));
      });
      done = true;
    }
  }
  if (!done) ce_prob_forward_scalar(loss, stats, x, target, weight, s, eps);
  if (sums) sums[0] = fixed_sum(loss, samples);
}

template <class T>
void cross_entropy_prob_backward(T* dx, T* dtarget, const T* x, const T* stats, const T* target, const T* weight,
                                 const T* dloss, double scale, ClassShape s, double eps) {
  if constexpr (std::is_same<T, float>::value) {
    if (simd_rows(s)) {
      const LossArch& k = arch();
      for_row_blocks(s, [&](int64_t r0, int64_t r1) {
        const int64_t o = r0 * s.C;
        k.ce_prob_backward(dx + o, dtarget ? dtarget + o : nullptr, x + o, stats + 2 * r0, target + o, weight,
                           dloss ? dloss + r0 : nullptr, float(scale), r1 - r0, s.C, float(eps));
      });
      return;
    }
  }
  ce_prob_backward_scalar(dx, dtarget, x, stats, target, weight, dloss, scale, s, eps);
}

// ---- nll ----------------------------------------------------------------------------------------------

template <class T>
bool nll_loss_forward(T* loss, double* sums, const T* x, const int64_t* target, const T* weight, ClassShape s,
                      int64_t ignore_index, int64_t* bad) {
  const int64_t samples = s.N * s.inner;
  std::vector<T> tmp;
  if (!loss) tmp.resize(size_t(samples)), loss = tmp.data();
  BadTarget b;
  parallel_for(samples, kGrain, [&](int64_t lo, int64_t hi) {
    for (int64_t j = lo; j < hi; ++j) {
      const int64_t t = target[j], n = j / s.inner, i = j % s.inner;
      if (bad_target(t, s.C, ignore_index)) b.report(t);
      loss[j] = (t == ignore_index || bad_target(t, s.C, ignore_index))
                    ? T(0)
                    : -(weight ? weight[t] : T(1)) * x[(n * s.C + t) * s.inner + i];
    }
  });
  if (sums) sums[0] = fixed_sum(loss, samples), sums[1] = target_weight_sum(target, weight, samples, s.C, ignore_index);
  return b.ok(bad);
}

template <class T>
bool nll_loss_backward(T* dx, const int64_t* target, const T* weight, const T* dloss, double scale, ClassShape s,
                       int64_t ignore_index, int64_t* bad) {
  BadTarget b;
  parallel_for(s.N, std::max<int64_t>(1, kGrain / std::max<int64_t>(1, s.C * s.inner)), [&](int64_t lo, int64_t hi) {
    std::memset(dx + lo * s.C * s.inner, 0, sizeof(T) * size_t((hi - lo) * s.C * s.inner));
    for (int64_t n = lo; n < hi; ++n)
      for (int64_t i = 0; i < s.inner; ++i) {
        const int64_t j = n * s.inner + i, t = target[j];
        if (bad_target(t, s.C, ignore_index)) {
          b.report(t);
          continue;
        }
        if (t == ignore_index) continue;
        dx[(n * s.C + t) * s.inner + i] = -(weight ? weight[t] : T(1)) * (dloss ? dloss[j] : T(scale));
      }
  });
  return b.ok(bad);
}

// ---- pointwise ------------------------------------------------------------------------------------------

template <class T>
bool pointwise_loss_forward(T* loss, double* sum, const T* x, const T* t, const T* w, const T* pw, int64_t n,
                            PointLoss kind) {
  const int64_t nb = (n + kBlock - 1) / kBlock;
  std::vector<double> part(size_t(std::max<int64_t>(nb, 1)), 0.0);
  std::atomic<bool> ok{true};
  parallel_for(nb, 1, [&](int64_t b, int64_t e) {
    for (int64_t k = b; k < e; ++k) {
      const int64_t lo = k * kBlock, hi = std::min(n, lo + kBlock);
      bool good;
      if constexpr (std::is_same<T, float>::value)
        good = arch().point_forward(loss ? loss + lo : nullptr, &part[size_t(k)], x + lo, t + lo, w ? w + lo : nullptr,
                                    pw ? pw + lo : nullptr, hi - lo, kind);
      else
        good = point_forward_scalar(loss, &part[size_t(k)], x, t, w, pw, lo, hi, kind);
      if (!good) ok.store(false, std::memory_order_relaxed);
    }
  });
  if (sum) {
    double s = 0;
    for (double p : part) s += p;
    *sum = s;
  }
  return ok.load();
}

template <class T>
void pointwise_loss_backward(T* dx, T* dt, const T* x, const T* t, const T* w, const T* pw, const T* dloss,
                             double scale, int64_t n, PointLoss kind) {
  const int64_t nb = (n + kBlock - 1) / kBlock;
  parallel_for(nb, 1, [&](int64_t b, int64_t e) {
    for (int64_t k = b; k < e; ++k) {
      const int64_t lo = k * kBlock, hi = std::min(n, lo + kBlock);
      if constexpr (std::is_same<T, float>::value)
        arch().point_backward(dx ? dx + lo : nullptr, dt ? dt + lo : nullptr, x + lo, t + lo, w ? w + lo : nullptr,
                              pw ? pw + lo : nullptr, dloss ? dloss + lo : nullptr, float(scale), hi - lo, kind);
      else
        point_backward_scalar(dx, dt, x, t, w, pw, dloss, scale, lo, hi, kind);
    }
  });
}

// ---- naive oracle: one sample at a time, in double ----------------------------------------------------

template <class T>
bool cross_entropy_forward_naive(T* loss, T* stats, double* sums, const T* x, const int64_t* target, const T* weight,
                                 ClassShape s, int64_t ignore_index, double eps, int64_t* bad) {
  bool ok = true;
  double total = 0, wtotal = 0;
  for (int64_t n = 0; n < s.N; ++n)
    for (int64_t i = 0; i < s.inner; ++i) {
      const int64_t j = n * s.inner + i, t = target[j];
      auto at = [&](int64_t c) { return double(x[(n * s.C + c) * s.inner + i]); };
      double m = -std::numeric_limits<double>::infinity(), se = 0;
      for (int64_t c = 0; c < s.C; ++c) m = nan_max(m, at(c));
      for (int64_t c = 0; c < s.C; ++c) se += std::exp(at(c) - m);
      const double lse = m + std::log(se);
      if (stats) stats[2 * j] = T(m), stats[2 * j + 1] = T(std::log(se));
      double l = 0;
      if (bad_target(t, s.C, ignore_index)) {
        if (ok && bad) *bad = t;
        ok = false;
      } else if (t != ignore_index) {
        const double wt = weight ? double(weight[t]) : 1.0;
        double smooth = 0;
        for (int64_t c = 0; c < s.C; ++c) smooth += (weight ? double(weight[c]) : 1.0) * (lse - at(c));
        l = (1 - eps) * wt * (lse - at(t)) + eps / double(s.C) * smooth;
        wtotal += wt;
      }
      if (loss) loss[j] = T(l);
      total += l;
    }
  if (sums) sums[0] = total, sums[1] = wtotal;
  return ok;
}

template <class T>
bool cross_entropy_backward_naive(T* dx, const T* x, const T* stats, const int64_t* target, const T* weight,
                                  const T* dloss, double scale, ClassShape s, int64_t ignore_index, double eps,
                                  int64_t* bad) {
  bool ok = true;
  for (int64_t n = 0; n < s.N; ++n)
    for (int64_t i = 0; i < s.inner; ++i) {
      const int64_t j = n * s.inner + i, t = target[j];
      const bool skip = bad_target(t, s.C, ignore_index);
      if (skip) {
        if (ok && bad) *bad = t;
        ok = false;
      }
      const double g = dloss ? double(dloss[j]) : scale, lse = double(stats[2 * j]) + double(stats[2 * j + 1]);
      // d loss / d logp[c] = -g ((1 - e) w[t] [c == t] + e / C w[c]); dx = dlogp - softmax * sum(dlogp)
      double total = 0;
      std::vector<double> dlogp(size_t(s.C), 0.0);
      if (!skip && t != ignore_index)
        for (int64_t c = 0; c < s.C; ++c) {
          const double wc = weight ? double(weight[c]) : 1.0;
          dlogp[size_t(c)] = -g * ((c == t ? (1 - eps) * wc : 0.0) + eps / double(s.C) * wc);
          total += dlogp[size_t(c)];
        }
      for (int64_t c = 0; c < s.C; ++c) {
        const int64_t k = (n * s.C + c) * s.inner + i;
        dx[k] = skip ? T(0) : T(dlogp[size_t(c)] - std::exp(double(x[k]) - lse) * total);
      }
    }
  return ok;
}

template <class T>
void cross_entropy_prob_forward_naive(T* loss, T* stats, double* sums, const T* x, const T* target, const T* weight,
                                      ClassShape s, double eps) {
  double total = 0;
  for (int64_t n = 0; n < s.N; ++n)
    for (int64_t i = 0; i < s.inner; ++i) {
      const int64_t j = n * s.inner + i;
      auto k = [&](int64_t c) { return (n * s.C + c) * s.inner + i; };
      double m = -std::numeric_limits<double>::infinity(), se = 0, l = 0;
      for (int64_t c = 0; c < s.C; ++c) m = nan_max(m, double(x[k(c)]));
      for (int64_t c = 0; c < s.C; ++c) se += std::exp(double(x[k(c)]) - m);
      const double lse = m + std::log(se);
      for (int64_t c = 0; c < s.C; ++c)
        l += (weight ? double(weight[c]) : 1.0) * ((1 - eps) * double(target[k(c)]) + eps / double(s.C)) *
             (lse - double(x[k(c)]));
      if (stats) stats[2 * j] = T(m), stats[2 * j + 1] = T(std::log(se));
      if (loss) loss[j] = T(l);
      total += l;
    }
  if (sums) sums[0] = total;
}

template <class T>
void cross_entropy_prob_backward_naive(T* dx, T* dtarget, const T* x, const T* stats, const T* target,
                                       const T* weight, const T* dloss, double scale, ClassShape s, double eps) {
  for (int64_t n = 0; n < s.N; ++n)
    for (int64_t i = 0; i < s.inner; ++i) {
      const int64_t j = n * s.inner + i;
      auto k = [&](int64_t c) { return (n * s.C + c) * s.inner + i; };
      const double g = dloss ? double(dloss[j]) : scale, lse = double(stats[2 * j]) + double(stats[2 * j + 1]);
      double total = 0;
      for (int64_t c = 0; c < s.C; ++c)
        total += -g * (weight ? double(weight[c]) : 1.0) * ((1 - eps) * double(target[k(c)]) + eps / double(s.C));
      for (int64_t c = 0; c < s.C; ++c) {
        const double wc = weight ? double(weight[c]) : 1.0;
        const double dlogp = -g * wc * ((1 - eps) * double(target[k(c)]) + eps / double(s.C));
        dx[k(c)] = T(dlogp - std::exp(double(x[k(c)]) - lse) * total);
        if (dtarget) dtarget[k(c)] = T(-g * wc * (1 - eps) * (double(x[k(c)]) - lse));
      }
    }
}

template <class T>
bool pointwise_loss_forward_naive(T* loss, double* sum, const T* x, const T* t, const T* w, const T* pw, int64_t n,
                                  PointLoss kind) {
  bool bad = false;
  double s = 0;
  for (int64_t i = 0; i < n; ++i) {
    double l = point_loss<double>(kind, double(x[i]), double(t[i]), pw ? double(pw[i]) : 1.0, pw != nullptr, &bad);
    if (w) l *= double(w[i]);
    if (loss) loss[i] = T(l);
    s += l;
  }
  if (sum) *sum = s;
  return !bad;
}

template <class T>
void pointwise_loss_backward_naive(T* dx, T* dt, const T* x, const T* t, const T* w, const T* pw, const T* dloss,
                                   double scale, int64_t n, PointLoss kind) {
  for (int64_t i = 0; i < n; ++i) {
    double g = dloss ? double(dloss[i]) : scale;
    if (w) g *= double(w[i]);
    double gx, gt;
    point_grads<double>(kind, double(x[i]), double(t[i]), pw ? double(pw[i]) : 1.0, pw != nullptr, g, &gx, &gt);
    if (dx) dx[i] = T(gx);
    if (dt) dt[i] = T(gt);
  }
}

const char* loss_backend() { return arch().name; }

#define NERVE_LOSS_INSTANTIATE(T)                                                                                   \
  template bool cross_entropy_forward<T>(T*, T*, double*, const T*, const int64_t*, const T*, ClassShape, int64_t,  \
                                         double, int64_t*);                                                         \
  template bool cross_entropy_backward<T>(T*, const T*, const T*, const int64_t*, const T*, const T*, double,       \
                                          ClassShape, int64_t, double, int64_t*);                                   \
  template void cross_entropy_prob_forward<T>(T*, T*, double*, const T*, const T*, const T*, ClassShape, double);   \
  template void cross_entropy_prob_backward<T>(T*, T*, const T*, const T*, const T*, const T*, const T*, double,    \
                                               ClassShape, double);                                                 \
  template bool nll_loss_forward<T>(T*, double*, const T*, const int64_t*, const T*, ClassShape, int64_t, int64_t*); \
  template bool nll_loss_backward<T>(T*, const int64_t*, const T*, const T*, double, ClassShape, int64_t, int64_t*); \
  template bool pointwise_loss_forward<T>(T*, double*, const T*, const T*, const T*, const T*, int64_t, PointLoss); \
  template void pointwise_loss_backward<T>(T*, T*, const T*, const T*, const T*, const T*, const T*, double,        \
                                           int64_t, PointLoss);                                                     \
  template bool cross_entropy_forward_naive<T>(T*, T*, double*, const T*, const int64_t*, const T*, ClassShape,     \
                                               int64_t, double, int64_t*);                                          \
  template bool cross_entropy_backward_naive<T>(T*, const T*, const T*, const int64_t*, const T*, const T*, double, \
                                                ClassShape, int64_t, double, int64_t*);                             \
  template void cross_entropy_prob_forward_naive<T>(T*, T*, double*, const T*, const T*, const T*, ClassShape,      \
                                                    double);                                                        \
  template void cross_entropy_prob_backward_naive<T>(T*, T*, const T*, const T*, const T*, const T*, const T*,      \
                                                     double, ClassShape, double);                                   \
  template bool pointwise_loss_forward_naive<T>(T*, double*, const T*, const T*, const T*, const T*, int64_t,       \
                                                PointLoss);                                                         \
  template void pointwise_loss_backward_naive<T>(T*, T*, const T*, const T*, const T*, const T*, const T*, double,  \
                                                 int64_t, PointLoss);
NERVE_LOSS_INSTANTIATE(float)
NERVE_LOSS_INSTANTIATE(double)
#undef NERVE_LOSS_INSTANTIATE

}  // namespace nerve
