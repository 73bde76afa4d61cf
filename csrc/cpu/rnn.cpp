// rnn.cpp — the recurrent layer drivers (GEMMs through gemm.h; the time loop run by one team of
// threads that own slices of hidden units; the fused cell passes of rnn_cells.h) and the plain-loop
// references. See rnn.h.
#include "rnn.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <exception>
#include <memory>
#include <utility>
#include <vector>

#include "../core/cpu_features.h"
#include "../core/parallel.h"
#include "gemm.h"
#include "rnn_cells.h"

namespace nerve {
namespace {

// ---- helpers ------------------------------------------------------------------------------------

inline size_t sz(int64_t n) { return static_cast<size_t>(n); }

template <class T>
const RnnCellKernels<T>& cells();

template <>
const RnnCellKernels<float>& cells<float>() {
#ifdef NERVE_X86_KERNELS
  if (isa() == Isa::avx512) return rnn_cells_avx512_f32();
  if (isa() == Isa::avx2) return rnn_cells_avx2_f32();
#endif
  static const RnnCellKernels<float> k = make_rnn_cell_kernels<float>();
  return k;
}

template <>
const RnnCellKernels<double>& cells<double>() {
  static const RnnCellKernels<double> k = make_rnn_cell_kernels<double>();
  return k;
}

// C (M x N, row stride ldc) = op(A) op(B) + beta C, where op(A) is M x K: A row-major with row
// stride lda, or (ta) the transpose of a row-major K x M array; likewise B.
template <class T>
void mm(T* C, int64_t ldc, const T* A, int64_t lda, bool ta, const T* B, int64_t ldb, bool tb, int64_t M, int64_t N,
        int64_t K, T beta) {
  const MatStrides sa = ta ? MatStrides{1, lda, 0} : MatStrides{lda, 1, 0};
  const MatStrides sb = tb ? MatStrides{1, ldb, 0} : MatStrides{ldb, 1, 0};
  gemm<T>(C, MatStrides{ldc, 1, 0}, A, sa, B, sb, GemmSize{1, M, N, K}, T(1), beta);
}

// out[j] = sum over rows of a[r, j].
template <class T>
void colsum(T* out, const T* a, int64_t rows, int64_t cols) {
  parallel_for(cols, 128, [&](int64_t j0, int64_t j1) {
    std::fill(out + j0, out + j1, T(0));
    for (int64_t r = 0; r < rows; ++r) {
      const T* row = a + r * cols;
      for (int64_t j = j0; j < j1; ++j) out[j] += row[j];
    }
  });
}

// Row b of the step is active (t < lengths[b]); null when no lengths are given.
const uint8_t* active_rows(std::vector<uint8_t>& buf, const int64_t* lengths, int64_t t, int64_t B) {
  if (!lengths) return nullptr;
  for (int64_t b = 0; b < B; ++b) buf[sz(b)] = t < lengths[b];
  return buf.data();
}

struct Steps {  // step k of the walk visits time t(k); the state before it came from step k - 1
  int64_t S;
  bool reverse;
  int64_t t(int64_t k) const { return reverse ? S - 1 - k : k; }
};

// ---- the team that walks the sequence -----------------------------------------------------------
//
// One parallel region for the whole walk, not one per GEMM and per cell pass: thread `tid` owns the
// hidden units [j0, j1) (whole blocks of 16) from the first step to the last. A unit's gate columns
// g*H + j are all its own, so each step is the thread's share of the GEMM (its gate columns; one
// batched call over the G gates) and the cell pass over its units, then one barrier, after which
// every thread may read the whole new state. Backward is the same with the barrier between the
// cell pass (gate gradients of own units) and the GEMM (own columns of dh, over all gates).
// A step costs one barrier instead of several fork/joins, and each thread transposes its slice of
// W_hh once, so the per-step GEMM never repacks the weights from strided memory.

// Threads worth a time loop: each should get at least ~1 MFLOP of GEMM per step.
int walk_threads(int64_t B, int64_t H, int64_t GH) {
  const double step_flops = 2.0 * double(B) * double(GH) * double(H);
  int64_t nt = std::min<int64_t>(num_threads(), std::max<int64_t>(1, int64_t(step_flops / 1.0e6)));
  return int(std::max<int64_t>(1, std::min<int64_t>(nt, (H + 15) / 16)));
}

struct Units {
  int64_t j0, j1;
};
Units units_of(int tid, int nt, int64_t H) {
  const int64_t blocks = (H + 15) / 16;
  return {std::min(H, blocks * tid / nt * 16), std::min(H, blocks * (tid + 1) / nt * 16)};
}

// Runs body(tid, nt, guard, sync) on nt threads. sync() is the team's barrier; guard(f) runs f
// unless some thread failed, and records the first exception, so a failing thread keeps meeting
// the barriers (the others would wait forever) and the error is rethrown once the team is done.
template <class F>
void run_team(int nt, F&& body) {
  auto no_sync = [] {};
  std::exception_ptr error;
  std::atomic<bool> failed{false};
  auto guard = [&](auto&& f) {
    if (failed.load(std::memory_order_relaxed)) return;
    try {
      f();
    } catch (...) {
      if (!failed.exchange(true)) error = std::current_exception();
    }
  };
#ifdef _OPENMP
  if (nt > 1) {
#pragma omp parallel num_threads(nt)
    {
      auto sync = [] {
#pragma omp barrier
      };
      body(omp_get_thread_num(), omp_get_num_threads(), guard, sync);
    }
  } else {
    body(0, 1, guard, no_sync);
  }
#else
  (void)nt;
  body(0, 1, guard, no_sync);
#endif
  if (error) std::rethrow_exception(error);
}

// A thread's slice of W_hh (GH, H), laid out for the per-step GEMM h_prev (B, H) @ W^T: either the
// transpose of its columns (H rows of G*w, padded so rows do not alias in L1), or, for a short
// walk where the copy would not pay, a strided view of W_hh itself.
template <class T>
struct WeightSlice {
  std::vector<T> buf;
  const T* b = nullptr;
  MatStrides sb{};
  void make(const T* w_hh, int64_t H, int G, Units u, bool transpose) {
    const int64_t w = u.j1 - u.j0;
    if (!transpose) {  // element (k, n) of gate g is W_hh[g*H + j0 + n, k]
      b = w_hh + u.j0 * H;
      sb = MatStrides{1, H, H * H};
      return;
    }
    const int64_t ld = G * w + 16;
    buf.resize(sz(H * ld));
    for (int g = 0; g < G; ++g)
      for (int64_t n = 0; n < w; ++n) {
        const T* row = w_hh + (g * H + u.j0 + n) * H;
        for (int64_t k = 0; k < H; ++k) buf[sz(k * ld + g * w + n)] = row[k];
      }
    b = buf.data();
    sb = MatStrides{ld, 1, w};
  }
  // C[g] (B, w) at columns g*H + j0 of a row-`ldc` array  (+)=  h (B, H) @ slice of gate g.
  void gates(T* C, int64_t ldc, const T* h, int64_t B, int64_t H, int G, Units u, T beta) const {
    const int64_t w = u.j1 - u.j0;
    gemm<T>(C + u.j0, MatStrides{ldc, 1, H}, h, MatStrides{H, 1, 0}, b, sb, GemmSize{G, B, w, H}, T(1), beta, 1);
  }
};

}  // namespace

// ---- forward ------------------------------------------------------------------------------------

template <class T>
void rnn_forward(T* y, T* hn, T* cn, T* ws, const T* x, const T* w_ih, const T* w_hh, const T* b_ih, const T* b_hh,
                 const T* h0, const T* c0, const int64_t* lengths, const RnnShape& s) {
  const int64_t S = s.S, B = s.B, I = s.I, H = s.H, BH = B * H, GH = rnn_gates(s.mode) * H;
  if (B == 0 || H == 0) return;
  const bool lstm = s.mode == RnnMode::lstm, gru = s.mode == RnnMode::gru;
  const bool relu = s.mode == RnnMode::rnn_relu;
  const RnnCellKernels<T>& k = cells<T>();
  std::vector<T> zeros;
  if (!h0 || (lstm && !c0)) zeros.assign(sz(BH), T(0));
  const T* h_init = h0 ? h0 : zeros.data();
  const T* c_init = c0 ? c0 : zeros.data();
  if (S == 0) {  // an empty sequence hands the initial state through
    std::copy(h_init, h_init + BH, hn);
    if (lstm) std::copy(c_init, c_init + BH, cn);
    return;
  }

  // Workspace: the pre-activations of every step (the gates region; the h region for an RNN).
  T* gates = ws;
  T* cs = lstm ? ws + S * B * GH : nullptr;
  T* hsave = gru ? ws + S * B * GH : nullptr;
  T* hs = lstm || gru ? ws + S * B * GH + S * BH : ws;
  T* step = gru ? hs + S * BH : nullptr;
  T* pre = lstm || gru ? gates : hs;

  // pre = x W_ih^T over all S*B rows at once; the cell passes add the biases as they read it.
  // LSTM and RNN add b_ih + b_hh; the GRU keeps b_hh on the hidden side (its n gate scales that
  // side by r).
  mm<T>(pre, GH, x, I, false, w_ih, I, true, S * B, GH, I, T(0));
  std::vector<T> bias(sz(gru ? 2 * GH : GH), T(0));
  for (int64_t j = 0; j < GH; ++j) {
    const T bi = b_ih ? b_ih[j] : T(0), bh = b_hh ? b_hh[j] : T(0);
    if (gru) bias[sz(j)] = bi, bias[sz(GH + j)] = bh;
    else bias[sz(j)] = bi + bh;
  }
  const T* bias_x = bias.data();
  const T* bias_h = gru ? bias.data() + GH : nullptr;

  const Steps w{S, s.reverse};
  const int G = rnn_gates(s.mode);
  run_team(walk_threads(B, H, GH), [&](int tid, int nt, auto& guard, auto& sync) {
    const Units u = units_of(tid, nt, H);
    const bool mine = u.j1 > u.j0;
    WeightSlice<T> wt;
    std::vector<uint8_t> act(sz(B));
    if (mine) guard([&] { wt.make(w_hh, H, G, u, S >= 4); });
    const Rows all{0, B, H, nullptr, u.j0, u.j1};
    for (int64_t kk = 0; kk < S; ++kk) {
      const int64_t t = w.t(kk), tp = w.t(kk - 1);
      const bool first = kk == 0;
      const T* h_prev = first ? h_init : hs + tp * BH;
      T* yt = y + t * B * s.ldy;
      if (mine) guard([&] {
        Rows r = all;
        r.active = active_rows(act, lengths, t, B);
        if (lstm) {
          T* g = gates + t * B * GH;
          if (!first || h0) wt.gates(g, GH, h_prev, B, H, G, u, T(1));
          const T* c_prev = first ? c_init : cs + tp * BH;
          k.lstm_fwd(g, cs + t * BH, hs + t * BH, yt, s.ldy, bias_x, c_prev, h_prev, r);
        } else if (gru) {
          if (!first || h0) {
            wt.gates(step, GH, h_prev, B, H, G, u, T(0));
          } else {
            for (int64_t b = 0; b < B; ++b)
              for (int gi = 0; gi < G; ++gi) std::fill_n(step + b * GH + gi * H + u.j0, u.j1 - u.j0, T(0));
          }
          k.gru_fwd(gates + t * B * GH, hsave + t * BH, hs + t * BH, yt, s.ldy, bias_x, bias_h, step, h_prev, r);
        } else {
          T* h = hs + t * BH;
          if (!first || h0) wt.gates(h, H, h_prev, B, H, G, u, T(1));
          k.rnn_fwd(h, yt, s.ldy, bias_x, h_prev, relu, r);
        }
      });
      sync();  // the whole new state is written before any thread's next GEMM reads it
    }
  });
  const int64_t last = w.t(S - 1);
  std::copy(hs + last * BH, hs + (last + 1) * BH, hn);
  if (lstm) std::copy(cs + last * BH, cs + (last + 1) * BH, cn);
}

// ---- backward -----------------------------------------------------------------------------------

template <class T>
void rnn_backward(T* dx, T* dw_ih, T* dw_hh, T* db_ih, T* db_hh, T* dh0, T* dc0, T* scratch, const T* dy,
                  const T* dhn, const T* dcn, const T* ws, const T* x, const T* w_ih, const T* w_hh, const T* h0,
                  const T* c0, const int64_t* lengths, const RnnShape& s, bool accumulate_dx) {
  const int64_t S = s.S, B = s.B, I = s.I, H = s.H, BH = B * H, GH = rnn_gates(s.mode) * H;
  const bool lstm = s.mode == RnnMode::lstm, gru = s.mode == RnnMode::gru;
  const bool relu = s.mode == RnnMode::rnn_relu;
  const RnnCellKernels<T>& k = cells<T>();
  if (B == 0 || H == 0 || S == 0) {  // no step: the state gradient passes through, weights get none
    if (!accumulate_dx) std::fill(dx, dx + S * B * I, T(0));
    std::fill(dw_ih, dw_ih + GH * I, T(0));
    std::fill(dw_hh, dw_hh + GH * H, T(0));
    if (db_ih) std::fill(db_ih, db_ih + GH, T(0));
    if (db_hh) std::fill(db_hh, db_hh + GH, T(0));
    if (dh0) dhn ? (void)std::copy(dhn, dhn + BH, dh0) : std::fill(dh0, dh0 + BH, T(0));
    if (dc0) dcn ? (void)std::copy(dcn, dcn + BH, dc0) : std::fill(dc0, dc0 + BH, T(0));
    return;
  }
  std::vector<T> zeros;
  if (!h0 || (lstm && !c0)) zeros.assign(sz(BH), T(0));
  const T* h_init = h0 ? h0 : zeros.data();
  const T* c_init = c0 ? c0 : zeros.data();

  const T* gates = ws;
  const T* cs = lstm ? ws + S * B * GH : nullptr;
  const T* hsave = gru ? ws + S * B * GH : nullptr;
  const T* hs = lstm || gru ? ws + S * B * GH + S * BH : ws;

  T* dg = scratch;                               // input-side pre-activation gradients (S,B,GH)
  T* dgh = gru ? dg + S * B * GH : dg;            // hidden side (differs for the GRU's n gate)
  T* dh = (gru ? dgh + S * B * GH : dg + S * B * GH);
  T* dh_next = dh + BH;
  T* dc = dh_next + BH;
  T* dc_next = dc + BH;
  dhn ? (void)std::copy(dhn, dhn + BH, dh) : std::fill(dh, dh + BH, T(0));
  if (lstm) dcn ? (void)std::copy(dcn, dcn + BH, dc) : std::fill(dc, dc + BH, T(0));

  const Steps w{S, s.reverse};
  run_team(walk_threads(B, H, GH), [&](int tid, int nt, auto& guard, auto& sync) {
    const Units u = units_of(tid, nt, H);
    const bool mine = u.j1 > u.j0;
    const int64_t nw = u.j1 - u.j0;
    std::vector<uint8_t> act(sz(B));
    const Rows all{0, B, H, nullptr, u.j0, u.j1};
    // Own columns of W_hh (GH x nw), packed once for the steps' GEMMs rather than at every step
    // (every step but the walk's last multiplies by it, that one too when there is an h0).
    std::unique_ptr<PackedB<T>> w_own;
    if (mine && (S > 1 || dh0))
      guard([&] { w_own = std::make_unique<PackedB<T>>(w_hh + u.j0, MatStrides{H, 1, 0}, GH, nw); });
    T *dh_a = dh, *dh_b = dh_next, *dc_a = dc, *dc_b = dc_next;  // this thread's view of the ping-pong
    for (int64_t kk = S - 1; kk >= 0; --kk) {
      const int64_t t = w.t(kk), tp = w.t(kk - 1);
      const bool first = kk == 0;
      const T* h_prev = first ? h_init : hs + tp * BH;
      const T* dyt = dy ? dy + t * B * s.ldy : nullptr;
      T* dgt = dg + t * B * GH;
      T* dght = dgh + t * B * GH;
      if (mine) guard([&] {
        Rows r = all;
        r.active = active_rows(act, lengths, t, B);
        if (lstm) {
          const T* c_prev = first ? c_init : cs + tp * BH;
          k.lstm_bwd(dgt, dh_b, dc_b, dh_a, dc_a, dyt, s.ldy, gates + t * B * GH, cs + t * BH, c_prev, r);
        } else if (gru) {
          k.gru_bwd(dgt, dght, dh_b, dh_a, dyt, s.ldy, gates + t * B * GH, hsave + t * BH, h_prev, r);
        } else {
          k.rnn_bwd(dgt, dh_b, dh_a, dyt, s.ldy, hs + t * BH, relu, r);
        }
      });
      sync();  // every unit's gate gradients of this step are written before the GEMM reads them
      // Own columns of dh_prev += dgates_h (B, GH) W_hh[:, own]; the next cell pass reads only
      // those, so no second barrier is needed.
      if (w_own && (!first || dh0))
        guard([&] { w_own->gemm(dh_b + u.j0, MatStrides{H, 1, 0}, dght, MatStrides{GH, 1, 0}, B, T(1), T(1)); });
      std::swap(dh_a, dh_b);
      if (lstm) std::swap(dc_a, dc_b);
    }
    if (mine) guard([&] {
      for (int64_t b = 0; b < B; ++b) {
        if (dh0) std::copy(dh_a + b * H + u.j0, dh_a + b * H + u.j1, dh0 + b * H + u.j0);
        if (dc0) std::copy(dc_a + b * H + u.j0, dc_a + b * H + u.j1, dc0 + b * H + u.j0);
      }
    });
  });

  const int64_t SB = S * B;
  mm<T>(dx, I, dg, GH, false, w_ih, I, false, SB, I, GH, accumulate_dx ? T(1) : T(0));
  mm<T>(dw_ih, I, dg, GH, true, x, I, false, GH, I, SB, T(0));
  // dW_hh = sum over steps of dgates_h(t)^T h_prev(t): the steps whose h_prev is a saved state are
  // one GEMM (their rows are adjacent in time), the first step of the walk adds h0's part.
  const int64_t first_t = w.t(0);
  const T* dg_rest = s.reverse ? dgh : dgh + B * GH;  // steps t with a predecessor state in hs
  const T* h_rest = s.reverse ? hs + BH : hs;
  mm<T>(dw_hh, H, dg_rest, GH, true, h_rest, H, false, GH, H, (S - 1) * B, T(0));
  if (h0) mm<T>(dw_hh, H, dgh + first_t * B * GH, GH, true, h0, H, false, GH, H, B, T(1));
  if (db_ih) colsum(db_ih, dg, SB, GH);
  if (db_hh) colsum(db_hh, dgh, SB, GH);
}

// ---- the oracle ---------------------------------------------------------------------------------

namespace {

double sig(double v) { return 1.0 / (1.0 + std::exp(-v)); }

// Pre-activations of one row: xi = W_ih x + b_ih, hh = W_hh h + b_hh (each GH long).
template <class T>
void naive_pre(std::vector<double>& xi, std::vector<double>& hh, const T* x, const double* h, const T* w_ih,
               const T* w_hh, const T* b_ih, const T* b_hh, int64_t I, int64_t H, int64_t GH) {
  for (int64_t g = 0; g < GH; ++g) {
    double a = b_ih ? double(b_ih[g]) : 0.0, c = b_hh ? double(b_hh[g]) : 0.0;
    for (int64_t i = 0; i < I; ++i) a += double(w_ih[g * I + i]) * double(x[i]);
    for (int64_t j = 0; j < H; ++j) c += double(w_hh[g * H + j]) * h[j];
    xi[sz(g)] = a, hh[sz(g)] = c;
  }
}

// One cell step on one row: new h (and c) from the pre-activations.
void naive_cell(RnnMode m, const std::vector<double>& xi, const std::vector<double>& hh, const double* hp,
                const double* cp, double* h, double* c, int64_t H) {
  for (int64_t j = 0; j < H; ++j) {
    if (m == RnnMode::lstm) {
      const double i = sig(xi[j] + hh[j]), f = sig(xi[H + j] + hh[H + j]);
      const double g = std::tanh(xi[2 * H + j] + hh[2 * H + j]), o = sig(xi[3 * H + j] + hh[3 * H + j]);
      c[j] = f * cp[j] + i * g;
      h[j] = o * std::tanh(c[j]);
    } else if (m == RnnMode::gru) {
      const double r = sig(xi[j] + hh[j]), z = sig(xi[H + j] + hh[H + j]);
      const double n = std::tanh(xi[2 * H + j] + r * hh[2 * H + j]);
      h[j] = (1 - z) * n + z * hp[j];
    } else {
      const double v = xi[j] + hh[j];
      h[j] = m == RnnMode::rnn_relu ? std::max(v, 0.0) : std::tanh(v);
    }
  }
}

bool naive_active(const int64_t* lengths, int64_t t, int64_t b) { return !lengths || t < lengths[b]; }

}  // namespace

template <class T>
void rnn_forward_naive(T* y, T* hn, T* cn, const T* x, const T* w_ih, const T* w_hh, const T* b_ih, const T* b_hh,
                       const T* h0, const T* c0, const int64_t* lengths, const RnnShape& s) {
  const int64_t S = s.S, B = s.B, I = s.I, H = s.H, GH = rnn_gates(s.mode) * H;
  std::vector<double> h(sz(B * H)), c(sz(B * H)), xi(sz(GH)), hh(sz(GH)), nh(sz(H)), nc(sz(H));
  for (int64_t e = 0; e < B * H; ++e) h[sz(e)] = h0 ? double(h0[e]) : 0.0, c[sz(e)] = c0 ? double(c0[e]) : 0.0;
  for (int64_t kk = 0; kk < S; ++kk) {
    const int64_t t = s.reverse ? S - 1 - kk : kk;
    for (int64_t b = 0; b < B; ++b) {
      T* yr = y + (t * B + b) * s.ldy;
      if (!naive_active(lengths, t, b)) {
        for (int64_t j = 0; j < H; ++j) yr[j] = T(0);
        continue;
      }
      naive_pre(xi, hh, x + (t * B + b) * I, &h[sz(b * H)], w_ih, w_hh, b_ih, b_hh, I, H, GH);
      naive_cell(s.mode, xi, hh, &h[sz(b * H)], &c[sz(b * H)], nh.data(), nc.data(), H);
      for (int64_t j = 0; j < H; ++j) {
        h[sz(b * H + j)] = nh[sz(j)];
        if (s.mode == RnnMode::lstm) c[sz(b * H + j)] = nc[sz(j)];
        yr[j] = T(nh[sz(j)]);
      }
    }
  }
  for (int64_t e = 0; e < B * H; ++e) {
    hn[e] = T(h[sz(e)]);
    if (cn) cn[e] = T(c[sz(e)]);
  }
}

template <class T>
void rnn_backward_naive(T* dx, T* dw_ih, T* dw_hh, T* db_ih, T* db_hh, T* dh0, T* dc0, const T* dy, const T* dhn,
                        const T* dcn, const T* x, const T* w_ih, const T* w_hh, const T* b_ih, const T* b_hh,
                        const T* h0, const T* c0, const int64_t* lengths, const RnnShape& s, bool accumulate_dx) {
  const int64_t S = s.S, B = s.B, I = s.I, H = s.H, BH = B * H, GH = rnn_gates(s.mode) * H;
  const RnnMode m = s.mode;
  // The forward pass again, keeping the state before every step of the walk.
  std::vector<double> hist_h(sz((S + 1) * BH)), hist_c(sz((S + 1) * BH));
  for (int64_t e = 0; e < BH; ++e) hist_h[sz(e)] = h0 ? double(h0[e]) : 0.0, hist_c[sz(e)] = c0 ? double(c0[e]) : 0.0;
  std::vector<double> xi(sz(GH)), hh(sz(GH)), nh(sz(H)), nc(sz(H));
  for (int64_t kk = 0; kk < S; ++kk) {
    const int64_t t = s.reverse ? S - 1 - kk : kk;
    double* hp = &hist_h[sz(kk * BH)];
    double* cp = &hist_c[sz(kk * BH)];
    std::copy(hp, hp + BH, hp + BH);
    std::copy(cp, cp + BH, cp + BH);
    for (int64_t b = 0; b < B; ++b) {
      if (!naive_active(lengths, t, b)) continue;
      naive_pre(xi, hh, x + (t * B + b) * I, hp + b * H, w_ih, w_hh, b_ih, b_hh, I, H, GH);
      naive_cell(m, xi, hh, hp + b * H, cp + b * H, hp + BH + b * H, cp + BH + b * H, H);
    }
  }
  std::vector<double> dh(sz(BH)), dc(sz(BH)), gx(sz(S * B * I)), gwi(sz(GH * I)), gwh(sz(GH * H));
  std::vector<double> gbi(sz(GH)), gbh(sz(GH)), dxi(sz(GH)), dhh(sz(GH));
  for (int64_t e = 0; e < BH; ++e) dh[sz(e)] = dhn ? double(dhn[e]) : 0.0, dc[sz(e)] = dcn ? double(dcn[e]) : 0.0;
  for (int64_t kk = S - 1; kk >= 0; --kk) {
    const int64_t t = s.reverse ? S - 1 - kk : kk;
    for (int64_t b = 0; b < B; ++b) {
      if (!naive_active(lengths, t, b)) continue;
      const double* hp = &hist_h[sz(kk * BH + b * H)];
      const double* cp = &hist_c[sz(kk * BH + b * H)];
      const T* xr = x + (t * B + b) * I;
      naive_pre(xi, hh, xr, hp, w_ih, w_hh, b_ih, b_hh, I, H, GH);
      double* dhb = &dh[sz(b * H)];
      double* dcb = &dc[sz(b * H)];
      std::vector<double> direct(sz(H), 0.0);
      for (int64_t j = 0; j < H; ++j) {
        const double dht = dhb[j] + (dy ? double(dy[(t * B + b) * s.ldy + j]) : 0.0);
        if (m == RnnMode::lstm) {
          const double i = sig(xi[j] + hh[j]), f = sig(xi[H + j] + hh[H + j]);
          const double g = std::tanh(xi[2 * H + j] + hh[2 * H + j]), o = sig(xi[3 * H + j] + hh[3 * H + j]);
          const double cc = f * cp[j] + i * g, tc = std::tanh(cc);
          const double dct = dcb[j] + dht * o * (1 - tc * tc);
          dxi[j] = dct * g * i * (1 - i);
          dxi[H + j] = dct * cp[j] * f * (1 - f);
          dxi[2 * H + j] = dct * i * (1 - g * g);
          dxi[3 * H + j] = dht * tc * o * (1 - o);
          for (int q = 0; q < 4; ++q) dhh[q * H + j] = dxi[q * H + j];
          dcb[j] = dct * f;
        } else if (m == RnnMode::gru) {
          const double r = sig(xi[j] + hh[j]), z = sig(xi[H + j] + hh[H + j]);
          const double n = std::tanh(xi[2 * H + j] + r * hh[2 * H + j]);
          const double dnp = dht * (1 - z) * (1 - n * n);
          dxi[j] = dhh[j] = dnp * hh[2 * H + j] * r * (1 - r);
          dxi[H + j] = dhh[H + j] = dht * (hp[j] - n) * z * (1 - z);
          dxi[2 * H + j] = dnp;
          dhh[2 * H + j] = dnp * r;
          direct[sz(j)] = dht * z;
        } else {
          const double v = xi[j] + hh[j];
          dxi[j] = dhh[j] = m == RnnMode::rnn_relu ? (v > 0 ? dht : 0.0) : dht * (1 - std::tanh(v) * std::tanh(v));
        }
      }
      for (int64_t g = 0; g < GH; ++g) {
        gbi[sz(g)] += dxi[sz(g)];
        gbh[sz(g)] += dhh[sz(g)];
        for (int64_t i = 0; i < I; ++i) {
          gwi[sz(g * I + i)] += dxi[sz(g)] * double(xr[i]);
          gx[sz((t * B + b) * I + i)] += dxi[sz(g)] * double(w_ih[g * I + i]);
        }
        for (int64_t j = 0; j < H; ++j) gwh[sz(g * H + j)] += dhh[sz(g)] * hp[j];
      }
      for (int64_t j = 0; j < H; ++j) {
        double v = direct[sz(j)];
        for (int64_t g = 0; g < GH; ++g) v += dhh[sz(g)] * double(w_hh[g * H + j]);
        dhb[j] = v;
      }
    }
  }
  for (int64_t e = 0; e < S * B * I; ++e) dx[e] = T((accumulate_dx ? double(dx[e]) : 0.0) + gx[sz(e)]);
  for (int64_t e = 0; e < GH * I; ++e) dw_ih[e] = T(gwi[sz(e)]);
  for (int64_t e = 0; e < GH * H; ++e) dw_hh[e] = T(gwh[sz(e)]);
  for (int64_t g = 0; g < GH; ++g) {
    if (db_ih) db_ih[g] = T(gbi[sz(g)]);
    if (db_hh) db_hh[g] = T(gbh[sz(g)]);
  }
  for (int64_t e = 0; e < BH; ++e) {
    if (dh0) dh0[e] = T(dh[sz(e)]);
    if (dc0) dc0[e] = T(dc[sz(e)]);
  }
}

#define NERVE_RNN_INSTANTIATE(T)                                                                                  \
  template void rnn_forward<T>(T*, T*, T*, T*, const T*, const T*, const T*, const T*, const T*, const T*,         \
                               const T*, const int64_t*, const RnnShape&);                                         \
  template void rnn_backward<T>(T*, T*, T*, T*, T*, T*, T*, T*, const T*, const T*, const T*, const T*, const T*,   \
                                const T*, const T*, const T*, const T*, const int64_t*, const RnnShape&, bool);    \
  template void rnn_forward_naive<T>(T*, T*, T*, const T*, const T*, const T*, const T*, const T*, const T*,       \
                                     const T*, const int64_t*, const RnnShape&);                                   \
  template void rnn_backward_naive<T>(T*, T*, T*, T*, T*, T*, T*, const T*, const T*, const T*, const T*,          \
                                      const T*, const T*, const T*, const T*, const T*, const T*, const int64_t*,  \
                                      const RnnShape&, bool);
NERVE_RNN_INSTANTIATE(float)
NERVE_RNN_INSTANTIATE(double)

}  // namespace nerve
