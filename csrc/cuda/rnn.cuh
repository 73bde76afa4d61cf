// rnn.cuh — CUDA kernels of the recurrent layers: the fused pointwise pass of one RNN / LSTM /
// GRU time step (forward and backward), and the small helpers the host loop in rnn.cu needs
// (bias rows, copies, column sums). Compiled by nvcc (rnn.cu) and by g++ under the emulator.
// Equations, layouts and the inactive-step rule (t >= lengths[b]: carry the state, output 0) are
// those of csrc/cpu/rnn.h; a null h_prev / c_prev reads as zeros. One thread per (b, j), grid-stride.
#pragma once
#include "../cpu/rnn.h"
#include "cuda_compat.h"

namespace nerve::cuda {

// kernels

__device__ __forceinline__ float rnn_sig(float v) { return 1.f / (1.f + expf(-v)); }

__device__ __forceinline__ bool rnn_active(const int64_t* lengths, int64_t t, int64_t b) {
  return !lengths || t < lengths[b];
}

__device__ __forceinline__ float rnn_at(const float* p, int64_t i) { return p ? p[i] : 0.f; }

#define NERVE_RNN_FOR_EACH(i, n) \
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); i += int64_t(gridDim.x) * blockDim.x)

__global__ void lstm_fwd_kernel(float* gates, float* c, float* h, float* y, int64_t ldy, const float* c_prev,
                                const float* h_prev, const int64_t* lengths, int64_t t, int64_t B, int64_t H) {
  NERVE_RNN_FOR_EACH(e, B * H) {
    const int64_t b = e / H, j = e % H;
    if (!rnn_active(lengths, t, b)) {
      c[e] = rnn_at(c_prev, e), h[e] = rnn_at(h_prev, e), y[b * ldy + j] = 0.f;
      continue;
    }
    float* g = gates + b * 4 * H + j;
    const float i = rnn_sig(g[0]), f = rnn_sig(g[H]), gg = tanhf(g[2 * H]), o = rnn_sig(g[3 * H]);
    const float cn = f * rnn_at(c_prev, e) + i * gg;
    const float hn = o * tanhf(cn);
    g[0] = i, g[H] = f, g[2 * H] = gg, g[3 * H] = o;
    c[e] = cn, h[e] = hn, y[b * ldy + j] = hn;
  }
}

__global__ void lstm_bwd_kernel(float* dgates, float* dh_out, float* dc_out, const float* dh, const float* dc,
                                const float* dy, int64_t ldy, const float* gates, const float* c, const float* c_prev,
                                const int64_t* lengths, int64_t t, int64_t B, int64_t H) {
  NERVE_RNN_FOR_EACH(e, B * H) {
    const int64_t b = e / H, j = e % H;
    float* dg = dgates + b * 4 * H + j;
    if (!rnn_active(lengths, t, b)) {
      dg[0] = dg[H] = dg[2 * H] = dg[3 * H] = 0.f;
      dh_out[e] = dh[e], dc_out[e] = dc[e];
      continue;
    }
    const float* g = gates + b * 4 * H + j;
    const float i = g[0], f = g[H], gg = g[2 * H], o = g[3 * H];
    const float tc = tanhf(c[e]);
    const float dht = dh[e] + (dy ? dy[b * ldy + j] : 0.f);
    const float dct = dc[e] + dht * o * (1.f - tc * tc);
    dg[0] = dct * gg * i * (1.f - i);
    dg[H] = dct * rnn_at(c_prev, e) * f * (1.f - f);
    dg[2 * H] = dct * i * (1.f - gg * gg);
    dg[3 * H] = dht * tc * o * (1.f - o);
    dc_out[e] = dct * f, dh_out[e] = 0.f;
  }
}

__global__ void gru_fwd_kernel(float* gates, float* hn_save, float* h, float* y, int64_t ldy, const float* hproj,
                               const float* h_prev, const int64_t* lengths, int64_t t, int64_t B, int64_t H) {
  NERVE_RNN_FOR_EACH(e, B * H) {
    const int64_t b = e / H, j = e % H;
    const float hp = rnn_at(h_prev, e);
    if (!rnn_active(lengths, t, b)) {
      h[e] = hp, y[b * ldy + j] = 0.f;
      continue;
    }
    float* g = gates + b * 3 * H + j;
    const float* p = hproj + b * 3 * H + j;
    const float r = rnn_sig(g[0] + p[0]), z = rnn_sig(g[H] + p[H]);
    const float n = tanhf(g[2 * H] + r * p[2 * H]);
    const float hn = n + z * (hp - n);
    g[0] = r, g[H] = z, g[2 * H] = n, hn_save[e] = p[2 * H];
    h[e] = hn, y[b * ldy + j] = hn;
  }
}

__global__ void gru_bwd_kernel(float* dgx, float* dgh, float* dh_out, const float* dh, const float* dy, int64_t ldy,
                               const float* gates, const float* hn_save, const float* h_prev, const int64_t* lengths,
                               int64_t t, int64_t B, int64_t H) {
  NERVE_RNN_FOR_EACH(e, B * H) {
    const int64_t b = e / H, j = e % H;
    float* dx = dgx + b * 3 * H + j;
    float* dhh = dgh + b * 3 * H + j;
    if (!rnn_active(lengths, t, b)) {
      dx[0] = dx[H] = dx[2 * H] = 0.f;
      dhh[0] = dhh[H] = dhh[2 * H] = 0.f;
      dh_out[e] = dh[e];
      continue;
    }
    const float* g = gates + b * 3 * H + j;
    const float r = g[0], z = g[H], n = g[2 * H];
    const float dht = dh[e] + (dy ? dy[b * ldy + j] : 0.f);
    const float dnp = dht * (1.f - z) * (1.f - n * n);
    const float dzp = dht * (rnn_at(h_prev, e) - n) * z * (1.f - z);
    const float drp = dnp * hn_save[e] * r * (1.f - r);
    dx[0] = drp, dx[H] = dzp, dx[2 * H] = dnp;
    dhh[0] = drp, dhh[H] = dzp, dhh[2 * H] = dnp * r;
    dh_out[e] = dht * z;
  }
}

__global__ void elman_fwd_kernel(float* h, float* y, int64_t ldy, const float* h_prev, bool relu,
                                 const int64_t* lengths, int64_t t, int64_t B, int64_t H) {
  NERVE_RNN_FOR_EACH(e, B * H) {
    const int64_t b = e / H, j = e % H;
    if (!rnn_active(lengths, t, b)) {
      h[e] = rnn_at(h_prev, e), y[b * ldy + j] = 0.f;
      continue;
    }
    const float v = h[e];
    const float a = relu ? (v < 0.f ? 0.f : v) : tanhf(v);
    h[e] = a, y[b * ldy + j] = a;
  }
}

__global__ void elman_bwd_kernel(float* dgates, float* dh_out, const float* dh, const float* dy, int64_t ldy,
                                 const float* h, bool relu, const int64_t* lengths, int64_t t, int64_t B, int64_t H) {
  NERVE_RNN_FOR_EACH(e, B * H) {
    const int64_t b = e / H, j = e % H;
    if (!rnn_active(lengths, t, b)) {
      dgates[e] = 0.f, dh_out[e] = dh[e];
      continue;
    }
    const float dht = dh[e] + (dy ? dy[b * ldy + j] : 0.f);
    dgates[e] = relu ? (h[e] > 0.f ? dht : 0.f) : dht * (1.f - h[e] * h[e]);
    dh_out[e] = 0.f;
  }
}

// out (rows, cols) = a + b broadcast over rows (a, b: (cols,) or null).
__global__ void rnn_bias_rows_kernel(float* out, const float* a, const float* b, int64_t rows, int64_t cols) {
  NERVE_RNN_FOR_EACH(e, rows * cols) {
    const int64_t j = e % cols;
    out[e] = rnn_at(a, j) + rnn_at(b, j);
  }
}

// dst = src (or zeros when src is null).
__global__ void rnn_copy_kernel(float* dst, const float* src, int64_t n) {
  NERVE_RNN_FOR_EACH(e, n) dst[e] = rnn_at(src, e);
}

// out[j] = sum over rows of a[r, j]: one thread per column, reads coalesced across a row.
__global__ void rnn_colsum_kernel(float* out, const float* a, int64_t rows, int64_t cols) {
  NERVE_RNN_FOR_EACH(j, cols) {
    float s = 0.f;
    for (int64_t r = 0; r < rows; ++r) s += a[r * cols + j];
    out[j] = s;
  }
}

#undef NERVE_RNN_FOR_EACH

// launchers

constexpr int kRnnThreads = 256;

inline unsigned rnn_blocks(int64_t n) {
  const int64_t b = (n + kRnnThreads - 1) / kRnnThreads;
  return static_cast<unsigned>(b < 1 ? 1 : (b > 4096 ? 4096 : b));
}

}  // namespace nerve::cuda
