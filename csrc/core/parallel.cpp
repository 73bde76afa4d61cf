// parallel.cpp — the process-wide kernel thread count.
#include "parallel.h"

#include <atomic>
#include <cstdlib>
#include <thread>

namespace nerve {
namespace {

int default_threads() {
  if (const char* env = std::getenv("OMP_NUM_THREADS")) {
    int n = std::atoi(env);
    if (n > 0) return n;
  }
#ifdef _OPENMP
  return std::max(1, omp_get_num_procs());
#else
  return 1;
#endif
}

std::atomic<int>& threads_setting() {
  static std::atomic<int> n{default_threads()};
  return n;
}

}  // namespace

int num_threads() {
#ifdef _OPENMP
  return threads_setting().load(std::memory_order_relaxed);
#else
  return 1;
#endif
}

void set_num_threads(int n) { threads_setting().store(n > 0 ? n : default_threads()); }

bool openmp_enabled() {
#ifdef _OPENMP
  return true;
#else
  return false;
#endif
}

}  // namespace nerve
