// gemm.h — host entry of the CUDA GEMM: same contract as csrc/cpu/gemm.h, device pointers,
// launched on `stream` (a cudaStream_t; 0 is the legacy default stream).
#pragma once
#include "../cpu/gemm.h"

namespace nerve::cuda {

void gemm_f32(float* C, MatStrides sc, const float* A, MatStrides sa, const float* B, MatStrides sb, GemmSize n,
              float alpha, float beta, void* stream);

}  // namespace nerve::cuda
