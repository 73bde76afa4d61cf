// activation.h — elementwise activations on the CPU, forward and backward, over n contiguous
// values, with plain-loop *_naive references (computed in double: the test oracle).
//
// The formulas are PyTorch's (aten/src/ATen/native/cpu/Activation.cpp), NaN propagation included:
//   relu        max(x, 0)                         leaky_relu  x > 0 ? x : a x
//   elu         x > 0 ? x : a (e^x - 1)           hardtanh    min(max(x, a), b)
//   gelu        x/2 (1 + erf(x/sqrt 2))           gelu_tanh   x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
//   silu        x / (1 + e^-x)                    sigmoid     1 / (1 + e^-x)
//   tanh        tanh x                            softplus    a x > b ? x : log(1 + e^{a x}) / a
// with a, b the op's parameters (negative_slope; alpha; min_val, max_val; beta, threshold).
//
// Backward writes dx = dy * f'(s) (activation gradients are written, never accumulated). `s` is the
// saved input x, or — when from_output — the forward's output y, which is all relu, leaky_relu
// (a >= 0), elu (a >= 0), hardtanh (a < b), sigmoid and tanh need: their in-place forms overwrite x.
// y may be x (in place) and dx may be dy. float32 runs on SIMD kernels picked at run time
// (activation_avx512.cpp, activation_avx2.cpp, or the portable one); float64 on scalar libm.
#pragma once
#include <cstdint>
#include <cstring>

namespace nerve {

enum class Act : int { relu, leaky_relu, elu, gelu, gelu_tanh, silu, sigmoid, tanh, softplus, hardtanh };

struct ActParams {
  double a = 0, b = 0;
};

// Inline: the CUDA bindings (and the emulator's test module, which has no CPU kernels) use them too.
inline const char* act_name(Act op) {
  static const char* const names[] = {"relu", "leaky_relu", "elu", "gelu", "gelu_tanh", "silu", "sigmoid", "tanh",
                                      "softplus", "hardtanh"};
  return names[static_cast<int>(op)];
}

inline bool act_from_name(const char* name, Act* op) {
  for (int i = 0; i <= static_cast<int>(Act::hardtanh); ++i)
    if (!std::strcmp(name, act_name(static_cast<Act>(i)))) return *op = static_cast<Act>(i), true;
  return false;
}

// Whether backward can run from the output for these parameters.
inline bool act_backward_from_output_ok(Act op, ActParams p) {
  switch (op) {
    case Act::relu: case Act::sigmoid: case Act::tanh: return true;
    case Act::leaky_relu: case Act::elu: return p.a >= 0;
    case Act::hardtanh: return p.a < p.b;
    default: return false;
  }
}

template <class T>
void activation_forward(T* y /* (n) */, const T* x /* (n) */, int64_t n, Act op, ActParams p);
template <class T>
void activation_backward(T* dx /* (n) */, const T* dy /* (n) */, const T* s /* (n) x or y */, int64_t n, Act op,
                         ActParams p, bool from_output);

template <class T>
void activation_forward_naive(T* y, const T* x, int64_t n, Act op, ActParams p);
template <class T>
void activation_backward_naive(T* dx, const T* dy, const T* s, int64_t n, Act op, ActParams p, bool from_output);

// The float32 vector math of activation_math.h on the current ISA, for its accuracy tests:
// fn is one of "exp", "expm1", "log", "log1p", "erf", "tanh", "sigmoid", "ndtr" (the normal CDF
// GELU evaluates). Returns false for others.
bool vector_math(float* y, const float* x, int64_t n, const char* fn);
const char* activation_backend();  // "avx512", "avx2" or "generic"

}  // namespace nerve
