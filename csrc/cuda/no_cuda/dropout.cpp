// no_cuda/dropout.cpp — stands in for the entry points of csrc/cuda/dropout.h when nerve is built
// without CUDA: each raises "[op] nerve was built without CUDA" (not_built, csrc/cuda/runtime.h).
#include "../dropout.h"
#include "../runtime.h"

namespace nerve::cuda {

void dropout_forward_f32(float*, uint8_t*, const float*, int64_t, double, uint64_t, uint64_t, void*) {
  not_built("dropout");
}
void dropout_forward_f64(double*, uint8_t*, const double*, int64_t, double, uint64_t, uint64_t, void*) {
  not_built("dropout");
}
void dropout_backward_f32(float*, const float*, const uint8_t*, int64_t, double, void*) { not_built("dropout"); }
void dropout_backward_f64(double*, const double*, const uint8_t*, int64_t, double, void*) { not_built("dropout"); }

}  // namespace nerve::cuda
