// attention.cuh — CUDA kernels of scaled dot-product attention (forward, and backward in two
// kernels), compiled by nvcc (attention.cu) and by g++ under the emulator. Semantics, masks,
// dropout hash and the saved lse are those of csrc/cpu/attention.h.
//
// One warp per query row (forward, dq) or per key row (dk, dv); a block of kAttnWarps warps shares
// tiles of 32 keys (or 32 queries) staged in shared memory with padded rows (no bank conflicts).
// A lane owns one key of the tile for the scores and the features lane, lane + 32, ... of the
// outputs. Forward keeps an online softmax (running max, sum, rescaled accumulator) across tiles;
// backward recomputes P = exp(s - lse) and, with D = dout . out (written by the dq kernel, read by
// the dk/dv kernel), forms dS = P (dP - D) without atomics: dq sums over keys, dk and dv over queries.
#pragma once
#include "../cpu/attention.h"
#include "cuda_compat.h"
#include "reduce.cuh"

namespace nerve::cuda {

constexpr int kAttnWarps = 4;   // rows per block
constexpr int kAttnTile = 32;   // keys (forward, dq) or queries (dk, dv) per shared tile
constexpr int kAttnLanes = 4;   // features per lane: up to 128

struct AttnArgs {
  const float *q, *k, *v, *out, *lse, *dout;
  float *o, *l, *dq, *dk, *dv, *dmask, *delta;
  AttnMask mask;
  AttnShape s;
  float scale;
  bool causal;
  uint32_t drop_thr;
  float keep_scale;
  unsigned long long seed;
};

// kernels

__device__ __forceinline__ float attn_neg_inf() { return -INFINITY; }
__device__ __forceinline__ int64_t attn_min(int64_t x, int64_t y) { return x < y ? x : y; }

// The score of (b, i, j) from its dot product: scaled, masked, -inf outside the matrix.
__device__ __forceinline__ float attn_score(const AttnArgs& a, int64_t b, int64_t i, int64_t j, float dot) {
  if (i >= a.s.L || j >= a.s.S || (a.causal && j > i)) return attn_neg_inf();
  float sc = dot * a.scale;
  if (a.mask.data) {
    const int64_t n = b / a.s.heads, h = b % a.s.heads;
    const int64_t off = n * a.mask.sn + h * a.mask.sh + i * a.mask.sl + j * a.mask.ss;
    if (a.mask.is_bool) {
      if (!static_cast<const unsigned char*>(a.mask.data)[off]) return attn_neg_inf();
    } else {
      sc += static_cast<const float*>(a.mask.data)[off];
    }
  }
  return sc;
}

__device__ __forceinline__ float attn_keep(const AttnArgs& a, int64_t b, int64_t i, int64_t j) {
  if (!a.drop_thr) return 1.f;
  const uint64_t ctr = uint64_t((b * a.s.L + i) * a.s.S + j);
  return attn_hash24(a.seed, ctr) >= a.drop_thr ? a.keep_scale : 0.f;
}

// rows [r0, r0 + 32) x cols [0, n) of rows `ld` apart -> shared [32][n + 1] (zeros past rows_total).
__device__ __forceinline__ void attn_stage(float* dst, const float* src, int64_t ld, int64_t r0, int64_t rows_total,
                                           int n) {
  for (int idx = threadIdx.x; idx < kAttnTile * n; idx += blockDim.x) {
    const int r = idx / n, e = idx % n;
    dst[r * (n + 1) + e] = r0 + r < rows_total ? src[(r0 + r) * ld + e] : 0.f;
  }
}

__global__ void attn_fwd_kernel(AttnArgs a) {
  CUDA_DYNAMIC_SHARED(float, sm);
  const int E = int(a.s.E), Ev = int(a.s.Ev), L = int(a.s.L), S = int(a.s.S);
  float* ks = sm;
  float* vs = ks + kAttnTile * (E + 1);
  float* qs = vs + kAttnTile * (Ev + 1);
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int64_t i = int64_t(blockIdx.x) * kAttnWarps + warp;
  const int64_t i_last = attn_min(L - 1, int64_t(blockIdx.x) * kAttnWarps + kAttnWarps - 1);
  const int64_t keys = a.causal ? attn_min(S, i_last + 1) : S;
  const int64_t H = a.s.heads;
  for (int64_t b = blockIdx.y; b < a.s.B; b += gridDim.y) {
    const float* kb = a.k + a.s.k.at(b, H, 0);
    const float* vb = a.v + a.s.v.at(b, H, 0);
    __syncthreads();  // the previous batch entry is done with qs
    for (int e = lane; e < E; e += 32) qs[warp * E + e] = i < L ? a.q[a.s.q.at(b, H, i) + e] : 0.f;
    float o[kAttnLanes] = {0.f, 0.f, 0.f, 0.f};
    float m = attn_neg_inf(), l = 0.f;
    for (int64_t j0 = 0; j0 < keys; j0 += kAttnTile) {
      __syncthreads();
      attn_stage(ks, kb, a.s.k.row, j0, S, E);
      attn_stage(vs, vb, a.s.v.row, j0, S, Ev);
      __syncthreads();
      const int64_t j = j0 + lane;
      float dot = 0.f;
      for (int e = 0; e < E; ++e) dot += qs[warp * E + e] * ks[lane * (E + 1) + e];
      const float sc = attn_score(a, b, i, j, dot);
      const float mn = fmaxf(m, warp_max(sc));
      float p = 0.f, corr = 1.f;
      if (mn != attn_neg_inf()) {
        corr = m == attn_neg_inf() ? 0.f : expf(m - mn);
        p = sc == attn_neg_inf() ? 0.f : expf(sc - mn);
        m = mn;
      }
      l = l * corr + warp_sum(p);
      if (p != 0.f) p *= attn_keep(a, b, i, j);
      NERVE_UNROLL
      for (int u = 0; u < kAttnLanes; ++u) o[u] *= corr;
      for (int jj = 0; jj < kAttnTile; ++jj) {
        const float pj = __shfl_sync(kFullMask, p, jj);
        NERVE_UNROLL
        for (int u = 0; u < kAttnLanes; ++u) {
          const int e = lane + 32 * u;
          if (e < Ev) o[u] += pj * vs[jj * (Ev + 1) + e];
        }
      }
    }
    if (i < L) {
      const float inv = l > 0.f ? 1.f / l : 0.f;
      NERVE_UNROLL
      for (int u = 0; u < kAttnLanes; ++u) {
        const int e = lane + 32 * u;
        if (e < Ev) a.o[a.s.o.at(b, H, i) + e] = o[u] * inv;
      }
      if (lane == 0) a.l[b * L + i] = l > 0.f ? m + logf(l) : attn_neg_inf();
    }
  }
}

// dq, delta (and dmask) for one query row per warp.
__global__ void attn_bwd_dq_kernel(AttnArgs a) {
  CUDA_DYNAMIC_SHARED(float, sm);
  const int E = int(a.s.E), Ev = int(a.s.Ev), L = int(a.s.L), S = int(a.s.S);
  float* ks = sm;
  float* vs = ks + kAttnTile * (E + 1);
  float* qs = vs + kAttnTile * (Ev + 1);
  float* ds_row = qs + kAttnWarps * E;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int64_t i = int64_t(blockIdx.x) * kAttnWarps + warp;
  const int64_t i_last = attn_min(L - 1, int64_t(blockIdx.x) * kAttnWarps + kAttnWarps - 1);
  const int64_t keys = a.causal && !a.dmask ? attn_min(S, i_last + 1) : S;
  const int64_t H = a.s.heads;
  for (int64_t b = blockIdx.y; b < a.s.B; b += gridDim.y) {
    const float* kb = a.k + a.s.k.at(b, H, 0);
    const float* vb = a.v + a.s.v.at(b, H, 0);
    __syncthreads();
    float d = 0.f;
    for (int e = lane; e < E; e += 32) qs[warp * E + e] = i < L ? a.q[a.s.q.at(b, H, i) + e] : 0.f;
    for (int e = lane; e < Ev; e += 32) {
      const float g = i < L ? a.dout[a.s.o.at(b, H, i) + e] : 0.f;
      ds_row[warp * Ev + e] = g;
      d += g * (i < L ? a.out[a.s.o.at(b, H, i) + e] : 0.f);
    }
    d = warp_sum(d);
    if (i < L && lane == 0) a.delta[b * L + i] = d;
    const float lse = i < L ? a.lse[b * L + i] : attn_neg_inf();
    float dq[kAttnLanes] = {0.f, 0.f, 0.f, 0.f};
    for (int64_t j0 = 0; j0 < keys; j0 += kAttnTile) {
      __syncthreads();
      attn_stage(ks, kb, a.s.k.row, j0, S, E);
      attn_stage(vs, vb, a.s.v.row, j0, S, Ev);
      __syncthreads();
      const int64_t j = j0 + lane;
      float dot = 0.f, dp = 0.f;
      for (int e = 0; e < E; ++e) dot += qs[warp * E + e] * ks[lane * (E + 1) + e];
      for (int e = 0; e < Ev; ++e) dp += ds_row[warp * Ev + e] * vs[lane * (Ev + 1) + e];
      const float sc = attn_score(a, b, i, j, dot);
      const float p = sc == attn_neg_inf() || lse == attn_neg_inf() ? 0.f : expf(sc - lse);
      const float ds = p == 0.f ? 0.f : p * (dp * attn_keep(a, b, i, j) - d);
      if (a.dmask && i < L && j < S) a.dmask[(b * L + i) * S + j] = ds;
      for (int jj = 0; jj < kAttnTile; ++jj) {
        const float dsj = __shfl_sync(kFullMask, ds, jj);
        NERVE_UNROLL
        for (int u = 0; u < kAttnLanes; ++u) {
          const int e = lane + 32 * u;
          if (e < E) dq[u] += dsj * ks[jj * (E + 1) + e];
        }
      }
    }
    if (i < L) {
      NERVE_UNROLL
      for (int u = 0; u < kAttnLanes; ++u) {
        const int e = lane + 32 * u;
        if (e < E) a.dq[a.s.q.at(b, H, i) + e] = dq[u] * a.scale;
      }
    }
  }
}

// dk, dv for one key row per warp, summing over tiles of 32 queries.
__global__ void attn_bwd_dkv_kernel(AttnArgs a) {
  CUDA_DYNAMIC_SHARED(float, sm);
  const int E = int(a.s.E), Ev = int(a.s.Ev), L = int(a.s.L), S = int(a.s.S);
  float* qs = sm;
  float* gs = qs + kAttnTile * (E + 1);
  float* kr = gs + kAttnTile * (Ev + 1);
  float* vr = kr + kAttnWarps * E;
  float* lse_s = vr + kAttnWarps * Ev;
  float* d_s = lse_s + kAttnTile;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int64_t j = int64_t(blockIdx.x) * kAttnWarps + warp;
  const int64_t j_first = int64_t(blockIdx.x) * kAttnWarps;
  const int64_t start = a.causal ? j_first / kAttnTile * kAttnTile : 0;  // earlier queries see none of these keys
  const int64_t H = a.s.heads;
  for (int64_t b = blockIdx.y; b < a.s.B; b += gridDim.y) {
    __syncthreads();
    for (int e = lane; e < E; e += 32) kr[warp * E + e] = j < S ? a.k[a.s.k.at(b, H, j) + e] : 0.f;
    for (int e = lane; e < Ev; e += 32) vr[warp * Ev + e] = j < S ? a.v[a.s.v.at(b, H, j) + e] : 0.f;
    float dk[kAttnLanes] = {0.f, 0.f, 0.f, 0.f}, dv[kAttnLanes] = {0.f, 0.f, 0.f, 0.f};
    for (int64_t i0 = start; i0 < L; i0 += kAttnTile) {
      __syncthreads();
      attn_stage(qs, a.q + a.s.q.at(b, H, 0), a.s.q.row, i0, L, E);
      attn_stage(gs, a.dout + a.s.o.at(b, H, 0), a.s.o.row, i0, L, Ev);
      for (int r = threadIdx.x; r < kAttnTile; r += blockDim.x) {
        lse_s[r] = i0 + r < L ? a.lse[b * L + i0 + r] : attn_neg_inf();
        d_s[r] = i0 + r < L ? a.delta[b * L + i0 + r] : 0.f;
      }
      __syncthreads();
      const int64_t i = i0 + lane;
      float dot = 0.f, dp = 0.f;
      for (int e = 0; e < E; ++e) dot += qs[lane * (E + 1) + e] * kr[warp * E + e];
      for (int e = 0; e < Ev; ++e) dp += gs[lane * (Ev + 1) + e] * vr[warp * Ev + e];
      const float sc = attn_score(a, b, i, j, dot);
      const float lse = lse_s[lane];
      const float p = sc == attn_neg_inf() || lse == attn_neg_inf() ? 0.f : expf(sc - lse);
      const float kf = p == 0.f ? 0.f : attn_keep(a, b, i, j);
      const float pd = p * kf;
      const float ds = p == 0.f ? 0.f : p * (dp * kf - d_s[lane]);
      for (int ii = 0; ii < kAttnTile; ++ii) {
        const float pdi = __shfl_sync(kFullMask, pd, ii);
        const float dsi = __shfl_sync(kFullMask, ds, ii);
        NERVE_UNROLL
        for (int u = 0; u < kAttnLanes; ++u) {
          const int e = lane + 32 * u;
          if (e < Ev) dv[u] += pdi * gs[ii * (Ev + 1) + e];
          if (e < E) dk[u] += dsi * qs[ii * (E + 1) + e];
        }
      }
    }
    if (j < S) {
      NERVE_UNROLL
      for (int u = 0; u < kAttnLanes; ++u) {
        const int e = lane + 32 * u;
        if (e < E) a.dk[a.s.k.at(b, H, j) + e] = dk[u] * a.scale;
        if (e < Ev) a.dv[a.s.v.at(b, H, j) + e] = dv[u];
      }
    }
  }
}

// launchers

inline size_t attn_fwd_smem(const AttnShape& s) {
  return sizeof(float) * size_t(kAttnTile * (s.E + 1) + kAttnTile * (s.Ev + 1) + kAttnWarps * s.E);
}
inline size_t attn_dq_smem(const AttnShape& s) { return attn_fwd_smem(s) + sizeof(float) * size_t(kAttnWarps * s.Ev); }
inline size_t attn_dkv_smem(const AttnShape& s) {
  return sizeof(float) *
         size_t(kAttnTile * (s.E + 1) + kAttnTile * (s.Ev + 1) + kAttnWarps * (s.E + s.Ev) + 2 * kAttnTile);
}

inline AttnArgs attn_args(const AttnMask& mask, const AttnShape& s, const AttnOptions& o) {
  AttnArgs a{};
  a.mask = mask, a.s = s, a.scale = float(o.scale), a.causal = o.causal;
  a.drop_thr = attn_drop_threshold(o.dropout_p);
  a.keep_scale = o.dropout_p >= 1 ? 0.f : float(1.0 / (1.0 - o.dropout_p));
  a.seed = o.seed;
  return a;
}

inline dim3 attn_grid(int64_t rows, int64_t batch) {
  return dim3(ceil_div(rows, kAttnWarps), unsigned(batch < 65535 ? batch : 65535));
}

}  // namespace nerve::cuda
