// no_cuda.cpp — stands in for every CUDA entry point when nerve is built without CUDA.
// Each raises "[op] nerve was built without CUDA"; see csrc/cuda/*.h for the real ones.
#include <stdexcept>
#include <string>

#include "attention.h"
#include "gemm.h"
#include "rnn.h"
#include "runtime.h"

namespace nerve::cuda {

void not_built(const char* op) {
  throw std::runtime_error(std::string("[") + op +
                           "] nerve was built without CUDA (rebuild with nvcc on PATH and NERVE_CUDA=ON)");
}

bool compiled() { return false; }
std::string compiled_archs() { return ""; }
int runtime_version() { return 0; }
int device_count() { return 0; }
void synchronize() { not_built("synchronize"); }

void gemm_f32(float*, MatStrides, const float*, MatStrides, const float*, MatStrides, GemmSize, float, float, void*,
              int) {
  not_built("matmul");
}

void rnn_forward_f32(float*, float*, float*, float*, const float*, const float*, const float*, const float*,
                     const float*, const float*, const float*, const int64_t*, const RnnShape&, void*) {
  not_built("rnn");
}
void rnn_backward_f32(float*, float*, float*, float*, float*, float*, float*, float*, const float*, const float*,
                      const float*, const float*, const float*, const float*, const float*, const float*,
                      const float*, const int64_t*, const RnnShape&, bool, void*) {
  not_built("rnn");
}

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
