// no_cuda/softmax.cpp — stands in for the entry points of csrc/cuda/softmax.h when nerve is built
// without CUDA: each raises "[op] nerve was built without CUDA" (not_built, csrc/cuda/runtime.h).
#include "../softmax.h"
#include "../runtime.h"

namespace nerve::cuda {

void softmax_forward(float*, const float*, int64_t, int64_t, int64_t, bool log, void*) {
  not_built(log ? "log_softmax" : "softmax");
}
void softmax_forward(double*, const double*, int64_t, int64_t, int64_t, bool log, void*) {
  not_built(log ? "log_softmax" : "softmax");
}
void softmax_backward(float*, const float*, const float*, int64_t, int64_t, int64_t, bool log, void*) {
  not_built(log ? "log_softmax" : "softmax");
}
void softmax_backward(double*, const double*, const double*, int64_t, int64_t, int64_t, bool log, void*) {
  not_built(log ? "log_softmax" : "softmax");
}

}  // namespace nerve::cuda
