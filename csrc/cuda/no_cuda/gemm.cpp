// no_cuda/gemm.cpp — stands in for the entry points of csrc/cuda/gemm.h when nerve is built
// without CUDA: each raises "[op] nerve was built without CUDA" (not_built, csrc/cuda/runtime.h).
#include "../gemm.h"
#include "../runtime.h"

namespace nerve::cuda {

void gemm_f32(float*, MatStrides, const float*, MatStrides, const float*, MatStrides, GemmSize, float, float, void*,
              int) {
  not_built("matmul");
}

}  // namespace nerve::cuda
