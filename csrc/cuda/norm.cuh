// norm.cuh — CUDA batch_norm and layer_norm kernels and launchers (float32); compiled by nvcc
// (norm.cu) and by g++ under the emulator (tests). Same contract as csrc/cpu/norm.h: saved
// statistics in double, the mean rounded to float subtracted first and its residual folded into
// the per-channel / per-row constants.
//
// batch_norm (input (N, C, L)), every reduction in a fixed order, so results are reproducible:
//   bn_partial_stats    grid (C, S): block (c, s) takes chunk s of channel c's N*L values, Welford
//                       per thread of x - (the channel's first value), merged across the block
//                       (warp shuffles, then warp 0)
//   bn_finalize         one thread per channel: merges the S partials in double, saves mean and
//                       invstd, updates running stats; writes (center, a, b) for the apply pass
//   bn_apply            y = (x - center) * a + b, grid-stride over every element
//   bn_partial_sums     backward: per (c, s) block sums of dy and dy * (x - center)
//   bn_grad_finalize    per channel: dweight, dbias and (center, k1, k2, k3)
//   bn_grad             dx = k1 * dy + k2 * (x - center) + k3
// layer_norm (input (M, D)):
//   ln_forward          one block per row: Welford of x - x[0], then the normalising pass
//   ln_backward_dx      one block per row: block sums of g and g * (x - center), then dx
//   ln_backward_params  grid (D / 32, G): column partial sums of dy * xhat and dy over G row groups
//   ln_params_finalize  dweight, dbias: the G partials of each column added in order
#pragma once
#include <cstdint>

#include "cuda_compat.h"
#include "reduce.cuh"

namespace nerve::cuda {

constexpr int kNormThreads = 256;
constexpr int kBnMaxSplits = 64;
constexpr long long kBnChunk = 4096;  // values per (channel, split) block, at least

// Splits of a channel's n values across blocks: enough blocks to fill a GPU for few channels.
inline int bn_splits(long long n) {
  long long s = (n + kBnChunk - 1) / kBnChunk;
  return int(s < 1 ? 1 : s > kBnMaxSplits ? kBnMaxSplits : s);
}

// kernels

// Merges the Welford state of every thread of the block; thread 0 gets the result. `sm` holds 3 * 32
// floats of shared memory.
__device__ __forceinline__ Welford block_welford(Welford w, float* sm) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = (blockDim.x + 31) >> 5;
  w = warp_welford(w);
  if (lane == 0) sm[warp] = w.mean, sm[32 + warp] = w.m2, sm[64 + warp] = w.n;
  __syncthreads();
  Welford r;
  if (warp == 0) {
    if (lane < nwarps) r.mean = sm[lane], r.m2 = sm[32 + lane], r.n = sm[64 + lane];
    r = warp_welford(r);
  }
  __syncthreads();
  return r;
}

// x[(n * C + c) * L + l] for the j-th value (j = n * L + l) of channel c.
__device__ __forceinline__ long long bn_index(long long j, long long c, long long C, long long L) {
  const long long n = j / L;
  return (n * C + c) * L + (j - n * L);
}

__global__ void bn_partial_stats(float* part, const float* x, long long C, long long L, long long count, int S) {
  __shared__ float sm[96];
  const long long c = blockIdx.x, s = blockIdx.y;
  const long long j0 = count * s / S, j1 = count * (s + 1) / S;
  const float pivot = x[bn_index(0, c, C, L)];  // the channel's first value: float keeps the deviations exact
  Welford w;
  for (long long j = j0 + threadIdx.x; j < j1; j += blockDim.x) w.add(x[bn_index(j, c, C, L)] - pivot);
  w = block_welford(w, sm);
  if (threadIdx.x == 0) {
    float* p = part + (c * S + s) * 3;
    p[0] = w.mean, p[1] = w.m2, p[2] = w.n;
  }
}

// coef[c] = (center, a, b): y = (x - center) * a + b.
__global__ void bn_finalize(float* coef, double* save_mean, double* save_invstd, float* running_mean,
                            float* running_var, const float* part, const float* x, const float* weight,
                            const float* bias, long long C, long long L, int S, bool training, double momentum,
                            double eps) {
  const long long c = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= C) return;
  double mean, invstd;
  if (training) {
    double m = 0, m2 = 0, n = 0;
    for (int s = 0; s < S; ++s) {
      const float* p = part + (c * S + s) * 3;
      const double om = p[0], oq = p[1], on = p[2];
      if (on <= 0) continue;
      const double t = n + on, d = om - m;
      m += d * (on / t);
      m2 += oq + d * d * (n * on / t);
      n = t;
    }
    mean = double(x[bn_index(0, c, C, L)]) + m;  // the partials are of x - pivot
    invstd = 1.0 / sqrt(m2 / n + eps);
    if (running_mean) running_mean[c] = float((1 - momentum) * double(running_mean[c]) + momentum * mean);
    if (running_var) running_var[c] = float((1 - momentum) * double(running_var[c]) + momentum * (m2 / (n - 1)));
  } else {
    mean = running_mean[c], invstd = 1.0 / sqrt(double(running_var[c]) + eps);
  }
  save_mean[c] = mean, save_invstd[c] = invstd;
  const float center = float(mean);
  const double a = invstd * (weight ? double(weight[c]) : 1.0);
  coef[c * 3] = center;
  coef[c * 3 + 1] = float(a);
  coef[c * 3 + 2] = float((bias ? double(bias[c]) : 0.0) - (mean - double(center)) * a);
}

__global__ void bn_apply(float* y, const float* x, const float* coef, long long C, long long L, long long total) {
  const long long stride = (long long)gridDim.x * blockDim.x;
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += stride) {
    const float* k = coef + ((i / L) % C) * 3;
    y[i] = (x[i] - k[0]) * k[1] + k[2];
  }
}

__global__ void bn_partial_sums(float* part, const float* dy, const float* x, const double* mean, long long C,
                                long long L, long long count, int S) {
  __shared__ float sm[32];
  const long long c = blockIdx.x, s = blockIdx.y;
  const long long j0 = count * s / S, j1 = count * (s + 1) / S;
  const float center = float(mean[c]);
  float a = 0.f, b = 0.f;
  for (long long j = j0 + threadIdx.x; j < j1; j += blockDim.x) {
    const long long i = bn_index(j, c, C, L);
    a += dy[i], b += dy[i] * (x[i] - center);
  }
  a = block_sum(a, sm);
  b = block_sum(b, sm);
  if (threadIdx.x == 0) part[(c * S + s) * 2] = a, part[(c * S + s) * 2 + 1] = b;
}

// coef[c] = (center, k1, k2, k3): dx = k1 * dy + k2 * (x - center) + k3.
__global__ void bn_grad_finalize(float* coef, float* dweight, float* dbias, const float* part, const double* mean,
                                 const double* invstd, const float* weight, long long C, int S, double count,
                                 bool training) {
  const long long c = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= C) return;
  double sdy = 0, sdot = 0;
  for (int s = 0; s < S; ++s) sdy += part[(c * S + s) * 2], sdot += part[(c * S + s) * 2 + 1];
  const float center = float(mean[c]);
  const double r = mean[c] - double(center), is = invstd[c];
  sdot -= r * sdy;  // about the mean itself
  const double g1 = is * (weight ? double(weight[c]) : 1.0);
  const double g2 = training ? -g1 * is * is * sdot / count : 0.0;
  const double g3 = training ? -g1 * sdy / count - g2 * r : 0.0;
  if (dweight) dweight[c] = float(sdot * is);
  if (dbias) dbias[c] = float(sdy);
  float* k = coef + c * 4;
  k[0] = center, k[1] = float(g1), k[2] = float(g2), k[3] = float(g3);
}

__global__ void bn_grad(float* dx, const float* dy, const float* x, const float* coef, long long C, long long L,
                        long long total) {
  const long long stride = (long long)gridDim.x * blockDim.x;
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += stride) {
    const float* k = coef + ((i / L) % C) * 4;
    dx[i] = k[1] * dy[i] + k[2] * (x[i] - k[0]) + k[3];
  }
}

__global__ void ln_forward(float* y, double* mean, double* rstd, const float* x, const float* weight,
                           const float* bias, long long M, long long D, double eps) {
  __shared__ float sm[96];
  __shared__ float stats[3];
  for (long long r = blockIdx.x; r < M; r += gridDim.x) {
    const float* xr = x + r * D;
    const float pivot = xr[0];  // Welford of x - pivot: a mean far from zero costs no precision
    Welford w;
    for (long long j = threadIdx.x; j < D; j += blockDim.x) w.add(xr[j] - pivot);
    w = block_welford(w, sm);
    if (threadIdx.x == 0) {
      const double mu = double(pivot) + double(w.mean), is = 1.0 / sqrt(double(w.m2) / double(D) + eps);
      mean[r] = mu, rstd[r] = is;
      stats[0] = float(mu), stats[1] = float(mu - double(float(mu))), stats[2] = float(is);
    }
    __syncthreads();
    const float c = stats[0], res = stats[1], is = stats[2];
    float* yr = y + r * D;
    for (long long j = threadIdx.x; j < D; j += blockDim.x) {
      float v = ((xr[j] - c) - res) * is;
      if (weight) v *= weight[j];
      if (bias) v += bias[j];
      yr[j] = v;
    }
    __syncthreads();  // stats is rewritten for the next row
  }
}

__global__ void ln_backward_dx(float* dx, const float* dy, const float* x, const double* mean, const double* rstd,
                               const float* weight, long long M, long long D) {
  __shared__ float sm[32];
  for (long long r = blockIdx.x; r < M; r += gridDim.x) {
    const float* xr = x + r * D;
    const float* gr = dy + r * D;
    const float c = float(mean[r]);
    const double res = mean[r] - double(c), is = rstd[r];
    float a = 0.f, b = 0.f;
    for (long long j = threadIdx.x; j < D; j += blockDim.x) {
      const float g = weight ? gr[j] * weight[j] : gr[j];
      a += g, b += g * (xr[j] - c);
    }
    a = block_sum(a, sm);
    b = block_sum(b, sm);
    const double sgm = double(b) - res * double(a);
    const double k2 = -is * is * is * sgm / double(D), k3 = -is * double(a) / double(D) - k2 * res;
    const float k1f = float(is), k2f = float(k2), k3f = float(k3);
    float* out = dx + r * D;
    for (long long j = threadIdx.x; j < D; j += blockDim.x) {
      const float g = weight ? gr[j] * weight[j] : gr[j];
      out[j] = k1f * g + k2f * (xr[j] - c) + k3f;
    }
  }
}

constexpr int kLnColumns = 32, kLnRowsPerBlock = 8, kLnMaxGroups = 64;

inline int ln_groups(long long M) {
  long long g = (M + 63) / 64;
  return int(g < 1 ? 1 : g > kLnMaxGroups ? kLnMaxGroups : g);
}

// part[(g * 2 + 0) * D + j] = sum over group g's rows of dy * xhat; [(g * 2 + 1) * D + j]: of dy.
__global__ void ln_backward_params(float* part, const float* dy, const float* x, const double* mean,
                                   const double* rstd, long long M, long long D, int G) {
  __shared__ float sw[kLnRowsPerBlock][kLnColumns], sb[kLnRowsPerBlock][kLnColumns];
  const long long j = (long long)blockIdx.x * kLnColumns + threadIdx.x;
  const long long g = blockIdx.y, r0 = M * g / G, r1 = M * (g + 1) / G;
  float aw = 0.f, ab = 0.f;
  if (j < D)
    for (long long r = r0 + threadIdx.y; r < r1; r += kLnRowsPerBlock) {
      const float c = float(mean[r]), res = float(mean[r] - double(c)), is = float(rstd[r]);
      const float g_ = dy[r * D + j];
      aw += g_ * (((x[r * D + j] - c) - res) * is), ab += g_;
    }
  sw[threadIdx.y][threadIdx.x] = aw, sb[threadIdx.y][threadIdx.x] = ab;
  __syncthreads();
  if (threadIdx.y == 0 && j < D) {
    float tw = 0.f, tb = 0.f;
    for (int k = 0; k < kLnRowsPerBlock; ++k) tw += sw[k][threadIdx.x], tb += sb[k][threadIdx.x];
    part[(g * 2) * D + j] = tw, part[(g * 2 + 1) * D + j] = tb;
  }
}

__global__ void ln_params_finalize(float* dweight, float* dbias, const float* part, long long D, int G) {
  const long long j = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (j >= D) return;
  double tw = 0, tb = 0;
  for (int g = 0; g < G; ++g) tw += part[(g * 2) * D + j], tb += part[(g * 2 + 1) * D + j];
  if (dweight) dweight[j] = float(tw);
  if (dbias) dbias[j] = float(tb);
}

// launchers

constexpr unsigned kNormMaxBlocks = 65535;

inline unsigned capped_blocks(long long n, int threads) {
  const long long b = (n + threads - 1) / threads;
  return unsigned(b < 1 ? 1 : b > kNormMaxBlocks ? kNormMaxBlocks : b);
}

inline long long bn_workspace_floats(long long N, long long C, long long L) {
  return C * bn_splits(N * L) * 3 + C * 4;
}

inline void batch_norm_forward_launch(float* y, double* save_mean, double* save_invstd, float* running_mean,
                                      float* running_var, const float* x, const float* weight, const float* bias,
                                      long long N, long long C, long long L, bool training, double momentum,
                                      double eps, float* work, cudaStream_t stream) {
  if (C == 0) return;
  const long long count = N * L;
  const int S = bn_splits(count);
  float* coef = work + C * S * 3;
  if (training)
    CUDA_LAUNCH(dim3(unsigned(C), unsigned(S)), kNormThreads, 0, stream, bn_partial_stats)(work, x, C, L, count, S);
  CUDA_LAUNCH(ceil_div(C, 128), 128, 0, stream, bn_finalize)
  (coef, save_mean, save_invstd, running_mean, running_var, work, x, weight, bias, C, L, S, training, momentum, eps);
  if (count > 0)
    CUDA_LAUNCH(capped_blocks(N * C * L, kNormThreads), kNormThreads, 0, stream, bn_apply)(y, x, coef, C, L, N * C * L);
  check_last("batch_norm");
}

inline void batch_norm_backward_launch(float* dx, float* dweight, float* dbias, const float* dy, const float* x,
                                       const double* save_mean, const double* save_invstd, const float* weight,
                                       long long N, long long C, long long L, bool training, float* work,
                                       cudaStream_t stream) {
  if (C == 0) return;
  const long long count = N * L;
  const int S = bn_splits(count);
  float* coef = work + C * S * 3;
  CUDA_LAUNCH(dim3(unsigned(C), unsigned(S)), kNormThreads, 0, stream, bn_partial_sums)
  (work, dy, x, save_mean, C, L, count, S);
  CUDA_LAUNCH(ceil_div(C, 128), 128, 0, stream, bn_grad_finalize)
  (coef, dweight, dbias, work, save_mean, save_invstd, weight, C, S, double(count), training);
  if (dx && count > 0)
    CUDA_LAUNCH(capped_blocks(N * C * L, kNormThreads), kNormThreads, 0, stream, bn_grad)(dx, dy, x, coef, C, L, N * C * L);
  check_last("batch_norm");
}

inline int ln_threads(long long D) { return D <= 64 ? 32 : D <= 256 ? 64 : D <= 1024 ? 128 : 256; }

inline long long ln_workspace_floats(long long M, long long D) { return 2LL * ln_groups(M) * D; }

inline void layer_norm_forward_launch(float* y, double* mean, double* rstd, const float* x, const float* weight,
                                      const float* bias, long long M, long long D, double eps, cudaStream_t stream) {
  if (M == 0) return;
  const unsigned grid = unsigned(M < kNormMaxBlocks ? M : kNormMaxBlocks);
  CUDA_LAUNCH(grid, ln_threads(D), 0, stream, ln_forward)(y, mean, rstd, x, weight, bias, M, D, eps);
  check_last("layer_norm");
}

inline void layer_norm_backward_launch(float* dx, float* dweight, float* dbias, const float* dy, const float* x,
                                       const double* mean, const double* rstd, const float* weight, long long M,
                                       long long D, float* work, cudaStream_t stream) {
  if (M == 0 || D == 0) return;
  const unsigned grid = unsigned(M < kNormMaxBlocks ? M : kNormMaxBlocks);
  if (dx) CUDA_LAUNCH(grid, ln_threads(D), 0, stream, ln_backward_dx)(dx, dy, x, mean, rstd, weight, M, D);
  if (dweight || dbias) {
    const int G = ln_groups(M);
    CUDA_LAUNCH(dim3(ceil_div(D, kLnColumns), unsigned(G)), dim3(kLnColumns, kLnRowsPerBlock), 0, stream,
                ln_backward_params)(work, dy, x, mean, rstd, M, D, G);
    CUDA_LAUNCH(ceil_div(D, 128), 128, 0, stream, ln_params_finalize)(dweight, dbias, work, D, G);
  }
  check_last("layer_norm");
}

}  // namespace nerve::cuda
