// gemm_peak_avx512.cpp — measures this core's AVX-512 FMA throughput, the roof the GEMM benchmark
// reports against: 12 independent chains of 512-bit FMAs (enough to cover 2 pipes x 4-cycle latency),
// written in inline asm so the compiler can neither merge nor drop them.
#include <immintrin.h>

#include <chrono>

#include "gemm_arch.h"

namespace nerve {

double fma_peak_avx512_thread(double seconds) {
  __m512 a0 = _mm512_set1_ps(0.f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0, a8 = a0,
         a9 = a0, a10 = a0, a11 = a0;
  const __m512 x = _mm512_set1_ps(1.f), y = _mm512_set1_ps(0.f);
  using clock = std::chrono::steady_clock;
  const auto t0 = clock::now();
  int64_t iters = 0;
  double dt = 0;
  do {
    for (int r = 0; r < 20000; ++r) {
#define NERVE_FMA(acc) __asm__ volatile("vfmadd231ps %1, %2, %0" : "+v"(acc) : "v"(x), "v"(y))
      NERVE_FMA(a0); NERVE_FMA(a1); NERVE_FMA(a2); NERVE_FMA(a3); NERVE_FMA(a4); NERVE_FMA(a5);
      NERVE_FMA(a6); NERVE_FMA(a7); NERVE_FMA(a8); NERVE_FMA(a9); NERVE_FMA(a10); NERVE_FMA(a11);
#undef NERVE_FMA
    }
    iters += 20000;
    dt = std::chrono::duration<double>(clock::now() - t0).count();
  } while (dt < seconds);
  return double(iters) * 12 * 32 / dt / 1e9;
}

}  // namespace nerve
