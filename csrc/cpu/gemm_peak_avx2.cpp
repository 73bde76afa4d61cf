// gemm_peak_avx2.cpp — measures this core's AVX2 FMA throughput, the roof the GEMM benchmark reports
// against. Two loops, the faster counts (see gemm_peak_avx512.cpp):
//  * 14 independent chains of register-only 256-bit FMAs (all that 16 ymm registers leave), in
//    inline asm so the compiler can neither merge nor drop them;
//  * the AVX2 micro-kernel's mix: per step two vector loads and 6 broadcasts feeding 12 FMAs.
// Time is the thread's CPU time.
#include <immintrin.h>

#include <algorithm>

#include "gemm_arch.h"
#include "gemm_peak.h"

namespace nerve {
namespace {

// One asm block holds the loop and names its registers (see gemm_peak_avx512.cpp).
void chains_block(int64_t n) {
#define NERVE_ZERO(i) "vxorps %%xmm" #i ", %%xmm" #i ", %%xmm" #i "\n\t"
#define NERVE_FMA(i) "vfmadd231ps %%ymm14, %%ymm15, %%ymm" #i "\n\t"
  __asm__ volatile(
      NERVE_ZERO(0) NERVE_ZERO(1) NERVE_ZERO(2) NERVE_ZERO(3) NERVE_ZERO(4) NERVE_ZERO(5) NERVE_ZERO(6) NERVE_ZERO(7)
      NERVE_ZERO(8) NERVE_ZERO(9) NERVE_ZERO(10) NERVE_ZERO(11) NERVE_ZERO(12) NERVE_ZERO(13) NERVE_ZERO(14) NERVE_ZERO(15)
      "1:\n\t"
      NERVE_FMA(0) NERVE_FMA(1) NERVE_FMA(2) NERVE_FMA(3) NERVE_FMA(4) NERVE_FMA(5) NERVE_FMA(6) NERVE_FMA(7)
      NERVE_FMA(8) NERVE_FMA(9) NERVE_FMA(10) NERVE_FMA(11) NERVE_FMA(12) NERVE_FMA(13)
      "dec %0\n\t"
      "jnz 1b\n\t"
      : "+r"(n)
      :
      : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12",
        "xmm13", "xmm14", "xmm15", "cc");
#undef NERVE_ZERO
#undef NERVE_FMA
}

double register_chains(double seconds) {
  const double t0 = peak_clock();
  int64_t iters = 0;
  double dt = 0;
  do {
    chains_block(10000);
    iters += 10000;
    dt = peak_clock() - t0;
  } while (dt < seconds);
  return double(iters) * 14 * 16 / dt / 1e9;
}

// 6 x 16 tile over a 4 KiB ring of zeros.
double kernel_mix(double seconds) {
  alignas(64) static thread_local float ring[1024] = {};
  __m256 acc[6][2];
  for (auto& row : acc) row[0] = row[1] = _mm256_setzero_ps();
  const double t0 = peak_clock();
  int64_t steps = 0;
  double dt = 0;
  do {
    for (int r = 0; r < 2000; ++r) {
#pragma GCC unroll 4
      for (int s = 0; s < 32; ++s) {
        const float* b = ring + s * 32;
        const __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
#pragma GCC unroll 6
        for (int i = 0; i < 6; ++i) {
          const __m256 av = _mm256_broadcast_ss(b + 16 + i);
          acc[i][0] = _mm256_fmadd_ps(av, b0, acc[i][0]);
          acc[i][1] = _mm256_fmadd_ps(av, b1, acc[i][1]);
        }
      }
      __asm__ volatile("" : : "r"(ring) : "memory");
    }
    steps += 2000 * 32;
    dt = peak_clock() - t0;
  } while (dt < seconds);
  __m256 sum = _mm256_setzero_ps();
  for (auto& row : acc) sum = _mm256_add_ps(sum, _mm256_add_ps(row[0], row[1]));
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, sum);
  peak_sink(lanes[0] + lanes[7]);
  return double(steps) * 12 * 16 / dt / 1e9;
}

}  // namespace

double fma_peak_avx2_thread(double seconds) { return std::max(register_chains(seconds / 2), kernel_mix(seconds / 2)); }

}  // namespace nerve
