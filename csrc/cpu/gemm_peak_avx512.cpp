// gemm_peak_avx512.cpp — measures this core's AVX-512 FMA throughput, the roof the GEMM benchmark
// reports against. Two loops, the faster counts:
//  * 24 independent chains of register-only 512-bit FMAs (inline asm, so the compiler can neither
//    merge, drop nor spill them): covers 2 pipes x 12 cycles or 4 pipes x 6 cycles of latency, so the
//    chains never wait on each other whatever the core (12 chains read ~25% low on Zen 5).
//  * the micro-kernel's own mix: per step two vector loads and 12 broadcast loads from L1 feeding
//    24 FMAs into 24 accumulators — the loop a GEMM runs, with nothing but L1 under it.
// Time is the thread's CPU time, so a probe that another process preempts does not read low.
#include <immintrin.h>

#include <algorithm>

#include "gemm_arch.h"
#include "gemm_peak.h"

namespace nerve {
namespace {

// One asm block holds the loop and names its registers: left to the register allocator, GCC 12
// spilled the 24 accumulators to the stack in the -fPIC build (a load and a store around every FMA).
void chains_block(int64_t n) {
#define NERVE_ZERO(i) "vxorps %%xmm" #i ", %%xmm" #i ", %%xmm" #i "\n\t"
#define NERVE_FMA(i) "vfmadd231ps %%zmm24, %%zmm25, %%zmm" #i "\n\t"
  __asm__ volatile(
      NERVE_ZERO(0) NERVE_ZERO(1) NERVE_ZERO(2) NERVE_ZERO(3) NERVE_ZERO(4) NERVE_ZERO(5) NERVE_ZERO(6) NERVE_ZERO(7)
      NERVE_ZERO(8) NERVE_ZERO(9) NERVE_ZERO(10) NERVE_ZERO(11) NERVE_ZERO(12) NERVE_ZERO(13) NERVE_ZERO(14) NERVE_ZERO(15)
      NERVE_ZERO(16) NERVE_ZERO(17) NERVE_ZERO(18) NERVE_ZERO(19) NERVE_ZERO(20) NERVE_ZERO(21) NERVE_ZERO(22) NERVE_ZERO(23)
      NERVE_ZERO(24) NERVE_ZERO(25)
      "1:\n\t"
      NERVE_FMA(0) NERVE_FMA(1) NERVE_FMA(2) NERVE_FMA(3) NERVE_FMA(4) NERVE_FMA(5) NERVE_FMA(6) NERVE_FMA(7)
      NERVE_FMA(8) NERVE_FMA(9) NERVE_FMA(10) NERVE_FMA(11) NERVE_FMA(12) NERVE_FMA(13) NERVE_FMA(14) NERVE_FMA(15)
      NERVE_FMA(16) NERVE_FMA(17) NERVE_FMA(18) NERVE_FMA(19) NERVE_FMA(20) NERVE_FMA(21) NERVE_FMA(22) NERVE_FMA(23)
      "dec %0\n\t"
      "jnz 1b\n\t"
      : "+r"(n)
      :
      : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12",
        "xmm13", "xmm14", "xmm15", "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22", "xmm23", "xmm24", "xmm25", "cc");
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
  return double(iters) * 24 * 32 / dt / 1e9;
}

// 12 x 32 tile: acc[i][v] += a[i] * b[v] over a 4 KiB ring of "packed panels" (zeros: no denormals).
double kernel_mix(double seconds) {
  alignas(64) static thread_local float ring[1024] = {};
  __m512 acc[12][2];
  for (auto& row : acc) row[0] = row[1] = _mm512_setzero_ps();
  const double t0 = peak_clock();
  int64_t steps = 0;
  double dt = 0;
  do {
    for (int r = 0; r < 2000; ++r) {
#pragma GCC unroll 4
      for (int s = 0; s < 16; ++s) {  // 16 steps walk 16 * 64 floats of the ring
        const float* b = ring + s * 64;
        const __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16);
#pragma GCC unroll 12
        for (int i = 0; i < 12; ++i) {
          const __m512 av = _mm512_set1_ps(b[32 + i]);
          acc[i][0] = _mm512_fmadd_ps(av, b0, acc[i][0]);
          acc[i][1] = _mm512_fmadd_ps(av, b1, acc[i][1]);
        }
      }
      __asm__ volatile("" : : "r"(ring) : "memory");  // the ring may have changed: reload it
    }
    steps += 2000 * 16;
    dt = peak_clock() - t0;
  } while (dt < seconds);
  __m512 sum = _mm512_setzero_ps();
  for (auto& row : acc) sum = _mm512_add_ps(sum, _mm512_add_ps(row[0], row[1]));
  peak_sink(_mm512_reduce_add_ps(sum));
  return double(steps) * 24 * 32 / dt / 1e9;
}

}  // namespace

double fma_peak_avx512_thread(double seconds) {
  return std::max(register_chains(seconds / 2), kernel_mix(seconds / 2));
}

}  // namespace nerve
