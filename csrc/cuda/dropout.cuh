// dropout.cuh — CUDA dropout kernels and launchers; compiled by nvcc (dropout.cu) and by g++ under
// the emulator (tests). The random words come from csrc/core/philox.h, as on the CPU.
//
//   dropout_forward_kernel   one thread per Philox counter c (16 counters = one 64-element block):
//                            its four words are elements b*64 + w*16 + c%16 (b = c/16), so each
//                            store of a warp covers two runs of 16 consecutive elements; the keep
//                            bits of those runs come out of one __ballot_sync as two 16-bit masks.
//   dropout_backward_kernel  one thread per element, reading its bit of the mask.
// Loops stride over the grid; the forward's trip count is rounded up to whole warps so that every
// lane reaches the ballot.
#pragma once
#include <cstdint>

#include "../core/philox.h"
#include "cuda_compat.h"

namespace nerve::cuda {

// kernels

template <class T>
__global__ void dropout_forward_kernel(T* y, uint8_t* mask, const T* x, long long n, long long counters,
                                       uint32_t threshold, T scale, uint64_t seed, uint64_t offset) {
  const long long blocks = (n + philox::kBlock - 1) / philox::kBlock;
  const long long stride = (long long)gridDim.x * blockDim.x;
  for (long long c = (long long)blockIdx.x * blockDim.x + threadIdx.x; c < counters; c += stride) {
    const long long b = c >> 4;
    const int l = int(c & 15);
    const philox::U4 r = philox::philox4x32(
        philox::U4{uint32_t(c), uint32_t((unsigned long long)c >> 32), uint32_t(offset), uint32_t(offset >> 32)},
        uint32_t(seed), uint32_t(seed >> 32));
    const uint32_t words[4] = {r.x, r.y, r.z, r.w};
    NERVE_UNROLL
    for (int w = 0; w < 4; ++w) {
      const long long e = b * philox::kBlock + w * 16 + l;
      const bool keep = e < n && words[w] < threshold;
      if (e < n) y[e] = x[e] * (keep ? scale : T(0));
      if (mask) {
        const unsigned bits = __ballot_sync(0xffffffffu, keep);
        if (l == 0 && b < blocks) {
          const unsigned half = (threadIdx.x & 16) ? bits >> 16 : bits & 0xffffu;
          mask[b * 8 + w * 2] = uint8_t(half);
          mask[b * 8 + w * 2 + 1] = uint8_t(half >> 8);
        }
      }
    }
  }
}

template <class T>
__global__ void dropout_backward_kernel(T* dx, const T* dy, const uint8_t* mask, long long n, T scale) {
  const long long stride = (long long)gridDim.x * blockDim.x;
  for (long long e = (long long)blockIdx.x * blockDim.x + threadIdx.x; e < n; e += stride)
    dx[e] = dy[e] * (((mask[e >> 3] >> (e & 7)) & 1) ? scale : T(0));
}

// launchers

constexpr int kDropoutThreads = 256;
constexpr unsigned kDropoutMaxBlocks = 8192;

template <class T>
void dropout_forward_launch(T* y, uint8_t* mask, const T* x, long long n, double p, uint64_t seed, uint64_t offset,
                            cudaStream_t stream) {
  if (n <= 0) return;
  const long long blocks64 = (n + philox::kBlock - 1) / philox::kBlock;
  const long long counters = (blocks64 * 16 + 31) / 32 * 32;
  unsigned grid = ceil_div(counters, kDropoutThreads);
  if (grid > kDropoutMaxBlocks) grid = kDropoutMaxBlocks;
  CUDA_LAUNCH(grid, kDropoutThreads, 0, stream, dropout_forward_kernel<T>)
  (y, mask, x, n, counters, philox::keep_threshold(p), T(1) / T(1 - p), seed, offset);
  check_last("dropout");
}

template <class T>
void dropout_backward_launch(T* dx, const T* dy, const uint8_t* mask, long long n, double p, cudaStream_t stream) {
  if (n <= 0) return;
  unsigned grid = ceil_div(n, kDropoutThreads);
  if (grid > kDropoutMaxBlocks) grid = kDropoutMaxBlocks;
  CUDA_LAUNCH(grid, kDropoutThreads, 0, stream, dropout_backward_kernel<T>)(dx, dy, mask, n, T(1) / T(1 - p));
  check_last("dropout");
}

}  // namespace nerve::cuda
