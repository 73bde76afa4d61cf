// attention_rows.h — the row passes of the CPU attention kernel (internal to csrc/cpu/attention*.cpp):
// masking, the online-softmax update and dropout over one block of scores in forward, and the
// probabilities and score gradients over one block in backward. Compiled once per ISA
// (attention.cpp portable, attention_avx2.cpp, attention_avx512.cpp) so the column loops vectorise;
// internal linkage keeps the copies apart. See attention.h for the algorithm.
#pragma once
#include <cstdint>
#include <limits>

#include "attention.h"
#include "seq_math.h"

namespace nerve {

// One block of rows x cols scores of batch entry b, rows i0.., keys j0...
template <class T>
struct AttnBlock {
  T* s;                  // (rows, lds) scores scale*q.k in; probabilities for the next GEMM out
  T* dp;                 // backward: (rows, lds) dout.v in; dS out
  int64_t lds;
  int rows, cols;
  int64_t i0, j0;
  const uint8_t* bmask;  // bool mask at (b, i0, j0), or null
  const T* fmask;        // float mask at (b, i0, j0), or null
  int64_t msl, mss;      // mask strides over rows and keys
  bool causal;
  uint32_t drop_thr;     // 0: no dropout
  T keep_scale;          // 1/(1-p), 0 when p = 1
  uint64_t seed, ctr0;   // dropout counter of (i0, j0) is ctr0; rows are S apart
  int64_t S;
  // forward
  T* m;                  // (rows) running maximum
  T* l;                  // (rows) running sum of (undropped) probabilities
  T* acc;                // (rows, Ev) output accumulator, rescaled here
  int64_t Ev;
  // backward
  const T* lse;          // (rows)
  const T* D;            // (rows) dout . out
  T* dmask;              // (rows, ldm) dS copy for a float mask's gradient, or null
  int64_t ldm;
};

template <class T>
struct AttnRowKernels {
  void (*forward)(const AttnBlock<T>& a);
  void (*backward)(const AttnBlock<T>& a);
};

const AttnRowKernels<float>& attn_rows_avx2_f32();
const AttnRowKernels<float>& attn_rows_avx512_f32();

namespace {

constexpr int kLanes = 16;

template <class T>
constexpr T neg_inf() { return -std::numeric_limits<T>::infinity(); }

// Masks row r's scores (sets -inf where an entry takes no part, adds a float mask).
template <class T>
void mask_row(T* sr, const AttnBlock<T>& a, int r) {
  const int cols = a.cols;
  if (a.bmask) {
    const uint8_t* mr = a.bmask + r * a.msl;
    if (a.mss == 1) {
      NERVE_IVDEP
      for (int c = 0; c < cols; ++c) sr[c] = mr[c] ? sr[c] : neg_inf<T>();
    } else {
      for (int c = 0; c < cols; ++c) sr[c] = mr[c * a.mss] ? sr[c] : neg_inf<T>();
    }
  }
  if (a.fmask) {
    const T* mr = a.fmask + r * a.msl;
    if (a.mss == 1) {
      NERVE_IVDEP
      for (int c = 0; c < cols; ++c) sr[c] += mr[c];
    } else {
      for (int c = 0; c < cols; ++c) sr[c] += mr[c * a.mss];
    }
  }
  if (a.causal) {  // keys j > i take no part
    const int64_t first = a.i0 + r - a.j0 + 1;
    for (int64_t c = first < 0 ? 0 : first; c < cols; ++c) sr[c] = neg_inf<T>();
  }
}

template <class T>
T row_max(const T* sr, int cols) {
  T part[kLanes];
  for (int u = 0; u < kLanes; ++u) part[u] = neg_inf<T>();
  int c = 0;
  for (; c + kLanes <= cols; c += kLanes)
    for (int u = 0; u < kLanes; ++u) part[u] = part[u] > sr[c + u] ? part[u] : sr[c + u];
  for (; c < cols; ++c) part[0] = part[0] > sr[c] ? part[0] : sr[c];
  T mx = part[0];
  for (int u = 1; u < kLanes; ++u) mx = mx > part[u] ? mx : part[u];
  return mx;
}

// sr[c] = exp(sr[c] - sub) (exactly 0 for -inf); returns the sum.
template <class T>
T exp_row(T* sr, int cols, T sub) {
  T part[kLanes] = {};
  int c = 0;
  for (; c + kLanes <= cols; c += kLanes)
    for (int u = 0; u < kLanes; ++u) {
      const T v = sr[c + u];
      const T p = v == neg_inf<T>() ? T(0) : fast_exp(v - sub);
      sr[c + u] = p;
      part[u] += p;
    }
  for (; c < cols; ++c) {
    const T v = sr[c];
    const T p = v == neg_inf<T>() ? T(0) : fast_exp(v - sub);
    sr[c] = p;
    part[0] += p;
  }
  T sum = 0;
  for (int u = 0; u < kLanes; ++u) sum += part[u];
  return sum;
}

// The dropout factor of row r, column c: keep_scale or 0.
template <class T>
inline T keep_factor(const AttnBlock<T>& a, int r, int c) {
  const uint64_t ctr = a.ctr0 + uint64_t(r) * uint64_t(a.S) + uint64_t(c);
  return attn_hash24(a.seed, ctr) >= a.drop_thr ? a.keep_scale : T(0);
}

template <class T>
void attn_fwd_rows(const AttnBlock<T>& a) {
  for (int r = 0; r < a.rows; ++r) {
    T* sr = a.s + r * a.lds;
    mask_row(sr, a, r);
    const T mx = row_max(sr, a.cols);
    const T mn = a.m[r] > mx ? a.m[r] : mx;
    if (mn == neg_inf<T>()) {  // nothing visible in this row yet: contributes nothing
      for (int c = 0; c < a.cols; ++c) sr[c] = T(0);
      continue;
    }
    const T corr = a.m[r] == neg_inf<T>() ? T(0) : fast_exp(a.m[r] - mn);
    const T sum = exp_row(sr, a.cols, mn);
    a.l[r] = a.l[r] * corr + sum;
    a.m[r] = mn;
    if (a.drop_thr)
      for (int c = 0; c < a.cols; ++c) sr[c] *= keep_factor(a, r, c);
    if (corr != T(1)) {
      T* ar = a.acc + r * a.Ev;
      NERVE_IVDEP
      for (int64_t e = 0; e < a.Ev; ++e) ar[e] *= corr;
    }
  }
}

template <class T>
void attn_bwd_rows(const AttnBlock<T>& a) {
  for (int r = 0; r < a.rows; ++r) {
    T* sr = a.s + r * a.lds;
    T* dr = a.dp + r * a.lds;
    T* dm = a.dmask ? a.dmask + r * a.ldm : nullptr;
    if (a.lse[r] == neg_inf<T>()) {  // a fully masked row has no gradient
      for (int c = 0; c < a.cols; ++c) sr[c] = dr[c] = T(0);
      if (dm)
        for (int c = 0; c < a.cols; ++c) dm[c] = T(0);
      continue;
    }
    mask_row(sr, a, r);
    exp_row(sr, a.cols, a.lse[r]);
    const T Dr = a.D[r];
    if (a.drop_thr) {
      for (int c = 0; c < a.cols; ++c) {
        const T k = keep_factor(a, r, c), p = sr[c];
        dr[c] = p * (dr[c] * k - Dr);
        sr[c] = p * k;
      }
    } else {
      NERVE_IVDEP
      for (int c = 0; c < a.cols; ++c) dr[c] = sr[c] * (dr[c] - Dr);
    }
    if (dm)
      for (int c = 0; c < a.cols; ++c) dm[c] = dr[c];
  }
}

template <class T>
AttnRowKernels<T> make_attn_row_kernels() {
  return {attn_fwd_rows<T>, attn_bwd_rows<T>};
}

}  // namespace
}  // namespace nerve
