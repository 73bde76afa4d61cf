// gemm.cpp — blocked, threaded GEMM (correct on any strides) and gemm_naive, its oracle.
//
// This is the foundation's kernel: B is packed into contiguous k x n blocks so the inner loop
// streams unit-stride rows that the compiler vectorises; threads split the rows of C.
#include "gemm.h"

#include <algorithm>
#include <vector>

#include "../core/parallel.h"

namespace nerve {
namespace {

constexpr int64_t kKc = 256;  // depth of a packed block of B
constexpr int64_t kNc = 512;  // width of a packed block of B
constexpr int64_t kMr = 4;    // rows of C updated together

// C rows [i0, i1) of one matrix: C = beta*C first, then += alpha * A @ B block by block.
template <class T>
void gemm_rows(T* C, MatStrides sc, const T* A, MatStrides sa, const T* B, MatStrides sb, int64_t i0, int64_t i1,
               int64_t N, int64_t K, T alpha, T beta, T* pack /* kKc*kNc */, T* acc /* kMr*kNc */) {
  for (int64_t i = i0; i < i1; ++i)
    for (int64_t j = 0; j < N; ++j) {
      T& c = C[i * sc.rs + j * sc.cs];
      c = beta == T(0) ? T(0) : beta * c;
    }
  for (int64_t j0 = 0; j0 < N; j0 += kNc) {
    const int64_t nc = std::min(kNc, N - j0);
    for (int64_t k0 = 0; k0 < K; k0 += kKc) {
      const int64_t kc = std::min(kKc, K - k0);
      for (int64_t k = 0; k < kc; ++k)
        for (int64_t j = 0; j < nc; ++j) pack[k * nc + j] = B[(k0 + k) * sb.rs + (j0 + j) * sb.cs];
      for (int64_t ib = i0; ib < i1; ib += kMr) {
        const int64_t mr = std::min(kMr, i1 - ib);
        std::fill(acc, acc + kMr * nc, T(0));
        for (int64_t k = 0; k < kc; ++k) {
          const T* b = pack + k * nc;
          for (int64_t r = 0; r < mr; ++r) {
            const T a = A[(ib + r) * sa.rs + (k0 + k) * sa.cs];
            T* out = acc + r * nc;
#pragma omp simd
            for (int64_t j = 0; j < nc; ++j) out[j] += a * b[j];
          }
        }
        for (int64_t r = 0; r < mr; ++r)
          for (int64_t j = 0; j < nc; ++j) C[(ib + r) * sc.rs + (j0 + j) * sc.cs] += alpha * acc[r * nc + j];
      }
    }
  }
}

}  // namespace

template <class T>
void gemm(T* C, MatStrides sc, const T* A, MatStrides sa, const T* B, MatStrides sb, GemmSize n, T alpha, T beta,
          int threads) {
  if (n.batch <= 0 || n.M <= 0 || n.N <= 0) return;
  // Work items are (matrix, block of rows); blocks are coarse enough to amortise packing B.
  const int64_t row_block = std::max<int64_t>(kMr, std::min<int64_t>(64, n.M));
  const int64_t blocks_per_matrix = (n.M + row_block - 1) / row_block;
  const int64_t items = n.batch * blocks_per_matrix;
  const int64_t flops_per_item = row_block * n.N * std::max<int64_t>(n.K, 1);
  const int64_t grain = std::max<int64_t>(1, (int64_t{1} << 18) / std::max<int64_t>(flops_per_item, 1));
  auto run = [&](int64_t b, int64_t e) {
    std::vector<T> pack(kKc * kNc), acc(kMr * kNc);
    for (int64_t it = b; it < e; ++it) {
      const int64_t m = it / blocks_per_matrix, i0 = (it % blocks_per_matrix) * row_block;
      gemm_rows(C + m * sc.bs, sc, A + m * sa.bs, sa, B + m * sb.bs, sb, i0, std::min(n.M, i0 + row_block), n.N,
                n.K, alpha, beta, pack.data(), acc.data());
    }
  };
  if (threads == 1) run(0, items);
  else parallel_for(items, grain, run);
}

template <class T>
void gemm_naive(T* C, MatStrides sc, const T* A, MatStrides sa, const T* B, MatStrides sb, GemmSize n, T alpha,
                T beta) {
  for (int64_t m = 0; m < n.batch; ++m)
    for (int64_t i = 0; i < n.M; ++i)
      for (int64_t j = 0; j < n.N; ++j) {
        double s = 0;
        for (int64_t k = 0; k < n.K; ++k)
          s += double(A[m * sa.bs + i * sa.rs + k * sa.cs]) * double(B[m * sb.bs + k * sb.rs + j * sb.cs]);
        T& c = C[m * sc.bs + i * sc.rs + j * sc.cs];
        c = T(alpha * s + (beta == T(0) ? 0.0 : double(beta) * double(c)));
      }
}

template void gemm<float>(float*, MatStrides, const float*, MatStrides, const float*, MatStrides, GemmSize, float,
                          float, int);
template void gemm<double>(double*, MatStrides, const double*, MatStrides, const double*, MatStrides, GemmSize,
                           double, double, int);
template void gemm_naive<float>(float*, MatStrides, const float*, MatStrides, const float*, MatStrides, GemmSize,
                                float, float);
template void gemm_naive<double>(double*, MatStrides, const double*, MatStrides, const double*, MatStrides,
                                 GemmSize, double, double);

}  // namespace nerve
