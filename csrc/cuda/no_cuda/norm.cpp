// no_cuda/norm.cpp — stands in for the entry points of csrc/cuda/norm.h when nerve is built
// without CUDA: each raises "[op] nerve was built without CUDA" (not_built, csrc/cuda/runtime.h).
#include "../norm.h"
#include "../runtime.h"

namespace nerve::cuda {

int64_t batch_norm_workspace(int64_t, int64_t, int64_t) { not_built("batch_norm"); }
void batch_norm_forward_f32(float*, double*, double*, float*, float*, const float*, const float*, const float*,
                            int64_t, int64_t, int64_t, bool, double, double, float*, void*) {
  not_built("batch_norm");
}
void batch_norm_backward_f32(float*, float*, float*, const float*, const float*, const double*, const double*,
                             const float*, int64_t, int64_t, int64_t, bool, float*, void*) {
  not_built("batch_norm");
}
int64_t layer_norm_workspace(int64_t, int64_t) { not_built("layer_norm"); }
void layer_norm_forward_f32(float*, double*, double*, const float*, const float*, const float*, int64_t, int64_t,
                            double, void*) {
  not_built("layer_norm");
}
void layer_norm_backward_f32(float*, float*, float*, const float*, const float*, const double*, const double*,
                             const float*, int64_t, int64_t, float*, void*) {
  not_built("layer_norm");
}

}  // namespace nerve::cuda
