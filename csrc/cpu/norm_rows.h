// norm_rows.h — the inner loops of batch_norm / layer_norm (the NormRows table of norm.h), written
// once as plain `omp simd` loops and compiled twice: into norm.cpp with the portable flags and into
// norm_avx512.cpp with AVX-512 flags, each time inside its own namespace (NERVE_NORM_ISA), so the
// two copies never meet at link time. No std:: inline functions here for the same reason.
//
// Sums run in T inside chunks of kChunk values (vector lanes, no dependency chain) and in double
// across chunks, so a long channel keeps float32's precision per chunk only.
#ifndef NERVE_NORM_ISA
#error "define NERVE_NORM_ISA (the namespace of this copy) before including norm_rows.h"
#endif
#include <cstdint>

#include "norm.h"

namespace nerve::NERVE_NORM_ISA {

constexpr int64_t kChunk = 512;

inline int64_t chunk_end(int64_t i, int64_t n) { return n - i < kChunk ? n : i + kChunk; }

// Partial sums per reduction: four vector registers' worth, so that the adds of a span form four
// independent chains instead of one (a single accumulator makes the loop latency-bound).
template <class T>
constexpr int kParts = int(256 / sizeof(T));

// sum over [i, e) of f(j) into two accumulators (a, b), vectorised with kParts partial sums each.
template <class T, class F>
inline void sum2(int64_t i, int64_t e, double* a, double* b, F f) {
  constexpr int P = kParts<T>;
  T pa[P] = {}, pb[P] = {};
  int64_t j = i;
  for (; j + P <= e; j += P) {
#pragma omp simd
    for (int l = 0; l < P; ++l) f(j + l, pa[l], pb[l]);
  }
  T ta = 0, tb = 0;
  for (; j < e; ++j) f(j, ta, tb);
  for (int l = 0; l < P; ++l) ta += pa[l], tb += pb[l];
  *a += double(ta), *b += double(tb);
}

// One pass of sums of d = x - shift and d^2 gives mean and M2 directly. It loses precision only
// as far as the shift misses the mean (by k standard deviations: a factor 1 + k^2), so the shift
// is the mean of the first 32 values (k ~ 0.2 for i.i.d. data), and when k^2 > 3 anyway (sorted or
// trending data) a second pass recomputes the deviations about the mean (corrected two-pass).
template <class T>
void moments(const T* __restrict x, int64_t n, double* mean, double* m2) {
  if (n <= 0) {
    *mean = 0, *m2 = 0;
    return;
  }
  double head = 0;
  const int64_t nh = n < 32 ? n : 32;
  for (int64_t j = 0; j < nh; ++j) head += double(x[j]);
  const T shift = T(head / double(nh));
  double s = 0, q = 0;
  for (int64_t i = 0; i < n; i = chunk_end(i, n))
    sum2<T>(i, chunk_end(i, n), &s, &q, [&](int64_t j, T& a, T& b) {
      const T d = x[j] - shift;
      a += d, b += d * d;
    });
  double mu = double(shift) + s / double(n), m = q - s * s / double(n);
  if (s * s / double(n) > 0.75 * q) {
    const T c = T(mu);
    double r = 0;
    q = 0;
    for (int64_t i = 0; i < n; i = chunk_end(i, n))
      sum2<T>(i, chunk_end(i, n), &r, &q, [&](int64_t j, T& a, T& b) {
        const T d = x[j] - c;
        a += d, b += d * d;
      });
    mu = double(c) + r / double(n), m = q - r * r / double(n);
  }
  *mean = mu;
  *m2 = m > 0 ? m : 0;
}

template <class T>
void affine(T* __restrict y, const T* __restrict x, int64_t n, T center, T a, T b) {
#pragma omp simd
  for (int64_t j = 0; j < n; ++j) y[j] = (x[j] - center) * a + b;
}

template <class T>
void normalize(T* __restrict y, const T* __restrict x, int64_t n, T center, T resid, T rstd, const T* __restrict w,
               const T* __restrict b) {
  if (w && b) {
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) y[j] = ((x[j] - center) - resid) * rstd * w[j] + b[j];
  } else if (w) {
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) y[j] = ((x[j] - center) - resid) * rstd * w[j];
  } else if (b) {
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) y[j] = ((x[j] - center) - resid) * rstd + b[j];
  } else {
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) y[j] = ((x[j] - center) - resid) * rstd;
  }
}

template <class T>
void dot(const T* __restrict dy, const T* __restrict x, int64_t n, T center, double* sum_dy, double* sum_dot) {
  double s = 0, d = 0;
  for (int64_t i = 0; i < n; i = chunk_end(i, n))
    sum2<T>(i, chunk_end(i, n), &s, &d, [&](int64_t j, T& a, T& b) { a += dy[j], b += dy[j] * (x[j] - center); });
  *sum_dy = s, *sum_dot = d;
}

template <class T>
void grad(T* __restrict dx, const T* __restrict dy, const T* __restrict x, int64_t n, T center, T k1, T k2, T k3) {
#pragma omp simd
  for (int64_t j = 0; j < n; ++j) dx[j] = k1 * dy[j] + k2 * (x[j] - center) + k3;
}

// dx = rstd * (g - mean(g) - xhat * mean(g * xhat)), g = dy * w, xhat = (x - mean) * rstd, with
// x - mean = (x - center) - resid.
template <class T>
void ln_backward(T* __restrict dx, T* __restrict dw_acc, T* __restrict db_acc, const T* __restrict dy,
                 const T* __restrict x, int64_t n, T center, T resid, T rstd, const T* __restrict w) {
  if (dw_acc) {
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) dw_acc[j] += dy[j] * (((x[j] - center) - resid) * rstd);
  }
  if (db_acc) {
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) db_acc[j] += dy[j];
  }
  if (!dx) return;
  double sg = 0, sgx = 0;  // sum g, sum g * (x - center)
  for (int64_t i = 0; i < n; i = chunk_end(i, n)) {
    if (w)
      sum2<T>(i, chunk_end(i, n), &sg, &sgx, [&](int64_t j, T& a, T& b) {
        const T g = dy[j] * w[j];
        a += g, b += g * (x[j] - center);
      });
    else
      sum2<T>(i, chunk_end(i, n), &sg, &sgx, [&](int64_t j, T& a, T& b) { a += dy[j], b += dy[j] * (x[j] - center); });
  }
  const double r = double(rstd), sgm = sgx - double(resid) * sg;  // sum g * (x - mean)
  const double k2 = -r * r * r * sgm / double(n), k3 = -r * sg / double(n) - k2 * double(resid);
  const T k2t = T(k2), k3t = T(k3);
  if (w) {
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) dx[j] = rstd * (dy[j] * w[j]) + k2t * (x[j] - center) + k3t;
  } else {
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) dx[j] = rstd * dy[j] + k2t * (x[j] - center) + k3t;
  }
}

template <class T>
void cols_diff(T* __restrict acc, const T* __restrict x, const T* __restrict center, int64_t n) {
#pragma omp simd
  for (int64_t j = 0; j < n; ++j) acc[j] += x[j] - center[j];
}

template <class T>
void cols_moments(T* __restrict sd, T* __restrict sq, const T* __restrict x, const T* __restrict center, int64_t n) {
#pragma omp simd
  for (int64_t j = 0; j < n; ++j) {
    const T d = x[j] - center[j];
    sd[j] += d, sq[j] += d * d;
  }
}

template <class T>
void cols_affine(T* __restrict y, const T* __restrict x, const T* __restrict center, const T* __restrict a,
                 const T* __restrict b, int64_t n) {
#pragma omp simd
  for (int64_t j = 0; j < n; ++j) y[j] = (x[j] - center[j]) * a[j] + b[j];
}

template <class T>
void cols_dot(T* __restrict sdy, T* __restrict sdot, const T* __restrict dy, const T* __restrict x,
              const T* __restrict center, int64_t n) {
#pragma omp simd
  for (int64_t j = 0; j < n; ++j) sdy[j] += dy[j], sdot[j] += dy[j] * (x[j] - center[j]);
}

template <class T>
void cols_grad(T* __restrict dx, const T* __restrict dy, const T* __restrict x, const T* __restrict center,
               const T* __restrict k1, const T* __restrict k2, const T* __restrict k3, int64_t n) {
#pragma omp simd
  for (int64_t j = 0; j < n; ++j) dx[j] = k1[j] * dy[j] + k2[j] * (x[j] - center[j]) + k3[j];
}

template <class T>
NormRows<T> make_rows() {
  return NormRows<T>{moments<T>,   affine<T>,      normalize<T>,   dot<T>,      grad<T>,     ln_backward<T>,
                     cols_diff<T>, cols_moments<T>, cols_affine<T>, cols_dot<T>, cols_grad<T>};
}

}  // namespace nerve::NERVE_NORM_ISA
