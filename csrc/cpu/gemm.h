// gemm.h — general matrix multiply on the CPU, the op that carries most training FLOPs.
//
//   C[b] = alpha * A[b] @ B[b] + beta * C[b]        for b in [0, batch)
//
// Every matrix is addressed by (row stride, column stride, batch stride) in elements, as in BLIS:
// element (i, j) of matrix b of X is X[b*X.bs + i*X.rs + j*X.cs]. A transpose is a view with the
// two strides swapped, so the four transpose cases, sliced views and broadcast batches (bs = 0)
// need no copies. beta = 0 ignores what C held (even NaN); beta = 1 accumulates (gradients).
// C must not overlap A or B.
#pragma once
#include <cstdint>
#include <cstdlib>
#include <memory>

namespace nerve {

struct MatStrides {
  int64_t rs, cs, bs;  // row, column and batch strides in elements
};

struct GemmSize {
  int64_t batch, M, N, K;  // C is M x N, A is M x K, B is K x N
};

// The fast path: packs panels, picks a SIMD micro-kernel at run time, threads over tiles.
// threads = 0 uses num_threads(); threads = 1 runs on the calling thread alone, which is what a
// caller already inside its own parallel region (a convolution over images) must ask for.
template <class T>
void gemm(T* C, MatStrides sc, const T* A, MatStrides sa, const T* B, MatStrides sb, GemmSize n, T alpha, T beta,
          int threads = 0);

// B packed once, for many products with the same B: a recurrent layer multiplies by its weights
// at every step. gemm() here runs on the calling thread, computes C (M x N) = alpha A @ B + beta C
// for any M and A's strides (C's rows contiguous), and gives the bits the packed path of
// nerve::gemm gives. The object holds the packed copy (about K x N elements) and is read-only after
// construction, so threads may share one.
template <class T>
struct GemmArch;  // a SIMD back end (gemm_arch.h)

template <class T>
class PackedB {
 public:
  PackedB(const T* B, MatStrides sb, int64_t K, int64_t N);  // B is K x N
  void gemm(T* C, MatStrides sc, const T* A, MatStrides sa, int64_t M, T alpha, T beta) const;

 private:
  struct Free {
    void operator()(T* p) const { std::free(p); }
  };
  int64_t K_, N_, panels_ = 0;
  const GemmArch<T>* arch_ = nullptr;  // the back end that packed it (the isa() of construction)
  std::unique_ptr<T, Free> data_;       // the panels, 64-byte aligned
};

// The oracle: three plain loops, accumulated in double. Kept for tests and as the reference.
template <class T>
void gemm_naive(T* C, MatStrides sc, const T* A, MatStrides sa, const T* B, MatStrides sb, GemmSize n, T alpha,
                T beta);

// Which path gemm() takes (process-wide; for tests and benchmarks). kAuto: direct for small
// matrices, packed otherwise (see gemm.cpp). kDirect: direct wherever the layout allows it (C's and
// one of A's strides unit), kPacked: always pack. Results differ between paths only in rounding.
enum class GemmPath { kAuto, kPacked, kDirect };
void set_gemm_path(GemmPath path);
GemmPath gemm_path();

// The path gemm() takes for operands of these strides and sizes under the current setting:
// kDirect or kPacked (for tests and benchmarks; both give the same bits when K fits one slab).
template <class T>
GemmPath gemm_choice(MatStrides sc, MatStrides sa, MatStrides sb, GemmSize n);

// The back end gemm() uses now ("avx512", "avx2" or "generic"; follows isa()).
const char* gemm_backend();

// Measured FMA throughput of `threads` threads (0: num_threads()) with the current isa(), in
// GFLOP/s: the roof benchmarks report GEMM against. Takes about 0.2 s. 0 when there is no probe.
double fma_peak_gflops(int threads = 0);

}  // namespace nerve
