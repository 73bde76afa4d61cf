// no_cuda/embedding.cpp — stands in for the entry points of csrc/cuda/embedding.h when nerve is built
// without CUDA: each raises "[op] nerve was built without CUDA" (not_built, csrc/cuda/runtime.h).
#include "../embedding.h"
#include "../runtime.h"

namespace nerve::cuda {

int64_t embedding_workspace(int64_t, int64_t) { not_built("embedding"); }
void embedding_forward_f32(float*, const float*, const void*, bool, int64_t, int64_t, int64_t, int64_t*, void*) {
  not_built("embedding");
}
void embedding_backward_f32(float*, const float*, const void*, bool, int64_t, int64_t, int64_t, int64_t, bool,
                            int32_t*, void*) {
  not_built("embedding");
}

}  // namespace nerve::cuda
