// gemm.h — host entry of the CUDA GEMM: same contract as csrc/cpu/gemm.h, device pointers,
// launched on `stream` (a cudaStream_t; 0 is the legacy default stream). `kernel` picks one:
// 0 automatic, 1 the simple reference, 2 the 64x64-tile kernel, 3 the 128x128-tile kernel.
#pragma once
#include "../cpu/gemm.h"

namespace nerve::cuda {

void gemm_f32(float* C, MatStrides sc, const float* A, MatStrides sa, const float* B, MatStrides sb, GemmSize n,
              float alpha, float beta, void* stream, int kernel = 0);

}  // namespace nerve::cuda
