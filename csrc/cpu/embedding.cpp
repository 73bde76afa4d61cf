// embedding.cpp — embedding forward (gather) and backward (scatter-add), and the naive oracle.
//
// Forward: threads split the n output rows; each row is one contiguous copy. Backward: threads own
// disjoint, contiguous ranges of weight rows and every thread reads all the indices in order,
// adding the gradient rows that land in its range. No two threads write one row, no atomics, and
// a row's sum has the same order for any thread count: the result is bitwise reproducible. The
// index scan is repeated per thread, which costs n reads each against n * D adds shared out.
#include "embedding.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <vector>

#include "../core/parallel.h"

namespace nerve {
namespace {

// The smallest bad position seen (lock-free min).
void note_bad(std::atomic<int64_t>& first, int64_t i) {
  int64_t cur = first.load(std::memory_order_relaxed);
  while ((cur < 0 || i < cur) && !first.compare_exchange_weak(cur, i, std::memory_order_relaxed)) {
  }
}

template <class T>
inline void add_row(T* __restrict dst, const T* __restrict src, int64_t D, T scale, bool scaled) {
  if (scaled) {
#pragma omp simd
    for (int64_t j = 0; j < D; ++j) dst[j] += src[j] * scale;
  } else {
#pragma omp simd
    for (int64_t j = 0; j < D; ++j) dst[j] += src[j];
  }
}

}  // namespace

template <class T, class I>
int64_t embedding_forward(T* out, const T* weight, const I* indices, int64_t n, int64_t V, int64_t D) {
  std::atomic<int64_t> bad{-1};
  parallel_for(n, std::max<int64_t>(1, 8192 / std::max<int64_t>(1, D)), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const int64_t v = int64_t(indices[i]);
      if (v < 0 || v >= V) {
        note_bad(bad, i);
        std::memset(out + i * D, 0, size_t(D) * sizeof(T));
        continue;
      }
      std::memcpy(out + i * D, weight + v * D, size_t(D) * sizeof(T));
    }
  });
  return bad.load();
}

template <class T, class I>
int64_t embedding_backward(T* dweight, const T* dy, const I* indices, int64_t n, int64_t V, int64_t D,
                           int64_t padding_idx, bool scale_grad_by_freq) {
  std::atomic<int64_t> bad{-1};
  const int nt = threads_for(n * D, 1 << 15);
  parallel_for(nt, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t r0 = V * t / nt, r1 = V * (t + 1) / nt;  // this thread's weight rows
      std::vector<int32_t> count(scale_grad_by_freq ? size_t(r1 - r0) : 0, 0);
      if (scale_grad_by_freq)
        for (int64_t i = 0; i < n; ++i) {
          const int64_t v = int64_t(indices[i]);
          if (v >= r0 && v < r1) ++count[v - r0];
        }
      for (int64_t i = 0; i < n; ++i) {
        const int64_t v = int64_t(indices[i]);
        if (v < r0 || v >= r1) {
          if (t == 0 && (v < 0 || v >= V)) note_bad(bad, i);
          continue;
        }
        if (v == padding_idx) continue;
        add_row(dweight + v * D, dy + i * D, D, scale_grad_by_freq ? T(1) / T(count[v - r0]) : T(1),
                scale_grad_by_freq);
      }
    }
  });
  return bad.load();
}

template <class T, class I>
int64_t embedding_forward_naive(T* out, const T* weight, const I* indices, int64_t n, int64_t V, int64_t D) {
  int64_t bad = -1;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t v = int64_t(indices[i]);
    const bool ok = v >= 0 && v < V;
    if (!ok && bad < 0) bad = i;
    for (int64_t j = 0; j < D; ++j) out[i * D + j] = ok ? weight[v * D + j] : T(0);
  }
  return bad;
}

template <class T, class I>
int64_t embedding_backward_naive(T* dweight, const T* dy, const I* indices, int64_t n, int64_t V, int64_t D,
                                 int64_t padding_idx, bool scale_grad_by_freq) {
  std::vector<int64_t> count(V, 0);
  int64_t bad = -1;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t v = int64_t(indices[i]);
    if (v >= 0 && v < V) ++count[v];
    else if (bad < 0) bad = i;
  }
  for (int64_t i = 0; i < n; ++i) {
    const int64_t v = int64_t(indices[i]);
    if (v < 0 || v >= V || v == padding_idx) continue;
    const T scale = scale_grad_by_freq ? T(1) / T(count[v]) : T(1);
    for (int64_t j = 0; j < D; ++j) dweight[v * D + j] += scale_grad_by_freq ? dy[i * D + j] * scale : dy[i * D + j];
  }
  return bad;
}

#define NERVE_EMBEDDING_INSTANTIATE(T, I)                                                                      \
  template int64_t embedding_forward<T, I>(T*, const T*, const I*, int64_t, int64_t, int64_t);                 \
  template int64_t embedding_backward<T, I>(T*, const T*, const I*, int64_t, int64_t, int64_t, int64_t, bool); \
  template int64_t embedding_forward_naive<T, I>(T*, const T*, const I*, int64_t, int64_t, int64_t);           \
  template int64_t embedding_backward_naive<T, I>(T*, const T*, const I*, int64_t, int64_t, int64_t, int64_t,  \
                                                  bool);
NERVE_EMBEDDING_INSTANTIATE(float, int64_t)
NERVE_EMBEDDING_INSTANTIATE(float, int32_t)
NERVE_EMBEDDING_INSTANTIATE(double, int64_t)
NERVE_EMBEDDING_INSTANTIATE(double, int32_t)
#undef NERVE_EMBEDDING_INSTANTIATE

}  // namespace nerve
