// softmax.cpp — softmax / log_softmax entry points: float32 through the SIMD back end isa() picks,
// float64 through the same walks in scalar code, and the naive oracle.
//
// Threads split rows (inner == 1) or (outer, column block) pairs (inner > 1), each thread getting at
// least kGrain values, so a (128, 10) softmax runs on the calling thread alone.
#include "softmax.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "../core/cpu_features.h"
#include "../core/parallel.h"
#include "softmax_impl.h"

namespace nerve {
namespace {

constexpr int64_t kGrain = int64_t{1} << 14;
constexpr int64_t kCols = 64;  // columns per work unit of the column walk (a multiple of every Vec::W)

const SoftmaxArch& portable_arch() {
  static const SoftmaxArch arch = make_softmax_arch();
  return arch;
}

const SoftmaxArch& arch() {
#ifdef NERVE_X86_KERNELS
  const Isa i = isa();
  if (i == Isa::avx512) return softmax_arch_avx512();
  if (i == Isa::avx2) return softmax_arch_avx2();
#endif
  return portable_arch();
}

// fn(o, c0, c1): columns [c0, c1) of slab o, over every slab and column block, across threads.
template <class F>
void for_column_blocks(int64_t outer, int64_t dim, int64_t inner, F&& fn) {
  const int64_t blocks = (inner + kCols - 1) / kCols;
  parallel_for(outer * blocks, std::max<int64_t>(1, kGrain / std::max<int64_t>(1, dim * kCols)),
               [&](int64_t b, int64_t e) {
                 for (int64_t u = b; u < e; ++u) {
                   const int64_t o = u / blocks, c0 = (u % blocks) * kCols;
                   fn(o, c0, std::min(inner, c0 + kCols));
                 }
               });
}

template <class F>
void for_rows(int64_t rows, int64_t n, F&& fn) {
  parallel_for(rows, std::max<int64_t>(1, kGrain / std::max<int64_t>(1, n)), fn);
}

// ---- float64: the same walks, scalar --------------------------------------------------------------

template <class T>
void forward_scalar(T* y, const T* x, int64_t outer, int64_t dim, int64_t inner, bool log) {
  for_column_blocks(outer, dim, inner, [&](int64_t o, int64_t c0, int64_t c1) {
    const int64_t w = c1 - c0;
    T m[kCols], s[kCols];
    const T* xs = x + o * dim * inner + c0;
    T* ys = y + o * dim * inner + c0;
    for (int64_t i = 0; i < w; ++i) m[i] = -std::numeric_limits<T>::infinity(), s[i] = 0;
    for (int64_t d = 0; d < dim; ++d)
      for (int64_t i = 0; i < w; ++i) {
        const T v = xs[d * inner + i];
        m[i] = (v > m[i] || v != v) ? v : m[i];  // a NaN, once in, stays
      }
    for (int64_t d = 0; d < dim; ++d)
      for (int64_t i = 0; i < w; ++i) {
        const T e = std::exp(xs[d * inner + i] - m[i]);
        s[i] += e;
        if (!log) ys[d * inner + i] = e;
      }
    for (int64_t i = 0; i < w; ++i) s[i] = log ? std::log(s[i]) : T(1) / s[i];
    for (int64_t d = 0; d < dim; ++d)
      for (int64_t i = 0; i < w; ++i)
        ys[d * inner + i] = log ? (xs[d * inner + i] - m[i]) - s[i] : ys[d * inner + i] * s[i];
  });
}

template <class T>
void backward_scalar(T* dx, const T* dy, const T* y, int64_t outer, int64_t dim, int64_t inner, bool log) {
  for_column_blocks(outer, dim, inner, [&](int64_t o, int64_t c0, int64_t c1) {
    const int64_t w = c1 - c0, off = o * dim * inner + c0;
    T s[kCols] = {};
    for (int64_t d = 0; d < dim; ++d)
      for (int64_t i = 0; i < w; ++i) s[i] += log ? dy[off + d * inner + i] : dy[off + d * inner + i] * y[off + d * inner + i];
    for (int64_t d = 0; d < dim; ++d)
      for (int64_t i = 0; i < w; ++i) {
        const int64_t k = off + d * inner + i;
        dx[k] = log ? dy[k] - std::exp(y[k]) * s[i] : y[k] * (dy[k] - s[i]);
      }
  });
}

}  // namespace

template <>
void softmax_forward<float>(float* y, const float* x, int64_t outer, int64_t dim, int64_t inner, bool log) {
  if (outer * dim * inner == 0) return;
  const SoftmaxArch& k = arch();
  if (inner == 1) {
    for_rows(outer, dim, [&](int64_t b, int64_t e) { k.rows_forward(y + b * dim, x + b * dim, e - b, dim, log); });
    return;
  }
  for_column_blocks(outer, dim, inner, [&](int64_t o, int64_t c0, int64_t c1) {
    k.cols_forward(y + o * dim * inner, x + o * dim * inner, dim, inner, c0, c1, log);
  });
}

template <>
void softmax_forward<double>(double* y, const double* x, int64_t outer, int64_t dim, int64_t inner, bool log) {
  if (outer * dim * inner == 0) return;
  forward_scalar(y, x, outer, dim, inner, log);
}

template <>
void softmax_backward<float>(float* dx, const float* dy, const float* y, int64_t outer, int64_t dim, int64_t inner,
                             bool log) {
  if (outer * dim * inner == 0) return;
  const SoftmaxArch& k = arch();
  if (inner == 1) {
    for_rows(outer, dim, [&](int64_t b, int64_t e) {
      k.rows_backward(dx + b * dim, dy + b * dim, y + b * dim, e - b, dim, log);
    });
    return;
  }
  for_column_blocks(outer, dim, inner, [&](int64_t o, int64_t c0, int64_t c1) {
    const int64_t off = o * dim * inner;
    k.cols_backward(dx + off, dy + off, y + off, dim, inner, c0, c1, log);
  });
}

template <>
void softmax_backward<double>(double* dx, const double* dy, const double* y, int64_t outer, int64_t dim, int64_t inner,
                              bool log) {
  if (outer * dim * inner == 0) return;
  backward_scalar(dx, dy, y, outer, dim, inner, log);
}

// ---- naive oracle: one (outer, inner) line at a time, in double -------------------------------------

template <class T>
void softmax_forward_naive(T* y, const T* x, int64_t outer, int64_t dim, int64_t inner, bool log) {
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      const T* xl = x + o * dim * inner + i;
      T* yl = y + o * dim * inner + i;
      double m = -std::numeric_limits<double>::infinity();
      bool nan = false;
      for (int64_t d = 0; d < dim; ++d) {
        const double v = double(xl[d * inner]);
        nan |= v != v;
        m = std::max(m, v);
      }
      if (nan) m = std::numeric_limits<double>::quiet_NaN();
      double s = 0;
      for (int64_t d = 0; d < dim; ++d) s += std::exp(double(xl[d * inner]) - m);
      for (int64_t d = 0; d < dim; ++d) {
        const double v = double(xl[d * inner]) - m;
        yl[d * inner] = T(log ? v - std::log(s) : std::exp(v) / s);
      }
    }
}

template <class T>
void softmax_backward_naive(T* dx, const T* dy, const T* y, int64_t outer, int64_t dim, int64_t inner, bool log) {
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      const int64_t base = o * dim * inner + i;
      double s = 0;
      for (int64_t d = 0; d < dim; ++d) {
        const int64_t k = base + d * inner;
        s += log ? double(dy[k]) : double(dy[k]) * double(y[k]);
      }
      for (int64_t d = 0; d < dim; ++d) {
        const int64_t k = base + d * inner;
        dx[k] = T(log ? double(dy[k]) - std::exp(double(y[k])) * s : double(y[k]) * (double(dy[k]) - s));
      }
    }
}

template void softmax_forward_naive<float>(float*, const float*, int64_t, int64_t, int64_t, bool);
template void softmax_forward_naive<double>(double*, const double*, int64_t, int64_t, int64_t, bool);
template void softmax_backward_naive<float>(float*, const float*, const float*, int64_t, int64_t, int64_t, bool);
template void softmax_backward_naive<double>(double*, const double*, const double*, int64_t, int64_t, int64_t, bool);

const char* softmax_backend() { return arch().name; }

}  // namespace nerve
