// no_cuda.cpp — stands in for every CUDA entry point when nerve is built without CUDA.
// Each raises "[op] nerve was built without CUDA"; see csrc/cuda/*.h for the real ones.
#include <stdexcept>
#include <string>

#include "dropout.h"
#include "embedding.h"
#include "gemm.h"
#include "norm.h"
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

void dropout_forward_f32(float*, uint8_t*, const float*, int64_t, double, uint64_t, uint64_t, void*) {
  not_built("dropout");
}
void dropout_forward_f64(double*, uint8_t*, const double*, int64_t, double, uint64_t, uint64_t, void*) {
  not_built("dropout");
}
void dropout_backward_f32(float*, const float*, const uint8_t*, int64_t, double, void*) { not_built("dropout"); }
void dropout_backward_f64(double*, const double*, const uint8_t*, int64_t, double, void*) { not_built("dropout"); }

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

int64_t embedding_workspace(int64_t, int64_t) { not_built("embedding"); }
void embedding_forward_f32(float*, const float*, const void*, bool, int64_t, int64_t, int64_t, int64_t*, void*) {
  not_built("embedding");
}
void embedding_backward_f32(float*, const float*, const void*, bool, int64_t, int64_t, int64_t, int64_t, bool,
                            int32_t*, void*) {
  not_built("embedding");
}

}  // namespace nerve::cuda
