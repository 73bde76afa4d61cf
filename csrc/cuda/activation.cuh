// activation.cuh — CUDA activation kernels and their launchers; compiled by nvcc (activation.cu)
// and by g++ under the emulator (tests). One grid-stride loop per op and dtype, the op a template
// parameter; the formulas are csrc/cpu/activation.cpp's, in the dtype of the data.
#pragma once
#include "../cpu/activation.h"
#include "cuda_compat.h"

namespace nerve::cuda {

// float and double overloads of the libm functions the formulas need
__device__ __forceinline__ float d_exp(float x) { return expf(x); }
__device__ __forceinline__ double d_exp(double x) { return exp(x); }
__device__ __forceinline__ float d_expm1(float x) { return expm1f(x); }
__device__ __forceinline__ double d_expm1(double x) { return expm1(x); }
__device__ __forceinline__ float d_log1p(float x) { return log1pf(x); }
__device__ __forceinline__ double d_log1p(double x) { return log1p(x); }
__device__ __forceinline__ float d_log(float x) { return logf(x); }
__device__ __forceinline__ double d_log(double x) { return log(x); }
__device__ __forceinline__ float d_erf(float x) { return erff(x); }
__device__ __forceinline__ double d_erf(double x) { return erf(x); }
__device__ __forceinline__ float d_tanh(float x) { return tanhf(x); }
__device__ __forceinline__ double d_tanh(double x) { return tanh(x); }

// kernels

template <Act OP, class T>
__device__ __forceinline__ T act_f(T x, T a, T b) {
  const T sqrt1_2 = T(0.707106781186547524400844362104849039), sqrt2_pi = T(0.797884560802865355879892119868763737);
  if (OP == Act::relu) return x != x ? x : (x > T(0) ? x : T(0));
  if (OP == Act::leaky_relu) return x > T(0) ? x : x * a;
  if (OP == Act::elu) return x > T(0) ? x : a * d_expm1(x);
  if (OP == Act::gelu) return x * T(0.5) * (T(1) + d_erf(x * sqrt1_2));
  if (OP == Act::gelu_tanh) return x / (T(1) + d_exp(T(-2) * sqrt2_pi * (x + T(0.044715) * x * x * x)));
  if (OP == Act::silu) return x / (T(1) + d_exp(-x));
  if (OP == Act::sigmoid) return T(1) / (T(1) + d_exp(-x));
  if (OP == Act::tanh) return d_tanh(x);
  if (OP == Act::softplus) return x * a > b ? x : d_log1p(d_exp(x * a)) / a;
  return x != x ? x : (x < a ? a : (x > b ? b : x));  // hardtanh
}

template <Act OP, class T>
__device__ __forceinline__ T act_g(T dy, T s, T a, T b, bool from_output) {
  const T sqrt1_2 = T(0.707106781186547524400844362104849039), sqrt2_pi = T(0.797884560802865355879892119868763737);
  const T inv_sqrt2pi = T(0.398942280401432677939946059934381868);
  if (OP == Act::relu) return s <= T(0) ? T(0) : dy;
  if (OP == Act::leaky_relu) return s > T(0) ? dy : dy * a;
  if (OP == Act::elu) return s > T(0) ? dy : (from_output ? dy * (s + a) : dy * a * d_exp(s));
  if (OP == Act::gelu) {
    const T cdf = T(0.5) * (T(1) + d_erf(s * sqrt1_2)), pdf = d_exp(T(-0.5) * s * s) * inv_sqrt2pi;
    return dy * (cdf + s * pdf);
  }
  if (OP == Act::gelu_tanh) {
    const T k = T(0.044715), xc = (s != s || s - s != s - s) ? s : (s > T(1e4) ? T(1e4) : (s < T(-1e4) ? T(-1e4) : s)), x2 = xc * xc;
    const T sg = T(1) / (T(1) + d_exp(T(-2) * sqrt2_pi * (xc + k * x2 * xc)));
    return dy * (sg + xc * sg * (T(1) - sg) * T(2) * sqrt2_pi * (T(1) + T(3) * k * x2));
  }
  if (OP == Act::silu) {
    const T sg = T(1) / (T(1) + d_exp(-s));
    return dy * sg * (T(1) + s * (T(1) - sg));
  }
  if (OP == Act::sigmoid) return dy * (T(1) - s) * s;
  if (OP == Act::tanh) return dy * (T(1) - s * s);
  if (OP == Act::softplus) {
    const T z = s * a, e = d_exp(z);
    return z > b ? dy : dy * e / (e + T(1));
  }
  return (s > a && s < b) ? dy : T(0);  // hardtanh
}

template <Act OP, class T>
__global__ void act_forward_kernel(T* y, const T* x, long long n, T a, T b) {
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
    y[i] = act_f<OP>(x[i], a, b);
}

template <Act OP, class T>
__global__ void act_backward_kernel(T* dx, const T* dy, const T* s, long long n, T a, T b, bool from_output) {
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
    dx[i] = act_g<OP>(dy[i], s[i], a, b, from_output);
}

// launchers

constexpr int kActThreads = 256;

inline unsigned act_blocks(long long n) {
  const unsigned b = ceil_div(n, kActThreads);
  return b < 1u ? 1u : (b > 8192u ? 8192u : b);  // grid-stride beyond 8192 blocks
}

template <class F>
void with_act(Act op, F&& fn) {
  switch (op) {
    case Act::relu: return fn.template operator()<Act::relu>();
    case Act::leaky_relu: return fn.template operator()<Act::leaky_relu>();
    case Act::elu: return fn.template operator()<Act::elu>();
    case Act::gelu: return fn.template operator()<Act::gelu>();
    case Act::gelu_tanh: return fn.template operator()<Act::gelu_tanh>();
    case Act::silu: return fn.template operator()<Act::silu>();
    case Act::sigmoid: return fn.template operator()<Act::sigmoid>();
    case Act::tanh: return fn.template operator()<Act::tanh>();
    case Act::softplus: return fn.template operator()<Act::softplus>();
    case Act::hardtanh: return fn.template operator()<Act::hardtanh>();
  }
}

template <class T>
struct ActForwardLaunch {
  T* y;
  const T* x;
  long long n;
  T a, b;
  cudaStream_t stream;
  template <Act OP>
  void operator()() const {
    CUDA_LAUNCH(act_blocks(n), kActThreads, 0, stream, act_forward_kernel<OP, T>)(y, x, n, a, b);
  }
};

template <class T>
struct ActBackwardLaunch {
  T* dx;
  const T* dy;
  const T* s;
  long long n;
  T a, b;
  bool from_output;
  cudaStream_t stream;
  template <Act OP>
  void operator()() const {
    CUDA_LAUNCH(act_blocks(n), kActThreads, 0, stream, act_backward_kernel<OP, T>)(dx, dy, s, n, a, b, from_output);
  }
};

template <class T>
void activation_forward_launch(T* y, const T* x, long long n, Act op, ActParams p, cudaStream_t stream) {
  if (n <= 0) return;
  with_act(op, ActForwardLaunch<T>{y, x, n, T(p.a), T(p.b), stream});
  check_last(act_name(op));
}

template <class T>
void activation_backward_launch(T* dx, const T* dy, const T* s, long long n, Act op, ActParams p, bool from_output,
                                cudaStream_t stream) {
  if (n <= 0) return;
  with_act(op, ActBackwardLaunch<T>{dx, dy, s, n, T(p.a), T(p.b), from_output, stream});
  check_last(act_name(op));
}

}  // namespace nerve::cuda
