// attention.cpp — the blocked (flash-style) attention driver: tasks over (batch entry, query block)
// forward and over batch entries backward, GEMMs through gemm.h on the calling thread, row passes
// from attention_rows.h picked per ISA; and the plain-loop references. See attention.h.
#include "attention.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <vector>

#include "../core/cpu_features.h"
#include "../core/parallel.h"
#include "attention_rows.h"
#include "gemm.h"

namespace nerve {
namespace {

constexpr int64_t kRowBlock = 64;   // query rows per block
constexpr int64_t kColBlock = 128;  // keys per block: a 64 x 128 block of scores is 32 KiB (float)

template <class T>
const AttnRowKernels<T>& rows();

template <>
const AttnRowKernels<float>& rows<float>() {
#ifdef NERVE_X86_KERNELS
  if (isa() == Isa::avx512) return attn_rows_avx512_f32();
  if (isa() == Isa::avx2) return attn_rows_avx2_f32();
#endif
  static const AttnRowKernels<float> k = make_attn_row_kernels<float>();
  return k;
}

template <>
const AttnRowKernels<double>& rows<double>() {
  static const AttnRowKernels<double> k = make_attn_row_kernels<double>();
  return k;
}

// C (M x N, ldc) = alpha op(A) op(B) + beta C on this thread; op as mm() in rnn.cpp.
template <class T>
void mm1(T* C, int64_t ldc, const T* A, int64_t lda, bool ta, const T* B, int64_t ldb, bool tb, int64_t M, int64_t N,
         int64_t K, T alpha, T beta) {
  const MatStrides sa = ta ? MatStrides{1, lda, 0} : MatStrides{lda, 1, 0};
  const MatStrides sb = tb ? MatStrides{1, ldb, 0} : MatStrides{ldb, 1, 0};
  gemm<T>(C, MatStrides{ldc, 1, 0}, A, sa, B, sb, GemmSize{1, M, N, K}, alpha, beta, 1);
}

// Runs f(task) for task in [0, n) over the threads, handing tasks out one at a time (causal blocks
// differ in cost).
template <class F>
void for_tasks(int64_t n, F&& f) {
  const int nt = int(std::min<int64_t>(n, num_threads()));
  if (nt <= 1) {
    for (int64_t t = 0; t < n; ++t) f(t);
    return;
  }
  std::atomic<int64_t> next{0};
#ifdef _OPENMP
#pragma omp parallel num_threads(nt)
#endif
  for (int64_t t = next++; t < n; t = next++) f(t);
}

// The block's view of the mask and dropout for batch entry b.
template <class T>
AttnBlock<T> block_for(const AttnMask& mk, const AttnShape& s, const AttnOptions& o, int64_t b, int64_t i0,
                       int64_t j0) {
  AttnBlock<T> a{};
  a.i0 = i0, a.j0 = j0, a.causal = o.causal, a.S = s.S, a.seed = o.seed;
  a.drop_thr = attn_drop_threshold(o.dropout_p);
  a.keep_scale = o.dropout_p >= 1 ? T(0) : T(1.0 / (1.0 - o.dropout_p));
  a.ctr0 = uint64_t((b * s.L + i0) * s.S + j0);
  if (mk.data) {
    const int64_t n = b / s.heads, h = b % s.heads;
    const int64_t off = n * mk.sn + h * mk.sh + i0 * mk.sl + j0 * mk.ss;
    if (mk.is_bool) a.bmask = static_cast<const uint8_t*>(mk.data) + off;
    else a.fmask = static_cast<const T*>(mk.data) + off;
    a.msl = mk.sl, a.mss = mk.ss;
  }
  return a;
}

// Keys that query rows [i0, i0 + rows) may see.
int64_t visible_keys(const AttnShape& s, const AttnOptions& o, int64_t i0, int64_t rows) {
  return o.causal ? std::min(s.S, i0 + rows) : s.S;
}

}  // namespace

template <class T>
void attention_forward(T* out, T* lse, const T* q, const T* k, const T* v, const AttnMask& mask, const AttnShape& s,
                       const AttnOptions& o) {
  const int64_t L = s.L, E = s.E, Ev = s.Ev;
  const int64_t qblocks = (L + kRowBlock - 1) / kRowBlock;
  const AttnRowKernels<T>& rk = rows<T>();
  const T scale = T(o.scale);
  for_tasks(s.B * qblocks, [&](int64_t task) {
    thread_local std::vector<T> sbuf, acc, ml;
    const int64_t b = task / qblocks, i0 = (task % qblocks) * kRowBlock;
    const int rows_n = int(std::min(kRowBlock, L - i0));
    sbuf.resize(size_t(kRowBlock * kColBlock));
    acc.assign(size_t(rows_n * Ev), T(0));
    ml.resize(size_t(2 * kRowBlock));
    T* m = ml.data();
    T* l = m + kRowBlock;
    std::fill(m, m + rows_n, neg_inf<T>());
    std::fill(l, l + rows_n, T(0));
    const T* qb = q + s.q.at(b, s.heads, i0);
    const T* kb = k + s.k.at(b, s.heads, 0);
    const T* vb = v + s.v.at(b, s.heads, 0);
    const int64_t keys = visible_keys(s, o, i0, rows_n);
    for (int64_t j0 = 0; j0 < keys; j0 += kColBlock) {
      const int cols = int(std::min(kColBlock, keys - j0));
      mm1<T>(sbuf.data(), kColBlock, qb, s.q.row, false, kb + j0 * s.k.row, s.k.row, true, rows_n, cols, E, scale,
             T(0));
      AttnBlock<T> a = block_for<T>(mask, s, o, b, i0, j0);
      a.s = sbuf.data(), a.lds = kColBlock, a.rows = rows_n, a.cols = cols;
      a.m = m, a.l = l, a.acc = acc.data(), a.Ev = Ev;
      rk.forward(a);
      mm1<T>(acc.data(), Ev, sbuf.data(), kColBlock, false, vb + j0 * s.v.row, s.v.row, false, rows_n, Ev, cols,
             T(1), T(1));
    }
    for (int r = 0; r < rows_n; ++r) {
      T* orow = out + s.o.at(b, s.heads, i0 + r);
      const T* arow = acc.data() + r * Ev;
      const T inv = l[r] > T(0) ? T(1) / l[r] : T(0);
      for (int64_t e = 0; e < Ev; ++e) orow[e] = arow[e] * inv;
      lse[b * L + i0 + r] = l[r] > T(0) ? m[r] + std::log(l[r]) : neg_inf<T>();
    }
  });
}

template <class T>
void attention_backward(T* dq, T* dk, T* dv, T* dmask, T* delta, const T* dout, const T* q, const T* k, const T* v,
                        const T* out, const T* lse, const AttnMask& mask, const AttnShape& s, const AttnOptions& o) {
  const int64_t L = s.L, S = s.S, E = s.E, Ev = s.Ev;
  const AttnRowKernels<T>& rk = rows<T>();
  const T scale = T(o.scale);
  for_tasks(s.B, [&](int64_t b) {
    thread_local std::vector<T> sbuf, dpbuf, dbuf;
    sbuf.resize(static_cast<size_t>(kRowBlock * kColBlock));
    dpbuf.resize(static_cast<size_t>(kRowBlock * kColBlock));
    dbuf.resize(static_cast<size_t>(kRowBlock));
    T* dkb = dk + s.k.at(b, s.heads, 0);
    T* dvb = dv + s.v.at(b, s.heads, 0);
    for (int64_t j = 0; j < S; ++j) {
      std::fill_n(dkb + j * s.k.row, E, T(0));
      std::fill_n(dvb + j * s.v.row, Ev, T(0));
    }
    if (dmask) std::fill(dmask + b * L * S, dmask + (b + 1) * L * S, T(0));
    const T* kb = k + s.k.at(b, s.heads, 0);
    const T* vb = v + s.v.at(b, s.heads, 0);
    for (int64_t i0 = 0; i0 < L; i0 += kRowBlock) {
      const int rows_n = int(std::min(kRowBlock, L - i0));
      const T* qb = q + s.q.at(b, s.heads, i0);
      const T* dob = dout + s.o.at(b, s.heads, i0);
      const T* ob = out + s.o.at(b, s.heads, i0);
      T* dqb = dq + s.q.at(b, s.heads, i0);
      for (int r = 0; r < rows_n; ++r) std::fill_n(dqb + r * s.q.row, E, T(0));
      for (int r = 0; r < rows_n; ++r) {
        T d = 0;
        for (int64_t e = 0; e < Ev; ++e) d += dob[r * s.o.row + e] * ob[r * s.o.row + e];
        dbuf[size_t(r)] = d;
        delta[b * L + i0 + r] = d;
      }
      const int64_t keys = visible_keys(s, o, i0, rows_n);
      for (int64_t j0 = 0; j0 < keys; j0 += kColBlock) {
        const int cols = int(std::min(kColBlock, keys - j0));
        mm1<T>(sbuf.data(), kColBlock, qb, s.q.row, false, kb + j0 * s.k.row, s.k.row, true, rows_n, cols, E, scale,
               T(0));
        mm1<T>(dpbuf.data(), kColBlock, dob, s.o.row, false, vb + j0 * s.v.row, s.v.row, true, rows_n, cols, Ev, T(1),
               T(0));
        AttnBlock<T> a = block_for<T>(mask, s, o, b, i0, j0);
        a.s = sbuf.data(), a.dp = dpbuf.data(), a.lds = kColBlock, a.rows = rows_n, a.cols = cols;
        a.lse = lse + b * L + i0, a.D = dbuf.data();
        a.dmask = dmask ? dmask + (b * L + i0) * S + j0 : nullptr, a.ldm = S;
        rk.backward(a);
        mm1<T>(dvb + j0 * s.v.row, s.v.row, sbuf.data(), kColBlock, true, dob, s.o.row, false, cols, Ev, rows_n, T(1),
               T(1));
        mm1<T>(dqb, s.q.row, dpbuf.data(), kColBlock, false, kb + j0 * s.k.row, s.k.row, false, rows_n, E, cols, scale,
               T(1));
        mm1<T>(dkb + j0 * s.k.row, s.k.row, dpbuf.data(), kColBlock, true, qb, s.q.row, false, cols, E, rows_n, scale,
               T(1));
      }
    }
  });
}

// ---- the oracle ---------------------------------------------------------------------------------

namespace {

// Row i of batch entry b: visible-entry scores (-inf elsewhere) in double.
template <class T>
void naive_scores(std::vector<double>& sc, const T* q, const T* k, const AttnMask& mk, const AttnShape& s,
                  const AttnOptions& o, int64_t b, int64_t i) {
  const int64_t n = b / s.heads, h = b % s.heads;
  for (int64_t j = 0; j < s.S; ++j) {
    double d = 0;
    const T* qr = q + s.q.at(b, s.heads, i);
    const T* kr = k + s.k.at(b, s.heads, j);
    for (int64_t e = 0; e < s.E; ++e) d += double(qr[e]) * double(kr[e]);
    d *= o.scale;
    if (mk.data) {
      const int64_t off = n * mk.sn + h * mk.sh + i * mk.sl + j * mk.ss;
      if (mk.is_bool) {
        if (!static_cast<const uint8_t*>(mk.data)[off]) d = -INFINITY;
      } else {
        d += double(static_cast<const T*>(mk.data)[off]);
      }
    }
    if (o.causal && j > i) d = -INFINITY;
    sc[size_t(j)] = d;
  }
}

// Softmax of a row in place; returns false when every entry is -inf (the row gets zeros).
bool naive_softmax(std::vector<double>& p, double* lse) {
  double mx = -INFINITY;
  for (double v : p) mx = std::max(mx, v);
  if (mx == -INFINITY) {
    std::fill(p.begin(), p.end(), 0.0);
    *lse = -INFINITY;
    return false;
  }
  double sum = 0;
  for (double& v : p) sum += (v = std::exp(v - mx));
  for (double& v : p) v /= sum;
  *lse = mx + std::log(sum);
  return true;
}

double naive_keep(const AttnShape& s, const AttnOptions& o, int64_t b, int64_t i, int64_t j) {
  if (o.dropout_p <= 0) return 1.0;
  if (o.dropout_p >= 1) return 0.0;
  const uint64_t ctr = uint64_t((b * s.L + i) * s.S + j);
  return attn_hash24(o.seed, ctr) >= attn_drop_threshold(o.dropout_p) ? 1.0 / (1.0 - o.dropout_p) : 0.0;
}

}  // namespace

template <class T>
void attention_forward_naive(T* out, T* lse, const T* q, const T* k, const T* v, const AttnMask& mask,
                             const AttnShape& s, const AttnOptions& o) {
  std::vector<double> p(static_cast<size_t>(s.S));
  for (int64_t b = 0; b < s.B; ++b)
    for (int64_t i = 0; i < s.L; ++i) {
      naive_scores(p, q, k, mask, s, o, b, i);
      double l;
      naive_softmax(p, &l);
      lse[b * s.L + i] = T(l);
      for (int64_t e = 0; e < s.Ev; ++e) {
        double acc = 0;
        for (int64_t j = 0; j < s.S; ++j)
          acc += p[size_t(j)] * naive_keep(s, o, b, i, j) * double(v[s.v.at(b, s.heads, j) + e]);
        out[s.o.at(b, s.heads, i) + e] = T(acc);
      }
    }
}

template <class T>
void attention_backward_naive(T* dq, T* dk, T* dv, T* dmask, T* delta, const T* dout, const T* q, const T* k, const T* v,
                              const AttnMask& mask, const AttnShape& s, const AttnOptions& o) {
  std::vector<double> gq(size_t(s.B * s.L * s.E)), gk(size_t(s.B * s.S * s.E)), gv(size_t(s.B * s.S * s.Ev));
  std::vector<double> p(static_cast<size_t>(s.S)), dp(static_cast<size_t>(s.S));
  for (int64_t b = 0; b < s.B; ++b)
    for (int64_t i = 0; i < s.L; ++i) {
      naive_scores(p, q, k, mask, s, o, b, i);
      double l;
      naive_softmax(p, &l);
      const T* dor = dout + s.o.at(b, s.heads, i);
      double D = 0;
      for (int64_t j = 0; j < s.S; ++j) {
        double d = 0;
        for (int64_t e = 0; e < s.Ev; ++e) d += double(dor[e]) * double(v[s.v.at(b, s.heads, j) + e]);
        const double keep = naive_keep(s, o, b, i, j);
        dp[size_t(j)] = d * keep;
        D += p[size_t(j)] * keep * d;
        for (int64_t e = 0; e < s.Ev; ++e) gv[size_t((b * s.S + j) * s.Ev + e)] += p[size_t(j)] * keep * double(dor[e]);
      }
      delta[b * s.L + i] = T(D);
      for (int64_t j = 0; j < s.S; ++j) {
        const double ds = p[size_t(j)] * (dp[size_t(j)] - D);
        if (dmask) dmask[(b * s.L + i) * s.S + j] = T(ds);
        for (int64_t e = 0; e < s.E; ++e) {
          gq[size_t((b * s.L + i) * s.E + e)] += o.scale * ds * double(k[s.k.at(b, s.heads, j) + e]);
          gk[size_t((b * s.S + j) * s.E + e)] += o.scale * ds * double(q[s.q.at(b, s.heads, i) + e]);
        }
      }
    }
  for (int64_t b = 0; b < s.B; ++b) {  // the accumulators are contiguous; the outputs use the layouts
    for (int64_t i = 0; i < s.L; ++i)
      for (int64_t e = 0; e < s.E; ++e) dq[s.q.at(b, s.heads, i) + e] = T(gq[size_t((b * s.L + i) * s.E + e)]);
    for (int64_t j = 0; j < s.S; ++j) {
      for (int64_t e = 0; e < s.E; ++e) dk[s.k.at(b, s.heads, j) + e] = T(gk[size_t((b * s.S + j) * s.E + e)]);
      for (int64_t e = 0; e < s.Ev; ++e) dv[s.v.at(b, s.heads, j) + e] = T(gv[size_t((b * s.S + j) * s.Ev + e)]);
    }
  }
}

#define NERVE_ATTN_INSTANTIATE(T)                                                                                 \
  template void attention_forward<T>(T*, T*, const T*, const T*, const T*, const AttnMask&, const AttnShape&,       \
                                     const AttnOptions&);                                                          \
  template void attention_backward<T>(T*, T*, T*, T*, T*, const T*, const T*, const T*, const T*, const T*, const T*,   \
                                      const AttnMask&, const AttnShape&, const AttnOptions&);                       \
  template void attention_forward_naive<T>(T*, T*, const T*, const T*, const T*, const AttnMask&,                  \
                                           const AttnShape&, const AttnOptions&);                                  \
  template void attention_backward_naive<T>(T*, T*, T*, T*, T*, const T*, const T*, const T*, const T*,                \
                                            const AttnMask&, const AttnShape&, const AttnOptions&);
NERVE_ATTN_INSTANTIATE(float)
NERVE_ATTN_INSTANTIATE(double)

}  // namespace nerve
