// gemm.cuh — CUDA SGEMM kernels and their launcher; compiled by nvcc (gemm.cu) and by g++ under
// the emulator (tests). C[b] = alpha * A[b] @ B[b] + beta * C[b] with BLIS-style strides.
#pragma once
#include "../cpu/gemm.h"
#include "cuda_compat.h"

namespace nerve::cuda {

// kernels

constexpr int kTile = 16;

// One thread per element of C; A and B tiles staged through shared memory. Bounds are checked on
// every load so partial tiles at the edges read zeros.
__global__ void gemm_tiled_kernel(float* C, MatStrides sc, const float* A, MatStrides sa, const float* B,
                                  MatStrides sb, GemmSize n, float alpha, float beta) {
  __shared__ float as[kTile][kTile];
  __shared__ float bs[kTile][kTile + 1];
  const long long b = blockIdx.z;
  const long long i = (long long)blockIdx.y * kTile + threadIdx.y;
  const long long j = (long long)blockIdx.x * kTile + threadIdx.x;
  A += b * sa.bs;
  B += b * sb.bs;
  float acc = 0.f;
  for (long long k0 = 0; k0 < n.K; k0 += kTile) {
    const long long ka = k0 + threadIdx.x, kb = k0 + threadIdx.y;
    as[threadIdx.y][threadIdx.x] = (i < n.M && ka < n.K) ? A[i * sa.rs + ka * sa.cs] : 0.f;
    bs[threadIdx.y][threadIdx.x] = (kb < n.K && j < n.N) ? B[kb * sb.rs + j * sb.cs] : 0.f;
    __syncthreads();
    for (int k = 0; k < kTile; ++k) acc += as[threadIdx.y][k] * bs[k][threadIdx.x];
    __syncthreads();
  }
  if (i < n.M && j < n.N) {
    float& c = C[b * sc.bs + i * sc.rs + j * sc.cs];
    c = alpha * acc + (beta == 0.f ? 0.f : beta * c);
  }
}

// launchers

inline void gemm_f32_launch(float* C, MatStrides sc, const float* A, MatStrides sa, const float* B, MatStrides sb,
                            GemmSize n, float alpha, float beta, cudaStream_t stream) {
  if (n.batch <= 0 || n.M <= 0 || n.N <= 0) return;
  dim3 block(kTile, kTile);
  dim3 grid(ceil_div(n.N, kTile), ceil_div(n.M, kTile), static_cast<unsigned>(n.batch));
  CUDA_LAUNCH(grid, block, 0, stream, gemm_tiled_kernel)(C, sc, A, sa, B, sb, n, alpha, beta);
  check_last("matmul");
}

}  // namespace nerve::cuda
