// optim.cpp — the optimizer update driver and the naive oracle.
//
// An update is memory-bound (Adam reads 16 and writes 12 bytes a float32 parameter), so the
// driver's one job is to keep every thread streaming: the elements of all the call's tensors are
// laid end to end and cut into one contiguous chunk per thread, which walks the tensors its chunk
// covers and runs the back end's SIMD loop on each piece (one OpenMP region per call, however
// many tensors). Scalars (bias corrections, torch's rounded arguments) are computed here, once
// per tensor, so every ISA sees the very same values.
#include "optim.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "../core/cpu_features.h"
#include "../core/parallel.h"
#include "optim_impl.h"

NERVE_DEFINE_OPTIM_SPANS(generic)

namespace nerve {
namespace {

// Below this many elements a thread costs more to start than it saves.
constexpr int64_t kGrain = int64_t{1} << 15;

template <class T>
const OptimSpans<T>& spans();

template <>
const OptimSpans<float>& spans<float>() {
#ifdef NERVE_X86_KERNELS
  const Isa i = isa();
  if (i == Isa::avx512) return optim_spans_avx512_f32();
  if (i == Isa::avx2) return optim_spans_avx2_f32();
#endif
  return optim_spans_generic_f32();
}

template <>
const OptimSpans<double>& spans<double>() {
#ifdef NERVE_X86_KERNELS
  const Isa i = isa();
  if (i == Isa::avx512) return optim_spans_avx512_f64();
  if (i == Isa::avx2) return optim_spans_avx2_f64();
#endif
  return optim_spans_generic_f64();
}

// Runs span(tensor, begin, end, scalars) over all elements of all tensors, split across threads.
template <class Tensor, class Scalars, class Span>
void run_all(const Tensor* ts, int64_t count, const std::vector<Scalars>& sc, Span span) {
  std::vector<int64_t> start(count + 1, 0);
  for (int64_t k = 0; k < count; ++k) start[k + 1] = start[k] + ts[k].n;
  const int64_t total = start[count];
  auto work = [&](int64_t lo, int64_t hi) {
    int64_t k = std::upper_bound(start.begin(), start.end(), lo) - start.begin() - 1;
    for (; k < count && start[k] < hi; ++k) {
      const int64_t b = std::max(lo, start[k]) - start[k], e = std::min(hi, start[k + 1]) - start[k];
      if (b < e) span(ts[k], b, e, sc[k]);
    }
  };
  const int nt = threads_for(total, kGrain);
  if (nt == 1) {
    work(0, total);
    return;
  }
#ifdef _OPENMP
#pragma omp parallel num_threads(nt)
  {
    const int t = omp_get_thread_num(), T = omp_get_num_threads();
    // Chunks end on 64-byte boundaries of the concatenation, so threads rarely share a line.
    const int64_t chunk = ((total + T - 1) / T + 15) / 16 * 16;
    const int64_t lo = std::min<int64_t>(total, t * chunk), hi = std::min<int64_t>(total, lo + chunk);
    if (lo < hi) work(lo, hi);
  }
#else
  work(0, total);
#endif
}

// ---- naive helpers: torch's ops one at a time, scalars rounded to T where torch rounds them -----

template <class T>
T lerp_naive(T self, T end, T w) {  // aten lerp: |w| < 0.5 ? self + w (end - self) : end - (end - self)(1 - w)
  return std::abs(w) < T(0.5) ? self + w * (end - self) : end - (end - self) * (T(1) - w);
}

template <class T>
T maximum_naive(T a, T b) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) ? a : b;
  return std::max(a, b);
}

}  // namespace

// ---- fast kernels ----------------------------------------------------------------------------

template <class T>
void sgd_update(const SgdTensor<T>* ts, int64_t count, const SgdOptions& o) {
  std::vector<SgdScalars<T>> sc(count, sgd_scalars<T>(o));
  run_all(ts, count, sc, spans<T>().sgd);
}

template <class T>
void adam_update(const AdamTensor<T>* ts, int64_t count, const AdamOptions& o) {
  std::vector<AdamScalars<T>> sc(count);
  for (int64_t k = 0; k < count; ++k) sc[k] = adam_scalars<T>(o, ts[k].step);
  run_all(ts, count, sc, spans<T>().adam);
}

template <class T>
void rmsprop_update(const RmspropTensor<T>* ts, int64_t count, const RmspropOptions& o) {
  std::vector<RmspropScalars<T>> sc(count, rmsprop_scalars<T>(o));
  run_all(ts, count, sc, spans<T>().rmsprop);
}

template <class T>
void adagrad_update(const AdagradTensor<T>* ts, int64_t count, const AdagradOptions& o) {
  std::vector<AdagradScalars<T>> sc(count);
  for (int64_t k = 0; k < count; ++k) sc[k] = adagrad_scalars<T>(o, ts[k].step);
  run_all(ts, count, sc, spans<T>().adagrad);
}

const char* optim_backend() { return spans<float>().name; }

// ---- naive ------------------------------------------------------------------------------------

template <class T>
void sgd_update_naive(const SgdTensor<T>* ts, int64_t count, const SgdOptions& o) {
  for (int64_t k = 0; k < count; ++k) {
    const SgdTensor<T>& t = ts[k];
    for (int64_t i = 0; i < t.n; ++i) {
      T g = o.maximize ? -t.grad[i] : t.grad[i];
      if (o.weight_decay != 0) g = g + T(o.weight_decay) * t.param[i];
      if (o.momentum != 0) {
        T& buf = t.momentum_buffer[i];
        if (t.init_buffer) {
          buf = g;
        } else {
          buf = buf * T(o.momentum);
          buf = buf + T(1 - o.dampening) * g;
        }
        g = o.nesterov ? g + T(o.momentum) * buf : buf;
      }
      t.param[i] = t.param[i] + T(-o.lr) * g;
    }
  }
}

template <class T>
void adam_update_naive(const AdamTensor<T>* ts, int64_t count, const AdamOptions& o) {
  for (int64_t k = 0; k < count; ++k) {
    const AdamTensor<T>& t = ts[k];
    const double bias_correction1 = 1 - std::pow(o.beta1, t.step);
    const double bias_correction2 = 1 - std::pow(o.beta2, t.step);
    const double step_size = o.lr / bias_correction1;
    const double bias_correction2_sqrt = std::pow(bias_correction2, 0.5);
    for (int64_t i = 0; i < t.n; ++i) {
      T g = o.maximize ? -t.grad[i] : t.grad[i];
      T& p = t.param[i];
      if (o.weight_decay != 0) {
        if (o.decoupled_weight_decay) p = p * T(1 - o.lr * o.weight_decay);
        else g = g + T(o.weight_decay) * p;
      }
      T& m = t.exp_avg[i];
      T& v = t.exp_avg_sq[i];
      m = lerp_naive(m, g, T(1 - o.beta1));
      v = v * T(o.beta2);
      v = v + T(1 - o.beta2) * g * g;
      T second = v;
      if (o.amsgrad) {
        t.max_exp_avg_sq[i] = maximum_naive(t.max_exp_avg_sq[i], v);
        second = t.max_exp_avg_sq[i];
      }
      const T denom = std::sqrt(second) / T(bias_correction2_sqrt) + T(o.eps);
      p = p + T(-step_size) * m / denom;
    }
  }
}

template <class T>
void rmsprop_update_naive(const RmspropTensor<T>* ts, int64_t count, const RmspropOptions& o) {
  for (int64_t k = 0; k < count; ++k) {
    const RmspropTensor<T>& t = ts[k];
    for (int64_t i = 0; i < t.n; ++i) {
      T g = o.maximize ? -t.grad[i] : t.grad[i];
      T& p = t.param[i];
      if (o.weight_decay != 0) g = g + T(o.weight_decay) * p;
      T& sq = t.square_avg[i];
      sq = sq * T(o.alpha);
      sq = sq + T(1 - o.alpha) * g * g;
      T avg;
      if (o.centered) {
        T& ga = t.grad_avg[i];
        ga = lerp_naive(ga, g, T(1 - o.alpha));
        avg = std::sqrt(sq + T(-1) * ga * ga);
      } else {
        avg = std::sqrt(sq);
      }
      avg = avg + T(o.eps);
      if (o.momentum > 0) {
        T& buf = t.momentum_buffer[i];
        buf = buf * T(o.momentum);
        buf = buf + g / avg;
        p = p + T(-o.lr) * buf;
      } else {
        p = p + T(-o.lr) * g / avg;
      }
    }
  }
}

template <class T>
void adagrad_update_naive(const AdagradTensor<T>* ts, int64_t count, const AdagradOptions& o) {
  for (int64_t k = 0; k < count; ++k) {
    const AdagradTensor<T>& t = ts[k];
    const double clr = o.lr / (1 + (t.step - 1) * o.lr_decay);
    for (int64_t i = 0; i < t.n; ++i) {
      T g = o.maximize ? -t.grad[i] : t.grad[i];
      T& p = t.param[i];
      if (o.weight_decay != 0) g = g + T(o.weight_decay) * p;
      t.sum[i] = t.sum[i] + g * g;
      const T stdev = std::sqrt(t.sum[i]) + T(o.eps);
      p = p + T(-clr) * g / stdev;
    }
  }
}

#define NERVE_INSTANTIATE_OPTIM(T)                                                         \
  template void sgd_update<T>(const SgdTensor<T>*, int64_t, const SgdOptions&);            \
  template void adam_update<T>(const AdamTensor<T>*, int64_t, const AdamOptions&);         \
  template void rmsprop_update<T>(const RmspropTensor<T>*, int64_t, const RmspropOptions&); \
  template void adagrad_update<T>(const AdagradTensor<T>*, int64_t, const AdagradOptions&); \
  template void sgd_update_naive<T>(const SgdTensor<T>*, int64_t, const SgdOptions&);      \
  template void adam_update_naive<T>(const AdamTensor<T>*, int64_t, const AdamOptions&);   \
  template void rmsprop_update_naive<T>(const RmspropTensor<T>*, int64_t, const RmspropOptions&); \
  template void adagrad_update_naive<T>(const AdagradTensor<T>*, int64_t, const AdagradOptions&);
NERVE_INSTANTIATE_OPTIM(float)
NERVE_INSTANTIATE_OPTIM(double)
#undef NERVE_INSTANTIATE_OPTIM

}  // namespace nerve
