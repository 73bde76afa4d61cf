// no_cuda/attention.cpp — stands in for the entry points of csrc/cuda/attention.h when nerve is built
// without CUDA: each raises "[op] nerve was built without CUDA" (not_built, csrc/cuda/runtime.h).
#include "../attention.h"
#include "../runtime.h"

namespace nerve::cuda {

void attention_forward_f32(float*, float*, const float*, const float*, const float*, const AttnMask&,
                           const AttnShape&, const AttnOptions&, void*) {
  not_built("scaled_dot_product_attention");
}
void attention_backward_f32(float*, float*, float*, float*, float*, const float*, const float*, const float*,
                            const float*, const float*, const float*, const AttnMask&, const AttnShape&,
                            const AttnOptions&, void*) {
  not_built("scaled_dot_product_attention");
}

}  // namespace nerve::cuda
