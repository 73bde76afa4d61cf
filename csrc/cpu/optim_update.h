// optim_update.h — the per-element update rules of SGD, Adam/AdamW, RMSprop and Adagrad, written
// once for three users: the CPU loops (optim_impl.h, compiled per ISA), the CUDA kernels
// (csrc/cuda/optim.cuh, nvcc) and the emulator build of those kernels (g++).
//
// Each rule replays torch 2.13's single-tensor sequence of tensor ops on one element, in the
// dtype T, with torch's scalar arguments rounded to T (the *Scalars structs, filled on the host
// by *_scalars() from the options and the tensor's step count in double, as Python does).
// Options that decide which arrays exist (momentum buffers, amsgrad, centered) or that torch
// skips when zero (weight decay: 0 * inf would be NaN) are template flags; maximize is a
// multiplication by -1, which is exact. addcdiv is torch's self + value * t1 / t2 (in that order).
// Results match torch to an ulp or so, not bitwise: torch's float32 sqrt over large arrays is MKL's
// (within 1 ulp, not correctly rounded), and compilers place FMAs differently.
//
// The rules sit in an anonymous namespace: the same template compiled with different -m flags in
// two translation units must never be merged by the linker.
#pragma once
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "optim.h"

#if defined(__CUDACC__)
#define NERVE_OPTIM_HD __host__ __device__ __forceinline__
#elif defined(__GNUC__)
#define NERVE_OPTIM_HD inline __attribute__((always_inline))
#else
#define NERVE_OPTIM_HD inline
#endif

namespace nerve {

template <class T>
struct SgdScalars {
  T sign, weight_decay, momentum, one_minus_dampening, neg_lr;
  bool has_weight_decay, has_momentum, nesterov;
};

template <class T>
struct AdamScalars {
  T sign, weight_decay, decay;  // decay = 1 - lr * weight_decay (AdamW)
  T lerp_coeff;                 // exp_avg.lerp_(grad, 1 - beta1), as torch's vectorised lerp:
  bool lerp_from_start;         //   w < 0.5: m + w (g - m), else g + (w - 1) (g - m)
  T beta2, one_minus_beta2, bias_correction2_sqrt, eps, neg_step_size;
  bool has_weight_decay, decoupled, amsgrad;
};

template <class T>
struct RmspropScalars {
  T sign, weight_decay, alpha, one_minus_alpha, lerp_coeff, eps, momentum, neg_lr;
  bool lerp_from_start, has_weight_decay, centered, has_momentum;
};

template <class T>
struct AdagradScalars {
  T sign, weight_decay, eps, neg_clr;
  bool has_weight_decay;
};

namespace {

// ---- scalars (host) ----------------------------------------------------------------------------

template <class T>
void lerp_scalars(double w, T* coeff, bool* from_start) {
  const T wt = T(w);
  *from_start = (wt < T(0) ? -wt : wt) < T(0.5);
  *coeff = *from_start ? wt : T(wt - T(1));
}

template <class T>
SgdScalars<T> sgd_scalars(const SgdOptions& o) {
  SgdScalars<T> s;
  s.sign = o.maximize ? T(-1) : T(1);
  s.weight_decay = T(o.weight_decay);
  s.momentum = T(o.momentum);
  s.one_minus_dampening = T(1 - o.dampening);
  s.neg_lr = T(-o.lr);
  s.has_weight_decay = o.weight_decay != 0;
  s.has_momentum = o.momentum != 0;
  s.nesterov = o.nesterov;
  return s;
}

template <class T>
AdamScalars<T> adam_scalars(const AdamOptions& o, double step) {
  AdamScalars<T> s;
  s.sign = o.maximize ? T(-1) : T(1);
  s.weight_decay = T(o.weight_decay);
  s.decay = T(1 - o.lr * o.weight_decay);
  lerp_scalars<T>(1 - o.beta1, &s.lerp_coeff, &s.lerp_from_start);
  s.beta2 = T(o.beta2);
  s.one_minus_beta2 = T(1 - o.beta2);
  const double bias_correction1 = 1 - std::pow(o.beta1, step);
  const double bias_correction2 = 1 - std::pow(o.beta2, step);
  s.bias_correction2_sqrt = T(std::pow(bias_correction2, 0.5));
  s.eps = T(o.eps);
  s.neg_step_size = T(-(o.lr / bias_correction1));
  s.has_weight_decay = o.weight_decay != 0;
  s.decoupled = o.decoupled_weight_decay;
  s.amsgrad = o.amsgrad;
  return s;
}

template <class T>
RmspropScalars<T> rmsprop_scalars(const RmspropOptions& o) {
  RmspropScalars<T> s;
  s.sign = o.maximize ? T(-1) : T(1);
  s.weight_decay = T(o.weight_decay);
  s.alpha = T(o.alpha);
  s.one_minus_alpha = T(1 - o.alpha);
  lerp_scalars<T>(1 - o.alpha, &s.lerp_coeff, &s.lerp_from_start);
  s.eps = T(o.eps);
  s.momentum = T(o.momentum);
  s.neg_lr = T(-o.lr);
  s.has_weight_decay = o.weight_decay != 0;
  s.centered = o.centered;
  s.has_momentum = o.momentum > 0;
  return s;
}

template <class T>
AdagradScalars<T> adagrad_scalars(const AdagradOptions& o, double step) {
  AdagradScalars<T> s;
  s.sign = o.maximize ? T(-1) : T(1);
  s.weight_decay = T(o.weight_decay);
  s.eps = T(o.eps);
  s.neg_clr = T(-(o.lr / (1 + (step - 1) * o.lr_decay)));
  s.has_weight_decay = o.weight_decay != 0;
  return s;
}

// ---- element rules (host and device) -----------------------------------------------------------

NERVE_OPTIM_HD float optim_sqrt(float x) { return sqrtf(x); }
NERVE_OPTIM_HD double optim_sqrt(double x) { return sqrt(x); }

// torch.maximum: NaN in either operand gives NaN.
template <class T>
NERVE_OPTIM_HD T optim_max(T a, T b) {
  return (b > a || b != b) ? b : a;
}

template <class T>
NERVE_OPTIM_HD T optim_lerp(T start, T end, T coeff, bool from_start) {
  return (from_start ? start : end) + coeff * (end - start);
}

// grad = grad.add(param, alpha=weight_decay) when weight_decay != 0 (after maximize's negation).
template <class T, bool kWd>
NERVE_OPTIM_HD T decayed_grad(T g, T p, T sign, T weight_decay) {
  T d = g * sign;
  if constexpr (kWd) d = d + weight_decay * p;
  return d;
}

template <class T, bool kWd, bool kMomentum, bool kInit, bool kNesterov>
NERVE_OPTIM_HD void sgd_element(T* param, T* buf, const T* grad, int64_t i, const SgdScalars<T>& s) {
  const T p = param[i];
  T d = decayed_grad<T, kWd>(grad[i], p, s.sign, s.weight_decay);
  if constexpr (kMomentum) {
    T b;
    if constexpr (kInit) {
      b = d;  // buf = grad.detach().clone()
    } else {
      const T decayed = buf[i] * s.momentum;  // buf.mul_(momentum).add_(grad, alpha=1 - dampening)
      b = decayed + s.one_minus_dampening * d;
    }
    buf[i] = b;
    if constexpr (kNesterov) d = d + s.momentum * b;  // grad.add(buf, alpha=momentum)
    else d = b;
  }
  param[i] = p + s.neg_lr * d;  // param.add_(grad, alpha=-lr)
}

template <class T, bool kWd, bool kDecoupled, bool kAmsgrad>
NERVE_OPTIM_HD void adam_element(T* param, T* exp_avg, T* exp_avg_sq, T* max_exp_avg_sq, const T* grad, int64_t i,
                                 const AdamScalars<T>& s) {
  T p = param[i];
  T g = grad[i] * s.sign;
  if constexpr (kWd) {
    if constexpr (kDecoupled) p = p * s.decay;  // param.mul_(1 - lr * weight_decay)
    else g = g + s.weight_decay * p;            // grad.add(param, alpha=weight_decay)
  }
  const T m = optim_lerp(exp_avg[i], g, s.lerp_coeff, s.lerp_from_start);
  const T decayed = exp_avg_sq[i] * s.beta2;  // exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
  const T v = decayed + s.one_minus_beta2 * g * g;
  exp_avg[i] = m;
  exp_avg_sq[i] = v;
  T second = v;
  if constexpr (kAmsgrad) {
    second = optim_max(max_exp_avg_sq[i], v);  // torch.maximum(max_exp_avg_sq, exp_avg_sq, out=...)
    max_exp_avg_sq[i] = second;
  }
  const T denom = optim_sqrt(second) / s.bias_correction2_sqrt + s.eps;  // (v.sqrt() / bc2_sqrt).add_(eps)
  param[i] = p + s.neg_step_size * m / denom;  // param.addcdiv_(exp_avg, denom, value=-step_size)
}

template <class T, bool kWd, bool kCentered, bool kMomentum>
NERVE_OPTIM_HD void rmsprop_element(T* param, T* square_avg, T* grad_avg, T* buf, const T* grad, int64_t i,
                                    const RmspropScalars<T>& s) {
  const T p = param[i];
  const T g = decayed_grad<T, kWd>(grad[i], p, s.sign, s.weight_decay);
  const T decayed = square_avg[i] * s.alpha;  // square_avg.mul_(alpha).addcmul_(grad, grad, value=1 - alpha)
  const T sq = decayed + s.one_minus_alpha * g * g;
  square_avg[i] = sq;
  T avg;
  if constexpr (kCentered) {
    const T ga = optim_lerp(grad_avg[i], g, s.lerp_coeff, s.lerp_from_start);  // grad_avg.lerp_(grad, 1 - alpha)
    grad_avg[i] = ga;
    avg = optim_sqrt(sq + T(-1) * ga * ga);  // square_avg.addcmul(grad_avg, grad_avg, value=-1).sqrt_()
  } else {
    avg = optim_sqrt(sq);
  }
  avg = avg + s.eps;
  if constexpr (kMomentum) {
    const T decayed_buf = buf[i] * s.momentum;  // buf.mul_(momentum).addcdiv_(grad, avg)
    const T b = decayed_buf + g / avg;
    buf[i] = b;
    param[i] = p + s.neg_lr * b;  // param.add_(buf, alpha=-lr)
  } else {
    param[i] = p + s.neg_lr * g / avg;  // param.addcdiv_(grad, avg, value=-lr)
  }
}

template <class T, bool kWd>
NERVE_OPTIM_HD void adagrad_element(T* param, T* sum, const T* grad, int64_t i, const AdagradScalars<T>& s) {
  const T p = param[i];
  const T g = decayed_grad<T, kWd>(grad[i], p, s.sign, s.weight_decay);
  const T acc = sum[i] + g * g;  // state_sum.addcmul_(grad, grad, value=1)
  sum[i] = acc;
  const T stdev = optim_sqrt(acc) + s.eps;  // state_sum.sqrt().add_(eps)
  param[i] = p + s.neg_clr * g / stdev;  // param.addcdiv_(grad, std, value=-clr)
}

// Calls f(std::bool_constant<b>{}) — turns run-time options into template flags (host code).
template <class F>
inline void with_flag(bool b, F&& f) {
  if (b) f(std::true_type{});
  else f(std::false_type{});
}

}  // namespace
}  // namespace nerve
