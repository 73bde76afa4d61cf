// embedding.cu — nvcc translation unit for the CUDA embedding (kernels live in embedding.cuh).
#include "embedding.cuh"
#include "embedding.h"

namespace nerve::cuda {

int64_t embedding_workspace(int64_t n, int64_t V) { return emb_workspace_ints(n, V); }

void embedding_forward_f32(float* out, const float* weight, const void* indices, bool index64, int64_t n, int64_t V,
                           int64_t D, int64_t* status, void* stream) {
  auto s = static_cast<cudaStream_t>(stream);
  auto st = reinterpret_cast<long long*>(status);
  if (index64) embedding_forward_launch(out, weight, static_cast<const int64_t*>(indices), n, V, D, st, s);
  else embedding_forward_launch(out, weight, static_cast<const int32_t*>(indices), n, V, D, st, s);
}

void embedding_backward_f32(float* dweight, const float* dy, const void* indices, bool index64, int64_t n, int64_t V,
                            int64_t D, int64_t padding_idx, bool scale_grad_by_freq, int32_t* work, void* stream) {
  auto s = static_cast<cudaStream_t>(stream);
  if (index64)
    embedding_backward_launch(dweight, dy, static_cast<const int64_t*>(indices), n, V, D, padding_idx,
                              scale_grad_by_freq, work, s);
  else
    embedding_backward_launch(dweight, dy, static_cast<const int32_t*>(indices), n, V, D, padding_idx,
                              scale_grad_by_freq, work, s);
}

}  // namespace nerve::cuda
