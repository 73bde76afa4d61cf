// gemm_impl.h — packing routines and the register-blocked micro-kernel, written once as templates
// and compiled by each back end (gemm.cpp, gemm_avx2.cpp, gemm_avx512.cpp) for its own ISA.
//
// Everything here sits in an anonymous namespace on purpose: the same template instantiated in
// two translation units with different -m flags must not be merged by the linker (the AVX-512
// copy could otherwise end up serving the baseline path and fault on an older CPU).
#pragma once
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "gemm_arch.h"

namespace nerve {
namespace {

// ---- packing (portable; the compiler vectorises the unit-stride loops) -------------------------

template <class T, int MR, int64_t KS>
void pack_a_portable(T* dst, const T* A, int64_t rs, int64_t cs, int m, int64_t kc, bool ik) {
  if (ik) {  // dst[i*KS + k]
    for (int i = 0; i < m; ++i) {
      const T* src = A + i * rs;
      T* d = dst + i * KS;
      if (cs == 1)
        std::memcpy(d, src, sizeof(T) * kc);
      else
        for (int64_t k = 0; k < kc; ++k) d[k] = src[k * cs];
    }
    for (int i = m; i < MR; ++i) std::memset(dst + i * KS, 0, sizeof(T) * kc);
  } else {  // dst[k*MR + i]
    for (int64_t k = 0; k < kc; ++k) {
      const T* src = A + k * cs;
      T* d = dst + k * MR;
      if (rs == 1)
        for (int i = 0; i < m; ++i) d[i] = src[i];
      else
        for (int i = 0; i < m; ++i) d[i] = src[i * rs];
      for (int i = m; i < MR; ++i) d[i] = T(0);
    }
  }
}

template <class T, int NR>
void pack_b_portable(T* dst, const T* B, int64_t rs, int64_t cs, int64_t kc, int n) {
  if (cs == 1 && n == NR) {
    for (int64_t k = 0; k < kc; ++k)
      for (int j = 0; j < NR; ++j) dst[k * NR + j] = B[k * rs + j];
    return;
  }
  if (rs == 1) {  // column-major: read each column once, write strided into the (L1-sized) panel
    for (int j = 0; j < n; ++j) {
      const T* src = B + j * cs;
      for (int64_t k = 0; k < kc; ++k) dst[k * NR + j] = src[k];
    }
  } else {
    for (int64_t k = 0; k < kc; ++k)
      for (int j = 0; j < n; ++j) dst[k * NR + j] = B[k * rs + j * cs];
  }
  if (n < NR)
    for (int64_t k = 0; k < kc; ++k)
      for (int j = n; j < NR; ++j) dst[k * NR + j] = T(0);
}

// ---- micro-kernel over a SIMD vector type ------------------------------------------------------
// V supplies: using T, reg; W (lanes); zero, load, store, load_n/store_n (first n lanes), set1,
// fmadd(a, b, c) = a*b + c, mul. A is read at a[i*SI + k*SK] (the two panel layouts).
// Prefetches are plain __builtin_prefetch: GCC 12 silently dropped the same prefetch inside the
// k loop when it went through a member function of V (a 5% loss, found by reading the assembly).

// Template parameters: MR x NV vectors is the tile this kernel computes; a packed A panel has PM
// rows and a packed B panel BS columns (a kernel may use fewer: the edge kernels for the last few
// rows or columns of C read the same panels).

// One step of k: acc[i][:] += a(i, k) * b(k, :), and pull one line of the next A panel closer.
template <class V, int MR, int NV, int PM, int BS, int64_t SI, int64_t SK>
__attribute__((always_inline)) inline void ukernel_step(typename V::reg (&acc)[MR][NV], const typename V::T* __restrict a,
                                                        const typename V::T* __restrict b, const typename V::T* pf,
                                                        int64_t k) {
  using R = typename V::reg;
  constexpr int W = V::W;
  __builtin_prefetch(pf + k * PM, 0, 3);
  R bv[NV];
#pragma GCC unroll 8
  for (int v = 0; v < NV; ++v) bv[v] = V::load(b + k * BS + v * W);
#pragma GCC unroll 32
  for (int i = 0; i < MR; ++i) {
    const R av = V::set1(a[i * SI + k * SK]);
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) acc[i][v] = V::fmadd(av, bv[v], acc[i][v]);
  }
}

template <class V, int MR, int NV, int PM, int BS, int64_t SI, int64_t SK>
void ukernel(int64_t kc, const typename V::T* __restrict a, const typename V::T* __restrict b, typename V::T* c,
             int64_t rs_c, int64_t cs_c, typename V::T alpha, typename V::T beta, int m, int n,
             const typename V::T* pf) {
  using T = typename V::T;
  using R = typename V::reg;
  constexpr int W = V::W, NR = NV * W;
  R acc[MR][NV];
#pragma GCC unroll 32
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) acc[i][v] = V::zero();
  // The tile of C is pulled into L2 now and into L1 only near the end of the k loop: C's rows are
  // often a power of two apart, so they share a few L1 sets and, fetched early, would be evicted
  // by the B stream before they are used.
  const bool c_rows = cs_c == 1;
  if (c_rows)
    for (int i = 0; i < m; ++i) {
      __builtin_prefetch(c + i * rs_c, 1, 2);
      __builtin_prefetch(c + i * rs_c + NR - 1, 1, 2);
    }
  constexpr int64_t kTail = 32;
  int64_t k = 0;
#pragma GCC unroll 4
  for (; k < kc - kTail; ++k) ukernel_step<V, MR, NV, PM, BS, SI, SK>(acc, a, b, pf, k);
  if (c_rows)
    for (int i = 0; i < m; ++i) {
      __builtin_prefetch(c + i * rs_c, 1, 3);
      __builtin_prefetch(c + i * rs_c + NR - 1, 1, 3);
    }
#pragma GCC unroll 4
  for (; k < kc; ++k) ukernel_step<V, MR, NV, PM, BS, SI, SK>(acc, a, b, pf, k);
  const R va = V::set1(alpha), vb = V::set1(beta);
  if (cs_c == 1 && n == NR) {
#pragma GCC unroll 32
    for (int i = 0; i < MR; ++i) {
      if (i >= m) break;
      T* p = c + i * rs_c;
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) {
        R r = V::mul(acc[i][v], va);
        if (beta != T(0)) r = V::fmadd(vb, V::load(p + v * W), r);
        V::store(p + v * W, r);
      }
    }
  } else if (cs_c == 1) {
#pragma GCC unroll 32
    for (int i = 0; i < MR; ++i) {
      if (i >= m) break;
      T* p = c + i * rs_c;
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) {
        const int cnt = n - v * W;
        if (cnt <= 0) break;
        R r = V::mul(acc[i][v], va);
        if (cnt >= W) {
          if (beta != T(0)) r = V::fmadd(vb, V::load(p + v * W), r);
          V::store(p + v * W, r);
        } else {
          if (beta != T(0)) r = V::fmadd(vb, V::load_n(p + v * W, cnt), r);
          V::store_n(p + v * W, r, cnt);
        }
      }
    }
  } else {  // strided C: through a scratch tile
    alignas(64) T tmp[MR * NR];
#pragma GCC unroll 32
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) V::store(tmp + i * NR + v * W, acc[i][v]);
    for (int i = 0; i < m; ++i)
      for (int j = 0; j < n; ++j) {
        T& d = c[i * rs_c + j * cs_c];
        d = beta == T(0) ? alpha * tmp[i * NR + j] : alpha * tmp[i * NR + j] + beta * d;
      }
  }
}

// The direct micro-kernel, for small matrices where packing would cost more than it saves: A and B
// are read where they lie. A's element (i, k) is a[i*lda + k] (AROW) or a[i + k*lda]; B's row k
// starts at b + k*ldb. All MR rows of A must be readable (the driver pads a short last row tile);
// columns are cut at n: with MASK the last of the NV vectors is a masked load, so nothing past
// column n is read, and rows past m and columns past n of C are not written.
template <class V, int MR, int NV, bool AROW, bool MASK>
void ukernel_direct(int64_t kc, const typename V::T* __restrict a, int64_t lda, const typename V::T* __restrict b,
                    int64_t ldb, typename V::T* c, int64_t rs_c, typename V::T alpha, typename V::T beta, int m,
                    int n) {
  using T = typename V::T;
  using R = typename V::reg;
  constexpr int W = V::W;
  const int tail = MASK ? n - (NV - 1) * W : W;  // lanes of the last vector
  R acc[MR][NV];
#pragma GCC unroll 32
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) acc[i][v] = V::zero();
  // Rows of A in place: one pointer per 4 rows, walking k, and the row offsets lda, 2lda, 3lda as
  // index registers ([p + 4*l] addressing). Left to itself, GCC keeps a pointer per row, runs out
  // of registers at 12 rows and spills (7% slower).
  constexpr int NB = (MR + 3) / 4;
  const T* pa[NB];
#pragma GCC unroll 8
  for (int q = 0; q < NB; ++q) pa[q] = a + (AROW ? 4 * q * lda : 4 * q);
  const int64_t l1 = lda, l2 = 2 * lda, l3 = 3 * lda;
  const T* bk = b;
#pragma GCC unroll 2
  for (int64_t k = 0; k < kc; ++k, bk += ldb) {
    R bv[NV];
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) bv[v] = MASK && v == NV - 1 ? V::load_n(bk + v * W, tail) : V::load(bk + v * W);
#pragma GCC unroll 32
    for (int i = 0; i < MR; ++i) {
      const T* p = pa[i / 4];
      const int r = i % 4;
      const R av = V::set1(AROW ? p[r == 0 ? 0 : r == 1 ? l1 : r == 2 ? l2 : l3] : p[r]);
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) acc[i][v] = V::fmadd(av, bv[v], acc[i][v]);
    }
#pragma GCC unroll 8
    for (int q = 0; q < NB; ++q) pa[q] += AROW ? 1 : lda;
  }
  const R va = V::set1(alpha), vb = V::set1(beta);
#pragma GCC unroll 32
  for (int i = 0; i < MR; ++i) {
    if (i >= m) break;
    T* p = c + i * rs_c;
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) {
      R r = V::mul(acc[i][v], va);
      if (MASK && v == NV - 1) {
        if (beta != T(0)) r = V::fmadd(vb, V::load_n(p + v * W, tail), r);
        V::store_n(p + v * W, r, tail);
      } else {
        if (beta != T(0)) r = V::fmadd(vb, V::load(p + v * W), r);
        V::store(p + v * W, r);
      }
    }
  }
}

// The portable micro-kernel: plain arrays the compiler keeps in (baseline SSE2) registers.
template <class T, int MR, int NR, int64_t SI, int64_t SK>
void ukernel_portable(int64_t kc, const T* __restrict a, const T* __restrict b, T* c, int64_t rs_c, int64_t cs_c,
                      T alpha, T beta, int m, int n, const T* /*pf*/) {
  T acc[MR][NR] = {};
  for (int64_t k = 0; k < kc; ++k)
    for (int i = 0; i < MR; ++i) {
      const T av = a[i * SI + k * SK];
      for (int j = 0; j < NR; ++j) acc[i][j] += av * b[k * NR + j];
    }
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      T& d = c[i * rs_c + j * cs_c];
      d = beta == T(0) ? alpha * acc[i][j] : alpha * acc[i][j] + beta * d;
    }
}

}  // namespace
}  // namespace nerve

namespace nerve {
namespace {

// Fills an arch's kernel table: [A layout ik, ki][rows <= PM/3, 2PM/3, PM][columns <= BS/2, BS].
template <class V, int PM, int NV, int64_t KS>
void fill_kernels(typename GemmArch<typename V::T>::Kernel (&k)[2][3][2]) {
  constexpr int BS = NV * V::W, H = NV / 2;
  static_assert(PM % 3 == 0 && NV % 2 == 0, "edge kernels split the tile in thirds and halves");
  k[0][0][0] = ukernel<V, PM / 3, H, PM, BS, KS, 1>;
  k[0][0][1] = ukernel<V, PM / 3, NV, PM, BS, KS, 1>;
  k[0][1][0] = ukernel<V, 2 * PM / 3, H, PM, BS, KS, 1>;
  k[0][1][1] = ukernel<V, 2 * PM / 3, NV, PM, BS, KS, 1>;
  k[0][2][0] = ukernel<V, PM, H, PM, BS, KS, 1>;
  k[0][2][1] = ukernel<V, PM, NV, PM, BS, KS, 1>;
  k[1][0][0] = ukernel<V, PM / 3, H, PM, BS, 1, PM>;
  k[1][0][1] = ukernel<V, PM / 3, NV, PM, BS, 1, PM>;
  k[1][1][0] = ukernel<V, 2 * PM / 3, H, PM, BS, 1, PM>;
  k[1][1][1] = ukernel<V, 2 * PM / 3, NV, PM, BS, 1, PM>;
  k[1][2][0] = ukernel<V, PM, H, PM, BS, 1, PM>;
  k[1][2][1] = ukernel<V, PM, NV, PM, BS, 1, PM>;
}


// Fills an arch's direct-kernel table: [A layout: rows, columns][rows PM/3, 2PM/3, PM][vectors 1, 2][masked].
template <class V, int PM>
void fill_direct(typename GemmArch<typename V::T>::Direct (&k)[2][3][2][2]) {
  static_assert(PM % 3 == 0, "direct kernels come in thirds of the tile");
  auto by_rows = [&](auto rows, int t) {
    constexpr int M = decltype(rows)::value;
    k[0][t][0][0] = ukernel_direct<V, M, 1, true, false>;
    k[0][t][0][1] = ukernel_direct<V, M, 1, true, true>;
    k[0][t][1][0] = ukernel_direct<V, M, 2, true, false>;
    k[0][t][1][1] = ukernel_direct<V, M, 2, true, true>;
    k[1][t][0][0] = ukernel_direct<V, M, 1, false, false>;
    k[1][t][0][1] = ukernel_direct<V, M, 1, false, true>;
    k[1][t][1][0] = ukernel_direct<V, M, 2, false, false>;
    k[1][t][1][1] = ukernel_direct<V, M, 2, false, true>;
  };
  by_rows(std::integral_constant<int, PM / 3>{}, 0);
  by_rows(std::integral_constant<int, 2 * PM / 3>{}, 1);
  by_rows(std::integral_constant<int, PM>{}, 2);
}

}  // namespace
}  // namespace nerve
