// activation.cpp — the activation entry points: float32 through the SIMD back end isa() picks
// (chunks of the array across threads), float64 through scalar libm, and the naive oracle.
//
// Threads only pay for themselves on large arrays: a (128, 10) activation is a microsecond of work,
// less than waking a team. Chunks hold at least kGrainCheap (kGrainHeavy for the ops that evaluate
// exp/erf/tanh) elements and start on 64-element boundaries, so no two threads write one cache line.
#include "activation.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>

#include "../core/cpu_features.h"
#include "../core/parallel.h"
#include "activation_impl.h"

namespace nerve {
namespace {

constexpr int64_t kGrainCheap = int64_t{1} << 15;
constexpr int64_t kGrainHeavy = int64_t{1} << 13;
// Outputs at least this large are written with streaming stores (they outgrow the caches).
constexpr int64_t kStreamBytes = int64_t{16} << 20;

const ActivationArch& portable_arch() {
  static const ActivationArch arch = make_activation_arch();
  return arch;
}

const ActivationArch& arch() {
#ifdef NERVE_X86_KERNELS
  const Isa i = isa();
  if (i == Isa::avx512) return activation_arch_avx512();
  if (i == Isa::avx2) return activation_arch_avx2();
#endif
  return portable_arch();
}

bool cheap(Act op) { return op == Act::relu || op == Act::leaky_relu || op == Act::hardtanh; }

// fn(begin, end) over [0, n) in one chunk per thread, chunk starts multiples of 64.
template <class F>
void for_chunks(int64_t n, int64_t grain, F&& fn) {
  const int nt = threads_for(n, grain);
  if (nt <= 1) {
    if (n > 0) fn(int64_t{0}, n);
    return;
  }
  const int64_t chunk = (((n + nt - 1) / nt) + 63) / 64 * 64;
  parallel_for(nt, 1, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      const int64_t lo = t * chunk, hi = std::min(n, lo + chunk);
      if (lo < hi) fn(lo, hi);
    }
  });
}

// ---- scalar formulas (float64 path and the oracle) -----------------------------------------------

template <class T>
constexpr T kSqrt1_2d = T(0.707106781186547524400844362104849039);
template <class T>
constexpr T kInvSqrt2Pid = T(0.398942280401432677939946059934381868);
template <class T>
constexpr T kSqrt2_Pid = T(0.797884560802865355879892119868763737);

template <Act OP, class T>
T fwd(T x, T a, T b) {
  if constexpr (OP == Act::relu) return x != x ? x : (x > 0 ? x : T(0));
  else if constexpr (OP == Act::leaky_relu) return x > 0 ? x : x * a;
  else if constexpr (OP == Act::elu) return x > 0 ? x : a * std::expm1(x);
  else if constexpr (OP == Act::gelu) return x * T(0.5) * (T(1) + std::erf(x * kSqrt1_2d<T>));
  else if constexpr (OP == Act::gelu_tanh)  // x/2 (1 + tanh u) = x sigmoid(2u), free of cancellation
    return x / (T(1) + std::exp(T(-2) * kSqrt2_Pid<T> * (x + T(0.044715) * x * x * x)));
  else if constexpr (OP == Act::silu) return x / (T(1) + std::exp(-x));
  else if constexpr (OP == Act::sigmoid) return T(1) / (T(1) + std::exp(-x));
  else if constexpr (OP == Act::tanh) return std::tanh(x);
  else if constexpr (OP == Act::softplus) return x * a > b ? x : std::log1p(std::exp(x * a)) / a;
  else return x != x ? x : (x < a ? a : (x > b ? b : x));  // hardtanh
}

// s is x, or y when from_output (the binding only allows that where it is exact).
template <Act OP, class T>
T bwd(T dy, T s, T a, T b, bool from_output) {
  if constexpr (OP == Act::relu) return s <= 0 ? T(0) : dy;
  else if constexpr (OP == Act::leaky_relu) return s > 0 ? dy : dy * a;
  else if constexpr (OP == Act::elu) return s > 0 ? dy : (from_output ? dy * (s + a) : dy * a * std::exp(s));
  else if constexpr (OP == Act::gelu) {
    const T cdf = T(0.5) * (T(1) + std::erf(s * kSqrt1_2d<T>));
    const T pdf = std::exp(T(-0.5) * s * s) * kInvSqrt2Pid<T>;
    return dy * (cdf + s * pdf);
  } else if constexpr (OP == Act::gelu_tanh) {
    const T k = T(0.044715), xc = (s != s || std::isinf(s)) ? s : std::min(T(1e4), std::max(T(-1e4), s)), x2 = xc * xc;
    const T sg = T(1) / (T(1) + std::exp(T(-2) * kSqrt2_Pid<T> * (xc + k * x2 * xc)));
    return dy * (sg + xc * sg * (T(1) - sg) * T(2) * kSqrt2_Pid<T> * (T(1) + T(3) * k * x2));
  } else if constexpr (OP == Act::silu) {
    const T sg = T(1) / (T(1) + std::exp(-s));
    return dy * sg * (T(1) + s * (T(1) - sg));
  } else if constexpr (OP == Act::sigmoid) return dy * (T(1) - s) * s;
  else if constexpr (OP == Act::tanh) return dy * (T(1) - s * s);
  else if constexpr (OP == Act::softplus) {
    const T z = s * a, e = std::exp(z);
    return z > b ? dy : dy * e / (e + T(1));
  } else return (s > a && s < b) ? dy : T(0);  // hardtanh
}

// Calls fn(std::integral_constant<Act, op>) so loops get the op as a compile-time constant.
template <class F>
void with_op(Act op, F&& fn) {
  switch (op) {
#define NERVE_ACT_CASE(name) \
  case Act::name: return fn(std::integral_constant<Act, Act::name>{});
    NERVE_ACT_CASE(relu)
    NERVE_ACT_CASE(leaky_relu)
    NERVE_ACT_CASE(elu)
    NERVE_ACT_CASE(gelu)
    NERVE_ACT_CASE(gelu_tanh)
    NERVE_ACT_CASE(silu)
    NERVE_ACT_CASE(sigmoid)
    NERVE_ACT_CASE(tanh)
    NERVE_ACT_CASE(softplus)
    NERVE_ACT_CASE(hardtanh)
#undef NERVE_ACT_CASE
  }
}

template <class T>
void forward_scalar(T* y, const T* x, int64_t n, Act op, ActParams p) {
  with_op(op, [&](auto tag) {
    constexpr Act OP = decltype(tag)::value;
    const T a = T(p.a), b = T(p.b);
    for_chunks(n, cheap(op) ? kGrainCheap : kGrainHeavy, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) y[i] = fwd<OP, T>(x[i], a, b);
    });
  });
}

template <class T>
void backward_scalar(T* dx, const T* dy, const T* s, int64_t n, Act op, ActParams p, bool from_output) {
  with_op(op, [&](auto tag) {
    constexpr Act OP = decltype(tag)::value;
    const T a = T(p.a), b = T(p.b);
    for_chunks(n, cheap(op) ? kGrainCheap : kGrainHeavy, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) dx[i] = bwd<OP, T>(dy[i], s[i], a, b, from_output);
    });
  });
}

}  // namespace

template <>
void activation_forward<float>(float* y, const float* x, int64_t n, Act op, ActParams p) {
  const ActivationArch& k = arch();
  const bool stream = y != x && n * int64_t(sizeof(float)) >= kStreamBytes;
  for_chunks(n, cheap(op) ? kGrainCheap : kGrainHeavy,
             [&](int64_t lo, int64_t hi) { k.forward(y + lo, x + lo, hi - lo, op, float(p.a), float(p.b), stream); });
}

template <>
void activation_forward<double>(double* y, const double* x, int64_t n, Act op, ActParams p) {
  forward_scalar(y, x, n, op, p);
}

template <>
void activation_backward<float>(float* dx, const float* dy, const float* s, int64_t n, Act op, ActParams p,
                                bool from_output) {
  const ActivationArch& k = arch();
  const bool stream = dx != dy && dx != s && n * int64_t(sizeof(float)) >= kStreamBytes;
  for_chunks(n, cheap(op) ? kGrainCheap : kGrainHeavy, [&](int64_t lo, int64_t hi) {
    k.backward(dx + lo, dy + lo, s + lo, hi - lo, op, float(p.a), float(p.b), from_output, stream);
  });
}

template <>
void activation_backward<double>(double* dx, const double* dy, const double* s, int64_t n, Act op, ActParams p,
                                 bool from_output) {
  backward_scalar(dx, dy, s, n, op, p, from_output);
}

template <class T>
void activation_forward_naive(T* y, const T* x, int64_t n, Act op, ActParams p) {
  with_op(op, [&](auto tag) {
    constexpr Act OP = decltype(tag)::value;
    for (int64_t i = 0; i < n; ++i) y[i] = T(fwd<OP, double>(double(x[i]), p.a, p.b));
  });
}

template <class T>
void activation_backward_naive(T* dx, const T* dy, const T* s, int64_t n, Act op, ActParams p, bool from_output) {
  with_op(op, [&](auto tag) {
    constexpr Act OP = decltype(tag)::value;
    for (int64_t i = 0; i < n; ++i) dx[i] = T(bwd<OP, double>(double(dy[i]), double(s[i]), p.a, p.b, from_output));
  });
}

template void activation_forward_naive<float>(float*, const float*, int64_t, Act, ActParams);
template void activation_forward_naive<double>(double*, const double*, int64_t, Act, ActParams);
template void activation_backward_naive<float>(float*, const float*, const float*, int64_t, Act, ActParams, bool);
template void activation_backward_naive<double>(double*, const double*, const double*, int64_t, Act, ActParams, bool);

bool vector_math(float* y, const float* x, int64_t n, const char* fn) { return arch().math(y, x, n, fn); }

const char* activation_backend() { return arch().name; }

}  // namespace nerve
