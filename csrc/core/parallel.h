// parallel.h — OpenMP helpers. nerve keeps its own thread count (set_num_threads) instead of
// relying on omp_set_num_threads, whose setting is per calling thread: a DataLoader thread or
// a Python thread pool would otherwise silently run kernels with the default count.
// Without OpenMP everything runs serially and num_threads() is 1.
#pragma once
#include <algorithm>
#include <cstdint>
#ifdef _OPENMP
#include <omp.h>
#endif

namespace nerve {

int num_threads();               // threads a kernel may use (>= 1)
void set_num_threads(int n);     // n <= 0 resets to the default (OMP_NUM_THREADS or cores)
bool openmp_enabled();

// Threads worth using for `work` units when one thread should get at least `grain` units.
inline int threads_for(int64_t work, int64_t grain) {
  int64_t t = grain > 0 ? work / grain : work;
  return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(t, num_threads())));
}

// Calls fn(begin, end) on contiguous chunks of [0, n), one chunk per thread, each at least
// `grain` long (except a short tail). Chunking is static so results never depend on timing.
template <class F>
inline void parallel_for(int64_t n, int64_t grain, F&& fn) {
  if (n <= 0) return;
  const int nt = threads_for(n, grain);
  if (nt == 1) {
    fn(int64_t{0}, n);
    return;
  }
#ifdef _OPENMP
#pragma omp parallel num_threads(nt)
  {
    const int t = omp_get_thread_num(), T = omp_get_num_threads();
    const int64_t chunk = (n + T - 1) / T;
    const int64_t b = std::min<int64_t>(n, t * chunk), e = std::min<int64_t>(n, b + chunk);
    if (b < e) fn(b, e);
  }
#else
  fn(int64_t{0}, n);
#endif
}

}  // namespace nerve
