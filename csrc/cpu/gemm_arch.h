// gemm_arch.h — what a per-ISA GEMM back end hands the driver in gemm.cpp: its micro-tile and
// slab sizes, two micro-kernels and two packing routines (internal to csrc/cpu/gemm*.cpp).
//
// Packed layouts (one "panel" each; the driver lays panels out back to back):
//   A panel, mr rows x kc:  "ik" layout a[i*kc_max + k] (rows copied as they are; chosen when A is
//                           row-major or strided) or "ki" layout a[k*mr + i] (when A is column-
//                           major, so both are plain copies). Rows past m are zero.
//   B panel, kc x nr:       b[k*nr + j]; columns past n are zero. Row-major B is a copy,
//                           column-major B is transposed in registers while packing.
// A micro-kernel computes one mr x nr tile of C over kc:
//   C[0:m, 0:n] = alpha * (Apanel @ Bpanel)[0:m, 0:n] + beta * C[0:m, 0:n]   (beta == 0: C is not read)
#pragma once
#include <cstdint>

namespace nerve {

template <class T>
struct GemmArch {
  const char* name;
  int mr, nr;      // micro-tile
  int64_t kc_max;  // depth of a packed slab; also the row stride of an "ik" A panel
  // pf: the A panel the next sweep will use; the kernel pulls it towards L2 while it computes.
  using Kernel = void (*)(int64_t kc, const T* a, const T* b, T* c, int64_t rs_c, int64_t cs_c, T alpha, T beta,
                          int m, int n, const T* pf);
  // [A layout: 0 "ik", 1 "ki"][rows m <= mr/3, <= 2mr/3, <= mr][columns n <= nr/2, <= nr]: the
  // edge kernels spare the last rows and columns of C most of the work on padding.
  Kernel kernels[2][3][2];
  Kernel pick(bool ik, int m, int n) const {
    return kernels[ik ? 0 : 1][m <= mr / 3 ? 0 : m <= 2 * mr / 3 ? 1 : 2][n <= nr / 2 ? 0 : 1];
  }
  // Direct kernels (gemm_impl.h, ukernel_direct): A and B read in place, for small matrices.
  // [A rows contiguous (cs = 1), A columns contiguous (rs = 1)][rows mr/3, 2mr/3, mr][vectors: nr/2,
  // nr][last vector masked]. Null in the portable back end, which always packs.
  using Direct = void (*)(int64_t kc, const T* a, int64_t lda, const T* b, int64_t ldb, T* c, int64_t rs_c, T alpha,
                          T beta, int m, int n);
  Direct direct[2][3][2][2];
  // One A panel: rows [0, m) and depth [0, kc) of A (strides rs, cs); ik selects the layout.
  void (*pack_a)(T* dst, const T* A, int64_t rs, int64_t cs, int m, int64_t kc, bool ik);
  // One B panel: depth [0, kc) and columns [0, n) of B (strides rs, cs).
  void (*pack_b)(T* dst, const T* B, int64_t rs, int64_t cs, int64_t kc, int n);
};

// Back ends. The AVX ones exist only on x86-64 builds (NERVE_X86_KERNELS).
const GemmArch<float>& gemm_arch_generic_f32();
const GemmArch<double>& gemm_arch_generic_f64();
const GemmArch<float>& gemm_arch_avx2_f32();
const GemmArch<double>& gemm_arch_avx2_f64();
const GemmArch<float>& gemm_arch_avx512_f32();
const GemmArch<double>& gemm_arch_avx512_f64();

// FMA throughput probes: GFLOP/s of the calling thread (an FMA counts 2 flops per lane) over
// `seconds` of its CPU time; the faster of register-only chains and the micro-kernel mix.
double fma_peak_avx512_thread(double seconds);
double fma_peak_avx2_thread(double seconds);

}  // namespace nerve
