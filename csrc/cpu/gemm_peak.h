// gemm_peak.h — what the FMA probes (gemm_peak_avx512.cpp, gemm_peak_avx2.cpp) share: a clock of the
// calling thread's CPU time (a probe preempted by another process still reads the core's speed) and
// a sink that keeps a result alive. Anonymous namespace: each ISA's file gets its own copy (see
// gemm_impl.h on why nothing here may be merged across translation units with different -m flags).
#pragma once
#include <chrono>
#include <ctime>

namespace nerve {
namespace {

inline double peak_clock() {
#if defined(CLOCK_THREAD_CPUTIME_ID)
  timespec ts;
  if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) == 0) return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
#endif
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

inline void peak_sink(float v) { __asm__ volatile("" : : "x"(v)); }

}  // namespace
}  // namespace nerve
