// norm.h — batch normalisation and layer normalisation on the CPU: one fused forward pass (statistics,
// normalisation, affine) and one fused backward pass (input, weight and bias gradients together),
// plus plain-loop *_naive references (the test oracle, sums in double).
//
// batch_norm: input (N, C, L) contiguous, L the product of the spatial dims (1 for (N, C)); per
//   channel statistics over N * L values. Training: batch mean and biased variance normalise;
//   running_mean / running_var (may be null) are updated in place with the unbiased variance,
//   r = (1 - momentum) * r + momentum * stat, exactly as torch. Eval: the running statistics
//   normalise. Either way save_mean / save_invstd (C) receive the mean and 1 / sqrt(var + eps)
//   that were used, which is what backward reads. A zero-variance channel gives y = bias.
// layer_norm: input (M, D) contiguous, each row normalised over its D values (torch's
//   normalized_shape flattened); mean and rstd (M) are saved for backward.
// The saved statistics are double whatever T is: a float32 mean of data centred at 1e4 is off by
// up to 5e-4, which backward would otherwise turn into relative errors of that size.
// weight and bias (C or D) may be null (1 and 0). Gradients are written (=), never accumulated;
// any of dinput / dweight / dbias may be null when not wanted. y may not alias x.
//
// Statistics are two-pass over data in cache (mean with a shift by the first value, then squared
// deviations), merged across pieces with Chan's formula in double: exact for a constant channel and
// stable for means far from zero. Elementwise passes subtract the mean rounded to T (exact for
// values near it) and fold the rounding residual into their per-channel or per-row constants.
#pragma once
#include <cstdint>

namespace nerve {

struct BatchNormShape {
  int64_t N, C, L;
};

template <class T>
void batch_norm_forward(T* y /* (N,C,L) */, double* save_mean /* (C) */, double* save_invstd /* (C) */,
                        T* running_mean /* (C) or null */, T* running_var /* (C) or null */, const T* x /* (N,C,L) */,
                        const T* weight /* (C) or null */, const T* bias /* (C) or null */, BatchNormShape s,
                        bool training, double momentum, double eps);
// training: the gradient through the batch statistics; eval: dx = dy * invstd * weight.
template <class T>
void batch_norm_backward(T* dx /* (N,C,L) or null */, T* dweight /* (C) or null */, T* dbias /* (C) or null */,
                         const T* dy /* (N,C,L) */, const T* x /* (N,C,L) */, const double* save_mean /* (C) */,
                         const double* save_invstd /* (C) */, const T* weight /* (C) or null */, BatchNormShape s,
                         bool training);

template <class T>
void layer_norm_forward(T* y /* (M,D) */, double* mean /* (M) */, double* rstd /* (M) */, const T* x /* (M,D) */,
                        const T* weight /* (D) or null */, const T* bias /* (D) or null */, int64_t M, int64_t D,
                        double eps);
template <class T>
void layer_norm_backward(T* dx /* (M,D) or null */, T* dweight /* (D) or null */, T* dbias /* (D) or null */,
                         const T* dy /* (M,D) */, const T* x /* (M,D) */, const double* mean /* (M) */,
                         const double* rstd /* (M) */, const T* weight /* (D) or null */, int64_t M, int64_t D);

// The oracle.
template <class T>
void batch_norm_forward_naive(T* y, double* save_mean, double* save_invstd, T* running_mean, T* running_var, const T* x,
                              const T* weight, const T* bias, BatchNormShape s, bool training, double momentum,
                              double eps);
template <class T>
void batch_norm_backward_naive(T* dx, T* dweight, T* dbias, const T* dy, const T* x, const double* save_mean,
                               const double* save_invstd, const T* weight, BatchNormShape s, bool training);
template <class T>
void layer_norm_forward_naive(T* y, double* mean, double* rstd, const T* x, const T* weight, const T* bias, int64_t M,
                              int64_t D, double eps);
template <class T>
void layer_norm_backward_naive(T* dx, T* dweight, T* dbias, const T* dy, const T* x, const double* mean, const double* rstd,
                               const T* weight, int64_t M, int64_t D);

const char* norm_backend();  // "avx512", "avx2" or "generic": the inner loops the norm kernels use now

// ---- internal: the inner loops, compiled once per ISA from norm_rows.h -------------------------
// "span": n contiguous values of one row or (n, c) slice; "cols": one row of a (rows, n) matrix,
// column j carrying its own center / coefficients (the layout of (N, C) batch norm).
template <class T>
struct NormRows {
  // mean and sum of squared deviations of span x, accumulated in double over chunks.
  void (*moments)(const T* x, int64_t n, double* mean, double* m2);
  // y = (x - center) * a + b
  void (*affine)(T* y, const T* x, int64_t n, T center, T a, T b);
  // y = ((x - center) - resid) * rstd * w + b, w and b per element (either may be null)
  void (*normalize)(T* y, const T* x, int64_t n, T center, T resid, T rstd, const T* w, const T* b);
  // sum dy and sum dy * (x - center), in double
  void (*dot)(const T* dy, const T* x, int64_t n, T center, double* sum_dy, double* sum_dot);
  // dx = k1 * dy + k2 * (x - center) + k3
  void (*grad)(T* dx, const T* dy, const T* x, int64_t n, T center, T k1, T k2, T k3);
  // layer_norm backward of one row, xhat = ((x - center) - resid) * rstd; dw_acc += dy * xhat,
  // db_acc += dy (either may be null; dx too)
  void (*ln_backward)(T* dx, T* dw_acc, T* db_acc, const T* dy, const T* x, int64_t n, T center, T resid, T rstd,
                      const T* w);
  // cols: acc[j] += x[j] - center[j]
  void (*cols_diff)(T* acc, const T* x, const T* center, int64_t n);
  // cols: sd[j] += x[j] - center[j]; sq[j] += (x[j] - center[j])^2
  void (*cols_moments)(T* sd, T* sq, const T* x, const T* center, int64_t n);
  // cols: y[j] = (x[j] - center[j]) * a[j] + b[j]
  void (*cols_affine)(T* y, const T* x, const T* center, const T* a, const T* b, int64_t n);
  // cols: sdy[j] += dy[j]; sdot[j] += dy[j] * (x[j] - center[j])
  void (*cols_dot)(T* sdy, T* sdot, const T* dy, const T* x, const T* center, int64_t n);
  // cols: dx[j] = k1[j] * dy[j] + k2[j] * (x[j] - center[j]) + k3[j]
  void (*cols_grad)(T* dx, const T* dy, const T* x, const T* center, const T* k1, const T* k2, const T* k3,
                    int64_t n);
};
const NormRows<float>& norm_rows_avx512_f32();
const NormRows<double>& norm_rows_avx512_f64();
const NormRows<float>& norm_rows_avx2_f32();
const NormRows<double>& norm_rows_avx2_f64();

}  // namespace nerve
