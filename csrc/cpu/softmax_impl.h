// softmax_impl.h — the float32 softmax / log-softmax kernels, written once over activation_math.h's
// Vec and compiled by each back end (softmax.cpp portable, softmax_avx2.cpp, softmax_avx512.cpp).
//
// Two walks over an (outer, dim, inner) array, neither of which transposes anything:
//   rows     inner == 1: each row of `dim` contiguous values in three sweeps (max; exp and sum;
//            scale or shift), the row staying in L1/L2 between them;
//   columns  inner > 1: a block of up to 4 vectors of adjacent columns at once, walking down dim
//            with unit-stride vector loads, the running max / sum held in registers.
// PyTorch's formulas: softmax = e^(x - max) / sum, log_softmax = (x - max) - log(sum); backward from
// the output y: softmax dx = y (dy - sum(dy y)), log_softmax dx = dy - e^y sum(dy).
#pragma once
#include <cmath>
#include <cstdint>

#include "softmax_rows.h"

namespace nerve {

struct SoftmaxArch {
  const char* name;
  // `rows` contiguous rows of n values
  void (*rows_forward)(float* y, const float* x, int64_t rows, int64_t n, bool log);
  void (*rows_backward)(float* dx, const float* dy, const float* y, int64_t rows, int64_t n, bool log);
  // columns [c0, c1) of one (dim, inner) slab
  void (*cols_forward)(float* y, const float* x, int64_t dim, int64_t inner, int64_t c0, int64_t c1, bool log);
  void (*cols_backward)(float* dx, const float* dy, const float* y, int64_t dim, int64_t inner, int64_t c0, int64_t c1,
                        bool log);
};

const SoftmaxArch& softmax_arch_avx512();
const SoftmaxArch& softmax_arch_avx2();

namespace {

void sm_rows_forward(float* y, const float* x, int64_t rows, int64_t n, bool log) {
  for (int64_t r = 0; r < rows; ++r, x += n, y += n) {
    const float m = row_max(x, n);
    if (log) {
      const double s = row_exp_sum(nullptr, x, n, m);
      row_shift(y, x, n, m, float(std::log(s)));
    } else {
      const double s = row_exp_sum(y, x, n, m);
      row_scale(y, n, float(1.0 / s));
    }
  }
}

void sm_rows_backward(float* dx, const float* dy, const float* y, int64_t rows, int64_t n, bool log) {
  for (int64_t r = 0; r < rows; ++r, dx += n, dy += n, y += n) {
    int64_t i = 0;
    if (log) {
      const Vec s = float(row_sum(dy, n));
      for (; i + Vec::W <= n; i += Vec::W) (Vec::load(dy + i) - exp_(Vec::load(y + i)) * s).store(dx + i);
      if (i < n) (Vec::load_n(dy + i, n - i) - exp_(Vec::load_n(y + i, n - i)) * s).store_n(dx + i, n - i);
    } else {
      const Vec s = float(row_dot(dy, y, n));
      for (; i + Vec::W <= n; i += Vec::W) (Vec::load(y + i) * (Vec::load(dy + i) - s)).store(dx + i);
      if (i < n) (Vec::load_n(y + i, n - i) * (Vec::load_n(dy + i, n - i) - s)).store_n(dx + i, n - i);
    }
  }
}

// Up to kColVecs vectors of adjacent columns; the last may be partial (`tail` lanes, 0 = full).
constexpr int kColVecs = 4;

struct ColBlock {
  int nv;        // vectors in the block
  int64_t tail;  // lanes in the last vector when it is partial, else 0
  Vec load(const float* p, int k, float fill = 0.f) const {
    return (tail && k == nv - 1) ? Vec::load_n(p + k * Vec::W, tail, fill) : Vec::load(p + k * Vec::W);
  }
  void store(float* p, int k, Vec v) const {
    if (tail && k == nv - 1) v.store_n(p + k * Vec::W, tail);
    else v.store(p + k * Vec::W);
  }
};

ColBlock col_block(int64_t cols) {
  const int64_t nv = (cols + Vec::W - 1) / Vec::W;
  return {int(nv), cols % Vec::W};
}

void sm_cols_forward(float* y, const float* x, int64_t dim, int64_t inner, int64_t c0, int64_t c1, bool log) {
  for (int64_t c = c0; c < c1; c += kColVecs * Vec::W) {
    const int64_t cols = c1 - c < kColVecs * Vec::W ? c1 - c : kColVecs * Vec::W;
    const ColBlock b = col_block(cols);
    Vec m[kColVecs], s[kColVecs];
    for (int k = 0; k < b.nv; ++k) m[k] = kNegInf, s[k] = 0.f;
    for (int64_t d = 0; d < dim; ++d)
      for (int k = 0; k < b.nv; ++k) m[k] = vmax(m[k], b.load(x + d * inner + c, k, kNegInf));
    for (int64_t d = 0; d < dim; ++d)
      for (int k = 0; k < b.nv; ++k) {
        const Vec e = exp_(b.load(x + d * inner + c, k) - m[k]);
        s[k] = s[k] + e;
        if (!log) b.store(y + d * inner + c, k, e);
      }
    if (log) {
      for (int k = 0; k < b.nv; ++k) s[k] = log_(s[k]);
      for (int64_t d = 0; d < dim; ++d)
        for (int k = 0; k < b.nv; ++k) b.store(y + d * inner + c, k, (b.load(x + d * inner + c, k) - m[k]) - s[k]);
    } else {
      for (int k = 0; k < b.nv; ++k) s[k] = 1.f / s[k];
      for (int64_t d = 0; d < dim; ++d)
        for (int k = 0; k < b.nv; ++k) b.store(y + d * inner + c, k, b.load(y + d * inner + c, k) * s[k]);
    }
  }
}

void sm_cols_backward(float* dx, const float* dy, const float* y, int64_t dim, int64_t inner, int64_t c0, int64_t c1,
                      bool log) {
  for (int64_t c = c0; c < c1; c += kColVecs * Vec::W) {
    const int64_t cols = c1 - c < kColVecs * Vec::W ? c1 - c : kColVecs * Vec::W;
    const ColBlock b = col_block(cols);
    Vec s[kColVecs];
    for (int k = 0; k < b.nv; ++k) s[k] = 0.f;
    for (int64_t d = 0; d < dim; ++d)
      for (int k = 0; k < b.nv; ++k) {
        const Vec g = b.load(dy + d * inner + c, k);
        s[k] = log ? s[k] + g : fma(g, b.load(y + d * inner + c, k), s[k]);
      }
    for (int64_t d = 0; d < dim; ++d)
      for (int k = 0; k < b.nv; ++k) {
        const int64_t o = d * inner + c;
        const Vec g = b.load(dy + o, k), v = b.load(y + o, k);
        b.store(dx + o, k, log ? g - exp_(v) * s[k] : v * (g - s[k]));
      }
  }
}

SoftmaxArch make_softmax_arch() {
  return {Vec::isa, sm_rows_forward, sm_rows_backward, sm_cols_forward, sm_cols_backward};
}

}  // namespace
}  // namespace nerve
