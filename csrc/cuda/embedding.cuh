// embedding.cuh — CUDA embedding kernels and launchers (float32 weights, int64 or int32 indices);
// compiled by nvcc (embedding.cu) and by g++ under the emulator (tests).
//
// Forward: one block per output row (grid-stride), threads across D. A bad index writes zeros and
// records n - position in *status with atomicMax, so the host learns the first bad position.
//
// Backward is deterministic and sorts nothing globally; it buckets positions by weight row:
//   emb_count    count[v] = how many positions name row v (integer atomics: exact)
//   emb_scan     start = exclusive prefix sum of count (one block, tile by tile)
//   emb_fill     each position drops into its row's bucket through an atomic cursor, so a bucket
//                holds the right positions in an arbitrary order
//   emb_rows     one block per weight row: the bucket is ordered by a rank sort in shared memory
//                (buckets up to kEmbSortMax positions; a longer one, at most n / kEmbSortMax of
//                them, is instead found by scanning all indices in order), then every thread sums
//                its columns over the positions in increasing order. Each row's sum therefore runs
//                in index order, exactly as on the CPU: the result is bitwise the CPU kernel's.
// Workspace: int32 count (V), start (V + 1), cursor (V), positions (n).
#pragma once
#include <cstdint>

#include "cuda_compat.h"

namespace nerve::cuda {

constexpr int kEmbThreads = 128;
constexpr int kEmbSortMax = 1024;

// kernels

template <class I>
__global__ void emb_forward(float* out, const float* weight, const I* indices, long long n, long long V, long long D,
                            long long* status) {
  for (long long i = blockIdx.x; i < n; i += gridDim.x) {
    const long long v = (long long)indices[i];
    const bool ok = v >= 0 && v < V;
    if (!ok && threadIdx.x == 0) atomicMax(status, n - i);
    float* o = out + i * D;
    const float* w = weight + (ok ? v : 0) * D;
    for (long long j = threadIdx.x; j < D; j += blockDim.x) o[j] = ok ? w[j] : 0.f;
  }
}

__global__ void emb_zero(int* p, long long count) {
  const long long stride = (long long)gridDim.x * blockDim.x;
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < count; i += stride) p[i] = 0;
}

template <class I>
__global__ void emb_count(int* count, const I* indices, long long n, long long V, long long padding_idx) {
  const long long stride = (long long)gridDim.x * blockDim.x;
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
    const long long v = (long long)indices[i];
    if (v >= 0 && v < V && v != padding_idx) atomicAdd(count + v, 1);
  }
}

// start[v] = count[0] + ... + count[v - 1], start[V] = the total; one block of blockDim threads
// (a multiple of 32) walks the rows a tile at a time.
__global__ void emb_scan(int* start, const int* count, long long V) {
  __shared__ int warp_sums[32];
  __shared__ int carry;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
  if (threadIdx.x == 0) carry = 0;
  __syncthreads();
  for (long long base = 0; base < V; base += blockDim.x) {
    const long long v = base + threadIdx.x;
    const int c = v < V ? count[v] : 0;
    int incl = c;  // inclusive scan within the warp
    for (int o = 1; o < 32; o <<= 1) {
      const int up = __shfl_up_sync(0xffffffffu, incl, o);
      if (lane >= o) incl += up;
    }
    if (lane == 31) warp_sums[warp] = incl;
    __syncthreads();
    if (warp == 0) {
      int w = lane < nwarps ? warp_sums[lane] : 0;
      for (int o = 1; o < 32; o <<= 1) {
        const int up = __shfl_up_sync(0xffffffffu, w, o);
        if (lane >= o) w += up;
      }
      if (lane < nwarps) warp_sums[lane] = w;  // inclusive prefix over warps
    }
    __syncthreads();
    const int before = carry + (warp > 0 ? warp_sums[warp - 1] : 0);
    if (v < V) start[v] = before + incl - c;
    __syncthreads();
    if (threadIdx.x == blockDim.x - 1) carry = before + incl;
    __syncthreads();
  }
  if (threadIdx.x == 0) start[V] = carry;
}

template <class I>
__global__ void emb_fill(int* positions, int* cursor, const int* start, const I* indices, long long n, long long V,
                         long long padding_idx) {
  const long long stride = (long long)gridDim.x * blockDim.x;
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
    const long long v = (long long)indices[i];
    if (v >= 0 && v < V && v != padding_idx) positions[start[v] + atomicAdd(cursor + v, 1)] = int(i);
  }
}

template <class I>
__global__ void emb_rows(float* dweight, const float* dy, const I* indices, const int* count, const int* start,
                         const int* positions, long long n, long long V, long long D, bool scale_grad_by_freq) {
  __shared__ int bucket[kEmbSortMax], sorted[kEmbSortMax];
  for (long long v = blockIdx.x; v < V; v += gridDim.x) {
    const int m = count[v];
    if (m == 0) continue;  // uniform across the block: no barrier is skipped by some threads only
    const float scale = 1.f / float(m);
    if (m <= kEmbSortMax) {
      const int* b = positions + start[v];
      for (int k = threadIdx.x; k < m; k += blockDim.x) bucket[k] = b[k];
      __syncthreads();
      for (int k = threadIdx.x; k < m; k += blockDim.x) {  // positions are distinct: rank = how many are smaller
        const int p = bucket[k];
        int rank = 0;
        for (int q = 0; q < m; ++q) rank += bucket[q] < p;
        sorted[rank] = p;
      }
      __syncthreads();
      for (long long j = threadIdx.x; j < D; j += blockDim.x) {
        float acc = dweight[v * D + j];
        for (int k = 0; k < m; ++k) {
          const float g = dy[(long long)sorted[k] * D + j];
          acc += scale_grad_by_freq ? __fmul_rn(g, scale) : g;  // no fused multiply-add: the CPU's rounding
        }
        dweight[v * D + j] = acc;
      }
      __syncthreads();  // the shared bucket is refilled for the next row
    } else {
      for (long long j = threadIdx.x; j < D; j += blockDim.x) {
        float acc = dweight[v * D + j];
        for (long long i = 0; i < n; ++i)
          if ((long long)indices[i] == v) {
            const float g = dy[i * D + j];
            acc += scale_grad_by_freq ? __fmul_rn(g, scale) : g;
          }
        dweight[v * D + j] = acc;
      }
    }
  }
}

// launchers

constexpr unsigned kEmbMaxBlocks = 65535;

inline unsigned emb_blocks(long long n, int per_block) {
  const long long b = (n + per_block - 1) / per_block;
  return unsigned(b < 1 ? 1 : b > kEmbMaxBlocks ? kEmbMaxBlocks : b);
}

inline long long emb_workspace_ints(long long n, long long V) { return 3 * V + 1 + n; }

inline int emb_threads(long long D) { return D <= 32 ? 32 : D <= 64 ? 64 : kEmbThreads; }

template <class I>
void embedding_forward_launch(float* out, const float* weight, const I* indices, long long n, long long V, long long D,
                              long long* status, cudaStream_t stream) {
  if (n == 0) return;
  CUDA_LAUNCH(emb_blocks(n, 1), emb_threads(D), 0, stream, emb_forward<I>)(out, weight, indices, n, V, D, status);
  check_last("embedding");
}

template <class I>
void embedding_backward_launch(float* dweight, const float* dy, const I* indices, long long n, long long V,
                               long long D, long long padding_idx, bool scale_grad_by_freq, int* work,
                               cudaStream_t stream) {
  if (n == 0 || V == 0) return;
  int *count = work, *start = work + V, *cursor = work + 2 * V + 1, *positions = work + 3 * V + 1;
  CUDA_LAUNCH(emb_blocks(V, 256), 256, 0, stream, emb_zero)(count, V);
  CUDA_LAUNCH(emb_blocks(V, 256), 256, 0, stream, emb_zero)(cursor, V);
  CUDA_LAUNCH(emb_blocks(n, 256), 256, 0, stream, emb_count<I>)(count, indices, n, V, padding_idx);
  CUDA_LAUNCH(1, 1024, 0, stream, emb_scan)(start, count, V);
  CUDA_LAUNCH(emb_blocks(n, 256), 256, 0, stream, emb_fill<I>)(positions, cursor, start, indices, n, V, padding_idx);
  CUDA_LAUNCH(emb_blocks(V, 1), emb_threads(D), 0, stream, emb_rows<I>)
  (dweight, dy, indices, count, start, positions, n, V, D, scale_grad_by_freq);
  check_last("embedding");
}

}  // namespace nerve::cuda
