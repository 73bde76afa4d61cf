// no_cuda.cpp — stands in for every CUDA entry point when nerve is built without CUDA.
// Each raises "[op] nerve was built without CUDA"; see csrc/cuda/*.h for the real ones.
#include <stdexcept>
#include <string>

#include "activation.h"
#include "gemm.h"
#include "loss.h"
#include "runtime.h"
#include "softmax.h"

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

// activation.h
void activation_forward(float*, const float*, int64_t, Act op, ActParams, void*) { not_built(act_name(op)); }
void activation_forward(double*, const double*, int64_t, Act op, ActParams, void*) { not_built(act_name(op)); }
void activation_backward(float*, const float*, const float*, int64_t, Act op, ActParams, bool, void*) {
  not_built(act_name(op));
}
void activation_backward(double*, const double*, const double*, int64_t, Act op, ActParams, bool, void*) {
  not_built(act_name(op));
}

// softmax.h
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

// loss.h
#define NERVE_NO_CUDA_LOSS(T)                                                                                           \
  void cross_entropy_forward(T*, T*, T*, const T*, const int64_t*, const T*, const T*, ClassShape, int64_t, double,   \
                             void*) {                                                                                 \
    not_built("cross_entropy");                                                                                       \
  }                                                                                                                   \
  void cross_entropy_backward(T*, const T*, const T*, const int64_t*, const T*, const T*, const T*, int64_t, double,  \
                              ClassShape, int64_t, double, void*) {                                                   \
    not_built("cross_entropy");                                                                                       \
  }                                                                                                                   \
  void cross_entropy_prob_forward(T*, T*, const T*, const T*, const T*, ClassShape, double, void*) {                  \
    not_built("cross_entropy");                                                                                       \
  }                                                                                                                   \
  void cross_entropy_prob_backward(T*, T*, const T*, const T*, const T*, const T*, const T*, int64_t, double,         \
                                   ClassShape, double, void*) {                                                       \
    not_built("cross_entropy");                                                                                       \
  }                                                                                                                   \
  void nll_loss_forward(T*, T*, const T*, const int64_t*, const T*, ClassShape, int64_t, void*) {                     \
    not_built("nll_loss");                                                                                            \
  }                                                                                                                   \
  void nll_loss_backward(T*, const int64_t*, const T*, const T*, int64_t, double, ClassShape, int64_t, void*) {       \
    not_built("nll_loss");                                                                                            \
  }                                                                                                                   \
  void pointwise_loss_forward(T*, const T*, const T*, const T*, const T*, int64_t, PointLoss, void*) {                \
    not_built("loss");                                                                                                \
  }                                                                                                                   \
  void pointwise_loss_backward(T*, T*, const T*, const T*, const T*, const T*, const T*, int64_t, double, int64_t,    \
                               PointLoss, void*) {                                                                    \
    not_built("loss");                                                                                                \
  }
NERVE_NO_CUDA_LOSS(float)
NERVE_NO_CUDA_LOSS(double)
#undef NERVE_NO_CUDA_LOSS

}  // namespace nerve::cuda
