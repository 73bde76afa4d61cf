// activation_impl.h — the float32 activation kernels, written once over activation_math.h's Vec
// and compiled by each back end (activation.cpp portable, activation_avx2.cpp, activation_avx512.cpp)
// for its own ISA. A back end hands activation.cpp an ActivationArch: kernels over one contiguous
// chunk [0, n); activation.cpp splits arrays into chunks across threads.
//
// Large out-of-place outputs are written with non-temporal stores (`stream`): they would not fit
// in cache anyway, and the stores then skip the read-for-ownership of each line, which is what
// brings a memory-bound activation to the speed of a copy.
#pragma once
#include <cstdint>
#include <string_view>

#include "activation.h"
#include "activation_math.h"

namespace nerve {

struct ActivationArch {
  const char* name;
  void (*forward)(float* y, const float* x, int64_t n, Act op, float a, float b, bool stream);
  void (*backward)(float* dx, const float* dy, const float* s, int64_t n, Act op, float a, float b, bool from_output,
                   bool stream);
  bool (*math)(float* y, const float* x, int64_t n, const char* fn);
};

const ActivationArch& activation_arch_avx512();
const ActivationArch& activation_arch_avx2();

namespace {

// ---- the functions, one struct each: f(x) forward, g(dy, s) backward -----------------------------

constexpr float kSqrt1_2 = 0.70710678118654752f;   // 1 / sqrt(2)
constexpr float kInvSqrt2Pi = 0.39894228040143268f;  // 1 / sqrt(2 pi)
constexpr float kSqrt2_Pi = 0.79788456080286536f;   // sqrt(2 / pi)
constexpr float kKappa = 0.044715f;

struct Relu {
  float a, b;
  Vec f(Vec x) const { return vmax(0.f, x); }
  Vec g(Vec dy, Vec s) const { return select(s <= 0.f, 0.f, dy); }  // PyTorch's threshold_backward: NaN passes dy
};
struct LeakyRelu {
  float a, b;
  Vec f(Vec x) const { return select(x > 0.f, x, x * a); }
  Vec g(Vec dy, Vec s) const { return select(s > 0.f, dy, dy * a); }
};
struct Elu {  // backward from the input (a NaN input gets a NaN gradient, as in PyTorch)
  float a, b;
  Vec f(Vec x) const { return select(x > 0.f, x, expm1_(x) * a); }
  Vec g(Vec dy, Vec x) const { return select(x > 0.f, dy, dy * a * exp_(x)); }
};
struct EluOut {  // backward from the output: a e^x = y + a where x <= 0
  float a, b;
  Vec g(Vec dy, Vec y) const { return select(y > 0.f, dy, dy * (y + a)); }
};
struct Gelu {
  float a, b;
  Vec f(Vec x) const {
    const Vec h = 0.5f * x;
    return h * gelu_cdf2_(x);
  }
  Vec g(Vec dy, Vec x) const {
    const Vec cdf = 0.5f * gelu_cdf2_(x);
    const Vec pdf = exp_(-0.5f * x * x) * kInvSqrt2Pi;
    return dy * fma(x, pdf, cdf);
  }
};
// x/2 (1 + tanh u) = x sigmoid(2u): the same value without the cancellation of 1 + tanh u near -1
// (where PyTorch's own float32 result loses all its digits).
struct GeluTanh {
  float a, b;
  Vec f(Vec x) const {
    const Vec u2 = (2.f * kSqrt2_Pi) * fma(kKappa * x, x * x, x);
    return x / (1.f + exp_(-u2));
  }
  Vec g(Vec dy, Vec x) const {
    // past |x| = 1e4 the second term is exactly 0 but its factors overflow (0 * inf): clamp finite x
    // there (infinities keep their NaN gradient, as in PyTorch)
    const Vec xc = select(vabs(x) == vinf(), x, vmin(1e4f, vmax(-1e4f, x))), x2 = xc * xc;
    const Vec s = sigmoid_((2.f * kSqrt2_Pi) * fma(kKappa * xc, x2, xc));
    return dy * fma(xc * s * (1.f - s), (2.f * kSqrt2_Pi) * fma(3.f * kKappa, x2, 1.f), s);
  }
};
struct Silu {
  float a, b;
  Vec f(Vec x) const { return x / (1.f + exp_(-x)); }
  Vec g(Vec dy, Vec x) const {
    const Vec s = sigmoid_(x);
    return dy * s * fma(x, 1.f - s, 1.f);
  }
};
struct Sigmoid {  // backward from the output
  float a, b;
  Vec f(Vec x) const { return sigmoid_(x); }
  Vec g(Vec dy, Vec y) const { return dy * (1.f - y) * y; }
};
struct Tanh {  // backward from the output
  float a, b;
  Vec f(Vec x) const { return tanh_(x); }
  Vec g(Vec dy, Vec y) const { return dy * (1.f - y * y); }
};
struct Softplus {  // a = beta, b = threshold
  float a, b;
  Vec f(Vec x) const {
    const Vec z = x * a;
    return select(z > b, x, log1p_(exp_(z)) / a);
  }
  Vec g(Vec dy, Vec x) const {
    const Vec z = x * a, e = exp_(z);
    return select(z > b, dy, dy * e / (e + 1.f));
  }
};
struct Hardtanh {  // a = min_val, b = max_val; same backward from input or output
  float a, b;
  Vec f(Vec x) const { return vmin(b, vmax(a, x)); }
  Vec g(Vec dy, Vec s) const { return select((s > a) & (s < b), dy, 0.f); }  // NaN: 0, as in PyTorch
};

// ---- loops ---------------------------------------------------------------------------------------

// Elements before p reaches a vector-size boundary (for aligned streaming stores).
inline int64_t to_aligned(const float* p, int64_t n) {
  const uintptr_t bytes = sizeof(float) * Vec::W;
  const int64_t head = int64_t(((bytes - (reinterpret_cast<uintptr_t>(p) % bytes)) % bytes) / sizeof(float));
  return head < n ? head : n;
}

template <class Op>
void map1(float* y, const float* x, int64_t n, Op op, bool stream) {
  int64_t i = 0;
  if (Vec::W > 1 && stream) {
    const int64_t head = to_aligned(y, n);
    if (head) op.f(Vec::load_n(x, head)).store_n(y, head);
    for (i = head; i + Vec::W <= n; i += Vec::W) op.f(Vec::load(x + i)).stream(y + i);
    stream_fence();
  } else if (Vec::W > 1) {
    for (; i + Vec::W <= n; i += Vec::W) op.f(Vec::load(x + i)).store(y + i);
  } else {
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) op.f(Vec::load(x + j)).store(y + j);
    return;
  }
  if (i < n) op.f(Vec::load_n(x + i, n - i)).store_n(y + i, n - i);
}

template <class Op>
void map2(float* dx, const float* dy, const float* s, int64_t n, Op op, bool stream) {
  int64_t i = 0;
  if (Vec::W > 1 && stream) {
    const int64_t head = to_aligned(dx, n);
    if (head) op.g(Vec::load_n(dy, head), Vec::load_n(s, head)).store_n(dx, head);
    for (i = head; i + Vec::W <= n; i += Vec::W) op.g(Vec::load(dy + i), Vec::load(s + i)).stream(dx + i);
    stream_fence();
  } else if (Vec::W > 1) {
    for (; i + Vec::W <= n; i += Vec::W) op.g(Vec::load(dy + i), Vec::load(s + i)).store(dx + i);
  } else {
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) op.g(Vec::load(dy + j), Vec::load(s + j)).store(dx + j);
    return;
  }
  if (i < n) op.g(Vec::load_n(dy + i, n - i), Vec::load_n(s + i, n - i)).store_n(dx + i, n - i);
}

void act_forward(float* y, const float* x, int64_t n, Act op, float a, float b, bool stream) {
  switch (op) {
    case Act::relu: return map1(y, x, n, Relu{a, b}, stream);
    case Act::leaky_relu: return map1(y, x, n, LeakyRelu{a, b}, stream);
    case Act::elu: return map1(y, x, n, Elu{a, b}, stream);
    case Act::gelu: return map1(y, x, n, Gelu{a, b}, stream);
    case Act::gelu_tanh: return map1(y, x, n, GeluTanh{a, b}, stream);
    case Act::silu: return map1(y, x, n, Silu{a, b}, stream);
    case Act::sigmoid: return map1(y, x, n, Sigmoid{a, b}, stream);
    case Act::tanh: return map1(y, x, n, Tanh{a, b}, stream);
    case Act::softplus: return map1(y, x, n, Softplus{a, b}, stream);
    case Act::hardtanh: return map1(y, x, n, Hardtanh{a, b}, stream);
  }
}

// Sigmoid and tanh always run from the output and elu's from_output form has its own struct; the
// others' gradient reads the same from x or y (the binding rejects the combinations that do not).
void act_backward(float* dx, const float* dy, const float* s, int64_t n, Act op, float a, float b, bool from_output,
                  bool stream) {
  switch (op) {
    case Act::relu: return map2(dx, dy, s, n, Relu{a, b}, stream);
    case Act::leaky_relu: return map2(dx, dy, s, n, LeakyRelu{a, b}, stream);
    case Act::elu:
      if (from_output) return map2(dx, dy, s, n, EluOut{a, b}, stream);
      return map2(dx, dy, s, n, Elu{a, b}, stream);
    case Act::gelu: return map2(dx, dy, s, n, Gelu{a, b}, stream);
    case Act::gelu_tanh: return map2(dx, dy, s, n, GeluTanh{a, b}, stream);
    case Act::silu: return map2(dx, dy, s, n, Silu{a, b}, stream);
    case Act::sigmoid: return map2(dx, dy, s, n, Sigmoid{a, b}, stream);
    case Act::tanh: return map2(dx, dy, s, n, Tanh{a, b}, stream);
    case Act::softplus: return map2(dx, dy, s, n, Softplus{a, b}, stream);
    case Act::hardtanh: return map2(dx, dy, s, n, Hardtanh{a, b}, stream);
  }
}

template <class F>
struct MathOp {
  F fn;
  Vec f(Vec x) const { return fn(x); }
};
template <class F>
MathOp<F> math_op(F fn) {
  return {fn};
}

bool act_math(float* y, const float* x, int64_t n, const char* fn) {
  const std::string_view name(fn);
  if (name == "exp") map1(y, x, n, math_op([](Vec v) { return exp_(v); }), false);
  else if (name == "expm1") map1(y, x, n, math_op([](Vec v) { return expm1_(v); }), false);
  else if (name == "log") map1(y, x, n, math_op([](Vec v) { return log_(v); }), false);
  else if (name == "log1p") map1(y, x, n, math_op([](Vec v) { return log1p_(v); }), false);
  else if (name == "erf") map1(y, x, n, math_op([](Vec v) { return erf_(v); }), false);
  else if (name == "tanh") map1(y, x, n, math_op([](Vec v) { return tanh_(v); }), false);
  else if (name == "sigmoid") map1(y, x, n, math_op([](Vec v) { return sigmoid_(v); }), false);
  else if (name == "ndtr") map1(y, x, n, math_op([](Vec v) { return 0.5f * gelu_cdf2_(v); }), false);
  else return false;
  return true;
}

ActivationArch make_activation_arch() { return {Vec::isa, act_forward, act_backward, act_math}; }

}  // namespace
}  // namespace nerve
