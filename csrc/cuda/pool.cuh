// pool.cuh — CUDA 2-D pooling (NCHW) kernels and launchers: max (with argmax indices), average,
// adaptive average and adaptive max, forward and backward, float32 and float64; compiled by nvcc
// (pool.cu) and by g++ under the emulator (tests). Semantics are csrc/cpu/pool.h's, to the bit
// where the CPU kernel's order of operations allows:
//   - max: windows scanned row-major, a value replaces the maximum when strictly greater or NaN
//     (so the last NaN wins), an all -inf window reports its first position: torch's indices.
//   - average: sums row-major, times 1/divisor (as the CPU kernel does).
// One thread per output (forward) or per input element (backward), grid-stride over N*C planes.
//
// Backward passes gather: each input element sums, in a fixed order, the outputs whose windows
// hold it, so results are reproducible and no atomics are needed. For max pooling that needs the
// window (or adaptive sizes) to find the candidate outputs; an index that no candidate window
// contains is never picked up. Without a window, max_pool_scatter_kernel adds grad_out at its
// index with atomics (float sums then depend on the order, where windows overlap); indices outside
// the plane are skipped there.
#pragma once
#include <cstdint>
#include <limits>

#include "../cpu/pool.h"
#include "cuda_compat.h"

namespace nerve::cuda {

struct PoolGeom {
  long long planes;  // N * C
  int H, W, OH, OW;
  int kh, kw, sh, sw, ph, pw, dh, dw;
};

inline PoolGeom pool_geom(const Pool2dShape& s) {
  return PoolGeom{s.N * s.C,   int(s.H),  int(s.W),  int(s.OH), int(s.OW), int(s.kh), int(s.kw),
                  int(s.sh),   int(s.sw), int(s.ph), int(s.pw), int(s.dh), int(s.dw)};
}

constexpr int kPoolThreads = 256;

#define NERVE_POOL_LOOP(i, total) \
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < (total); i += (long long)gridDim.x * blockDim.x)

__device__ __forceinline__ int floor_div_int(int a, int b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

// Adaptive windows: output o covers inputs [floor(o*in/out), ceil((o+1)*in/out)).
__device__ __forceinline__ int adaptive_lo(int o, int in, int out) { return int((long long)o * in / out); }
__device__ __forceinline__ int adaptive_hi(int o, int in, int out) {
  return int(((long long)(o + 1) * in + out - 1) / out);
}
// Outputs whose adaptive window holds input i: [floor(i*out/in), ceil((i+1)*out/in) - 1].
__device__ __forceinline__ int adaptive_first(int i, int in, int out) { return int((long long)i * out / in); }
__device__ __forceinline__ int adaptive_last(int i, int in, int out) {
  return int(((long long)(i + 1) * out + in - 1) / in) - 1;
}

template <class T>
__device__ __forceinline__ T neg_inf() {
  return -std::numeric_limits<T>::infinity();
}

// ---- max ---------------------------------------------------------------------------------------

template <class T>
__global__ void max_pool_fwd_kernel(T* y, int64_t* indices, const T* x, PoolGeom g) {
  const long long total = g.planes * g.OH * g.OW;
  NERVE_POOL_LOOP(i, total) {
    const int ow = int(i % g.OW), oh = int(i / g.OW % g.OH);
    const T* xp = x + i / ((long long)g.OH * g.OW) * ((long long)g.H * g.W);
    T best = neg_inf<T>();
    long long at = -1;
    for (int r = 0; r < g.kh; ++r) {
      const int ih = oh * g.sh - g.ph + r * g.dh;
      if (ih < 0 || ih >= g.H) continue;
      for (int c = 0; c < g.kw; ++c) {
        const int iw = ow * g.sw - g.pw + c * g.dw;
        if (iw < 0 || iw >= g.W) continue;
        const long long pos = (long long)ih * g.W + iw;
        const T v = xp[pos];
        if (at < 0) at = pos;
        if (v > best || v != v) best = v, at = pos;
      }
    }
    y[i] = best;
    if (indices) indices[i] = at;
  }
}

template <class T>
__global__ void adaptive_max_pool_fwd_kernel(T* y, int64_t* indices, const T* x, PoolGeom g) {
  const long long total = g.planes * g.OH * g.OW;
  NERVE_POOL_LOOP(i, total) {
    const int ow = int(i % g.OW), oh = int(i / g.OW % g.OH);
    const T* xp = x + i / ((long long)g.OH * g.OW) * ((long long)g.H * g.W);
    const int h0 = adaptive_lo(oh, g.H, g.OH), h1 = adaptive_hi(oh, g.H, g.OH);
    const int w0 = adaptive_lo(ow, g.W, g.OW), w1 = adaptive_hi(ow, g.W, g.OW);
    T best = neg_inf<T>();
    long long at = (long long)h0 * g.W + w0;
    for (int ih = h0; ih < h1; ++ih)
      for (int iw = w0; iw < w1; ++iw) {
        const long long pos = (long long)ih * g.W + iw;
        const T v = xp[pos];
        if (v > best || v != v) best = v, at = pos;
      }
    y[i] = best;
    if (indices) indices[i] = at;
  }
}

// dx[p, ih, iw] = sum of dy over the outputs of max_pool2d (window in g) whose index is (ih, iw),
// in output order (the CPU kernel's order of additions).
template <class T>
__global__ void max_pool_bwd_kernel(T* dx, const T* dy, const int64_t* indices, PoolGeom g) {
  const long long total = g.planes * g.H * g.W;
  NERVE_POOL_LOOP(i, total) {
    const int iw = int(i % g.W), ih = int(i / g.W % g.H);
    const long long plane = i / ((long long)g.H * g.W), pos = (long long)ih * g.W + iw;
    const long long o0 = plane * g.OH * g.OW;
    const int oh0 = max(0, floor_div_int(ih + g.ph - (g.kh - 1) * g.dh + g.sh - 1, g.sh));
    const int oh1 = min(g.OH - 1, (ih + g.ph) / g.sh);
    const int ow0 = max(0, floor_div_int(iw + g.pw - (g.kw - 1) * g.dw + g.sw - 1, g.sw));
    const int ow1 = min(g.OW - 1, (iw + g.pw) / g.sw);
    T acc = 0;
    for (int oh = oh0; oh <= oh1; ++oh)
      for (int ow = ow0; ow <= ow1; ++ow) {
        const long long o = o0 + (long long)oh * g.OW + ow;
        if (indices[o] == pos) acc += dy[o];
      }
    dx[i] = acc;
  }
}

// The same for adaptive_max_pool2d's windows.
template <class T>
__global__ void adaptive_max_pool_bwd_kernel(T* dx, const T* dy, const int64_t* indices, PoolGeom g) {
  const long long total = g.planes * g.H * g.W;
  NERVE_POOL_LOOP(i, total) {
    const int iw = int(i % g.W), ih = int(i / g.W % g.H);
    const long long plane = i / ((long long)g.H * g.W), pos = (long long)ih * g.W + iw;
    const long long o0 = plane * g.OH * g.OW;
    const int oh0 = adaptive_first(ih, g.H, g.OH), oh1 = adaptive_last(ih, g.H, g.OH);
    const int ow0 = adaptive_first(iw, g.W, g.OW), ow1 = adaptive_last(iw, g.W, g.OW);
    T acc = 0;
    for (int oh = oh0; oh <= oh1; ++oh)
      for (int ow = ow0; ow <= ow1; ++ow) {
        const long long o = o0 + (long long)oh * g.OW + ow;
        if (indices[o] == pos) acc += dy[o];
      }
    dx[i] = acc;
  }
}

template <class T>
__global__ void pool_zero_kernel(T* p, long long n) {
  NERVE_POOL_LOOP(i, n) p[i] = T(0);
}

// Without a window: dx (zeroed first) [p, indices[o]] += dy[o] for indices inside the plane.
template <class T>
__global__ void max_pool_scatter_kernel(T* dx, const T* dy, const int64_t* indices, PoolGeom g) {
  const long long total = g.planes * g.OH * g.OW, in = (long long)g.H * g.W;
  NERVE_POOL_LOOP(o, total) {
    const int64_t at = indices[o];
    if (at >= 0 && at < in) atomicAdd(dx + o / ((long long)g.OH * g.OW) * in + at, dy[o]);
  }
}

// ---- average -----------------------------------------------------------------------------------

// 1 / (number of inputs output (oh, ow) divides by), as csrc/cpu/pool.cpp computes it.
template <class T>
__device__ __forceinline__ T avg_scale(const PoolGeom& g, int oh, int ow, bool count_include_pad, int64_t divisor) {
  if (divisor > 0) return T(1) / T(divisor);
  const int hs = oh * g.sh - g.ph, he = min(hs + g.kh, g.H + g.ph);
  const int ws = ow * g.sw - g.pw, we = min(ws + g.kw, g.W + g.pw);
  const long long rows = count_include_pad ? he - hs : min(he, g.H) - max(hs, 0);
  const long long cols = count_include_pad ? we - ws : min(we, g.W) - max(ws, 0);
  return T(1) / T(rows * cols);
}

template <class T>
__global__ void avg_pool_fwd_kernel(T* y, const T* x, PoolGeom g, bool count_include_pad, int64_t divisor) {
  const long long total = g.planes * g.OH * g.OW;
  NERVE_POOL_LOOP(i, total) {
    const int ow = int(i % g.OW), oh = int(i / g.OW % g.OH);
    const T* xp = x + i / ((long long)g.OH * g.OW) * ((long long)g.H * g.W);
    const int hs = oh * g.sh - g.ph, ws = ow * g.sw - g.pw;
    const int h0 = max(hs, 0), h1 = min(hs + g.kh, g.H), w0 = max(ws, 0), w1 = min(ws + g.kw, g.W);
    T acc = 0;
    for (int ih = h0; ih < h1; ++ih)
      for (int iw = w0; iw < w1; ++iw) acc += xp[(long long)ih * g.W + iw];
    y[i] = acc * avg_scale<T>(g, oh, ow, count_include_pad, divisor);
  }
}

// dx[p, ih, iw] = sum over the windows holding (ih, iw) of dy * scale; for each output row the
// columns run from the last to the first, the order in which the CPU kernel adds them.
template <class T>
__global__ void avg_pool_bwd_kernel(T* dx, const T* dy, PoolGeom g, bool count_include_pad, int64_t divisor) {
  const long long total = g.planes * g.H * g.W;
  NERVE_POOL_LOOP(i, total) {
    const int iw = int(i % g.W), ih = int(i / g.W % g.H);
    const T* d = dy + i / ((long long)g.H * g.W) * ((long long)g.OH * g.OW);
    const int oh0 = max(0, floor_div_int(ih + g.ph - g.kh, g.sh) + 1), oh1 = min(g.OH - 1, (ih + g.ph) / g.sh);
    const int ow0 = max(0, floor_div_int(iw + g.pw - g.kw, g.sw) + 1), ow1 = min(g.OW - 1, (iw + g.pw) / g.sw);
    T acc = 0;
    for (int oh = oh0; oh <= oh1; ++oh)
      for (int ow = ow1; ow >= ow0; --ow)
        acc += avg_scale<T>(g, oh, ow, count_include_pad, divisor) * d[(long long)oh * g.OW + ow];
    dx[i] = acc;
  }
}

template <class T>
__global__ void adaptive_avg_pool_fwd_kernel(T* y, const T* x, PoolGeom g) {
  const long long total = g.planes * g.OH * g.OW;
  NERVE_POOL_LOOP(i, total) {
    const int ow = int(i % g.OW), oh = int(i / g.OW % g.OH);
    const T* xp = x + i / ((long long)g.OH * g.OW) * ((long long)g.H * g.W);
    const int h0 = adaptive_lo(oh, g.H, g.OH), h1 = adaptive_hi(oh, g.H, g.OH);
    const int w0 = adaptive_lo(ow, g.W, g.OW), w1 = adaptive_hi(ow, g.W, g.OW);
    T acc = 0;
    for (int ih = h0; ih < h1; ++ih)
      for (int iw = w0; iw < w1; ++iw) acc += xp[(long long)ih * g.W + iw];
    y[i] = acc / T((long long)(h1 - h0) * (w1 - w0));
  }
}

template <class T>
__global__ void adaptive_avg_pool_bwd_kernel(T* dx, const T* dy, PoolGeom g) {
  const long long total = g.planes * g.H * g.W;
  NERVE_POOL_LOOP(i, total) {
    const int iw = int(i % g.W), ih = int(i / g.W % g.H);
    const T* d = dy + i / ((long long)g.H * g.W) * ((long long)g.OH * g.OW);
    const int oh0 = adaptive_first(ih, g.H, g.OH), oh1 = adaptive_last(ih, g.H, g.OH);
    const int ow0 = adaptive_first(iw, g.W, g.OW), ow1 = adaptive_last(iw, g.W, g.OW);
    T acc = 0;
    for (int oh = oh0; oh <= oh1; ++oh) {
      const int rows = adaptive_hi(oh, g.H, g.OH) - adaptive_lo(oh, g.H, g.OH);
      for (int ow = ow0; ow <= ow1; ++ow) {
        const int cols = adaptive_hi(ow, g.W, g.OW) - adaptive_lo(ow, g.W, g.OW);
        acc += d[(long long)oh * g.OW + ow] / T((long long)rows * cols);
      }
    }
    dx[i] = acc;
  }
}

#undef NERVE_POOL_LOOP

// ---- launchers -----------------------------------------------------------------------------------

inline unsigned pool_blocks(long long work) {
  const long long b = (work + kPoolThreads - 1) / kPoolThreads;
  return unsigned(b < 1 ? 1 : b > 65535 ? 65535 : b);
}

enum class PoolOp { max_fwd, adaptive_max_fwd, max_bwd, adaptive_max_bwd, max_scatter, avg_fwd, avg_bwd,
                    adaptive_avg_fwd, adaptive_avg_bwd };

// out is y (forwards) or dx (backwards); in is x or dy.
template <class T>
void pool_launch(PoolOp op, T* out, int64_t* indices_out, const T* in, const int64_t* indices, const Pool2dShape& s,
                 bool count_include_pad, int64_t divisor, cudaStream_t stream, const char* name) {
  const PoolGeom g = pool_geom(s);
  const long long outs = g.planes * g.OH * g.OW, ins = g.planes * g.H * g.W;
  switch (op) {
    case PoolOp::max_fwd:
      CUDA_LAUNCH(pool_blocks(outs), kPoolThreads, 0, stream, max_pool_fwd_kernel<T>)(out, indices_out, in, g);
      break;
    case PoolOp::adaptive_max_fwd:
      CUDA_LAUNCH(pool_blocks(outs), kPoolThreads, 0, stream, adaptive_max_pool_fwd_kernel<T>)(out, indices_out, in, g);
      break;
    case PoolOp::max_bwd:
      CUDA_LAUNCH(pool_blocks(ins), kPoolThreads, 0, stream, max_pool_bwd_kernel<T>)(out, in, indices, g);
      break;
    case PoolOp::adaptive_max_bwd:
      CUDA_LAUNCH(pool_blocks(ins), kPoolThreads, 0, stream, adaptive_max_pool_bwd_kernel<T>)(out, in, indices, g);
      break;
    case PoolOp::max_scatter:
      CUDA_LAUNCH(pool_blocks(ins), kPoolThreads, 0, stream, pool_zero_kernel<T>)(out, ins);
      CUDA_LAUNCH(pool_blocks(outs), kPoolThreads, 0, stream, max_pool_scatter_kernel<T>)(out, in, indices, g);
      break;
    case PoolOp::avg_fwd:
      CUDA_LAUNCH(pool_blocks(outs), kPoolThreads, 0, stream, avg_pool_fwd_kernel<T>)(out, in, g, count_include_pad,
                                                                                      divisor);
      break;
    case PoolOp::avg_bwd:
      CUDA_LAUNCH(pool_blocks(ins), kPoolThreads, 0, stream, avg_pool_bwd_kernel<T>)(out, in, g, count_include_pad,
                                                                                     divisor);
      break;
    case PoolOp::adaptive_avg_fwd:
      CUDA_LAUNCH(pool_blocks(outs), kPoolThreads, 0, stream, adaptive_avg_pool_fwd_kernel<T>)(out, in, g);
      break;
    case PoolOp::adaptive_avg_bwd:
      CUDA_LAUNCH(pool_blocks(ins), kPoolThreads, 0, stream, adaptive_avg_pool_bwd_kernel<T>)(out, in, g);
      break;
  }
  check_last(name);
}

}  // namespace nerve::cuda
