// no_cuda/loss.cpp — stands in for the entry points of csrc/cuda/loss.h when nerve is built
// without CUDA: each raises "[op] nerve was built without CUDA" (not_built, csrc/cuda/runtime.h).
#include "../loss.h"
#include "../runtime.h"

namespace nerve::cuda {

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
