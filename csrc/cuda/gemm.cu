// gemm.cu — nvcc translation unit for the CUDA GEMM (kernels live in gemm.cuh).
#include "gemm.cuh"
#include "gemm.h"

namespace nerve::cuda {

void gemm_f32(float* C, MatStrides sc, const float* A, MatStrides sa, const float* B, MatStrides sb, GemmSize n,
              float alpha, float beta, void* stream, int kernel) {
  gemm_f32_launch(C, sc, A, sa, B, sb, n, alpha, beta, static_cast<cudaStream_t>(stream),
                  static_cast<GemmKernel>(kernel));
}

}  // namespace nerve::cuda
