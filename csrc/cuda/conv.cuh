// conv.cuh — CUDA 2-D convolution (NCHW) kernels and their launchers; compiled by nvcc (conv.cu)
// and by g++ under the emulator (tests). Same contract as csrc/cpu/conv.h: dx and y are written,
// dw and db accumulate (+=). Every dimension, and every per-image or per-batch element count the
// kernels index with int, is below 2^31 (the binding checks).
//
// Each convolution pass is a GEMM whose operands are gathered on the fly (implicit GEMM, no
// im2col matrix), one GEMM per group:
//   forward     y[k, (n,oh,ow)]  = sum over (c,r,s)    w[k, (c,r,s)]    * x[n, c, oh*sh-pt+r*dh, ow*sw-pl+s*dw]
//   input-grad  dx[c, (n,h,w)]   = sum over (k,r,s)    w[k, c, r, s]    * dy[n, k, (h+pt-r*dh)/sh, (w+pl-s*dw)/sw]
//                                  (terms whose quotients are not whole or fall outside dy are zero)
//   weight-grad dw[k, (c,r,s)]  += sum over (n,oh,ow)  dy[n, k, oh, ow] * x[n, c, oh*sh-pt+r*dh, ow*sw-pl+s*dw]
//
//   conv_*_simple_kernel  the references: forward and input-grad one thread per output element,
//                         weight-grad one block per weight element (block reduction); also the
//                         float64 path and the choice for groups too narrow to fill a tile.
//   conv_tiled_kernel     the fast one (float32): a TILE x TILE block of the GEMM per block of
//                         threads (TILE 128 or 64), 8x8 per thread in registers, the reduction in
//                         steps of 8 through double-buffered shared tiles with the next step's
//                         gathers in flight; gather indices advance by mixed-radix counters
//                         (no divisions in the main loop), every load bounds-checked. The
//                         weight-grad's long reduction is split over gridDim.z (atomicAdd into dw).
//   conv_bias_grad_kernel db[k] += sum of dy[:, k], one block per channel.
#pragma once
#include <type_traits>

#include "../cpu/conv.h"
#include "cuda_compat.h"
#include "reduce.cuh"

namespace nerve::cuda {

enum class ConvKernel { automatic = 0, simple = 1, tile64 = 2, tile128 = 3 };

// The convolution in int (the binding has checked that every count below fits).
struct ConvGeom {
  int N, C, H, W, K, R, S, OH, OW;
  int sh, sw, pt, pl, dh, dw;
  int groups, Cg, Kg;
  int HW, OHW, RS;
};

inline ConvGeom conv_geom(const Conv2dShape& s) {
  ConvGeom g;
  g.N = int(s.N), g.C = int(s.C), g.H = int(s.H), g.W = int(s.W), g.K = int(s.K), g.R = int(s.R), g.S = int(s.S);
  g.OH = int(s.OH), g.OW = int(s.OW), g.sh = int(s.sh), g.sw = int(s.sw), g.pt = int(s.pt), g.pl = int(s.pl);
  g.dh = int(s.dh), g.dw = int(s.dw), g.groups = int(s.groups), g.Cg = int(s.Cg()), g.Kg = int(s.Kg());
  g.HW = g.H * g.W, g.OHW = g.OH * g.OW, g.RS = g.R * g.S;
  return g;
}

// A reduction index k = (hi * mid_n + mid) * lo_n + lo as its digits, advanced by a fixed step
// without division: (c, r, s) of a conv tap or (n, oh, ow) of an output pixel.
struct Digits {
  int hi, mid, lo;
};
struct Radix {
  int mid_n, lo_n;
  Digits step;
};

NERVE_HOST_DEVICE inline Digits split_digits(int k, int mid_n, int lo_n) {
  const int q = k / lo_n;
  return Digits{q / mid_n, q % mid_n, k % lo_n};
}
inline Radix make_radix(int step, int mid_n, int lo_n) { return Radix{mid_n, lo_n, split_digits(step, mid_n, lo_n)}; }

// What a conv kernel reads and writes; which pointer is which depends on the pass (see each).
template <class T>
struct ConvArgs {
  T* out;          // y (forward), dx (input-grad), dw (weight-grad)
  const T* in;     // x (forward), dy (input-grad, weight-grad)
  const T* wt;     // w (forward, input-grad), x (weight-grad)
  const T* bias;   // forward only, or null
  ConvGeom g;
  int M, NC, KR;   // the per-group GEMM: M x NC, reduction KR
  int split_steps; // weight-grad: reduction steps per gridDim.z slice
  Radix step_bk;   // tiled kernels: the reduction index's digits ((c, r, s), (k, r, s) or
  Radix step_run;  // (n, oh, ow)) and the steps of 8 and of threads/TILE, in digits
};

// ---- the simple kernels --------------------------------------------------------------------------

constexpr int kSimpleThreads = 256;
constexpr int kReduceThreads = 128;

// y[n, k, oh, ow]: one thread per output element, grid-stride.
template <class T>
__global__ void conv_fwd_simple_kernel(ConvArgs<T> a) {
  const ConvGeom& g = a.g;
  const long long total = (long long)g.N * g.K * g.OHW;
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += (long long)gridDim.x * blockDim.x) {
    const int ow = int(i % g.OW), oh = int(i / g.OW % g.OH), k = int(i / g.OHW % g.K);
    const long long n = i / ((long long)g.OHW * g.K);
    const int grp = k / g.Kg;
    const T* x = a.in + (n * g.C + (long long)grp * g.Cg) * g.HW;
    const T* w = a.wt + (long long)k * g.Cg * g.RS;
    T acc = 0;
    for (int c = 0; c < g.Cg; ++c)
      for (int r = 0; r < g.R; ++r) {
        const int ih = oh * g.sh - g.pt + r * g.dh;
        if (ih < 0 || ih >= g.H) continue;
        for (int s = 0; s < g.S; ++s) {
          const int iw = ow * g.sw - g.pl + s * g.dw;
          if (iw < 0 || iw >= g.W) continue;
          acc += w[(c * g.R + r) * g.S + s] * x[(long long)c * g.HW + ih * g.W + iw];
        }
      }
    a.out[i] = acc + (a.bias ? a.bias[k] : T(0));
  }
}

// dx[n, c, h, w]: one thread per input element; tap (k, r, s) reads dy where the stride divides.
template <class T>
__global__ void conv_dgrad_simple_kernel(ConvArgs<T> a) {
  const ConvGeom& g = a.g;
  const long long total = (long long)g.N * g.C * g.HW;
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += (long long)gridDim.x * blockDim.x) {
    const int w_ = int(i % g.W), h = int(i / g.W % g.H), c = int(i / g.HW % g.C);
    const long long n = i / ((long long)g.HW * g.C);
    const int grp = c / g.Cg, cg = c % g.Cg;
    T acc = 0;
    for (int kg = 0; kg < g.Kg; ++kg) {
      const int k = grp * g.Kg + kg;
      const T* dy = a.in + (n * g.K + k) * g.OHW;
      const T* w = a.wt + ((long long)k * g.Cg + cg) * g.RS;
      for (int r = 0; r < g.R; ++r) {
        const int ty = h + g.pt - r * g.dh;
        if (ty < 0 || ty % g.sh) continue;
        const int oh = ty / g.sh;
        if (oh >= g.OH) continue;
        for (int s = 0; s < g.S; ++s) {
          const int tx = w_ + g.pl - s * g.dw;
          if (tx < 0 || tx % g.sw) continue;
          const int ow = tx / g.sw;
          if (ow >= g.OW) continue;
          acc += w[r * g.S + s] * dy[oh * g.OW + ow];
        }
      }
    }
    a.out[i] = acc;
  }
}

// dw[k, c, r, s] += ...: one block per weight element (grid-stride), the block's threads over
// (n, oh, ow), then a block reduction: the sum's order is fixed, so results are reproducible.
template <class T>
__global__ void conv_wgrad_simple_kernel(ConvArgs<T> a) {
  __shared__ T scratch[32];
  const ConvGeom& g = a.g;
  const long long total = (long long)g.K * g.Cg * g.RS;
  const int pixels = g.OHW;
  for (long long e = blockIdx.x; e < total; e += gridDim.x) {
    const int s = int(e % g.S), r = int(e / g.S % g.R), cg = int(e / g.RS % g.Cg), k = int(e / ((long long)g.RS * g.Cg));
    const int c = k / g.Kg * g.Cg + cg;
    T acc = 0;
    for (int n = 0; n < g.N; ++n) {
      const T* dy = a.in + ((long long)n * g.K + k) * g.OHW;
      const T* x = a.wt + ((long long)n * g.C + c) * g.HW;
      for (int p = threadIdx.x; p < pixels; p += blockDim.x) {
        const int oh = p / g.OW, ow = p % g.OW;
        const int ih = oh * g.sh - g.pt + r * g.dh, iw = ow * g.sw - g.pl + s * g.dw;
        if (ih >= 0 && ih < g.H && iw >= 0 && iw < g.W) acc += dy[p] * x[ih * g.W + iw];
      }
    }
    acc = block_sum(acc, scratch);
    if (threadIdx.x == 0) a.out[e] += acc;
  }
}

// db[k] += sum of dy[n, k, :, :] over n: one block per channel (grid-stride), reproducible order.
template <class T>
__global__ void conv_bias_grad_kernel(T* db, const T* dy, int N, int K, int pixels) {
  __shared__ T scratch[32];
  for (int k = blockIdx.x; k < K; k += gridDim.x) {
    T acc = 0;
    for (int n = 0; n < N; ++n) {
      const T* d = dy + ((long long)n * K + k) * pixels;
      for (int p = threadIdx.x; p < pixels; p += blockDim.x) acc += d[p];
    }
    acc = block_sum(acc, scratch);
    if (threadIdx.x == 0) db[k] += acc;
  }
}

// ---- the tiled implicit-GEMM kernel ----------------------------------------------------------------

template <int TILE>
struct ConvTile {
  static constexpr int BK = 8;                                  // reduction step
  static constexpr int threads = (TILE / 8) * (TILE / 8);       // 8x8 outputs per thread
  static constexpr int runs = TILE * BK / threads;              // elements of A and of B each thread loads per step
  static constexpr int ld = TILE + 4;                           // shared row pitch: stores along K hit distinct banks
  static constexpr int min_blocks = threads >= 256 ? 2 : 1;
};

__device__ __forceinline__ void advance(Digits& d, const Radix& r) {
  d.lo += r.step.lo;
  int carry = d.lo >= r.lo_n;
  if (carry) d.lo -= r.lo_n;
  d.mid += r.step.mid + carry;
  carry = d.mid >= r.mid_n;
  if (carry) d.mid -= r.mid_n;
  d.hi += r.step.hi + carry;
}

// Each pass says how one thread gathers its share of a reduction step: `fetch` loads runs values
// of A (rows m of the tile, along the reduction) and of B (columns n), then moves on one step;
// `store` writes the thread's 8x8 results. A is always read with the thread's lanes along the
// reduction (shared As[k][m]); B along the reduction too when kBAlongK, else along n (Bs[k][n]).
// Threads of a warp thereby read neighbouring addresses of x and dy when the stride is 1.
//
// Thread t loads, for j < runs: along the reduction, element (k0 + t%8, t/8 + j*threads/8) of its
// tile; along n, element (k0 + t/TILE + j*threads/TILE, t%TILE).

template <int TILE>
struct ConvFwdPass {  // A = w (Kg x Cg*R*S, rows contiguous), B = x gathered over (c, r, s) x (n, oh, ow)
  using S = ConvTile<TILE>;
  static constexpr bool kBAlongK = false;
  int aoff[S::runs];  // start of weight row m, -1 outside the group
  int ka, kend;       // A's reduction index and the end of the reduction
  const float* xb;    // B: this thread's image and group
  int ih0, iw0;       // B: window origin of its output pixel; ih0 = INT_MIN/2 when out of range
  Digits kb;          // B: (c, r, s) of its next row
  int kbf;            // ... and that row as a flat index

  __device__ __forceinline__ void init(const ConvArgs<float>& a, int grp, int m0, int n0, int k0, int k1, int t) {
    const ConvGeom& g = a.g;
    kend = k1;
    ka = k0 + t % S::BK;
    NERVE_UNROLL
    for (int j = 0; j < S::runs; ++j) {
      const int m = m0 + t / S::BK + j * (S::threads / S::BK);
      aoff[j] = m < a.M ? (grp * g.Kg + m) * a.KR : -1;
    }
    const int n = n0 + t % TILE;
    if (n < a.NC) {
      const int img = n / g.OHW, p = n % g.OHW;
      xb = a.in + ((long long)img * g.C + (long long)grp * g.Cg) * g.HW;
      ih0 = p / g.OW * g.sh - g.pt, iw0 = p % g.OW * g.sw - g.pl;
    } else {
      xb = a.in, ih0 = -(1 << 30), iw0 = 0;
    }
    kbf = k0 + t / TILE;
    kb = split_digits(kbf, g.R, g.S);
  }

  __device__ __forceinline__ void fetch(const ConvArgs<float>& a, float* va, float* vb) {
    const ConvGeom& g = a.g;
    NERVE_UNROLL
    for (int j = 0; j < S::runs; ++j) va[j] = (ka < kend && aoff[j] >= 0) ? a.wt[aoff[j] + ka] : 0.f;
    ka += S::BK;
    NERVE_UNROLL
    for (int j = 0; j < S::runs; ++j) {
      const int ih = ih0 + kb.mid * g.dh, iw = iw0 + kb.lo * g.dw;
      float v = 0.f;
      if (kbf < kend && (unsigned)ih < (unsigned)g.H && (unsigned)iw < (unsigned)g.W)
        v = xb[(long long)kb.hi * g.HW + ih * g.W + iw];
      vb[j] = v;
      advance(kb, a.step_run);
      kbf += S::threads / TILE;
    }
  }

  // y[img, grp*Kg + m, p] = acc + bias
  __device__ __forceinline__ void store(const ConvArgs<float>& a, float (&acc)[8][8], int grp, int m0, int n0,
                                        int tx, int ty) {
    const ConvGeom& g = a.g;
    NERVE_UNROLL
    for (int h = 0; h < 2; ++h) {
      const int nb = n0 + h * (TILE / 2) + tx * 4;
      int img = nb / g.OHW, p = nb % g.OHW;
      NERVE_UNROLL
      for (int jj = 0; jj < 4; ++jj) {
        if (nb + jj < a.NC) {
          float* y = a.out + ((long long)img * g.K + (long long)grp * g.Kg) * g.OHW + p;
          NERVE_UNROLL
          for (int i = 0; i < 8; ++i) {
            const int m = m0 + (i >> 2) * (TILE / 2) + ty * 4 + (i & 3);
            if (m < a.M) y[(long long)m * g.OHW] = acc[i][h * 4 + jj] + (a.bias ? a.bias[grp * g.Kg + m] : 0.f);
          }
        }
        if (++p == g.OHW) p = 0, ++img;
      }
    }
  }
};

template <int TILE>
struct ConvDgradPass {  // A = w read as (c) x (k, r, s), B = dy gathered over (k, r, s) x (n, h, w)
  using S = ConvTile<TILE>;
  static constexpr bool kBAlongK = false;
  int aoff[S::runs];  // c * R*S of row m, -1 outside the group
  int kg0;            // the group's first output channel
  Digits ka;          // A: (k, r, s) of this thread's reduction index
  int kaf, kend;
  const float* dyb;   // B: dy of this thread's image and group
  int th, tw;         // B: h + pt, w + pl of its input pixel; th = -2^30 when out of range
  Digits kb;
  int kbf;

  __device__ __forceinline__ void init(const ConvArgs<float>& a, int grp, int m0, int n0, int k0, int k1, int t) {
    const ConvGeom& g = a.g;
    kend = k1;
    kg0 = grp * g.Kg;
    kaf = k0 + t % S::BK;
    ka = split_digits(kaf, g.R, g.S);
    NERVE_UNROLL
    for (int j = 0; j < S::runs; ++j) {
      const int m = m0 + t / S::BK + j * (S::threads / S::BK);
      aoff[j] = m < a.M ? m * g.RS : -1;
    }
    const int n = n0 + t % TILE;
    if (n < a.NC) {
      const int img = n / g.HW, p = n % g.HW;
      dyb = a.in + ((long long)img * g.K + kg0) * g.OHW;
      th = p / g.W + g.pt, tw = p % g.W + g.pl;
    } else {
      dyb = a.in, th = -(1 << 30), tw = 0;
    }
    kbf = k0 + t / TILE;
    kb = split_digits(kbf, g.R, g.S);
  }

  __device__ __forceinline__ void fetch(const ConvArgs<float>& a, float* va, float* vb) {
    const ConvGeom& g = a.g;
    const int krow = (kg0 + ka.hi) * g.Cg * g.RS + ka.mid * g.S + ka.lo;  // w[kg0 + k, 0, r, s]
    NERVE_UNROLL
    for (int j = 0; j < S::runs; ++j) va[j] = (kaf < kend && aoff[j] >= 0) ? a.wt[krow + aoff[j]] : 0.f;
    advance(ka, a.step_bk);
    kaf += S::BK;
    NERVE_UNROLL
    for (int j = 0; j < S::runs; ++j) {
      int oy = th - kb.mid * g.dh, ox = tw - kb.lo * g.dw;
      bool ok = kbf < kend && oy >= 0 && ox >= 0;
      if (g.sh != 1) ok = ok && oy % g.sh == 0, oy /= g.sh;
      if (g.sw != 1) ok = ok && ox % g.sw == 0, ox /= g.sw;
      vb[j] = (ok && oy < g.OH && ox < g.OW) ? dyb[(long long)kb.hi * g.OHW + oy * g.OW + ox] : 0.f;
      advance(kb, a.step_run);
      kbf += S::threads / TILE;
    }
  }

  // dx[img, grp*Cg + m, p] = acc
  __device__ __forceinline__ void store(const ConvArgs<float>& a, float (&acc)[8][8], int grp, int m0, int n0,
                                        int tx, int ty) {
    const ConvGeom& g = a.g;
    NERVE_UNROLL
    for (int h = 0; h < 2; ++h) {
      const int nb = n0 + h * (TILE / 2) + tx * 4;
      int img = nb / g.HW, p = nb % g.HW;
      NERVE_UNROLL
      for (int jj = 0; jj < 4; ++jj) {
        if (nb + jj < a.NC) {
          float* dx = a.out + ((long long)img * g.C + (long long)grp * g.Cg) * g.HW + p;
          NERVE_UNROLL
          for (int i = 0; i < 8; ++i) {
            const int m = m0 + (i >> 2) * (TILE / 2) + ty * 4 + (i & 3);
            if (m < a.M) dx[(long long)m * g.HW] = acc[i][h * 4 + jj];
          }
        }
        if (++p == g.HW) p = 0, ++img;
      }
    }
  }
};

template <int TILE>
struct ConvWgradPass {  // A = dy read as (k) x (n, oh, ow), B = x gathered over (n, oh, ow) x (c, r, s)
  using S = ConvTile<TILE>;
  static constexpr bool kBAlongK = true;
  int aoff[S::runs];            // (grp*Kg + m) * OH*OW, -1 outside the group
  int boff[S::runs];            // (grp*Cg + c) * H*W of column n = (c, r, s), -1 outside
  int br[S::runs], bs[S::runs]; // r*dh - pt, s*dw - pl
  Digits kk;                    // (n, oh, ow) of this thread's reduction index, for A and B alike
  int kf, kend;

  __device__ __forceinline__ void init(const ConvArgs<float>& a, int grp, int m0, int n0, int k0, int k1, int t) {
    const ConvGeom& g = a.g;
    kend = k1;
    kf = k0 + t % S::BK;
    kk = split_digits(kf, g.OH, g.OW);
    NERVE_UNROLL
    for (int j = 0; j < S::runs; ++j) {
      const int m = m0 + t / S::BK + j * (S::threads / S::BK);
      aoff[j] = m < a.M ? (grp * g.Kg + m) * g.OHW : -1;
      const int n = n0 + t / S::BK + j * (S::threads / S::BK);
      const int c = n / g.RS, r = n % g.RS / g.S, s = n % g.S;
      boff[j] = n < a.NC ? (grp * g.Cg + c) * g.HW : -1;
      br[j] = r * g.dh - g.pt, bs[j] = s * g.dw - g.pl;
    }
  }

  __device__ __forceinline__ void fetch(const ConvArgs<float>& a, float* va, float* vb) {
    const ConvGeom& g = a.g;
    const bool live = kf < kend;
    const float* dy = a.in + (long long)kk.hi * g.K * g.OHW + kk.mid * g.OW + kk.lo;
    const float* x = a.wt + (long long)kk.hi * g.C * g.HW;
    const int ih0 = kk.mid * g.sh, iw0 = kk.lo * g.sw;
    NERVE_UNROLL
    for (int j = 0; j < S::runs; ++j) va[j] = (live && aoff[j] >= 0) ? dy[aoff[j]] : 0.f;
    NERVE_UNROLL
    for (int j = 0; j < S::runs; ++j) {
      const int ih = ih0 + br[j], iw = iw0 + bs[j];
      vb[j] = (live && boff[j] >= 0 && (unsigned)ih < (unsigned)g.H && (unsigned)iw < (unsigned)g.W)
                  ? x[boff[j] + ih * g.W + iw]
                  : 0.f;
    }
    advance(kk, a.step_bk);
    kf += S::BK;
  }

  // dw[grp*Kg + m, n] += acc; atomically when the reduction is split over gridDim.z
  __device__ __forceinline__ void store(const ConvArgs<float>& a, float (&acc)[8][8], int grp, int m0, int n0,
                                        int tx, int ty) {
    const bool split = gridDim.z > 1;
    NERVE_UNROLL
    for (int i = 0; i < 8; ++i) {
      const int m = m0 + (i >> 2) * (TILE / 2) + ty * 4 + (i & 3);
      if (m >= a.M) continue;
      float* dw = a.out + (long long)(grp * a.g.Kg + m) * a.NC;
      NERVE_UNROLL
      for (int h = 0; h < 2; ++h)
        NERVE_UNROLL
        for (int jj = 0; jj < 4; ++jj) {
          const int n = n0 + h * (TILE / 2) + tx * 4 + jj;
          if (n >= a.NC) continue;
          if (split) atomicAdd(dw + n, acc[i][h * 4 + jj]);
          else dw[n] += acc[i][h * 4 + jj];
        }
    }
  }
};

// One TILE x TILE block of a group's GEMM per block of threads: blockIdx.x = tile (M fastest, so
// neighbouring blocks share their B columns), blockIdx.y = group (grid-stride), blockIdx.z = slice
// of the reduction (weight-grad only). The loop structure is the same for every thread, so no
// thread leaves a barrier behind.
template <int TILE, class Pass>
__global__ void __launch_bounds__(ConvTile<TILE>::threads, ConvTile<TILE>::min_blocks)
    conv_tiled_kernel(ConvArgs<float> a) {
  using S = ConvTile<TILE>;
  constexpr int BK = S::BK, R = S::runs, LD = S::ld;
  __shared__ __align__(16) float As[2][BK * LD];  // As[k][m]
  __shared__ __align__(16) float Bs[2][BK * LD];  // Bs[k][n]
  const int t = threadIdx.x, tx = t % (TILE / 8), ty = t / (TILE / 8);
  const int tiles_m = (a.M + TILE - 1) / TILE;
  const int m0 = int(blockIdx.x % tiles_m) * TILE, n0 = int(blockIdx.x / tiles_m) * TILE;
  const long long k0l = (long long)blockIdx.z * a.split_steps * BK;
  const int k0 = int(k0l), k1 = int(k0l + (long long)a.split_steps * BK < a.KR ? k0l + (long long)a.split_steps * BK : a.KR);
  const int steps = k1 > k0 ? (k1 - k0 + BK - 1) / BK : 0;

  for (int grp = blockIdx.y; grp < a.g.groups; grp += gridDim.y) {
    Pass pass;
    pass.init(a, grp, m0, n0, k0, k1, t);
    float va[R], vb[R];
    auto stash = [&](int buf) {
      NERVE_UNROLL
      for (int j = 0; j < R; ++j) {
        As[buf][(t % BK) * LD + t / BK + j * (S::threads / BK)] = va[j];
        if (Pass::kBAlongK) Bs[buf][(t % BK) * LD + t / BK + j * (S::threads / BK)] = vb[j];
        else Bs[buf][(t / TILE + j * (S::threads / TILE)) * LD + t % TILE] = vb[j];
      }
    };
    float acc[8][8];
    NERVE_UNROLL
    for (int i = 0; i < 8; ++i) {
      NERVE_UNROLL
      for (int j = 0; j < 8; ++j) acc[i][j] = 0.f;
    }
    if (steps > 0) {
      pass.fetch(a, va, vb);
      stash(0);
    }
    __syncthreads();
    for (int s = 0; s < steps; ++s) {
      const int buf = s & 1;
      if (s + 1 < steps) pass.fetch(a, va, vb);  // in flight while this step computes
      NERVE_UNROLL
      for (int k = 0; k < BK; ++k) {
        const float4 a0 = *reinterpret_cast<const float4*>(&As[buf][k * LD + ty * 4]);
        const float4 a1 = *reinterpret_cast<const float4*>(&As[buf][k * LD + ty * 4 + TILE / 2]);
        const float4 b0 = *reinterpret_cast<const float4*>(&Bs[buf][k * LD + tx * 4]);
        const float4 b1 = *reinterpret_cast<const float4*>(&Bs[buf][k * LD + tx * 4 + TILE / 2]);
        const float av[8] = {a0.x, a0.y, a0.z, a0.w, a1.x, a1.y, a1.z, a1.w};
        const float bv[8] = {b0.x, b0.y, b0.z, b0.w, b1.x, b1.y, b1.z, b1.w};
        NERVE_UNROLL
        for (int i = 0; i < 8; ++i) {
          NERVE_UNROLL
          for (int j = 0; j < 8; ++j) acc[i][j] += av[i] * bv[j];
        }
      }
      // The other buffer was last read before the previous barrier, so it can be filled now.
      if (s + 1 < steps) stash(buf ^ 1);
      __syncthreads();
    }
    pass.store(a, acc, grp, m0, n0, tx, ty);
  }
}

// ---- launchers -------------------------------------------------------------------------------------

inline int conv_sm_count() {
  static const int n = [] {
    int v = 0, dev = 0;
    if (cudaGetDevice(&dev) != cudaSuccess ||
        cudaDeviceGetAttribute(&v, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess) {
      cudaGetLastError();  // not sticky; assume a large GPU
      return 80;
    }
    return v;
  }();
  return n;
}

inline unsigned capped_blocks(long long work, int per_block) {
  const long long b = (work + per_block - 1) / per_block;
  return unsigned(b < 1 ? 1 : b > 65535 ? 65535 : b);
}

enum class ConvPass { forward, input_grad, weight_grad };

template <int TILE, class Pass>
void launch_tiled(ConvArgs<float> a, unsigned splits, cudaStream_t stream) {
  const bool taps = !std::is_same<Pass, ConvWgradPass<TILE>>::value;  // reduction over (c|k, r, s)
  const int mid_n = taps ? a.g.R : a.g.OH, lo_n = taps ? a.g.S : a.g.OW;
  a.step_bk = make_radix(ConvTile<TILE>::BK, mid_n, lo_n);
  a.step_run = make_radix(ConvTile<TILE>::threads / TILE, mid_n, lo_n);
  const unsigned tiles = ceil_div(a.M, TILE) * ceil_div(a.NC, TILE);
  const dim3 grid(tiles, unsigned(a.g.groups < 65535 ? a.g.groups : 65535), splits);
  CUDA_LAUNCH(grid, ConvTile<TILE>::threads, 0, stream, conv_tiled_kernel<TILE, Pass>)(a);
}

// Picks the kernel (automatic: the tiled one once a group is wide enough to fill its tile rows,
// 128-wide tiles when there are enough of them), the weight-grad's split of the reduction, and
// launches. `split_k` > 0 forces that many slices (tests).
template <class T>
void conv_launch(ConvPass pass, ConvArgs<T> a, ConvKernel kernel, int split_k, cudaStream_t stream, const char* op) {
  const ConvGeom& g = a.g;
  if (g.N == 0) return;  // nothing to write (y, dx empty) or to add (dw += 0): launch no empty grid
  if (pass == ConvPass::forward) a.M = g.Kg, a.NC = g.N * g.OHW, a.KR = g.Cg * g.RS;
  else if (pass == ConvPass::input_grad) a.M = g.Cg, a.NC = g.N * g.HW, a.KR = g.Kg * g.RS;
  else a.M = g.Kg, a.NC = g.Cg * g.RS, a.KR = g.N * g.OHW;
  const bool tiled_ok = std::is_same<T, float>::value;
  if (kernel == ConvKernel::automatic) {
    const bool wide = a.M >= 16 && (pass == ConvPass::weight_grad ? a.NC >= 16 : a.KR >= 8);
    if (!tiled_ok || !wide) {
      kernel = ConvKernel::simple;
    } else {
      const long long tiles128 = (long long)ceil_div(a.M, 128) * ceil_div(a.NC, 128) * g.groups;
      const bool big = a.M > 64 && (pass == ConvPass::weight_grad ? a.NC > 64 : tiles128 >= 2 * conv_sm_count());
      kernel = big ? ConvKernel::tile128 : ConvKernel::tile64;
    }
  }
  if (kernel == ConvKernel::simple || !tiled_ok) {
    if (pass == ConvPass::forward) {
      const unsigned b = capped_blocks((long long)g.N * g.K * g.OHW, kSimpleThreads);
      CUDA_LAUNCH(b, kSimpleThreads, 0, stream, conv_fwd_simple_kernel<T>)(a);
    } else if (pass == ConvPass::input_grad) {
      const unsigned b = capped_blocks((long long)g.N * g.C * g.HW, kSimpleThreads);
      CUDA_LAUNCH(b, kSimpleThreads, 0, stream, conv_dgrad_simple_kernel<T>)(a);
    } else {
      const unsigned b = capped_blocks((long long)g.K * g.Cg * g.RS, 1);
      CUDA_LAUNCH(b, kReduceThreads, 0, stream, conv_wgrad_simple_kernel<T>)(a);
    }
    check_last(op);
    return;
  }
  if constexpr (std::is_same<T, float>::value) {
    const int tile = kernel == ConvKernel::tile128 ? 128 : 64;
    const long long steps = (a.KR + 7) / 8;
    long long splits = 1;
    if (pass == ConvPass::weight_grad) {
      if (split_k > 0) {
        splits = split_k;
      } else {
        // Enough blocks for about four per multiprocessor, each slice at least 32 steps long.
        const long long blocks = (long long)ceil_div(a.M, tile) * ceil_div(a.NC, tile) * g.groups;
        const long long want = (4LL * conv_sm_count() + blocks - 1) / blocks;
        splits = want < steps / 32 ? want : steps / 32;
      }
      if (splits > steps) splits = steps;
      if (splits > 65535) splits = 65535;
      if (splits < 1) splits = 1;
    }
    a.split_steps = int((steps + splits - 1) / splits);
    splits = a.split_steps > 0 ? (steps + a.split_steps - 1) / a.split_steps : 1;
    if (splits < 1) splits = 1;
    const unsigned z = unsigned(splits);
    if (tile == 128) {
      if (pass == ConvPass::forward) launch_tiled<128, ConvFwdPass<128>>(a, z, stream);
      else if (pass == ConvPass::input_grad) launch_tiled<128, ConvDgradPass<128>>(a, z, stream);
      else launch_tiled<128, ConvWgradPass<128>>(a, z, stream);
    } else {
      if (pass == ConvPass::forward) launch_tiled<64, ConvFwdPass<64>>(a, z, stream);
      else if (pass == ConvPass::input_grad) launch_tiled<64, ConvDgradPass<64>>(a, z, stream);
      else launch_tiled<64, ConvWgradPass<64>>(a, z, stream);
    }
  }
  check_last(op);
}

template <class T>
void conv_bias_grad_launch(T* db, const T* dy, const ConvGeom& g, cudaStream_t stream, const char* op) {
  CUDA_LAUNCH(capped_blocks(g.K, 1), kSimpleThreads, 0, stream, conv_bias_grad_kernel<T>)(db, dy, g.N, g.K, g.OHW);
  check_last(op);
}

}  // namespace nerve::cuda
