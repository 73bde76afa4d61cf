// optim.h — fused in-place optimizer updates on the CPU: SGD, Adam/AdamW, RMSprop, Adagrad, each
// one pass over a parameter, its gradient and its state, plus plain-loop *_naive references.
//
// The formulas are torch 2.13's single-tensor (foreach=False) paths, step for step, in the
// parameter's dtype: scalars are computed in double as Python computes them and rounded to the
// dtype as torch's scalar arguments are (torch/optim/{sgd,adam,rmsprop,adagrad}.py).
//
// Every entry takes a list of tensors (a "multi-tensor" call: one parallel pass over all their
// elements, so a model of many small parameters costs one call, not one per parameter). Each
// tensor's arrays are contiguous and hold n elements; params and state are updated in place
// (written =), gradients are read only. State pointers an option leaves unused are null.
#pragma once
#include <cstdint>

namespace nerve {

// ---- SGD: torch.optim.SGD ------------------------------------------------------------------------
struct SgdOptions {
  double lr = 1e-3, momentum = 0, dampening = 0, weight_decay = 0;
  bool nesterov = false, maximize = false;
};

template <class T>
struct SgdTensor {
  T* param;            // (n)
  T* momentum_buffer;  // (n), null when momentum == 0
  const T* grad;       // (n)
  int64_t n;
  bool init_buffer;    // the buffer is new: it starts as the (decayed) gradient, as torch's clone
};

// ---- Adam / AdamW: torch.optim.Adam (decoupled_weight_decay=True is AdamW) ------------------------
struct AdamOptions {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0;
  bool amsgrad = false, maximize = false, decoupled_weight_decay = false;
};

template <class T>
struct AdamTensor {
  T* param;           // (n)
  T* exp_avg;         // (n)
  T* exp_avg_sq;      // (n)
  T* max_exp_avg_sq;  // (n), null unless amsgrad
  const T* grad;      // (n)
  int64_t n;
  double step;        // this tensor's step count, already incremented (1 on the first update)
};

// ---- RMSprop: torch.optim.RMSprop --------------------------------------------------------------------
struct RmspropOptions {
  double lr = 1e-2, alpha = 0.99, eps = 1e-8, weight_decay = 0, momentum = 0;
  bool centered = false, maximize = false;
};

template <class T>
struct RmspropTensor {
  T* param;            // (n)
  T* square_avg;       // (n)
  T* grad_avg;         // (n), null unless centered
  T* momentum_buffer;  // (n), null unless momentum > 0
  const T* grad;       // (n)
  int64_t n;
};

// ---- Adagrad: torch.optim.Adagrad -------------------------------------------------------------------
struct AdagradOptions {
  double lr = 1e-2, lr_decay = 0, weight_decay = 0, eps = 1e-10;
  bool maximize = false;
};

template <class T>
struct AdagradTensor {
  T* param;      // (n)
  T* sum;        // (n)
  const T* grad; // (n)
  int64_t n;
  double step;   // already incremented
};

// Fast kernels: SIMD (the ISA cpu_features picks) and OpenMP over all elements of all tensors.
template <class T> void sgd_update(const SgdTensor<T>* tensors, int64_t count, const SgdOptions& o);
template <class T> void adam_update(const AdamTensor<T>* tensors, int64_t count, const AdamOptions& o);
template <class T> void rmsprop_update(const RmspropTensor<T>* tensors, int64_t count, const RmspropOptions& o);
template <class T> void adagrad_update(const AdagradTensor<T>* tensors, int64_t count, const AdagradOptions& o);

// The oracle: one element at a time, torch's operations in torch's order, one thread.
template <class T> void sgd_update_naive(const SgdTensor<T>* tensors, int64_t count, const SgdOptions& o);
template <class T> void adam_update_naive(const AdamTensor<T>* tensors, int64_t count, const AdamOptions& o);
template <class T>
void rmsprop_update_naive(const RmspropTensor<T>* tensors, int64_t count, const RmspropOptions& o);
template <class T>
void adagrad_update_naive(const AdagradTensor<T>* tensors, int64_t count, const AdagradOptions& o);

// SIMD back end optim_update uses now: "avx512", "avx2" or "generic".
const char* optim_backend();

}  // namespace nerve
