// no_cuda/activation.cpp — stands in for the entry points of csrc/cuda/activation.h when nerve is built
// without CUDA: each raises "[op] nerve was built without CUDA" (not_built, csrc/cuda/runtime.h).
#include "../activation.h"
#include "../runtime.h"

namespace nerve::cuda {

void activation_forward(float*, const float*, int64_t, Act op, ActParams, void*) { not_built(act_name(op)); }
void activation_forward(double*, const double*, int64_t, Act op, ActParams, void*) { not_built(act_name(op)); }
void activation_backward(float*, const float*, const float*, int64_t, Act op, ActParams, bool, void*) {
  not_built(act_name(op));
}
void activation_backward(double*, const double*, const double*, int64_t, Act op, ActParams, bool, void*) {
  not_built(act_name(op));
}

}  // namespace nerve::cuda
