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
  static constexpr int runs = TILE * BK / 4 / threads;       // runs of 4 elements a thread loads, of A and of B
  // Blocks per SM that must fit in registers: 2 of 256 threads caps a thread at 128 registers; the
  // small tile is for small problems and may use more.
  static constexpr int min_blocks = threads >= 256 ? 2 : 1;
};

// One run of 4 elements of a K step's A or B tile that one thread loads: 4 along K, or 4 along the
// other dimension (M of A, N of B), whichever the flags say is closer to contiguous. Set up once;
// each K step reads it and moves `p` on by 8 along K. Strides and flags stay in kernel parameters
// (uniform), so a run costs few registers.
struct Run {
  const float* p;  // first element at the current K step
  int lim;         // along K: elements of K left from k0 = 0 (0 if the run's row is out of range);
                   // otherwise K - (the run's k)
  int cap;         // otherwise: elements in range along the other dimension (0..4)
  int dst;         // offset of the first element in the shared tile [k][TILE]
};

__device__ __forceinline__ float4 load_run(const Run& u, int k0, bool along_k, long long step, bool vec) {
  const int valid = along_k ? clamp4(u.lim - k0) : (k0 < u.lim ? u.cap : 0);
  return load4(u.p, step, valid, vec);
}

// Run r of a tile of X, an operand whose element (i, k) is X[i*si + k*sk] for i < I, k < K: A
// with (i, k) = (m, k), or B read as its transpose, (i, k) = (n, k). i0: the tile's first i.
__device__ __forceinline__ Run make_run(const float* X, long long si, long long sk, long long I, long long K,
                                        long long i0, int r, int tile, bool along_k) {
  Run u;
  long long i, k;
  if (along_k) {
    const int row = r >> 1, kq = (r & 1) * 4;
    i = i0 + row, k = kq;
    u.dst = kq * tile + row;
    u.cap = i < I ? 4 : 0;
    u.lim = u.cap ? int(K) - kq : 0;
  } else {
    const int kr = r / (tile / 4), iq = (r % (tile / 4)) * 4;
    i = i0 + iq, k = kr;
    u.dst = kr * tile + iq;
    u.cap = clamp4(I - i);
    u.lim = int(K) - kr;
  }
  u.p = u.cap ? X + i * si + k * sk : X;
  return u;
}

__device__ __forceinline__ void store4(float* s, int step, float4 v) {
  if (step == 1) {
    *reinterpret_cast<float4*>(s) = v;
  } else {
    s[0] = v.x, s[step] = v.y, s[2 * step] = v.z, s[3 * step] = v.w;
  }
}

template <int TILE>
__global__ void __launch_bounds__(TileShape<TILE>::threads, TileShape<TILE>::min_blocks)
    gemm_tiled_kernel(GemmArgs g) {
  using S = TileShape<TILE>;
  constexpr int BK = S::BK, R = S::runs;
  __shared__ __align__(16) float As[2][BK * TILE];  // As[k][m]: column k of the A tile
  __shared__ __align__(16) float Bs[2][BK * TILE];  // Bs[k][n]: row k of the B tile
  const int t = threadIdx.x, tx = t % (TILE / 8), ty = t / (TILE / 8);

  // Tiles are numbered in groups of 8 tile-rows, so blocks running together share A and B in L2.
  const long long tiles_m = (g.n.M + TILE - 1) / TILE, tiles_n = (g.n.N + TILE - 1) / TILE;
  const long long per_group = 8 * tiles_n, first_m = blockIdx.x / per_group * 8;
  const long long rows = tiles_m - first_m < 8 ? tiles_m - first_m : 8;
  const long long m0 = (first_m + (blockIdx.x % per_group) % rows) * TILE;
  const long long n0 = (blockIdx.x % per_group) / rows * TILE;
  const int steps = int((g.n.K + BK - 1) / BK);  // the launcher keeps K below 2^31

  for (long long b = blockIdx.y; b < g.n.batch; b += gridDim.y) {
    // A is read as (m, k) and B as its transpose (n, k); a run along K lands in a column of the
    // shared tile (stride TILE), a run along M or N in a row (contiguous).
    const bool a_k = g.flags & kAAlongK, b_k = !(g.flags & kBAlongN);
    Run ra[R], rb[R];
    float4 va[R], vb[R];
    NERVE_UNROLL
    for (int r = 0; r < R; ++r) {
      ra[r] = make_run(g.A + b * g.sa.bs, g.sa.rs, g.sa.cs, g.n.M, g.n.K, m0, t + r * S::threads, TILE, a_k);
      rb[r] = make_run(g.B + b * g.sb.bs, g.sb.cs, g.sb.rs, g.n.N, g.n.K, n0, t + r * S::threads, TILE, b_k);
    }
    auto fetch = [&](int k0) {
      NERVE_UNROLL
      for (int r = 0; r < R; ++r) {
        va[r] = load_run(ra[r], k0, a_k, a_k ? g.sa.cs : g.sa.rs, g.flags & kAVec);
        vb[r] = load_run(rb[r], k0, b_k, b_k ? g.sb.rs : g.sb.cs, g.flags & kBVec);
        ra[r].p += BK * g.sa.cs, rb[r].p += BK * g.sb.rs;
      }
    };
    auto stash = [&](int buf) {
      NERVE_UNROLL
      for (int r = 0; r < R; ++r) {
        store4(&As[buf][ra[r].dst], a_k ? TILE : 1, va[r]);
        store4(&Bs[buf][rb[r].dst], b_k ? TILE : 1, vb[r]);
      }
    };

    float acc[8][8];
    NERVE_UNROLL
    for (int i = 0; i < 8; ++i) {
      NERVE_UNROLL
      for (int j = 0; j < 8; ++j) acc[i][j] = 0.f;
    }
    if (steps > 0) {
      fetch(0);
      stash(0);
    }
    __syncthreads();
    for (int s = 0; s < steps; ++s) {
      const int buf = s & 1;
      if (s + 1 < steps) fetch((s + 1) * BK);  // in flight while this step computes
      NERVE_UNROLL
      for (int k = 0; k < BK; ++k) {
        // Two 4-wide quadrants half a tile apart: a warp's float4 reads hit distinct banks.
        const float4 a0 = *reinterpret_cast<const float4*>(&As[buf][k * TILE + ty * 4]);
        const float4 a1 = *reinterpret_cast<const float4*>(&As[buf][k * TILE + ty * 4 + TILE / 2]);
        const float4 b0 = *reinterpret_cast<const float4*>(&Bs[buf][k * TILE + tx * 4]);
        const float4 b1 = *reinterpret_cast<const float4*>(&Bs[buf][k * TILE + tx * 4 + TILE / 2]);
        const float a[8] = {a0.x, a0.y, a0.z, a0.w, a1.x, a1.y, a1.z, a1.w};
        const float bv[8] = {b0.x, b0.y, b0.z, b0.w, b1.x, b1.y, b1.z, b1.w};
        NERVE_UNROLL
        for (int i = 0; i < 8; ++i) {
          NERVE_UNROLL
          for (int j = 0; j < 8; ++j) acc[i][j] += a[i] * bv[j];
        }
      }
      // The other buffer was last read before the previous barrier, so it can be filled now.
      if (s + 1 < steps) stash(buf ^ 1);
      __syncthreads();
    }

    float* C = g.C + b * g.sc.bs;
    NERVE_UNROLL
    for (int i = 0; i < 8; ++i) {
      const long long m = m0 + (i >> 2) * (TILE / 2) + ty * 4 + (i & 3);
      if (m >= g.n.M) continue;
      NERVE_UNROLL
      for (int h = 0; h < 2; ++h) {
        const long long n = n0 + h * (TILE / 2) + tx * 4;
        float* c = C + m * g.sc.rs + n * g.sc.cs;
        if ((g.flags & kCVec) && n + 4 <= g.n.N) {
          float4 o = g.beta == 0.f ? make_float4(0.f, 0.f, 0.f, 0.f) : *reinterpret_cast<const float4*>(c);
          o.x = g.alpha * acc[i][h * 4] + g.beta * o.x;
          o.y = g.alpha * acc[i][h * 4 + 1] + g.beta * o.y;
          o.z = g.alpha * acc[i][h * 4 + 2] + g.beta * o.z;
          o.w = g.alpha * acc[i][h * 4 + 3] + g.beta * o.w;
          *reinterpret_cast<float4*>(c) = o;
        } else {
          NERVE_UNROLL
          for (int j = 0; j < 4; ++j)
            if (n + j < g.n.N) c[j * g.sc.cs] = scale_add(g.alpha, acc[i][h * 4 + j], g.beta, c + j * g.sc.cs);
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
    if (cudaGetDevice(&dev) != cudaSuccess ||
        cudaDeviceGetAttribute(&v, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess) {
      cudaGetLastError();  // not sticky; assume a large GPU
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
  if (kernel == GemmKernel::simple || n.K > (1ll << 31) - 64) {  // the tiled kernels count K in int
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
