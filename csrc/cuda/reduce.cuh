// reduce.cuh — warp-shuffle and block reductions shared by every CUDA kernel family (softmax,
// losses, norms, ...). Compiled by nvcc and, through cuda_compat.h, by g++ under the emulator.
//
//   warp_sum / warp_max         every lane of the warp gets the result (butterfly over xor lanes)
//   block_sum / block_max       every thread of the block gets the result; `scratch` is __shared__
//                               storage of at least 32 values; every thread must call it (it has
//                               barriers), with blockDim.x a multiple of 32 (1-D blocks)
//   Welford                     mean/M2 pairs that merge exactly (norm statistics)
#pragma once
#include "cuda_compat.h"

namespace nerve::cuda {

constexpr unsigned kFullMask = 0xffffffffu;

template <class T>
__device__ __forceinline__ T warp_sum(T v) {
  NERVE_UNROLL
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(kFullMask, v, o);
  return v;
}

template <class T>
__device__ __forceinline__ T warp_max(T v) {
  NERVE_UNROLL
  for (int o = 16; o > 0; o >>= 1) {
    const T other = __shfl_xor_sync(kFullMask, v, o);
    v = other > v || other != other ? other : v;  // NaN wins, as in torch's max
  }
  return v;
}

// Sum over the block. The trailing barrier lets the caller reuse `scratch` right away.
template <class T>
__device__ __forceinline__ T block_sum(T v, T* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = (blockDim.x + 31) >> 5;
  v = warp_sum(v);
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  T r = lane < nwarps ? scratch[lane] : T(0);
  r = warp_sum(r);
  __syncthreads();
  return r;
}

template <class T>
__device__ __forceinline__ T block_max(T v, T* scratch, T lowest) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = (blockDim.x + 31) >> 5;
  v = warp_max(v);
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  T r = lane < nwarps ? scratch[lane] : lowest;
  r = warp_max(r);
  __syncthreads();
  return r;
}

// Running mean and sum of squared deviations (Chan et al. merge): numerically stable statistics.
struct Welford {
  float mean = 0.f, m2 = 0.f, n = 0.f;
  __device__ __forceinline__ void add(float x) {
    n += 1.f;
    const float d = x - mean;
    mean += d / n;
    m2 += d * (x - mean);
  }
  __device__ __forceinline__ void merge(float omean, float om2, float on) {
    if (on == 0.f) return;
    const float tn = n + on, d = omean - mean;
    mean += d * (on / tn);
    m2 += om2 + d * d * (n * on / tn);
    n = tn;
  }
};

__device__ __forceinline__ Welford warp_welford(Welford w) {
  NERVE_UNROLL
  for (int o = 16; o > 0; o >>= 1) {
    const float m = __shfl_xor_sync(kFullMask, w.mean, o);
    const float q = __shfl_xor_sync(kFullMask, w.m2, o);
    const float n = __shfl_xor_sync(kFullMask, w.n, o);
    w.merge(m, q, n);
  }
  return w;
}

}  // namespace nerve::cuda
