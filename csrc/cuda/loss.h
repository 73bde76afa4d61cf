// loss.h — host entry of the CUDA losses, launched on `stream` (a cudaStream_t). Same formulas as
// csrc/cpu/loss.h; the differences suit a device that cannot raise mid-kernel or hand back a sum
// without a synchronisation:
//   - forward kernels always write per-sample losses (and, for class targets, per-sample target
//     weights `wt` when given); the caller reduces them (cupy's deterministic sum);
//   - backward kernels read each sample's upstream gradient as scale * dloss[i * dloss_stride]
//     (stride 0: one value for every sample, e.g. the 'mean' gradient already divided on device);
//   - with label smoothing and class weights, `wsum` points at the weights' sum on the device
//     (cupy computes it without a synchronisation); null means C (no weights);
//   - targets outside [0, C) are treated as ignored (never read out of bounds); the Python layer
//     checks them, and bce's [0, 1] range, before launching.
#pragma once
#include <cstdint>

#include "../cpu/loss.h"

namespace nerve::cuda {

#define NERVE_CUDA_LOSS_DECLS(T)                                                                                    \
  void cross_entropy_forward(T* loss, T* wt, T* stats, const T* x, const int64_t* target, const T* weight,         \
                             const T* wsum, ClassShape s, int64_t ignore_index, double label_smoothing,             \
                             void* stream);                                                                         \
  void cross_entropy_backward(T* dx, const T* x, const T* stats, const int64_t* target, const T* weight,           \
                              const T* wsum, const T* dloss, int64_t dloss_stride, double scale, ClassShape s,      \
                              int64_t ignore_index, double label_smoothing, void* stream);                          \
  void cross_entropy_prob_forward(T* loss, T* stats, const T* x, const T* target, const T* weight, ClassShape s,    \
                                  double label_smoothing, void* stream);                                            \
  void cross_entropy_prob_backward(T* dx, T* dtarget, const T* x, const T* stats, const T* target, const T* weight, \
                                   const T* dloss, int64_t dloss_stride, double scale, ClassShape s,                \
                                   double label_smoothing, void* stream);                                           \
  void nll_loss_forward(T* loss, T* wt, const T* x, const int64_t* target, const T* weight, ClassShape s,           \
                        int64_t ignore_index, void* stream);                                                        \
  void nll_loss_backward(T* dx, const int64_t* target, const T* weight, const T* dloss, int64_t dloss_stride,       \
                         double scale, ClassShape s, int64_t ignore_index, void* stream);                           \
  void pointwise_loss_forward(T* loss, const T* x, const T* t, const T* w, const T* pw, int64_t n, PointLoss kind,  \
                              void* stream);                                                                        \
  void pointwise_loss_backward(T* dx, T* dt, const T* x, const T* t, const T* w, const T* pw, const T* dloss,       \
                               int64_t dloss_stride, double scale, int64_t n, PointLoss kind, void* stream);
NERVE_CUDA_LOSS_DECLS(float)
NERVE_CUDA_LOSS_DECLS(double)
#undef NERVE_CUDA_LOSS_DECLS

}  // namespace nerve::cuda
