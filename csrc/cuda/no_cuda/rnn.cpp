// no_cuda/rnn.cpp — stands in for the entry points of csrc/cuda/rnn.h when nerve is built
// without CUDA: each raises "[op] nerve was built without CUDA" (not_built, csrc/cuda/runtime.h).
#include "../rnn.h"
#include "../runtime.h"

namespace nerve::cuda {

void rnn_forward_f32(float*, float*, float*, float*, const float*, const float*, const float*, const float*,
                     const float*, const float*, const float*, const int64_t*, const RnnShape&, void*) {
  not_built("rnn");
}
void rnn_backward_f32(float*, float*, float*, float*, float*, float*, float*, float*, const float*, const float*,
                      const float*, const float*, const float*, const float*, const float*, const float*,
                      const float*, const int64_t*, const RnnShape&, bool, void*) {
  not_built("rnn");
}

}  // namespace nerve::cuda
