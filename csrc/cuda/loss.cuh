// loss.cuh — CUDA loss kernels and their launchers; compiled by nvcc (loss.cu) and by g++ under
// the emulator (tests). Contracts: loss.h (this directory) and csrc/cpu/loss.h.
//   cross entropy, (N, C) logits         one warp per sample: lanes stride the classes, warp
//                                        shuffles reduce the max, sum and smoothing terms
//   cross entropy, (N, C, d1, ...)       one thread per sample, looping down the classes (adjacent
//                                        threads read adjacent addresses)
//   nll, pointwise losses                one thread per sample / value, grid-stride
// Backward recomputes the softmax from the saved (max, log-sum) pair of each sample.
#pragma once
#include <cstdint>
#include <limits>

#include "../cpu/loss.h"
#include "activation.cuh"
#include "cuda_compat.h"
#include "reduce.cuh"

namespace nerve::cuda {

template <class T>
__device__ __forceinline__ T loss_max(T m, T v) {
  return (v > m || v != v) ? v : m;
}

__device__ __forceinline__ bool loss_skip(long long t, long long C, long long ignore_index) {
  return t == ignore_index || t < 0 || t >= C;  // bad targets (checked by the caller) are skipped, never read
}

template <class T>
__device__ __forceinline__ T weight_of(const T* w, long long c) {
  return w ? w[c] : T(1);
}

struct LossDims {
  long long N, C, inner;
};

// kernels

constexpr int kLossWarps = 4;  // samples (warps) per block of the row kernels
constexpr int kLossBlock = 256;

// one warp per row of C logits
template <class T>
__global__ void ce_rows_forward_kernel(T* loss, T* wt, T* stats, const T* x, const int64_t* target, const T* w,
                                       LossDims s, long long ignore_index, T eps, const T* wsum_p) {
  const long long r = (long long)blockIdx.x * kLossWarps + threadIdx.x / 32;
  const int lane = threadIdx.x & 31;
  if (r >= s.N) return;  // whole warps leave together
  const T* xr = x + r * s.C;
  T m = -std::numeric_limits<T>::infinity();
  for (long long c = lane; c < s.C; c += 32) m = loss_max(m, xr[c]);
  m = warp_max(m);
  T se = 0, wx = 0;
  for (long long c = lane; c < s.C; c += 32) {
    se += d_exp(xr[c] - m);
    wx += weight_of(w, c) * (m - xr[c]);
  }
  se = warp_sum(se);
  wx = warp_sum(wx);
  if (lane == 0) {
    const long long t = target[r];
    const T ls = d_log(se);
    T l = 0, wt_r = 0;
    if (!loss_skip(t, s.C, ignore_index)) {
      wt_r = weight_of(w, t);
      l = (T(1) - eps) * wt_r * ((m - xr[t]) + ls);
      if (eps > T(0)) l += eps / T(s.C) * ((wsum_p ? *wsum_p : T(s.C)) * ls + wx);
    }
    loss[r] = l;
    if (wt) wt[r] = wt_r;
    if (stats) stats[2 * r] = m, stats[2 * r + 1] = ls;
  }
}

// one thread per sample (n, i) of (N, C, inner)
template <class T>
__global__ void ce_cols_forward_kernel(T* loss, T* wt, T* stats, const T* x, const int64_t* target, const T* w,
                                       LossDims s, long long ignore_index, T eps, const T* wsum_p) {
  for (long long j = (long long)blockIdx.x * blockDim.x + threadIdx.x; j < s.N * s.inner;
       j += (long long)gridDim.x * blockDim.x) {
    const long long n = j / s.inner, i = j % s.inner;
    const T* xs = x + n * s.C * s.inner + i;
    T m = -std::numeric_limits<T>::infinity();
    for (long long c = 0; c < s.C; ++c) m = loss_max(m, xs[c * s.inner]);
    T se = 0, wx = 0;
    for (long long c = 0; c < s.C; ++c) {
      se += d_exp(xs[c * s.inner] - m);
      wx += weight_of(w, c) * (m - xs[c * s.inner]);
    }
    const long long t = target[j];
    const T ls = d_log(se);
    T l = 0, wt_j = 0;
    if (!loss_skip(t, s.C, ignore_index)) {
      wt_j = weight_of(w, t);
      l = (T(1) - eps) * wt_j * ((m - xs[t * s.inner]) + ls);
      if (eps > T(0)) l += eps / T(s.C) * ((wsum_p ? *wsum_p : T(s.C)) * ls + wx);
    }
    loss[j] = l;
    if (wt) wt[j] = wt_j;
    if (stats) stats[2 * j] = m, stats[2 * j + 1] = ls;
  }
}

// dx[c] = p a - w[c] bs - (c == t) bt; an ignored sample gets p * 0 (NaN where its softmax is)
template <class T>
__device__ __forceinline__ void ce_coefs(T g, long long t, const T* w, long long C, long long ignore_index, T eps,
                                         T wsum, T* a, T* bs, T* bt) {
  if (loss_skip(t, C, ignore_index)) {
    *a = *bs = *bt = T(0);
    return;
  }
  const T wt = weight_of(w, t);
  *a = g * ((T(1) - eps) * wt + eps / T(C) * wsum);
  *bs = g * eps / T(C);
  *bt = g * (T(1) - eps) * wt;
}

template <class T>
__global__ void ce_backward_kernel(T* dx, const T* x, const T* stats, const int64_t* target, const T* w,
                                   const T* dloss, long long dstride, T scale, LossDims s, long long ignore_index,
                                   T eps, const T* wsum_p) {
  const T wsum = wsum_p ? *wsum_p : T(s.C);
  const long long total = s.N * s.C * s.inner;
  for (long long k = (long long)blockIdx.x * blockDim.x + threadIdx.x; k < total;
       k += (long long)gridDim.x * blockDim.x) {
    const long long i = k % s.inner, c = (k / s.inner) % s.C, n = k / (s.inner * s.C), j = n * s.inner + i;
    const long long t = target[j];
    T a, bs, bt;
    ce_coefs(scale * dloss[j * dstride], t, w, s.C, ignore_index, eps, wsum, &a, &bs, &bt);
    const T p = d_exp((x[k] - stats[2 * j]) - stats[2 * j + 1]);
    dx[k] = p * a - weight_of(w, c) * bs - (c == t ? bt : T(0));
  }
}

template <class T>
__global__ void ce_prob_forward_kernel(T* loss, T* stats, const T* x, const T* target, const T* w, LossDims s, T eps) {
  for (long long j = (long long)blockIdx.x * blockDim.x + threadIdx.x; j < s.N * s.inner;
       j += (long long)gridDim.x * blockDim.x) {
    const long long off = (j / s.inner) * s.C * s.inner + j % s.inner;
    T m = -std::numeric_limits<T>::infinity();
    for (long long c = 0; c < s.C; ++c) m = loss_max(m, x[off + c * s.inner]);
    T se = 0;
    for (long long c = 0; c < s.C; ++c) se += d_exp(x[off + c * s.inner] - m);
    const T ls = d_log(se);
    T l = 0;
    for (long long c = 0; c < s.C; ++c) {
      const long long k = off + c * s.inner;
      l += weight_of(w, c) * ((T(1) - eps) * target[k] + eps / T(s.C)) * (ls + (m - x[k]));
    }
    loss[j] = l;
    if (stats) stats[2 * j] = m, stats[2 * j + 1] = ls;
  }
}

template <class T>
__global__ void ce_prob_backward_kernel(T* dx, T* dtarget, const T* x, const T* stats, const T* target, const T* w,
                                        const T* dloss, long long dstride, T scale, LossDims s, T eps) {
  for (long long j = (long long)blockIdx.x * blockDim.x + threadIdx.x; j < s.N * s.inner;
       j += (long long)gridDim.x * blockDim.x) {
    const long long off = (j / s.inner) * s.C * s.inner + j % s.inner;
    const T g = scale * dloss[j * dstride], m = stats[2 * j], ls = stats[2 * j + 1];
    T total = 0;
    for (long long c = 0; c < s.C; ++c)
      total += weight_of(w, c) * ((T(1) - eps) * target[off + c * s.inner] + eps / T(s.C));
    for (long long c = 0; c < s.C; ++c) {
      const long long k = off + c * s.inner;
      const T wc = weight_of(w, c), tp = (T(1) - eps) * target[k] + eps / T(s.C);
      dx[k] = g * (d_exp((x[k] - m) - ls) * total - wc * tp);
      if (dtarget) dtarget[k] = g * (T(1) - eps) * wc * (ls + (m - x[k]));
    }
  }
}

template <class T>
__global__ void nll_forward_kernel(T* loss, T* wt, const T* x, const int64_t* target, const T* w, LossDims s,
                                   long long ignore_index) {
  for (long long j = (long long)blockIdx.x * blockDim.x + threadIdx.x; j < s.N * s.inner;
       j += (long long)gridDim.x * blockDim.x) {
    const long long t = target[j], n = j / s.inner, i = j % s.inner;
    const bool skip = loss_skip(t, s.C, ignore_index);
    const T wj = skip ? T(0) : weight_of(w, t);
    loss[j] = skip ? T(0) : -wj * x[(n * s.C + t) * s.inner + i];
    if (wt) wt[j] = wj;
  }
}

template <class T>
__global__ void nll_backward_kernel(T* dx, const int64_t* target, const T* w, const T* dloss, long long dstride,
                                    T scale, LossDims s, long long ignore_index) {
  const long long total = s.N * s.C * s.inner;
  for (long long k = (long long)blockIdx.x * blockDim.x + threadIdx.x; k < total;
       k += (long long)gridDim.x * blockDim.x) {
    const long long i = k % s.inner, c = (k / s.inner) % s.C, j = (k / (s.inner * s.C)) * s.inner + i;
    const long long t = target[j];
    dx[k] = (c == t && !loss_skip(t, s.C, ignore_index)) ? -weight_of(w, t) * scale * dloss[j * dstride] : T(0);
  }
}

template <class T>
__device__ __forceinline__ T log_sigmoid_d(T x) {
  return (x < T(0) ? x : T(0)) - d_log1p(d_exp(-(x < T(0) ? -x : x)));
}

template <class T>
__global__ void point_forward_kernel(T* loss, const T* x, const T* t, const T* w, const T* pw, long long n,
                                     PointLoss kind) {
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
    const T xv = x[i], tv = t[i];
    T l;
    if (kind == PointLoss::mse) {
      l = (xv - tv) * (xv - tv);
    } else if (kind == PointLoss::l1) {
      l = xv > tv ? xv - tv : tv - xv;
    } else if (kind == PointLoss::bce) {
      const T a = d_log1p(-xv), b = d_log(xv);
      l = (tv - T(1)) * (a > T(-100) ? a : T(-100)) - tv * (b > T(-100) ? b : T(-100));
    } else {
      const T lw = pw ? T(1) + (pw[i] - T(1)) * tv : T(1);
      l = (T(1) - tv) * xv - lw * log_sigmoid_d(xv);
    }
    loss[i] = w ? l * w[i] : l;
  }
}

template <class T>
__global__ void point_backward_kernel(T* dx, T* dt, const T* x, const T* t, const T* w, const T* pw, const T* dloss,
                                      long long dstride, T scale, long long n, PointLoss kind) {
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
    const T xv = x[i], tv = t[i];
    T g = scale * dloss[i * dstride];
    if (w) g *= w[i];
    T gx, gt;
    if (kind == PointLoss::mse) {
      gx = T(2) * (xv - tv) * g, gt = -gx;
    } else if (kind == PointLoss::l1) {
      gx = T((xv > tv) - (xv < tv)) * g, gt = -gx;
    } else if (kind == PointLoss::bce) {
      const T d = (T(1) - xv) * xv;
      gx = g * (xv - tv) / (d > T(1e-12) ? d : T(1e-12));
      gt = g * (d_log1p(-xv) - d_log(xv));
    } else {
      const T sg = T(1) / (T(1) + d_exp(-xv));
      if (pw) {
        gx = ((pw[i] * tv + T(1) - tv) * sg - pw[i] * tv) * g;
        gt = (log_sigmoid_d(-xv) - pw[i] * log_sigmoid_d(xv)) * g;
      } else {
        gx = (sg - tv) * g, gt = -xv * g;
      }
    }
    if (dx) dx[i] = gx;
    if (dt) dt[i] = gt;
  }
}

// launchers

inline unsigned loss_grid(long long units) {
  const long long b = (units + kLossBlock - 1) / kLossBlock;
  return unsigned(b < 1 ? 1 : (b > 8192 ? 8192 : b));
}

inline LossDims dims(ClassShape s) { return {s.N, s.C, s.inner}; }

// wsum: the class weights' sum on the device (null: C, no weights); read only with label smoothing
template <class T>
void ce_forward_launch(T* loss, T* wt, T* stats, const T* x, const int64_t* target, const T* w, const T* wsum,
                       ClassShape cs, int64_t ignore_index, double eps, cudaStream_t stream) {
  const LossDims s = dims(cs);
  if (s.N * s.inner == 0) return;
  if (s.inner == 1) {
    const long long blocks = (s.N + kLossWarps - 1) / kLossWarps;
    CUDA_LAUNCH(unsigned(blocks), 32 * kLossWarps, 0, stream, ce_rows_forward_kernel<T>)(
        loss, wt, stats, x, target, w, s, (long long)ignore_index, T(eps), wsum);
  } else {
    CUDA_LAUNCH(loss_grid(s.N * s.inner), kLossBlock, 0, stream, ce_cols_forward_kernel<T>)(
        loss, wt, stats, x, target, w, s, (long long)ignore_index, T(eps), wsum);
  }
  check_last("cross_entropy");
}

template <class T>
void ce_backward_launch(T* dx, const T* x, const T* stats, const int64_t* target, const T* w, const T* wsum,
                        const T* dloss, int64_t dstride, double scale, ClassShape cs, int64_t ignore_index, double eps,
                        cudaStream_t stream) {
  const LossDims s = dims(cs);
  if (s.N * s.C * s.inner == 0) return;
  CUDA_LAUNCH(loss_grid(s.N * s.C * s.inner), kLossBlock, 0, stream, ce_backward_kernel<T>)(
      dx, x, stats, target, w, dloss, (long long)dstride, T(scale), s, (long long)ignore_index, T(eps), wsum);
  check_last("cross_entropy");
}

template <class T>
void ce_prob_forward_launch(T* loss, T* stats, const T* x, const T* target, const T* w, ClassShape cs, double eps,
                            cudaStream_t stream) {
  const LossDims s = dims(cs);
  if (s.N * s.inner == 0) return;
  CUDA_LAUNCH(loss_grid(s.N * s.inner), kLossBlock, 0, stream, ce_prob_forward_kernel<T>)(loss, stats, x, target, w,
                                                                                          s, T(eps));
  check_last("cross_entropy");
}

template <class T>
void ce_prob_backward_launch(T* dx, T* dtarget, const T* x, const T* stats, const T* target, const T* w,
                             const T* dloss, int64_t dstride, double scale, ClassShape cs, double eps,
                             cudaStream_t stream) {
  const LossDims s = dims(cs);
  if (s.N * s.inner == 0) return;
  CUDA_LAUNCH(loss_grid(s.N * s.inner), kLossBlock, 0, stream, ce_prob_backward_kernel<T>)(
      dx, dtarget, x, stats, target, w, dloss, (long long)dstride, T(scale), s, T(eps));
  check_last("cross_entropy");
}

template <class T>
void nll_forward_launch(T* loss, T* wt, const T* x, const int64_t* target, const T* w, ClassShape cs,
                        int64_t ignore_index, cudaStream_t stream) {
  const LossDims s = dims(cs);
  if (s.N * s.inner == 0) return;
  CUDA_LAUNCH(loss_grid(s.N * s.inner), kLossBlock, 0, stream, nll_forward_kernel<T>)(loss, wt, x, target, w, s,
                                                                                      (long long)ignore_index);
  check_last("nll_loss");
}

template <class T>
void nll_backward_launch(T* dx, const int64_t* target, const T* w, const T* dloss, int64_t dstride, double scale,
                         ClassShape cs, int64_t ignore_index, cudaStream_t stream) {
  const LossDims s = dims(cs);
  if (s.N * s.C * s.inner == 0) return;
  CUDA_LAUNCH(loss_grid(s.N * s.C * s.inner), kLossBlock, 0, stream, nll_backward_kernel<T>)(
      dx, target, w, dloss, (long long)dstride, T(scale), s, (long long)ignore_index);
  check_last("nll_loss");
}

inline const char* point_name(PointLoss kind) {
  switch (kind) {
    case PointLoss::mse: return "mse_loss";
    case PointLoss::l1: return "l1_loss";
    case PointLoss::bce: return "binary_cross_entropy";
    default: return "binary_cross_entropy_with_logits";
  }
}

template <class T>
void point_forward_launch(T* loss, const T* x, const T* t, const T* w, const T* pw, int64_t n, PointLoss kind,
                          cudaStream_t stream) {
  if (n <= 0) return;
  CUDA_LAUNCH(loss_grid(n), kLossBlock, 0, stream, point_forward_kernel<T>)(loss, x, t, w, pw, (long long)n, kind);
  check_last(point_name(kind));
}

template <class T>
void point_backward_launch(T* dx, T* dt, const T* x, const T* t, const T* w, const T* pw, const T* dloss,
                           int64_t dstride, double scale, int64_t n, PointLoss kind, cudaStream_t stream) {
  if (n <= 0) return;
  CUDA_LAUNCH(loss_grid(n), kLossBlock, 0, stream, point_backward_kernel<T>)(dx, dt, x, t, w, pw, dloss,
                                                                             (long long)dstride, T(scale),
                                                                             (long long)n, kind);
  check_last(point_name(kind));
}

}  // namespace nerve::cuda
