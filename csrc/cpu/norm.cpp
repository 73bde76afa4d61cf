// norm.cpp — batch_norm and layer_norm drivers (threads, statistics merges, coefficients), the
// portable copy of the inner loops (norm_rows.h) and the naive oracle.
//
// batch_norm has two layouts:
//   slices (L >= kMinSlice): threads own channels; a channel is N contiguous slices of L values.
//     Each slice's moments are two passes in L1, merged across slices (Chan), then the output pass
//     re-reads the channel, still in L2 for the shapes of a CNN (128 x 784 floats = 400 KB).
//     Backward: one pass of sums, one of dx, per channel the same way.
//   columns (L < kMinSlice, e.g. (N, C)): the input is a (N, C*L) matrix; threads own column ranges
//     and walk the rows in chunks of kRows, two passes per chunk in cache, chunk statistics merged
//     per column and then per channel. The output pass splits rows across threads.
// layer_norm: threads own rows; a row's moments, normalisation and backward all run in L1. The
// weight / bias gradients are summed per group of rows (a fixed number of groups, so the result
// does not depend on the thread count) and the groups added in order.
#include "norm.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "../core/cpu_features.h"
#include "../core/parallel.h"

#define NERVE_NORM_ISA norm_generic
#include "norm_rows.h"
#undef NERVE_NORM_ISA

namespace nerve {
namespace {

constexpr int64_t kMinSlice = 16;  // shorter slices take the column layout
constexpr int64_t kRows = 64;      // rows per chunk in the column layout
constexpr int64_t kGrain = 1 << 15;

// Pulls a slice towards L1/L2 ahead of use: slices of a channel lie C*L values apart, too far for
// the hardware prefetchers to follow across the jump.
template <class T>
inline void prefetch_span(const T* p, int64_t n) {
  const char* c = reinterpret_cast<const char*>(p);
  for (int64_t i = 0; i < n * int64_t(sizeof(T)); i += 64) __builtin_prefetch(c + i);
}

template <class T>
const NormRows<T>& rows_for(Isa isa) {
  static const NormRows<T> portable = norm_generic::make_rows<T>();
#ifdef NERVE_X86_KERNELS
  if (isa == Isa::avx512) {
    if constexpr (sizeof(T) == 4) return norm_rows_avx512_f32();
    else return norm_rows_avx512_f64();
  }
  if (isa == Isa::avx2) {
    if constexpr (sizeof(T) == 4) return norm_rows_avx2_f32();
    else return norm_rows_avx2_f64();
  }
#endif
  return portable;
}

// Mean / sum of squared deviations / count, merged exactly (Chan et al.).
struct Moments {
  double mean = 0, m2 = 0, n = 0;
  void merge(double omean, double om2, double on) {
    if (on <= 0) return;
    if (n <= 0) {
      mean = omean, m2 = om2, n = on;
      return;
    }
    const double t = n + on, d = omean - mean;
    mean += d * (on / t);
    m2 += om2 + d * d * (n * on / t);
    n = t;
  }
};

template <class T>
struct BnParams {
  double *save_mean, *save_invstd;
  T *running_mean, *running_var;
  const T *weight, *bias;
  double momentum, eps;

  double w(int64_t c) const { return weight ? double(weight[c]) : 1.0; }
  double b(int64_t c) const { return bias ? double(bias[c]) : 0.0; }

  // Training: saves the batch statistics and updates the running ones.
  void finish_train(int64_t c, const Moments& m) const {
    save_mean[c] = m.mean;
    save_invstd[c] = 1.0 / std::sqrt(m.m2 / m.n + eps);
    if (running_mean) running_mean[c] = T((1 - momentum) * double(running_mean[c]) + momentum * m.mean);
    if (running_var) {
      const double unbiased = m.n > 1 ? m.m2 / (m.n - 1) : NAN;
      running_var[c] = T((1 - momentum) * double(running_var[c]) + momentum * unbiased);
    }
  }
  void finish_eval(int64_t c) const {
    save_mean[c] = double(running_mean[c]);
    save_invstd[c] = 1.0 / std::sqrt(double(running_var[c]) + eps);
  }
};

// y = (x - center) * a + b for a channel with mean `mean`: center is the mean rounded to T and the
// rounding residual moves into b.
template <class T>
struct ChannelAffine {
  T center, a, b;
  ChannelAffine(double mean, double invstd, double w, double bias) {
    center = T(mean);
    const double scale = invstd * w;
    a = T(scale), b = T(bias - (mean - double(center)) * scale);
  }
};

// dx = k1 * dy + k2 * (x - center) + k3 for a channel (batch_norm backward), from its sums of dy
// and dy * (x - center) over cnt values.
template <class T>
struct ChannelGrad {
  T k1, k2, k3;
  double dweight, dbias;
  ChannelGrad(double mean, T center, double invstd, double w, double sdy, double sdot_c, double cnt, bool training) {
    const double r = mean - double(center), sdot = sdot_c - r * sdy;  // sum dy * (x - mean)
    const double g1 = invstd * w, g2 = training ? -g1 * invstd * invstd * sdot / cnt : 0.0;
    const double g3 = training ? -g1 * sdy / cnt - g2 * r : 0.0;
    k1 = T(g1), k2 = T(g2), k3 = T(g3);
    dweight = sdot * invstd, dbias = sdy;
  }
};

// Column ranges [b, e) of `cols`, one per thread, aligned to 16 values (a zmm of floats).
template <class F>
void for_column_ranges(int64_t cols, int64_t rows, F&& fn) {
  const int64_t units = (cols + 15) / 16;
  const int nt = int(std::min<int64_t>(threads_for(cols * rows, kGrain), units));
  parallel_for(nt, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t b = std::min(cols, units * t / nt * 16), e = std::min(cols, units * (t + 1) / nt * 16);
      if (b < e) fn(b, e);
    }
  });
}

// ---- batch_norm, slice layout --------------------------------------------------------------------

template <class T>
void bn_forward_slices(T* y, const T* x, const BnParams<T>& p, BatchNormShape s, bool training,
                       const NormRows<T>& R) {
  const int64_t C = s.C, L = s.L;
  parallel_for(C, std::max<int64_t>(1, kGrain / std::max<int64_t>(1, s.N * L)), [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      if (training) {
        Moments m;
        for (int64_t n = 0; n < s.N; ++n) {
          double mu, q;
          if (n + 1 < s.N) prefetch_span(x + ((n + 1) * C + c) * L, L);
          R.moments(x + (n * C + c) * L, L, &mu, &q);
          m.merge(mu, q, double(L));
        }
        p.finish_train(c, m);
      } else {
        p.finish_eval(c);
      }
      const ChannelAffine<T> k(p.save_mean[c], p.save_invstd[c], p.w(c), p.b(c));
      for (int64_t n = 0; n < s.N; ++n) R.affine(y + (n * C + c) * L, x + (n * C + c) * L, L, k.center, k.a, k.b);
    }
  });
}

template <class T>
void bn_backward_slices(T* dx, T* dw, T* db, const T* dy, const T* x, const double* mean, const double* invstd,
                        const T* weight, BatchNormShape s, bool training, const NormRows<T>& R) {
  const int64_t C = s.C, L = s.L;
  const double cnt = double(s.N * L);
  const bool sums = training || dw || db;
  parallel_for(C, std::max<int64_t>(1, kGrain / std::max<int64_t>(1, s.N * L)), [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      const T center = T(mean[c]);
      double sdy = 0, sdot = 0;
      if (sums) {
        for (int64_t n = 0; n < s.N; ++n) {
          double a, b;
          if (n + 1 < s.N) prefetch_span(x + ((n + 1) * C + c) * L, L), prefetch_span(dy + ((n + 1) * C + c) * L, L);
          R.dot(dy + (n * C + c) * L, x + (n * C + c) * L, L, center, &a, &b);
          sdy += a, sdot += b;
        }
      }
      const ChannelGrad<T> k(mean[c], center, invstd[c], weight ? double(weight[c]) : 1.0, sdy, sdot, cnt, training);
      if (dw) dw[c] = T(k.dweight);
      if (db) db[c] = T(k.dbias);
      if (!dx) continue;
      for (int64_t n = 0; n < s.N; ++n)
        R.grad(dx + (n * C + c) * L, dy + (n * C + c) * L, x + (n * C + c) * L, L, center, k.k1, k.k2, k.k3);
    }
  });
}

// ---- batch_norm, column layout --------------------------------------------------------------------

// Per-column moments of a (rows, cols) matrix over its rows: chunks of kRows rows, two passes each.
template <class T>
std::vector<Moments> column_moments(const T* x, int64_t rows, int64_t cols, const NormRows<T>& R) {
  std::vector<Moments> out(cols);
  for_column_ranges(cols, rows, [&](int64_t j0, int64_t j1) {
    const int64_t w = j1 - j0;
    std::vector<T> center(w), sd(w), sq(w);
    for (int64_t r0 = 0; r0 < rows; r0 += kRows) {
      const int64_t r1 = std::min(rows, r0 + kRows), nr = r1 - r0;
      const T* first = x + r0 * cols + j0;
      std::fill(sd.begin(), sd.end(), T(0));
      for (int64_t r = r0 + 1; r < r1; ++r) R.cols_diff(sd.data(), x + r * cols + j0, first, w);
      for (int64_t j = 0; j < w; ++j) center[j] = T(double(first[j]) + double(sd[j]) / double(nr));
      std::fill(sd.begin(), sd.end(), T(0));
      std::fill(sq.begin(), sq.end(), T(0));
      for (int64_t r = r0; r < r1; ++r) R.cols_moments(sd.data(), sq.data(), x + r * cols + j0, center.data(), w);
      for (int64_t j = 0; j < w; ++j) {
        const double d = double(sd[j]), m2 = double(sq[j]) - d * d / double(nr);
        out[j0 + j].merge(double(center[j]) + d / double(nr), m2 > 0 ? m2 : 0, double(nr));
      }
    }
  });
  return out;
}

// Per-channel coefficients spread over the C*L columns of a row.
template <class T>
struct ColumnCoefs {
  std::vector<T> center, a, b, c;
  explicit ColumnCoefs(int64_t cols) : center(cols), a(cols), b(cols), c(cols) {}
};

template <class T>
void bn_forward_columns(T* y, const T* x, const BnParams<T>& p, BatchNormShape s, bool training, const NormRows<T>& R) {
  const int64_t C = s.C, L = s.L, cols = C * L;
  std::vector<Moments> col;
  if (training) col = column_moments(x, s.N, cols, R);
  ColumnCoefs<T> k(cols);
  for (int64_t c = 0; c < C; ++c) {
    if (training) {
      Moments m;
      for (int64_t l = 0; l < L; ++l) m.merge(col[c * L + l].mean, col[c * L + l].m2, col[c * L + l].n);
      p.finish_train(c, m);
    } else {
      p.finish_eval(c);
    }
    const ChannelAffine<T> a(p.save_mean[c], p.save_invstd[c], p.w(c), p.b(c));
    for (int64_t l = 0; l < L; ++l) k.center[c * L + l] = a.center, k.a[c * L + l] = a.a, k.b[c * L + l] = a.b;
  }
  parallel_for(s.N, std::max<int64_t>(1, kGrain / std::max<int64_t>(1, cols)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) R.cols_affine(y + r * cols, x + r * cols, k.center.data(), k.a.data(), k.b.data(), cols);
  });
}

template <class T>
void bn_backward_columns(T* dx, T* dw, T* db, const T* dy, const T* x, const double* mean, const double* invstd,
                         const T* weight, BatchNormShape s, bool training, const NormRows<T>& R) {
  const int64_t C = s.C, L = s.L, cols = C * L, rows = s.N;
  const double cnt = double(s.N * L);
  ColumnCoefs<T> k(cols);
  for (int64_t j = 0; j < cols; ++j) k.center[j] = T(mean[j / L]);
  std::vector<double> sdy(cols, 0.0), sdot(cols, 0.0);
  if (training || dw || db) {
    for_column_ranges(cols, rows, [&](int64_t j0, int64_t j1) {
      const int64_t w = j1 - j0;
      std::vector<T> ady(w), adot(w);
      for (int64_t r0 = 0; r0 < rows; r0 += kRows) {
        const int64_t r1 = std::min(rows, r0 + kRows);
        std::fill(ady.begin(), ady.end(), T(0));
        std::fill(adot.begin(), adot.end(), T(0));
        for (int64_t r = r0; r < r1; ++r)
          R.cols_dot(ady.data(), adot.data(), dy + r * cols + j0, x + r * cols + j0, k.center.data() + j0, w);
        for (int64_t j = 0; j < w; ++j) sdy[j0 + j] += double(ady[j]), sdot[j0 + j] += double(adot[j]);
      }
    });
  }
  for (int64_t c = 0; c < C; ++c) {
    double a = 0, b = 0;
    for (int64_t l = 0; l < L; ++l) a += sdy[c * L + l], b += sdot[c * L + l];
    const ChannelGrad<T> g(mean[c], k.center[c * L], invstd[c], weight ? double(weight[c]) : 1.0, a, b, cnt, training);
    if (dw) dw[c] = T(g.dweight);
    if (db) db[c] = T(g.dbias);
    for (int64_t l = 0; l < L; ++l) k.a[c * L + l] = g.k1, k.b[c * L + l] = g.k2, k.c[c * L + l] = g.k3;
  }
  if (!dx) return;
  parallel_for(rows, std::max<int64_t>(1, kGrain / std::max<int64_t>(1, cols)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r)
      R.cols_grad(dx + r * cols, dy + r * cols, x + r * cols, k.center.data(), k.a.data(), k.b.data(), k.c.data(), cols);
  });
}

}  // namespace

// ---- batch_norm ------------------------------------------------------------------------------------

template <class T>
void batch_norm_forward(T* y, double* save_mean, double* save_invstd, T* running_mean, T* running_var, const T* x,
                        const T* weight, const T* bias, BatchNormShape s, bool training, double momentum, double eps) {
  const BnParams<T> p{save_mean, save_invstd, running_mean, running_var, weight, bias, momentum, eps};
  const NormRows<T>& R = rows_for<T>(isa());
  if (s.L >= kMinSlice) bn_forward_slices(y, x, p, s, training, R);
  else bn_forward_columns(y, x, p, s, training, R);
}

template <class T>
void batch_norm_backward(T* dx, T* dweight, T* dbias, const T* dy, const T* x, const double* save_mean,
                         const double* save_invstd, const T* weight, BatchNormShape s, bool training) {
  const NormRows<T>& R = rows_for<T>(isa());
  if (s.L >= kMinSlice) bn_backward_slices(dx, dweight, dbias, dy, x, save_mean, save_invstd, weight, s, training, R);
  else bn_backward_columns(dx, dweight, dbias, dy, x, save_mean, save_invstd, weight, s, training, R);
}

// ---- layer_norm ------------------------------------------------------------------------------------

template <class T>
void layer_norm_forward(T* y, double* mean, double* rstd, const T* x, const T* weight, const T* bias, int64_t M,
                        int64_t D, double eps) {
  const NormRows<T>& R = rows_for<T>(isa());
  parallel_for(M, std::max<int64_t>(1, kGrain / std::max<int64_t>(1, D)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      double mu, m2;
      R.moments(x + r * D, D, &mu, &m2);
      const double is = 1.0 / std::sqrt(m2 / double(D) + eps);
      mean[r] = mu, rstd[r] = is;
      const T c = T(mu);
      R.normalize(y + r * D, x + r * D, D, c, T(mu - double(c)), T(is), weight, bias);
    }
  });
}

template <class T>
void layer_norm_backward(T* dx, T* dweight, T* dbias, const T* dy, const T* x, const double* mean, const double* rstd,
                         const T* weight, int64_t M, int64_t D) {
  const NormRows<T>& R = rows_for<T>(isa());
  const bool params = dweight || dbias;
  // Groups of rows, each with its own partial weight / bias sums; their count never depends on
  // the thread count (bounded so the partials stay within ~32 MB).
  const int64_t groups = params ? std::max<int64_t>(1, std::min<int64_t>({M, 64, (int64_t{1} << 22) / std::max<int64_t>(1, D)}))
                                : std::max<int64_t>(1, std::min<int64_t>(M, 256));
  std::vector<T> part(params ? size_t(groups * 2 * D) : 0, T(0));
  parallel_for(groups, 1, [&](int64_t g0, int64_t g1) {
    for (int64_t g = g0; g < g1; ++g) {
      T* pw = dweight ? part.data() + g * 2 * D : nullptr;
      T* pb = dbias ? part.data() + g * 2 * D + D : nullptr;
      for (int64_t r = M * g / groups; r < M * (g + 1) / groups; ++r) {
        const T c = T(mean[r]);
        R.ln_backward(dx ? dx + r * D : nullptr, pw, pb, dy + r * D, x + r * D, D, c, T(mean[r] - double(c)),
                      T(rstd[r]), weight);
      }
    }
  });
  if (!params) return;
  parallel_for(D, 4096, [&](int64_t j0, int64_t j1) {
    for (int64_t j = j0; j < j1; ++j) {
      double sw = 0, sb = 0;
      for (int64_t g = 0; g < groups; ++g) sw += double(part[g * 2 * D + j]), sb += double(part[g * 2 * D + D + j]);
      if (dweight) dweight[j] = T(sw);
      if (dbias) dbias[j] = T(sb);
    }
  });
}

// ---- naive oracle ----------------------------------------------------------------------------------

template <class T>
void batch_norm_forward_naive(T* y, double* save_mean, double* save_invstd, T* running_mean, T* running_var, const T* x,
                              const T* weight, const T* bias, BatchNormShape s, bool training, double momentum,
                              double eps) {
  const int64_t C = s.C, L = s.L;
  const double cnt = double(s.N * L);
  for (int64_t c = 0; c < C; ++c) {
    double mean, var;
    if (training) {
      double sum = 0, sq = 0;
      for (int64_t n = 0; n < s.N; ++n)
        for (int64_t l = 0; l < L; ++l) sum += double(x[(n * C + c) * L + l]);
      mean = sum / cnt;
      for (int64_t n = 0; n < s.N; ++n)
        for (int64_t l = 0; l < L; ++l) sq += (double(x[(n * C + c) * L + l]) - mean) * (double(x[(n * C + c) * L + l]) - mean);
      var = sq / cnt;
      if (running_mean) running_mean[c] = T((1 - momentum) * double(running_mean[c]) + momentum * mean);
      if (running_var) running_var[c] = T((1 - momentum) * double(running_var[c]) + momentum * sq / (cnt - 1));
    } else {
      mean = double(running_mean[c]), var = double(running_var[c]);
    }
    const double is = 1.0 / std::sqrt(var + eps), w = weight ? double(weight[c]) : 1.0, b = bias ? double(bias[c]) : 0.0;
    save_mean[c] = mean, save_invstd[c] = is;
    for (int64_t n = 0; n < s.N; ++n)
      for (int64_t l = 0; l < L; ++l) {
        const int64_t i = (n * C + c) * L + l;
        y[i] = T((double(x[i]) - mean) * is * w + b);
      }
  }
}

template <class T>
void batch_norm_backward_naive(T* dx, T* dweight, T* dbias, const T* dy, const T* x, const double* save_mean,
                               const double* save_invstd, const T* weight, BatchNormShape s, bool training) {
  const int64_t C = s.C, L = s.L;
  const double cnt = double(s.N * L);
  for (int64_t c = 0; c < C; ++c) {
    const double mean = double(save_mean[c]), is = double(save_invstd[c]), w = weight ? double(weight[c]) : 1.0;
    double sdy = 0, sdot = 0;
    for (int64_t n = 0; n < s.N; ++n)
      for (int64_t l = 0; l < L; ++l) {
        const int64_t i = (n * C + c) * L + l;
        sdy += double(dy[i]), sdot += double(dy[i]) * (double(x[i]) - mean);
      }
    if (dweight) dweight[c] = T(sdot * is);
    if (dbias) dbias[c] = T(sdy);
    if (!dx) continue;
    for (int64_t n = 0; n < s.N; ++n)
      for (int64_t l = 0; l < L; ++l) {
        const int64_t i = (n * C + c) * L + l;
        const double g = training ? double(dy[i]) - sdy / cnt - (double(x[i]) - mean) * is * is * sdot / cnt : double(dy[i]);
        dx[i] = T(g * is * w);
      }
  }
}

template <class T>
void layer_norm_forward_naive(T* y, double* mean, double* rstd, const T* x, const T* weight, const T* bias, int64_t M,
                              int64_t D, double eps) {
  for (int64_t r = 0; r < M; ++r) {
    const T* xr = x + r * D;
    double sum = 0, sq = 0;
    for (int64_t j = 0; j < D; ++j) sum += double(xr[j]);
    const double mu = sum / double(D);
    for (int64_t j = 0; j < D; ++j) sq += (double(xr[j]) - mu) * (double(xr[j]) - mu);
    const double is = 1.0 / std::sqrt(sq / double(D) + eps);
    mean[r] = mu, rstd[r] = is;
    for (int64_t j = 0; j < D; ++j)
      y[r * D + j] = T((double(xr[j]) - mu) * is * (weight ? double(weight[j]) : 1.0) + (bias ? double(bias[j]) : 0.0));
  }
}

template <class T>
void layer_norm_backward_naive(T* dx, T* dweight, T* dbias, const T* dy, const T* x, const double* mean, const double* rstd,
                               const T* weight, int64_t M, int64_t D) {
  std::vector<double> sw(D, 0.0), sb(D, 0.0);
  for (int64_t r = 0; r < M; ++r) {
    const double mu = double(mean[r]), is = double(rstd[r]);
    double sg = 0, sgx = 0;
    for (int64_t j = 0; j < D; ++j) {
      const double xh = (double(x[r * D + j]) - mu) * is, g = double(dy[r * D + j]) * (weight ? double(weight[j]) : 1.0);
      sg += g, sgx += g * xh;
      sw[j] += double(dy[r * D + j]) * xh, sb[j] += double(dy[r * D + j]);
    }
    if (!dx) continue;
    for (int64_t j = 0; j < D; ++j) {
      const double xh = (double(x[r * D + j]) - mu) * is, g = double(dy[r * D + j]) * (weight ? double(weight[j]) : 1.0);
      dx[r * D + j] = T(is * (g - sg / double(D) - xh * sgx / double(D)));
    }
  }
  for (int64_t j = 0; j < D; ++j) {
    if (dweight) dweight[j] = T(sw[j]);
    if (dbias) dbias[j] = T(sb[j]);
  }
}

const char* norm_backend() { return isa_name(isa()); }

#define NERVE_NORM_INSTANTIATE(T)                                                                                  \
  template void batch_norm_forward<T>(T*, double*, double*, T*, T*, const T*, const T*, const T*, BatchNormShape,  \
                                      bool, double, double);                                                       \
  template void batch_norm_backward<T>(T*, T*, T*, const T*, const T*, const double*, const double*, const T*,     \
                                       BatchNormShape, bool);                                                      \
  template void layer_norm_forward<T>(T*, double*, double*, const T*, const T*, const T*, int64_t, int64_t,        \
                                      double);                                                                     \
  template void layer_norm_backward<T>(T*, T*, T*, const T*, const T*, const double*, const double*, const T*,     \
                                       int64_t, int64_t);                                                          \
  template void batch_norm_forward_naive<T>(T*, double*, double*, T*, T*, const T*, const T*, const T*,            \
                                            BatchNormShape, bool, double, double);                                 \
  template void batch_norm_backward_naive<T>(T*, T*, T*, const T*, const T*, const double*, const double*,         \
                                             const T*, BatchNormShape, bool);                                      \
  template void layer_norm_forward_naive<T>(T*, double*, double*, const T*, const T*, const T*, int64_t, int64_t,  \
                                            double);                                                               \
  template void layer_norm_backward_naive<T>(T*, T*, T*, const T*, const T*, const double*, const double*,         \
                                             const T*, int64_t, int64_t);
NERVE_NORM_INSTANTIATE(float)
NERVE_NORM_INSTANTIATE(double)
#undef NERVE_NORM_INSTANTIATE

}  // namespace nerve
