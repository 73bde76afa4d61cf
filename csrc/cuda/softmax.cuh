// softmax.cuh — CUDA softmax / log_softmax kernels and their launchers; compiled by nvcc
// (softmax.cu) and by g++ under the emulator (tests). An (outer, dim, inner) array is walked as
//   inner == 1, dim <= 1024   one warp per row (lanes stride the row; warp shuffles reduce)
//   inner == 1, dim > 1024    one block of 256 threads per row (block reductions, reduce.cuh)
//   inner > 1                 one thread per (outer, inner) column, looping down dim: adjacent
//                             threads read adjacent addresses, so every load is coalesced
// Formulas as in csrc/cpu/softmax.h; sums accumulate in the data's dtype.
#pragma once
#include <limits>

#include "activation.cuh"
#include "cuda_compat.h"
#include "reduce.cuh"

namespace nerve::cuda {

template <class T>
__device__ __forceinline__ T sm_lowest() {
  return -std::numeric_limits<T>::infinity();
}

template <class T>
__device__ __forceinline__ T nan_max(T m, T v) {
  return (v > m || v != v) ? v : m;  // NaN wins, as in torch's max
}

// kernels

constexpr int kSmWarpRows = 4;  // rows (warps) per block of the warp kernel
constexpr int kSmBlock = 256;

template <class T>
__global__ void softmax_warp_kernel(T* y, const T* x, long long rows, long long dim, bool log) {
  const long long row = (long long)blockIdx.x * kSmWarpRows + threadIdx.x / 32;
  const int lane = threadIdx.x & 31;
  if (row >= rows) return;  // whole warps leave together: no barrier or shuffle is skipped by half a warp
  const T* xr = x + row * dim;
  T* yr = y + row * dim;
  T m = sm_lowest<T>();
  for (long long j = lane; j < dim; j += 32) m = nan_max(m, xr[j]);
  m = warp_max(m);
  T s = 0;
  for (long long j = lane; j < dim; j += 32) s += d_exp(xr[j] - m);
  s = warp_sum(s);
  if (log) {
    const T l = d_log(s);
    for (long long j = lane; j < dim; j += 32) yr[j] = (xr[j] - m) - l;
  } else {
    const T r = T(1) / s;
    for (long long j = lane; j < dim; j += 32) yr[j] = d_exp(xr[j] - m) * r;
  }
}

template <class T>
__global__ void softmax_block_kernel(T* y, const T* x, long long rows, long long dim, bool log) {
  __shared__ T scratch[32];
  for (long long row = blockIdx.x; row < rows; row += gridDim.x) {
    const T* xr = x + row * dim;
    T* yr = y + row * dim;
    T m = sm_lowest<T>();
    for (long long j = threadIdx.x; j < dim; j += blockDim.x) m = nan_max(m, xr[j]);
    m = block_max(m, scratch, sm_lowest<T>());
    T s = 0;
    for (long long j = threadIdx.x; j < dim; j += blockDim.x) s += d_exp(xr[j] - m);
    s = block_sum(s, scratch);
    if (log) {
      const T l = d_log(s);
      for (long long j = threadIdx.x; j < dim; j += blockDim.x) yr[j] = (xr[j] - m) - l;
    } else {
      const T r = T(1) / s;
      for (long long j = threadIdx.x; j < dim; j += blockDim.x) yr[j] = d_exp(xr[j] - m) * r;
    }
  }
}

template <class T>
__global__ void softmax_cols_kernel(T* y, const T* x, long long outer, long long dim, long long inner, bool log) {
  for (long long c = (long long)blockIdx.x * blockDim.x + threadIdx.x; c < outer * inner;
       c += (long long)gridDim.x * blockDim.x) {
    const long long o = c / inner, i = c % inner;
    const T* xc = x + o * dim * inner + i;
    T* yc = y + o * dim * inner + i;
    T m = sm_lowest<T>();
    for (long long d = 0; d < dim; ++d) m = nan_max(m, xc[d * inner]);
    T s = 0;
    for (long long d = 0; d < dim; ++d) s += d_exp(xc[d * inner] - m);
    if (log) {
      const T l = d_log(s);
      for (long long d = 0; d < dim; ++d) yc[d * inner] = (xc[d * inner] - m) - l;
    } else {
      const T r = T(1) / s;
      for (long long d = 0; d < dim; ++d) yc[d * inner] = d_exp(xc[d * inner] - m) * r;
    }
  }
}

// backward: s = sum(dy y) (softmax) or sum(dy) (log_softmax) over dim, then dx from it
template <class T>
__device__ __forceinline__ T sm_grad_term(T g, T v, bool log) {
  return log ? g : g * v;
}
template <class T>
__device__ __forceinline__ T sm_grad(T g, T v, T s, bool log) {
  return log ? g - d_exp(v) * s : v * (g - s);
}

template <class T>
__global__ void softmax_backward_warp_kernel(T* dx, const T* dy, const T* y, long long rows, long long dim, bool log) {
  const long long row = (long long)blockIdx.x * kSmWarpRows + threadIdx.x / 32;
  const int lane = threadIdx.x & 31;
  if (row >= rows) return;
  const long long off = row * dim;
  T s = 0;
  for (long long j = lane; j < dim; j += 32) s += sm_grad_term(dy[off + j], y[off + j], log);
  s = warp_sum(s);
  for (long long j = lane; j < dim; j += 32) dx[off + j] = sm_grad(dy[off + j], y[off + j], s, log);
}

template <class T>
__global__ void softmax_backward_block_kernel(T* dx, const T* dy, const T* y, long long rows, long long dim, bool log) {
  __shared__ T scratch[32];
  for (long long row = blockIdx.x; row < rows; row += gridDim.x) {
    const long long off = row * dim;
    T s = 0;
    for (long long j = threadIdx.x; j < dim; j += blockDim.x) s += sm_grad_term(dy[off + j], y[off + j], log);
    s = block_sum(s, scratch);
    for (long long j = threadIdx.x; j < dim; j += blockDim.x) dx[off + j] = sm_grad(dy[off + j], y[off + j], s, log);
  }
}

template <class T>
__global__ void softmax_backward_cols_kernel(T* dx, const T* dy, const T* y, long long outer, long long dim,
                                             long long inner, bool log) {
  for (long long c = (long long)blockIdx.x * blockDim.x + threadIdx.x; c < outer * inner;
       c += (long long)gridDim.x * blockDim.x) {
    const long long base = (c / inner) * dim * inner + c % inner;
    T s = 0;
    for (long long d = 0; d < dim; ++d) s += sm_grad_term(dy[base + d * inner], y[base + d * inner], log);
    for (long long d = 0; d < dim; ++d) {
      const long long k = base + d * inner;
      dx[k] = sm_grad(dy[k], y[k], s, log);
    }
  }
}

// launchers

inline unsigned sm_grid(long long units, long long per_block) {
  const long long b = (units + per_block - 1) / per_block;
  return unsigned(b < 1 ? 1 : (b > 65535 ? 65535 : b));
}

template <class T>
void softmax_forward_launch(T* y, const T* x, long long outer, long long dim, long long inner, bool log,
                            cudaStream_t stream) {
  if (outer * dim * inner == 0) return;
  if (inner > 1) {
    CUDA_LAUNCH(sm_grid(outer * inner, kSmBlock), kSmBlock, 0, stream, softmax_cols_kernel<T>)(y, x, outer, dim,
                                                                                                 inner, log);
  } else if (dim <= 1024) {
    const long long blocks = (outer + kSmWarpRows - 1) / kSmWarpRows;  // may exceed 65535: grid.x allows 2^31 - 1
    CUDA_LAUNCH(unsigned(blocks), 32 * kSmWarpRows, 0, stream, softmax_warp_kernel<T>)(y, x, outer, dim, log);
  } else {
    CUDA_LAUNCH(sm_grid(outer, 1), kSmBlock, 0, stream, softmax_block_kernel<T>)(y, x, outer, dim, log);
  }
  check_last(log ? "log_softmax" : "softmax");
}

template <class T>
void softmax_backward_launch(T* dx, const T* dy, const T* y, long long outer, long long dim, long long inner, bool log,
                             cudaStream_t stream) {
  if (outer * dim * inner == 0) return;
  if (inner > 1) {
    CUDA_LAUNCH(sm_grid(outer * inner, kSmBlock), kSmBlock, 0, stream,
                softmax_backward_cols_kernel<T>)(dx, dy, y, outer, dim, inner, log);
  } else if (dim <= 1024) {
    const long long blocks = (outer + kSmWarpRows - 1) / kSmWarpRows;
    CUDA_LAUNCH(unsigned(blocks), 32 * kSmWarpRows, 0, stream, softmax_backward_warp_kernel<T>)(dx, dy, y, outer,
                                                                                                  dim, log);
  } else {
    CUDA_LAUNCH(sm_grid(outer, 1), kSmBlock, 0, stream, softmax_backward_block_kernel<T>)(dx, dy, y, outer, dim, log);
  }
  check_last(log ? "log_softmax" : "softmax");
}

}  // namespace nerve::cuda
