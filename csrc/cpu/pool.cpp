// pool.cpp — max / average / adaptive pooling, forward and backward, and the naive oracle.
//
// Pooling is memory-bound: threads split the N*C planes, and inside a plane the fast kernels work
// one output row at a time with the output column innermost. For window column j the columns ow
// whose input iw = ow*sw - pw + j*dw lies inside the row form one range, computed once, so the
// inner loops carry no bounds checks and the compiler vectorizes them. Per output, window
// positions are still visited row-major, so max pooling's ties and NaNs match PyTorch's scan.
#include "pool.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "../core/cpu_features.h"
#include "../core/parallel.h"

namespace nerve {

#ifdef NERVE_X86_KERNELS
float pool_sum_span_avx512(const float* x, int64_t n);  // pool_avx512.cpp
#endif

namespace {

int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

// Output columns [lo, hi) whose window column j lands inside [0, W).
void column_range(const Pool2dShape& s, int64_t j, int64_t* lo, int64_t* hi) {
  const int64_t off = j * s.dw - s.pw;  // iw = ow*sw + off
  *lo = std::max<int64_t>(0, floor_div(-off + s.sw - 1, s.sw));
  *hi = std::min<int64_t>(s.OW, floor_div(s.W - 1 - off, s.sw) + 1);
  if (*hi < *lo) *hi = *lo;
}

template <class F>
void for_planes(const Pool2dShape& s, F&& fn) {
  const int64_t plane = std::max<int64_t>(1, s.H * s.W + s.OH * s.OW);
  parallel_for(s.N * s.C, std::max<int64_t>(1, (int64_t{1} << 15) / plane), [&](int64_t b, int64_t e) {
    for (int64_t p = b; p < e; ++p) fn(p);
  });
}

// The first in-bounds position of a window starting at `start` with step `dil` (PyTorch's start index).
int64_t first_inside(int64_t start, int64_t dil) {
  return start >= 0 ? start : start + ((-start + dil - 1) / dil) * dil;
}

// Sum of n contiguous values with 16 independent partial sums (vector registers on any ISA), so the
// adds pipeline instead of waiting on one another.
template <class T>
T sum_span(const T* __restrict x, int64_t n) {
#ifdef NERVE_X86_KERNELS
  if constexpr (std::is_same_v<T, float>)
    if (isa() == Isa::avx512) return pool_sum_span_avx512(x, n);
#endif
  T part[16] = {};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int j = 0; j < 16; ++j) part[j] += x[i + j];
  T acc = 0;
  for (; i < n; ++i) acc += x[i];
  for (int j = 0; j < 16; ++j) acc += part[j];
  return acc;
}

int64_t adaptive_start(int64_t o, int64_t in, int64_t out) { return (o * in) / out; }
int64_t adaptive_end(int64_t o, int64_t in, int64_t out) { return ((o + 1) * in + out - 1) / out; }

// Max over the windows of one plane, as two passes per output row: down the kh window rows for every
// input column, then across the kw columns of each window; both loops run over contiguous or
// strided arrays of same-width values, so they vectorize. The column pass breaks ties toward the
// earlier row and lets the later (row, column) NaN win, so the result is the position PyTorch's
// row-major scan picks. Re-reading a window's first column (the initial value) changes nothing.
template <class T>
struct MaxScratch {
  std::vector<T> vmax, best;
  std::vector<int32_t> vrow, brow, bcol, lo, hi;
  explicit MaxScratch(const Pool2dShape& s)
      : vmax(s.W), best(s.OW), vrow(s.W), brow(s.OW), bcol(s.OW), lo(s.kw), hi(s.kw) {
    for (int64_t j = 0; j < s.kw; ++j) {
      int64_t l, h;
      column_range(s, j, &l, &h);
      lo[j] = int32_t(l), hi[j] = int32_t(h);
    }
  }
};

template <class T, bool kIndices>
void max_plane(T* __restrict y, int64_t* __restrict idx, const T* __restrict x, const Pool2dShape& s,
               MaxScratch<T>& m) {
  const int32_t H = int32_t(s.H), W = int32_t(s.W), OW = int32_t(s.OW), kh = int32_t(s.kh), kw = int32_t(s.kw);
  const int32_t sh = int32_t(s.sh), sw = int32_t(s.sw), ph = int32_t(s.ph), pw = int32_t(s.pw);
  const int32_t dh = int32_t(s.dh), dw = int32_t(s.dw);
  T* __restrict vmax = m.vmax.data();
  T* __restrict best = m.best.data();
  int32_t* __restrict vrow = m.vrow.data();
  int32_t* __restrict brow = m.brow.data();
  int32_t* __restrict bcol = m.bcol.data();
  for (int32_t oh = 0; oh < s.OH; ++oh) {
    const int32_t h0 = oh * sh - ph, ih0 = int32_t(first_inside(h0, dh));
    for (int32_t iw = 0; iw < W; ++iw) vmax[iw] = -std::numeric_limits<T>::infinity(), vrow[iw] = ih0;
    for (int32_t i = 0; i < kh; ++i) {
      const int32_t ih = h0 + i * dh;
      if (ih < 0 || ih >= H) continue;
      const T* __restrict xr = x + int64_t(ih) * W;
      for (int32_t iw = 0; iw < W; ++iw) {
        const T v = xr[iw];
        const bool take = (v > vmax[iw]) | (v != v);  // bitwise: no branch to mispredict
        vmax[iw] = take ? v : vmax[iw];
        if (kIndices) vrow[iw] = take ? ih : vrow[iw];
      }
    }
    for (int32_t ow = 0; ow < OW; ++ow) {
      const int32_t iw0 = int32_t(first_inside(int64_t(ow) * sw - pw, dw));
      best[ow] = vmax[iw0], brow[ow] = vrow[iw0], bcol[ow] = iw0;
    }
    for (int32_t j = 0; j < kw; ++j) {
      const int32_t off = j * dw - pw;
      for (int32_t ow = m.lo[j]; ow < m.hi[j]; ++ow) {
        const int32_t iw = ow * sw + off;
        const T v = vmax[iw], b = best[ow];
        const int32_t r = vrow[iw];
        const bool vnan = v != v;
        const bool take = (vnan & ((b == b) | (r >= brow[ow]))) | ((!vnan) & ((v > b) | ((v == b) & (r < brow[ow]))));
        best[ow] = take ? v : b;
        if (kIndices) brow[ow] = take ? r : brow[ow], bcol[ow] = take ? iw : bcol[ow];
      }
    }
    T* __restrict yr = y + int64_t(oh) * OW;
    for (int32_t ow = 0; ow < OW; ++ow) yr[ow] = best[ow];
    if (kIndices) {
      int64_t* __restrict ir = idx + int64_t(oh) * OW;
      for (int32_t ow = 0; ow < OW; ++ow) ir[ow] = int64_t(brow[ow]) * W + bcol[ow];
    }
  }
}

// 1 / (number of inputs the average divides by) for every output column of row oh.
template <class T>
void avg_scales(T* scale, const Pool2dShape& s, int64_t oh, bool count_include_pad, int64_t divisor) {
  const int64_t hs = oh * s.sh - s.ph, he = std::min(hs + s.kh, s.H + s.ph);
  const int64_t rows = count_include_pad ? he - hs : std::min(he, s.H) - std::max<int64_t>(hs, 0);
  for (int64_t ow = 0; ow < s.OW; ++ow) {
    const int64_t ws = ow * s.sw - s.pw, we = std::min(ws + s.kw, s.W + s.pw);
    const int64_t cols = count_include_pad ? we - ws : std::min(we, s.W) - std::max<int64_t>(ws, 0);
    scale[ow] = T(1) / T(divisor > 0 ? divisor : rows * cols);
  }
}

}  // namespace

// ---- max ---------------------------------------------------------------------------------------

template <class T>
void max_pool2d_forward(T* y, int64_t* indices, const T* x, const Pool2dShape& s) {
  const int64_t in = s.H * s.W, out = s.OH * s.OW;
  parallel_for(s.N * s.C, std::max<int64_t>(1, (int64_t{1} << 15) / (in + out)), [&](int64_t b, int64_t e) {
    MaxScratch<T> m(s);
    for (int64_t p = b; p < e; ++p) {
      if (indices) max_plane<T, true>(y + p * out, indices + p * out, x + p * in, s, m);
      else max_plane<T, false>(y + p * out, nullptr, x + p * in, s, m);
    }
  });
}

template <class T>
bool max_pool2d_backward(T* dx, const T* dy, const int64_t* indices, const Pool2dShape& s) {
  const int64_t in = s.H * s.W, out = s.OH * s.OW;
  std::atomic<bool> ok{true};
  for_planes(s, [&](int64_t p) {
    T* d = dx + p * in;
    std::fill(d, d + in, T(0));
    const T* g = dy + p * out;
    const int64_t* ix = indices + p * out;
    for (int64_t o = 0; o < out; ++o) {
      const uint64_t i = static_cast<uint64_t>(ix[o]);
      if (i < static_cast<uint64_t>(in)) d[i] += g[o];
      else ok.store(false, std::memory_order_relaxed);
    }
  });
  return ok.load();
}

// ---- average -----------------------------------------------------------------------------------

template <class T>
void avg_pool2d_forward(T* y, const T* x, const Pool2dShape& s, bool count_include_pad, int64_t divisor) {
  const int64_t in = s.H * s.W, out = s.OH * s.OW;
  std::vector<int64_t> lo(s.kw), hi(s.kw);
  for (int64_t j = 0; j < s.kw; ++j) column_range(s, j, &lo[j], &hi[j]);
  for_planes(s, [&](int64_t p) {
    std::vector<T> scale(s.OW);
    const T* xp = x + p * in;
    for (int64_t oh = 0; oh < s.OH; ++oh) {
      T* yr = y + p * out + oh * s.OW;
      std::fill(yr, yr + s.OW, T(0));
      const int64_t hs = oh * s.sh - s.ph;
      for (int64_t ih = std::max<int64_t>(hs, 0); ih < std::min(hs + s.kh, s.H); ++ih) {
        const T* xr = xp + ih * s.W;
        for (int64_t j = 0; j < s.kw; ++j) {
          const int64_t off = j - s.pw;
          for (int64_t ow = lo[j]; ow < hi[j]; ++ow) yr[ow] += xr[ow * s.sw + off];
        }
      }
      avg_scales(scale.data(), s, oh, count_include_pad, divisor);
      for (int64_t ow = 0; ow < s.OW; ++ow) yr[ow] *= scale[ow];
    }
  });
}

template <class T>
void avg_pool2d_backward(T* dx, const T* dy, const Pool2dShape& s, bool count_include_pad, int64_t divisor) {
  const int64_t in = s.H * s.W, out = s.OH * s.OW;
  std::vector<int64_t> lo(s.kw), hi(s.kw);
  for (int64_t j = 0; j < s.kw; ++j) column_range(s, j, &lo[j], &hi[j]);
  for_planes(s, [&](int64_t p) {
    std::vector<T> g(s.OW);
    T* dp = dx + p * in;
    std::fill(dp, dp + in, T(0));
    for (int64_t oh = 0; oh < s.OH; ++oh) {
      avg_scales(g.data(), s, oh, count_include_pad, divisor);
      const T* gr = dy + p * out + oh * s.OW;
      for (int64_t ow = 0; ow < s.OW; ++ow) g[ow] *= gr[ow];
      const int64_t hs = oh * s.sh - s.ph;
      for (int64_t ih = std::max<int64_t>(hs, 0); ih < std::min(hs + s.kh, s.H); ++ih) {
        T* dr = dp + ih * s.W;
        for (int64_t j = 0; j < s.kw; ++j) {
          const int64_t off = j - s.pw;
          // Distinct ow hit distinct columns (stride >= 1), so this loop vectorizes safely.
#pragma omp simd
          for (int64_t ow = lo[j]; ow < hi[j]; ++ow) dr[ow * s.sw + off] += g[ow];
        }
      }
    }
  });
}

// ---- adaptive ----------------------------------------------------------------------------------

template <class T>
void adaptive_avg_pool2d_forward(T* y, const T* x, const Pool2dShape& s) {
  const int64_t in = s.H * s.W, out = s.OH * s.OW;
  for_planes(s, [&](int64_t p) {
    const T* xp = x + p * in;
    for (int64_t oh = 0; oh < s.OH; ++oh) {
      const int64_t h0 = adaptive_start(oh, s.H, s.OH), h1 = adaptive_end(oh, s.H, s.OH);
      for (int64_t ow = 0; ow < s.OW; ++ow) {
        const int64_t w0 = adaptive_start(ow, s.W, s.OW), w1 = adaptive_end(ow, s.W, s.OW);
        T acc = 0;
        if (w0 == 0 && w1 == s.W) {  // whole rows (global pooling): one contiguous span
          acc = sum_span(xp + h0 * s.W, (h1 - h0) * s.W);
        } else {
          for (int64_t ih = h0; ih < h1; ++ih) {
            const T* xr = xp + ih * s.W;
#pragma omp simd reduction(+ : acc)
            for (int64_t iw = w0; iw < w1; ++iw) acc += xr[iw];
          }
        }
        y[p * out + oh * s.OW + ow] = acc / T((h1 - h0) * (w1 - w0));
      }
    }
  });
}

template <class T>
void adaptive_avg_pool2d_backward(T* dx, const T* dy, const Pool2dShape& s) {
  const int64_t in = s.H * s.W, out = s.OH * s.OW;
  for_planes(s, [&](int64_t p) {
    T* dp = dx + p * in;
    std::fill(dp, dp + in, T(0));
    for (int64_t oh = 0; oh < s.OH; ++oh) {
      const int64_t h0 = adaptive_start(oh, s.H, s.OH), h1 = adaptive_end(oh, s.H, s.OH);
      for (int64_t ow = 0; ow < s.OW; ++ow) {
        const int64_t w0 = adaptive_start(ow, s.W, s.OW), w1 = adaptive_end(ow, s.W, s.OW);
        const T g = dy[p * out + oh * s.OW + ow] / T((h1 - h0) * (w1 - w0));
        for (int64_t ih = h0; ih < h1; ++ih)
          for (int64_t iw = w0; iw < w1; ++iw) dp[ih * s.W + iw] += g;
      }
    }
  });
}

template <class T>
void adaptive_max_pool2d_forward(T* y, int64_t* indices, const T* x, const Pool2dShape& s) {
  const int64_t in = s.H * s.W, out = s.OH * s.OW;
  for_planes(s, [&](int64_t p) {
    const T* xp = x + p * in;
    for (int64_t oh = 0; oh < s.OH; ++oh) {
      const int64_t h0 = adaptive_start(oh, s.H, s.OH), h1 = adaptive_end(oh, s.H, s.OH);
      for (int64_t ow = 0; ow < s.OW; ++ow) {
        const int64_t w0 = adaptive_start(ow, s.W, s.OW), w1 = adaptive_end(ow, s.W, s.OW);
        T best = -std::numeric_limits<T>::infinity();
        int64_t at = h0 * s.W + w0;
        for (int64_t ih = h0; ih < h1; ++ih)
          for (int64_t iw = w0; iw < w1; ++iw) {
            const T v = xp[ih * s.W + iw];
            if (v > best || v != v) best = v, at = ih * s.W + iw;
          }
        y[p * out + oh * s.OW + ow] = best;
        if (indices) indices[p * out + oh * s.OW + ow] = at;
      }
    }
  });
}

// ---- naive oracle ------------------------------------------------------------------------------

template <class T>
void max_pool2d_forward_naive(T* y, int64_t* indices, const T* x, const Pool2dShape& s) {
  for (int64_t p = 0; p < s.N * s.C; ++p)
    for (int64_t oh = 0; oh < s.OH; ++oh)
      for (int64_t ow = 0; ow < s.OW; ++ow) {
        T best = -std::numeric_limits<T>::infinity();
        int64_t at = -1;
        for (int64_t i = 0; i < s.kh; ++i)
          for (int64_t j = 0; j < s.kw; ++j) {
            const int64_t ih = oh * s.sh - s.ph + i * s.dh, iw = ow * s.sw - s.pw + j * s.dw;
            if (ih < 0 || ih >= s.H || iw < 0 || iw >= s.W) continue;
            const T v = x[p * s.H * s.W + ih * s.W + iw];
            if (at < 0) at = ih * s.W + iw;
            if (v > best || std::isnan(v)) best = v, at = ih * s.W + iw;
          }
        y[(p * s.OH + oh) * s.OW + ow] = best;
        if (indices) indices[(p * s.OH + oh) * s.OW + ow] = at;
      }
}

template <class T>
void avg_pool2d_forward_naive(T* y, const T* x, const Pool2dShape& s, bool count_include_pad, int64_t divisor) {
  for (int64_t p = 0; p < s.N * s.C; ++p)
    for (int64_t oh = 0; oh < s.OH; ++oh)
      for (int64_t ow = 0; ow < s.OW; ++ow) {
        const int64_t hs = oh * s.sh - s.ph, ws = ow * s.sw - s.pw;
        const int64_t he = std::min(hs + s.kh, s.H + s.ph), we = std::min(ws + s.kw, s.W + s.pw);
        double acc = 0;
        int64_t inside = 0;
        for (int64_t ih = hs; ih < he; ++ih)
          for (int64_t iw = ws; iw < we; ++iw)
            if (ih >= 0 && ih < s.H && iw >= 0 && iw < s.W) acc += double(x[p * s.H * s.W + ih * s.W + iw]), ++inside;
        const int64_t d = divisor > 0 ? divisor : count_include_pad ? (he - hs) * (we - ws) : inside;
        y[(p * s.OH + oh) * s.OW + ow] = T(acc / double(d));
      }
}

template <class T>
void avg_pool2d_backward_naive(T* dx, const T* dy, const Pool2dShape& s, bool count_include_pad, int64_t divisor) {
  std::vector<double> acc(s.H * s.W);
  for (int64_t p = 0; p < s.N * s.C; ++p) {
    std::fill(acc.begin(), acc.end(), 0.0);
    for (int64_t oh = 0; oh < s.OH; ++oh)
      for (int64_t ow = 0; ow < s.OW; ++ow) {
        const int64_t hs = oh * s.sh - s.ph, ws = ow * s.sw - s.pw;
        const int64_t he = std::min(hs + s.kh, s.H + s.ph), we = std::min(ws + s.kw, s.W + s.pw);
        int64_t inside = 0;
        for (int64_t ih = std::max<int64_t>(hs, 0); ih < std::min(he, s.H); ++ih)
          inside += std::min(we, s.W) - std::max<int64_t>(ws, 0);
        const int64_t d = divisor > 0 ? divisor : count_include_pad ? (he - hs) * (we - ws) : inside;
        const double g = double(dy[(p * s.OH + oh) * s.OW + ow]) / double(d);
        for (int64_t ih = std::max<int64_t>(hs, 0); ih < std::min(he, s.H); ++ih)
          for (int64_t iw = std::max<int64_t>(ws, 0); iw < std::min(we, s.W); ++iw) acc[ih * s.W + iw] += g;
      }
    for (int64_t i = 0; i < s.H * s.W; ++i) dx[p * s.H * s.W + i] = T(acc[i]);
  }
}

template <class T>
void adaptive_avg_pool2d_forward_naive(T* y, const T* x, const Pool2dShape& s) {
  for (int64_t p = 0; p < s.N * s.C; ++p)
    for (int64_t oh = 0; oh < s.OH; ++oh)
      for (int64_t ow = 0; ow < s.OW; ++ow) {
        const int64_t h0 = adaptive_start(oh, s.H, s.OH), h1 = adaptive_end(oh, s.H, s.OH);
        const int64_t w0 = adaptive_start(ow, s.W, s.OW), w1 = adaptive_end(ow, s.W, s.OW);
        double acc = 0;
        for (int64_t ih = h0; ih < h1; ++ih)
          for (int64_t iw = w0; iw < w1; ++iw) acc += double(x[p * s.H * s.W + ih * s.W + iw]);
        y[(p * s.OH + oh) * s.OW + ow] = T(acc / double((h1 - h0) * (w1 - w0)));
      }
}

template <class T>
void adaptive_max_pool2d_forward_naive(T* y, int64_t* indices, const T* x, const Pool2dShape& s) {
  for (int64_t p = 0; p < s.N * s.C; ++p)
    for (int64_t oh = 0; oh < s.OH; ++oh)
      for (int64_t ow = 0; ow < s.OW; ++ow) {
        const int64_t h0 = adaptive_start(oh, s.H, s.OH), h1 = adaptive_end(oh, s.H, s.OH);
        const int64_t w0 = adaptive_start(ow, s.W, s.OW), w1 = adaptive_end(ow, s.W, s.OW);
        T best = -std::numeric_limits<T>::infinity();
        int64_t at = h0 * s.W + w0;
        for (int64_t ih = h0; ih < h1; ++ih)
          for (int64_t iw = w0; iw < w1; ++iw) {
            const T v = x[p * s.H * s.W + ih * s.W + iw];
            if (v > best || std::isnan(v)) best = v, at = ih * s.W + iw;
          }
        y[(p * s.OH + oh) * s.OW + ow] = best;
        if (indices) indices[(p * s.OH + oh) * s.OW + ow] = at;
      }
}

#define NERVE_POOL_INSTANTIATE(T)                                                                       \
  template void max_pool2d_forward<T>(T*, int64_t*, const T*, const Pool2dShape&);                        \
  template bool max_pool2d_backward<T>(T*, const T*, const int64_t*, const Pool2dShape&);                 \
  template void avg_pool2d_forward<T>(T*, const T*, const Pool2dShape&, bool, int64_t);                   \
  template void avg_pool2d_backward<T>(T*, const T*, const Pool2dShape&, bool, int64_t);                  \
  template void adaptive_avg_pool2d_forward<T>(T*, const T*, const Pool2dShape&);                         \
  template void adaptive_avg_pool2d_backward<T>(T*, const T*, const Pool2dShape&);                        \
  template void adaptive_max_pool2d_forward<T>(T*, int64_t*, const T*, const Pool2dShape&);               \
  template void max_pool2d_forward_naive<T>(T*, int64_t*, const T*, const Pool2dShape&);                  \
  template void avg_pool2d_forward_naive<T>(T*, const T*, const Pool2dShape&, bool, int64_t);             \
  template void avg_pool2d_backward_naive<T>(T*, const T*, const Pool2dShape&, bool, int64_t);            \
  template void adaptive_avg_pool2d_forward_naive<T>(T*, const T*, const Pool2dShape&);                   \
  template void adaptive_max_pool2d_forward_naive<T>(T*, int64_t*, const T*, const Pool2dShape&);
NERVE_POOL_INSTANTIATE(float)
NERVE_POOL_INSTANTIATE(double)
#undef NERVE_POOL_INSTANTIATE

}  // namespace nerve
