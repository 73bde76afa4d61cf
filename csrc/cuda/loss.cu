// loss.cu — nvcc translation unit for the CUDA losses (kernels live in loss.cuh).
#include "loss.cuh"
#include "loss.h"

namespace nerve::cuda {

#define NERVE_CUDA_LOSS_DEFS(T)                                                                                     \
  void cross_entropy_forward(T* loss, T* wt, T* stats, const T* x, const int64_t* target, const T* weight,         \
                             const T* wsum, ClassShape s, int64_t ignore_index, double eps, void* stream) {         \
    ce_forward_launch(loss, wt, stats, x, target, weight, wsum, s, ignore_index, eps,                              \
                      static_cast<cudaStream_t>(stream));                                                           \
  }                                                                                                                 \
  void cross_entropy_backward(T* dx, const T* x, const T* stats, const int64_t* target, const T* weight,           \
                              const T* wsum, const T* dloss, int64_t dstride, double scale, ClassShape s,           \
                              int64_t ignore_index, double eps, void* stream) {                                     \
    ce_backward_launch(dx, x, stats, target, weight, wsum, dloss, dstride, scale, s, ignore_index, eps,             \
                       static_cast<cudaStream_t>(stream));                                                          \
  }                                                                                                                 \
  void cross_entropy_prob_forward(T* loss, T* stats, const T* x, const T* target, const T* weight, ClassShape s,    \
                                  double eps, void* stream) {                                                       \
    ce_prob_forward_launch(loss, stats, x, target, weight, s, eps, static_cast<cudaStream_t>(stream));              \
  }                                                                                                                 \
  void cross_entropy_prob_backward(T* dx, T* dtarget, const T* x, const T* stats, const T* target, const T* weight, \
                                   const T* dloss, int64_t dstride, double scale, ClassShape s, double eps,         \
                                   void* stream) {                                                                  \
    ce_prob_backward_launch(dx, dtarget, x, stats, target, weight, dloss, dstride, scale, s, eps,                   \
                            static_cast<cudaStream_t>(stream));                                                     \
  }                                                                                                                 \
  void nll_loss_forward(T* loss, T* wt, const T* x, const int64_t* target, const T* weight, ClassShape s,           \
                        int64_t ignore_index, void* stream) {                                                       \
    nll_forward_launch(loss, wt, x, target, weight, s, ignore_index, static_cast<cudaStream_t>(stream));            \
  }                                                                                                                 \
  void nll_loss_backward(T* dx, const int64_t* target, const T* weight, const T* dloss, int64_t dstride,            \
                         double scale, ClassShape s, int64_t ignore_index, void* stream) {                          \
    nll_backward_launch(dx, target, weight, dloss, dstride, scale, s, ignore_index,                                 \
                        static_cast<cudaStream_t>(stream));                                                         \
  }                                                                                                                 \
  void pointwise_loss_forward(T* loss, const T* x, const T* t, const T* w, const T* pw, int64_t n, PointLoss kind,  \
                              void* stream) {                                                                       \
    point_forward_launch(loss, x, t, w, pw, n, kind, static_cast<cudaStream_t>(stream));                            \
  }                                                                                                                 \
  void pointwise_loss_backward(T* dx, T* dt, const T* x, const T* t, const T* w, const T* pw, const T* dloss,       \
                               int64_t dstride, double scale, int64_t n, PointLoss kind, void* stream) {            \
    point_backward_launch(dx, dt, x, t, w, pw, dloss, dstride, scale, n, kind, static_cast<cudaStream_t>(stream));  \
  }
NERVE_CUDA_LOSS_DEFS(float)
NERVE_CUDA_LOSS_DEFS(double)
#undef NERVE_CUDA_LOSS_DEFS

}  // namespace nerve::cuda
