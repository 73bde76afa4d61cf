// loss.h — loss functions on the CPU, forward and backward, plus plain-loop *_naive references.
//
// Class losses see logits (or log-probabilities) as a contiguous (N, C, inner) array — inner is
// the product of the trailing dims d1..dk, 1 for (N, C) — and class-index targets as (N, inner)
// int64. With w the class weights (all 1 when weight is null), t a sample's target, e the label
// smoothing and lse the sample's log-sum-exp, PyTorch's cross_entropy per sample is
//     loss = (1 - e) w[t] (lse - x[t]) + (e / C) sum_c w[c] (lse - x[c]),   0 where t == ignore_index
// and its target weight is w[t] (0 where ignored); 'mean' divides the summed loss by the summed
// target weights (NaN when they sum to 0, as in PyTorch). For class-probability targets p (same
// shape as the logits) it is sum_c w[c] p'[c] (lse - x[c]) with p' = (1 - e) p + e / C, and 'mean'
// divides by N * inner. One pass computes the losses (and, for backward, each sample's max m and
// log-sum ls: lse = m + ls); backward recomputes the softmax from them, fused with the NLL's
// gradient, so the full softmax is never stored.
//
// Forward kernels write per-sample losses when `loss` is given, the (m, ls) pairs when `stats` is,
// and sums[0] = sum of losses, sums[1] = sum of target weights when `sums` is (summed in double in
// fixed blocks, so the result does not depend on the thread count). Backward kernels take each
// sample's upstream gradient from dloss (reduction 'none'), else the single value `scale`
// (g / divisor for 'mean', g for 'sum'); they write (=) the input gradient. Kernels that read
// targets return false and set *bad when one lies outside [0, C) (and is not ignore_index).
//
// Pointwise losses over n values (inputs already broadcast to one shape):
//   mse         (x - t)^2                          l1  |x - t|
//   bce         -w (t max(log x, -100) + (1 - t) max(log(1 - x), -100))
//   bce_logits  w ((1 - t) x - (1 + (pw - 1) t) log_sigmoid(x))
// with optional weights w and pos_weight pw (n values each; null: none). bce needs x and t in
// [0, 1] and reports false otherwise.
#pragma once
#include <cstdint>

namespace nerve {

struct ClassShape {
  int64_t N = 1, C = 1, inner = 1;
};

template <class T>
bool cross_entropy_forward(T* loss /* (N, inner) or null */, T* stats /* (N, inner, 2) or null */,
                           double* sums /* [2] or null */, const T* x /* (N, C, inner) */,
                           const int64_t* target /* (N, inner) */, const T* weight /* (C) or null */, ClassShape s,
                           int64_t ignore_index, double label_smoothing, int64_t* bad);
template <class T>
bool cross_entropy_backward(T* dx /* (N, C, inner) */, const T* x /* (N, C, inner) */,
                            const T* stats /* (N, inner, 2) */, const int64_t* target /* (N, inner) */,
                            const T* weight /* (C) or null */, const T* dloss /* (N, inner) or null */, double scale,
                            ClassShape s, int64_t ignore_index, double label_smoothing, int64_t* bad);

template <class T>
void cross_entropy_prob_forward(T* loss /* (N, inner) or null */, T* stats /* (N, inner, 2) or null */,
                                double* sums /* [1] or null */, const T* x /* (N, C, inner) */,
                                const T* target /* (N, C, inner) */, const T* weight /* (C) or null */, ClassShape s,
                                double label_smoothing);
// dtarget (may be null) = g (1 - e) w[c] (lse - x[c])
template <class T>
void cross_entropy_prob_backward(T* dx /* (N, C, inner) */, T* dtarget /* (N, C, inner) or null */, const T* x,
                                 const T* stats, const T* target, const T* weight, const T* dloss, double scale,
                                 ClassShape s, double label_smoothing);

// loss = -w[t] x[t] (0 where ignored); sums[1] = sum of w[t]
template <class T>
bool nll_loss_forward(T* loss /* (N, inner) or null */, double* sums /* [2] or null */,
                      const T* x /* (N, C, inner) */, const int64_t* target /* (N, inner) */,
                      const T* weight /* (C) or null */, ClassShape s, int64_t ignore_index, int64_t* bad);
// dx = 0 except dx[t] = -w[t] g
template <class T>
bool nll_loss_backward(T* dx /* (N, C, inner) */, const int64_t* target, const T* weight, const T* dloss,
                       double scale, ClassShape s, int64_t ignore_index, int64_t* bad);

enum class PointLoss : int { mse, l1, bce, bce_logits };

template <class T>
bool pointwise_loss_forward(T* loss /* (n) or null */, double* sum /* [1] or null */, const T* x /* (n) */,
                            const T* t /* (n) */, const T* w /* (n) or null */, const T* pw /* (n) or null */,
                            int64_t n, PointLoss kind);
// dx, dt: each may be null (not wanted)
template <class T>
void pointwise_loss_backward(T* dx /* (n) or null */, T* dt /* (n) or null */, const T* x, const T* t, const T* w,
                             const T* pw, const T* dloss /* (n) or null */, double scale, int64_t n, PointLoss kind);

// The oracle: one sample at a time, in double; same contracts.
template <class T>
bool cross_entropy_forward_naive(T* loss, T* stats, double* sums, const T* x, const int64_t* target, const T* weight,
                                 ClassShape s, int64_t ignore_index, double label_smoothing, int64_t* bad);
template <class T>
bool cross_entropy_backward_naive(T* dx, const T* x, const T* stats, const int64_t* target, const T* weight,
                                  const T* dloss, double scale, ClassShape s, int64_t ignore_index,
                                  double label_smoothing, int64_t* bad);
template <class T>
void cross_entropy_prob_forward_naive(T* loss, T* stats, double* sums, const T* x, const T* target, const T* weight,
                                      ClassShape s, double label_smoothing);
template <class T>
void cross_entropy_prob_backward_naive(T* dx, T* dtarget, const T* x, const T* stats, const T* target,
                                       const T* weight, const T* dloss, double scale, ClassShape s,
                                       double label_smoothing);
template <class T>
bool pointwise_loss_forward_naive(T* loss, double* sum, const T* x, const T* t, const T* w, const T* pw, int64_t n,
                                  PointLoss kind);
template <class T>
void pointwise_loss_backward_naive(T* dx, T* dt, const T* x, const T* t, const T* w, const T* pw, const T* dloss,
                                   double scale, int64_t n, PointLoss kind);

const char* loss_backend();  // "avx512", "avx2" or "generic"

}  // namespace nerve
