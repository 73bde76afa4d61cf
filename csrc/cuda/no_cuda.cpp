// no_cuda.cpp — stands in for every CUDA entry point when nerve is built without CUDA.
// Each raises "[op] nerve was built without CUDA"; see csrc/cuda/*.h for the real ones.
#include <stdexcept>
#include <string>

#include "activation.h"
#include "attention.h"
#include "conv.h"
#include "dropout.h"
#include "embedding.h"
#include "gemm.h"
#include "loss.h"
#include "norm.h"
#include "optim.h"
#include "pool.h"
#include "rnn.h"
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

template <class T>
void sgd_update(const SgdTensor<T>*, int64_t, const SgdOptions&, void*) {
  not_built("sgd");
}
template <class T>
void adam_update(const AdamTensor<T>*, int64_t, const AdamOptions&, void*) {
  not_built("adam");
}
template <class T>
void rmsprop_update(const RmspropTensor<T>*, int64_t, const RmspropOptions&, void*) {
  not_built("rmsprop");
}
template <class T>
void adagrad_update(const AdagradTensor<T>*, int64_t, const AdagradOptions&, void*) {
  not_built("adagrad");
}
#define NERVE_NO_CUDA_OPTIM(T)                                                                   \
  template void sgd_update<T>(const SgdTensor<T>*, int64_t, const SgdOptions&, void*);           \
  template void adam_update<T>(const AdamTensor<T>*, int64_t, const AdamOptions&, void*);        \
  template void rmsprop_update<T>(const RmspropTensor<T>*, int64_t, const RmspropOptions&, void*); \
  template void adagrad_update<T>(const AdagradTensor<T>*, int64_t, const AdagradOptions&, void*);
NERVE_NO_CUDA_OPTIM(float)
NERVE_NO_CUDA_OPTIM(double)
#undef NERVE_NO_CUDA_OPTIM
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
void dropout_forward_f32(float*, uint8_t*, const float*, int64_t, double, uint64_t, uint64_t, void*) {
  not_built("dropout");
}
void dropout_forward_f64(double*, uint8_t*, const double*, int64_t, double, uint64_t, uint64_t, void*) {
  not_built("dropout");
}
void dropout_backward_f32(float*, const float*, const uint8_t*, int64_t, double, void*) { not_built("dropout"); }
void dropout_backward_f64(double*, const double*, const uint8_t*, int64_t, double, void*) { not_built("dropout"); }

template <class T>
void conv2d_forward(T*, const T*, const T*, const T*, const Conv2dShape&, void*, int) {
  not_built("conv2d");
}
template <class T>
void conv2d_backward_input(T*, const T*, const T*, const Conv2dShape&, void*, int) {
  not_built("conv2d");
}
template <class T>
void conv2d_backward_weight(T*, const T*, const T*, const Conv2dShape&, void*, int, int) {
  not_built("conv2d");
}
template <class T>
void conv2d_backward_bias(T*, const T*, const Conv2dShape&, void*) {
  not_built("conv2d");
}
#define NERVE_CONV_STUBS(T)                                                                              \
  template void conv2d_forward<T>(T*, const T*, const T*, const T*, const Conv2dShape&, void*, int);      \
  template void conv2d_backward_input<T>(T*, const T*, const T*, const Conv2dShape&, void*, int);         \
  template void conv2d_backward_weight<T>(T*, const T*, const T*, const Conv2dShape&, void*, int, int);   \
  template void conv2d_backward_bias<T>(T*, const T*, const Conv2dShape&, void*);
NERVE_CONV_STUBS(float)
NERVE_CONV_STUBS(double)
#undef NERVE_CONV_STUBS

template <class T>
void max_pool2d_forward(T*, int64_t*, const T*, const Pool2dShape&, void*) {
  not_built("max_pool2d");
}
template <class T>
void adaptive_max_pool2d_forward(T*, int64_t*, const T*, const Pool2dShape&, void*) {
  not_built("adaptive_max_pool2d");
}
template <class T>
void max_pool2d_backward(T*, const T*, const int64_t*, const Pool2dShape&, int, void*) {
  not_built("max_pool2d");
}
template <class T>
void avg_pool2d_forward(T*, const T*, const Pool2dShape&, bool, int64_t, void*) {
  not_built("avg_pool2d");
}
template <class T>
void avg_pool2d_backward(T*, const T*, const Pool2dShape&, bool, int64_t, void*) {
  not_built("avg_pool2d");
}
template <class T>
void adaptive_avg_pool2d_forward(T*, const T*, const Pool2dShape&, void*) {
  not_built("adaptive_avg_pool2d");
}
template <class T>
void adaptive_avg_pool2d_backward(T*, const T*, const Pool2dShape&, void*) {
  not_built("adaptive_avg_pool2d");
}
#define NERVE_POOL_STUBS(T)                                                                             \
  template void max_pool2d_forward<T>(T*, int64_t*, const T*, const Pool2dShape&, void*);              \
  template void adaptive_max_pool2d_forward<T>(T*, int64_t*, const T*, const Pool2dShape&, void*);     \
  template void max_pool2d_backward<T>(T*, const T*, const int64_t*, const Pool2dShape&, int, void*);  \
  template void avg_pool2d_forward<T>(T*, const T*, const Pool2dShape&, bool, int64_t, void*);         \
  template void avg_pool2d_backward<T>(T*, const T*, const Pool2dShape&, bool, int64_t, void*);        \
  template void adaptive_avg_pool2d_forward<T>(T*, const T*, const Pool2dShape&, void*);               \
  template void adaptive_avg_pool2d_backward<T>(T*, const T*, const Pool2dShape&, void*);
NERVE_POOL_STUBS(float)
NERVE_POOL_STUBS(double)
#undef NERVE_POOL_STUBS

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

// rnn.h
void rnn_forward_f32(float*, float*, float*, float*, const float*, const float*, const float*, const float*,
                     const float*, const float*, const float*, const int64_t*, const RnnShape&, void*) {
  not_built("rnn");
}
void rnn_backward_f32(float*, float*, float*, float*, float*, float*, float*, float*, const float*, const float*,
                      const float*, const float*, const float*, const float*, const float*, const float*,
                      const float*, const int64_t*, const RnnShape&, bool, void*) {
  not_built("rnn");
}

// attention.h
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
