// optim_impl.h — the optimizer loops, written once and compiled by each back end (optim.cpp,
// optim_avx2.cpp, optim_avx512.cpp) for its own ISA: `omp simd` loops over the element rules of
// optim_update.h, one instantiation per combination of template flags, so no loop carries a
// branch on an option. Everything is in an anonymous namespace (see gemm_impl.h for why).
#pragma once
#include "optim_arch.h"

namespace nerve {
namespace {

template <class T, bool kWd, bool kMomentum, bool kInit, bool kNesterov>
void sgd_loop(T* __restrict param, T* __restrict buf, const T* __restrict grad, int64_t n, const SgdScalars<T> s) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) sgd_element<T, kWd, kMomentum, kInit, kNesterov>(param, buf, grad, i, s);
}

template <class T>
void sgd_span(const SgdTensor<T>& t, int64_t b, int64_t e, const SgdScalars<T>& s) {
  T* buf = t.momentum_buffer ? t.momentum_buffer + b : nullptr;
  with_flag(s.has_weight_decay, [&](auto wd) {
    with_flag(s.has_momentum, [&](auto mom) {
      with_flag(t.init_buffer, [&](auto init) {
        with_flag(s.nesterov, [&](auto nest) {
          constexpr bool kMom = decltype(mom)::value;
          sgd_loop<T, decltype(wd)::value, kMom, kMom && decltype(init)::value, kMom && decltype(nest)::value>(
              t.param + b, buf, t.grad + b, e - b, s);
        });
      });
    });
  });
}

template <class T, bool kWd, bool kDecoupled, bool kAmsgrad>
void adam_loop(T* __restrict param, T* __restrict exp_avg, T* __restrict exp_avg_sq, T* __restrict max_exp_avg_sq,
               const T* __restrict grad, int64_t n, const AdamScalars<T> s) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i)
    adam_element<T, kWd, kDecoupled, kAmsgrad>(param, exp_avg, exp_avg_sq, max_exp_avg_sq, grad, i, s);
}

template <class T>
void adam_span(const AdamTensor<T>& t, int64_t b, int64_t e, const AdamScalars<T>& s) {
  T* mx = t.max_exp_avg_sq ? t.max_exp_avg_sq + b : nullptr;
  with_flag(s.has_weight_decay, [&](auto wd) {
    with_flag(s.decoupled, [&](auto dec) {
      with_flag(s.amsgrad, [&](auto ams) {
        constexpr bool kWd = decltype(wd)::value;
        adam_loop<T, kWd, kWd && decltype(dec)::value, decltype(ams)::value>(t.param + b, t.exp_avg + b,
                                                                            t.exp_avg_sq + b, mx, t.grad + b, e - b, s);
      });
    });
  });
}

template <class T, bool kWd, bool kCentered, bool kMomentum>
void rmsprop_loop(T* __restrict param, T* __restrict square_avg, T* __restrict grad_avg, T* __restrict buf,
                  const T* __restrict grad, int64_t n, const RmspropScalars<T> s) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i)
    rmsprop_element<T, kWd, kCentered, kMomentum>(param, square_avg, grad_avg, buf, grad, i, s);
}

template <class T>
void rmsprop_span(const RmspropTensor<T>& t, int64_t b, int64_t e, const RmspropScalars<T>& s) {
  T* ga = t.grad_avg ? t.grad_avg + b : nullptr;
  T* buf = t.momentum_buffer ? t.momentum_buffer + b : nullptr;
  with_flag(s.has_weight_decay, [&](auto wd) {
    with_flag(s.centered, [&](auto cen) {
      with_flag(s.has_momentum, [&](auto mom) {
        rmsprop_loop<T, decltype(wd)::value, decltype(cen)::value, decltype(mom)::value>(
            t.param + b, t.square_avg + b, ga, buf, t.grad + b, e - b, s);
      });
    });
  });
}

template <class T, bool kWd>
void adagrad_loop(T* __restrict param, T* __restrict sum, const T* __restrict grad, int64_t n,
                  const AdagradScalars<T> s) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) adagrad_element<T, kWd>(param, sum, grad, i, s);
}

template <class T>
void adagrad_span(const AdagradTensor<T>& t, int64_t b, int64_t e, const AdagradScalars<T>& s) {
  with_flag(s.has_weight_decay, [&](auto wd) {
    adagrad_loop<T, decltype(wd)::value>(t.param + b, t.sum + b, t.grad + b, e - b, s);
  });
}

template <class T>
OptimSpans<T> make_optim_spans(const char* name) {
  return {name, &sgd_span<T>, &adam_span<T>, &rmsprop_span<T>, &adagrad_span<T>};
}

}  // namespace
}  // namespace nerve

// Defines optim_spans_<isa>_f32() and _f64() for the translation unit that includes this.
#define NERVE_DEFINE_OPTIM_SPANS(isa)                                               \
  namespace nerve {                                                                 \
  const OptimSpans<float>& optim_spans_##isa##_f32() {                              \
    static const OptimSpans<float> s = make_optim_spans<float>(#isa);               \
    return s;                                                                       \
  }                                                                                 \
  const OptimSpans<double>& optim_spans_##isa##_f64() {                             \
    static const OptimSpans<double> s = make_optim_spans<double>(#isa);             \
    return s;                                                                       \
  }                                                                                 \
  }
