// gemm.cuh — CUDA SGEMM kernels and their launcher; compiled by nvcc (gemm.cu) and by g++ under
// the emulator (tests). C[b] = alpha * A[b] @ B[b] + beta * C[b] with BLIS-style strides, so all
// transposes, slices and broadcast batches arrive as strides. beta = 0 ignores C (even NaN).
//
//   gemm_simple_kernel   one thread per element of C through 16x16 shared tiles: the portable
//                        reference, kept simple on purpose.
//   gemm_tiled_kernel    the fast one: a TILE x TILE block of C per block (128 or 64), 8x8 per
//                        thread, K in steps of 8 through double-buffered shared memory with the
//                        next step's global loads in flight, float4 loads along whichever dimension
//                        of A / B is contiguous (when aligned), bounds-checked loads at the edges.
#pragma once
#include "../cpu/gemm.h"
#include "cuda_compat.h"

namespace nerve::cuda {

enum class GemmKernel { automatic = 0, simple = 1, tile64 = 2, tile128 = 3 };

struct GemmArgs {
  float* C;
  MatStrides sc;
  const float* A;
  MatStrides sa;
  const float* B;
  MatStrides sb;
  GemmSize n;
  float alpha, beta;
  unsigned flags;  // GemmFlags: how A, B and C may be loaded
};

enum GemmFlags : unsigned {
  kAAlongK = 1,   // A is read in runs of 4 along K (else along M)
  kAVec = 2,      // ... and those runs are aligned, contiguous float4s
  kBAlongN = 4,   // B is read in runs of 4 along N (else along K)
  kBVec = 8,
  kCVec = 16,     // C rows are contiguous and aligned: float4 stores
};

// kernels

constexpr int kSimpleTile = 16;

__device__ __forceinline__ float scale_add(float alpha, float acc, float beta, const float* c) {
  return alpha * acc + (beta == 0.f ? 0.f : beta * *c);
}

// One thread per element of C; bounds are checked on every load, so partial tiles read zeros.
// Rows and batches loop by grid stride, so no size runs into the 65535 limit of grid.y / grid.z.
__global__ void gemm_simple_kernel(GemmArgs g) {
  __shared__ float as[kSimpleTile][kSimpleTile];
  __shared__ float bs[kSimpleTile][kSimpleTile + 1];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const long long j = (long long)blockIdx.x * kSimpleTile + tx;
  for (long long b = blockIdx.z; b < g.n.batch; b += gridDim.z) {
    const float* A = g.A + b * g.sa.bs;
    const float* B = g.B + b * g.sb.bs;
    for (long long i0 = (long long)blockIdx.y * kSimpleTile; i0 < g.n.M; i0 += (long long)gridDim.y * kSimpleTile) {
      const long long i = i0 + ty;
      float acc = 0.f;
      for (long long k0 = 0; k0 < g.n.K; k0 += kSimpleTile) {
        const long long ka = k0 + tx, kb = k0 + ty;
        as[ty][tx] = (i < g.n.M && ka < g.n.K) ? A[i * g.sa.rs + ka * g.sa.cs] : 0.f;
        bs[ty][tx] = (kb < g.n.K && j < g.n.N) ? B[kb * g.sb.rs + j * g.sb.cs] : 0.f;
        __syncthreads();
        for (int k = 0; k < kSimpleTile; ++k) acc += as[ty][k] * bs[k][tx];
        __syncthreads();
      }
      if (i < g.n.M && j < g.n.N) {
        float* c = g.C + b * g.sc.bs + i * g.sc.rs + j * g.sc.cs;
        *c = scale_add(g.alpha, acc, g.beta, c);
      }
    }
  }
}

// Four elements p[0], p[step], p[2*step], p[3*step]; those from `valid` on read as 0.
__device__ __forceinline__ float4 load4(const float* p, long long step, int valid, bool vec) {
  if (vec && valid >= 4) return *reinterpret_cast<const float4*>(p);
  float4 v = make_float4(0.f, 0.f, 0.f, 0.f);
  if (valid > 0) v.x = p[0];
  if (valid > 1) v.y = p[step];
  if (valid > 2) v.z = p[2 * step];
  if (valid > 3) v.w = p[3 * step];
  return v;
}

__device__ __forceinline__ int clamp4(long long n) { return n <= 0 ? 0 : (n >= 4 ? 4 : int(n)); }

// A TILE x TILE block of C per block of threads, 8x8 elements per thread, K in steps of 8.
template <int TILE>
struct TileShape {
  static constexpr int BK = 8;
  static constexpr int threads = (TILE / 8) * (TILE / 8);
  static constexpr int runs = TILE * BK / 4 / threads;  // runs of 4 elements a thread loads, of A and of B
};

// Run r of the A tile at (m0, k0): 4 elements along K (a row of A) or along M (a column). `dst`
// and `dstep` say where they go in the tile As[k][m].
__device__ __forceinline__ float4 load_a_run(const GemmArgs& g, const float* A, long long m0, long long k0, int r,
                                             int BM, int* dst, int* dstep) {
  if (g.flags & kAAlongK) {
    const int row = r >> 1, kq = (r & 1) * 4;
    const long long m = m0 + row, k = k0 + kq;
    *dst = kq * BM + row;
    *dstep = BM;
    const int valid = m < g.n.M ? clamp4(g.n.K - k) : 0;
    return load4(valid ? A + m * g.sa.rs + k * g.sa.cs : A, g.sa.cs, valid, g.flags & kAVec);
  }
  const int k = r / (BM / 4), mq = (r % (BM / 4)) * 4;
  const long long m = m0 + mq, kk = k0 + k;
  *dst = k * BM + mq;
  *dstep = 1;
  const int valid = kk < g.n.K ? clamp4(g.n.M - m) : 0;
  return load4(valid ? A + m * g.sa.rs + kk * g.sa.cs : A, g.sa.rs, valid, g.flags & kAVec);
}

// Run r of the B tile at (k0, n0), into Bs[k][n].
__device__ __forceinline__ float4 load_b_run(const GemmArgs& g, const float* B, long long k0, long long n0, int r,
                                             int BN, int* dst, int* dstep) {
  if (g.flags & kBAlongN) {
    const int k = r / (BN / 4), nq = (r % (BN / 4)) * 4;
    const long long kk = k0 + k, n = n0 + nq;
    *dst = k * BN + nq;
    *dstep = 1;
    const int valid = kk < g.n.K ? clamp4(g.n.N - n) : 0;
    return load4(valid ? B + kk * g.sb.rs + n * g.sb.cs : B, g.sb.cs, valid, g.flags & kBVec);
  }
  const int col = r >> 1, kq = (r & 1) * 4;
  const long long n = n0 + col, k = k0 + kq;
  *dst = kq * BN + col;
  *dstep = BN;
  const int valid = n < g.n.N ? clamp4(g.n.K - k) : 0;
  return load4(valid ? B + k * g.sb.rs + n * g.sb.cs : B, g.sb.rs, valid, g.flags & kBVec);
}

__device__ __forceinline__ void store4(float* s, int step, float4 v) {
  if (step == 1) {
    *reinterpret_cast<float4*>(s) = v;
  } else {
    s[0] = v.x, s[step] = v.y, s[2 * step] = v.z, s[3 * step] = v.w;
  }
}

template <int TILE>
__global__ void __launch_bounds__(TileShape<TILE>::threads) gemm_tiled_kernel(GemmArgs g) {
  using S = TileShape<TILE>;
  constexpr int BM = TILE, BN = TILE, BK = S::BK;
  __shared__ __align__(16) float As[2][BK * BM];  // As[k][m]: column k of the A tile
  __shared__ __align__(16) float Bs[2][BK * BN];  // Bs[k][n]: row k of the B tile
  const int t = threadIdx.x, tx = t % (BN / 8), ty = t / (BN / 8);

  // Tiles are numbered in groups of 8 tile-rows, so blocks running together share A and B in L2.
  const long long tiles_m = (g.n.M + BM - 1) / BM, tiles_n = (g.n.N + BN - 1) / BN;
  const long long per_group = 8 * tiles_n, group = blockIdx.x / per_group;
  const long long first_m = group * 8, rows = tiles_m - first_m < 8 ? tiles_m - first_m : 8;
  const long long m0 = (first_m + (blockIdx.x % per_group) % rows) * BM;
  const long long n0 = ((blockIdx.x % per_group) / rows) * BN;
  const long long steps = (g.n.K + BK - 1) / BK;

  for (long long b = blockIdx.y; b < g.n.batch; b += gridDim.y) {
    const float* A = g.A + b * g.sa.bs;
    const float* B = g.B + b * g.sb.bs;
    float acc[8][8];
    for (int i = 0; i < 8; ++i)
      for (int j = 0; j < 8; ++j) acc[i][j] = 0.f;
    float4 ra[S::runs], rb[S::runs];
    int da[S::runs], sa[S::runs], db[S::runs], sb[S::runs];
    auto fetch = [&](long long k0) {
      for (int r = 0; r < S::runs; ++r) {
        ra[r] = load_a_run(g, A, m0, k0, t + r * S::threads, BM, &da[r], &sa[r]);
        rb[r] = load_b_run(g, B, k0, n0, t + r * S::threads, BN, &db[r], &sb[r]);
      }
    };
    auto stash = [&](int buf) {
      for (int r = 0; r < S::runs; ++r) {
        store4(&As[buf][da[r]], sa[r], ra[r]);
        store4(&Bs[buf][db[r]], sb[r], rb[r]);
      }
    };
    if (steps > 0) {
      fetch(0);
      stash(0);
    }
    __syncthreads();
    for (long long s = 0; s < steps; ++s) {
      const int buf = int(s & 1);
      if (s + 1 < steps) fetch((s + 1) * BK);  // in flight while this step computes
      for (int k = 0; k < BK; ++k) {
        const float4 a0 = *reinterpret_cast<const float4*>(&As[buf][k * BM + ty * 4]);
        const float4 a1 = *reinterpret_cast<const float4*>(&As[buf][k * BM + ty * 4 + BM / 2]);
        const float4 b0 = *reinterpret_cast<const float4*>(&Bs[buf][k * BN + tx * 4]);
        const float4 b1 = *reinterpret_cast<const float4*>(&Bs[buf][k * BN + tx * 4 + BN / 2]);
        const float a[8] = {a0.x, a0.y, a0.z, a0.w, a1.x, a1.y, a1.z, a1.w};
        const float bv[8] = {b0.x, b0.y, b0.z, b0.w, b1.x, b1.y, b1.z, b1.w};
        for (int i = 0; i < 8; ++i)
          for (int j = 0; j < 8; ++j) acc[i][j] += a[i] * bv[j];
      }
      // The other buffer was last read before the previous barrier, so it can be filled now.
      if (s + 1 < steps) stash(buf ^ 1);
      __syncthreads();
    }

    float* C = g.C + b * g.sc.bs;
    for (int i = 0; i < 8; ++i) {
      const long long m = m0 + (i >> 2) * (BM / 2) + ty * 4 + (i & 3);
      if (m >= g.n.M) continue;
      for (int h = 0; h < 2; ++h) {
        const long long n = n0 + h * (BN / 2) + tx * 4;
        float* c = C + m * g.sc.rs + n * g.sc.cs;
        const float* v = &acc[i][h * 4];
        if ((g.flags & kCVec) && n + 4 <= g.n.N) {
          float4 o = g.beta == 0.f ? make_float4(0.f, 0.f, 0.f, 0.f) : *reinterpret_cast<const float4*>(c);
          o.x = g.alpha * v[0] + g.beta * o.x;
          o.y = g.alpha * v[1] + g.beta * o.y;
          o.z = g.alpha * v[2] + g.beta * o.z;
          o.w = g.alpha * v[3] + g.beta * o.w;
          *reinterpret_cast<float4*>(c) = o;
        } else {
          for (int j = 0; j < 4 && n + j < g.n.N; ++j) c[j * g.sc.cs] = scale_add(g.alpha, v[j], g.beta, c + j * g.sc.cs);
        }
      }
    }
  }
}

// launchers

inline bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

// How the tiled kernel may read A and B and write C (see GemmFlags).
inline unsigned gemm_flags(const GemmArgs& g) {
  auto runs = [&](MatStrides s, bool along_cols, const void* p) {
    const long long unit = along_cols ? s.cs : s.rs, other = along_cols ? s.rs : s.cs;
    return unit == 1 && other % 4 == 0 && (g.n.batch == 1 || s.bs % 4 == 0) && aligned16(p);
  };
  auto abs = [](long long v) { return v < 0 ? -v : v; };
  unsigned f = 0;
  const bool a_k = g.sa.cs == 1 || (g.sa.rs != 1 && abs(g.sa.cs) <= abs(g.sa.rs));
  const bool b_n = g.sb.cs == 1 || (g.sb.rs != 1 && abs(g.sb.cs) <= abs(g.sb.rs));
  if (a_k) f |= kAAlongK;
  if (runs(g.sa, a_k, g.A)) f |= kAVec;
  if (b_n) f |= kBAlongN;
  if (runs(g.sb, b_n, g.B)) f |= kBVec;
  if (runs(g.sc, true, g.C)) f |= kCVec;
  return f;
}

inline int multiprocessors() {
  static const int n = [] {
    int v = 0, dev = 0;
    if (cudaGetDevice(&dev) != cudaSuccess || cudaDeviceGetAttribute(&v, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess) {
      cudaGetLastError();
      return 80;
    }
    return v;
  }();
  return n;
}

inline void gemm_f32_launch(float* C, MatStrides sc, const float* A, MatStrides sa, const float* B, MatStrides sb,
                            GemmSize n, float alpha, float beta, cudaStream_t stream,
                            GemmKernel kernel = GemmKernel::automatic) {
  if (n.batch <= 0 || n.M <= 0 || n.N <= 0) return;
  GemmArgs g{C, sc, A, sa, B, sb, n, alpha, beta, 0};
  const unsigned batches = static_cast<unsigned>(n.batch < 65535 ? n.batch : 65535);
  if (kernel == GemmKernel::automatic) {
    // 128x128 tiles once there are enough of them to fill the GPU twice over.
    const long long tiles = (long long)ceil_div(n.M, 128) * ceil_div(n.N, 128) * n.batch;
    kernel = tiles >= 2 * multiprocessors() ? GemmKernel::tile128 : GemmKernel::tile64;
  }
  if (kernel == GemmKernel::simple) {
    const unsigned rows = ceil_div(n.M, kSimpleTile);
    dim3 grid(ceil_div(n.N, kSimpleTile), rows < 65535 ? rows : 65535, batches);
    CUDA_LAUNCH(grid, dim3(kSimpleTile, kSimpleTile), 0, stream, gemm_simple_kernel)(g);
  } else {
    g.flags = gemm_flags(g);
    if (kernel == GemmKernel::tile128) {
      dim3 grid(ceil_div(n.M, 128) * ceil_div(n.N, 128), batches);
      CUDA_LAUNCH(grid, TileShape<128>::threads, 0, stream, gemm_tiled_kernel<128>)(g);
    } else {
      dim3 grid(ceil_div(n.M, 64) * ceil_div(n.N, 64), batches);
      CUDA_LAUNCH(grid, TileShape<64>::threads, 0, stream, gemm_tiled_kernel<64>)(g);
    }
  }
  check_last("matmul");
}

}  // namespace nerve::cuda
