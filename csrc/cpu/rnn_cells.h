// rnn_cells.h — the fused pointwise passes of one RNN / LSTM / GRU time step (internal to
// csrc/cpu/rnn*.cpp). Each pass reads what the step's GEMM produced, applies the gate
// nonlinearities, updates the state and stores what backward needs, in one sweep over (B, H).
//
// This header is compiled three times (rnn.cpp portable, rnn_avx2.cpp, rnn_avx512.cpp) so that
// the loops, written branch-free over contiguous columns, are vectorised for each ISA; everything
// here has internal linkage so the three copies never meet at link time. float uses the
// polynomial exp / tanh of seq_math.h, which vectorise; double calls std::.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "seq_math.h"

namespace nerve {

// Rows [b0, b1) and hidden units [j0, j1) of one step (a thread's share: the gate columns of a
// unit are g*H + j). `active` (B,) is null when every row is active; an inactive row carries its
// state and writes zeros to y (and to its gate gradients in backward).
struct Rows {
  int64_t b0, b1, H;
  const uint8_t* active;
  int64_t j0, j1;
  bool on(int64_t b) const { return !active || active[b]; }
};

// The passes of one ISA, as function pointers (rnn.cpp picks a table with isa()).
template <class T>
struct RnnCellKernels {
  void (*lstm_fwd)(T* gates, T* c, T* h, T* y, int64_t ldy, const T* bias, const T* c_prev, const T* h_prev, Rows r);
  void (*lstm_bwd)(T* dgates, T* dh_out, T* dc_out, const T* dh, const T* dc, const T* dy, int64_t ldy,
                   const T* gates, const T* c, const T* c_prev, Rows r);
  void (*gru_fwd)(T* gates, T* hn_save, T* h, T* y, int64_t ldy, const T* b_ih, const T* b_hh, const T* hproj,
                  const T* h_prev, Rows r);
  void (*gru_bwd)(T* dgx, T* dgh, T* dh_out, const T* dh, const T* dy, int64_t ldy, const T* gates,
                  const T* hn_save, const T* h_prev, Rows r);
  void (*rnn_fwd)(T* h, T* y, int64_t ldy, const T* bias, const T* h_prev, bool relu, Rows r);
  void (*rnn_bwd)(T* dgates, T* dh_out, const T* dh, const T* dy, int64_t ldy, const T* h, bool relu, Rows r);
};

// Per-ISA tables (rnn_avx2.cpp, rnn_avx512.cpp exist on x86-64 builds only).
const RnnCellKernels<float>& rnn_cells_avx2_f32();
const RnnCellKernels<float>& rnn_cells_avx512_f32();

namespace {

template <class T>
inline T act_relu(T x) { return x < T(0) ? T(0) : x; }  // NaN passes through, as in torch

template <class T>
inline void carry(T* dst, const T* src, int64_t n) {
  std::memcpy(dst, src, sizeof(T) * size_t(n));
}

template <class T>
inline void zero(T* dst, int64_t n) {
  std::fill(dst, dst + n, T(0));
}

// ---- LSTM ---------------------------------------------------------------------------------------

// gates (B,4H): pre-activations less the bias (4H) in, i f g o out; c, h (B,H) out; y (B,ldy) out.
template <class T>
void lstm_fwd_rows(T* gates, T* c, T* h, T* y, int64_t ldy, const T* bias, const T* c_prev, const T* h_prev, Rows r) {
  const int64_t H = r.H, j0 = r.j0, n = r.j1 - r.j0;
  for (int64_t b = r.b0; b < r.b1; ++b) {
    T* cb = c + b * H + j0;
    T* hb = h + b * H + j0;
    T* yb = y + b * ldy + j0;
    if (!r.on(b)) {
      carry(cb, c_prev + b * H + j0, n);
      carry(hb, h_prev + b * H + j0, n);
      zero(yb, n);
      continue;
    }
    T* gi = gates + b * 4 * H + j0;
    T* gf = gi + H;
    T* gg = gf + H;
    T* go = gg + H;
    const T* cp = c_prev + b * H + j0;
    const T *bi = bias + j0, *bf = bi + H, *bg = bi + 2 * H, *bo = bi + 3 * H;
    NERVE_IVDEP
    for (int64_t j = 0; j < n; ++j) {
      const T i = act_sigmoid(gi[j] + bi[j]), f = act_sigmoid(gf[j] + bf[j]);
      const T g = act_tanh(gg[j] + bg[j]), o = act_sigmoid(go[j] + bo[j]);
      const T cn = f * cp[j] + i * g;
      const T hn = o * act_tanh(cn);
      gi[j] = i, gf[j] = f, gg[j] = g, go[j] = o;
      cb[j] = cn, hb[j] = hn, yb[j] = hn;
    }
  }
}

// dgates (B,4H) out (pre-activation gradients); dh_out (B,H) out: 0 on active rows (the caller's
// GEMM adds dgates W_hh), dh on inactive ones; dc_out (B,H) out. dy (B,ldy) may be null.
template <class T>
void lstm_bwd_rows(T* dgates, T* dh_out, T* dc_out, const T* dh, const T* dc, const T* dy, int64_t ldy,
                   const T* gates, const T* c, const T* c_prev, Rows r) {
  const int64_t H = r.H, j0 = r.j0, n = r.j1 - r.j0;
  for (int64_t b = r.b0; b < r.b1; ++b) {
    T* dgi = dgates + b * 4 * H + j0;
    T* dho = dh_out + b * H + j0;
    T* dco = dc_out + b * H + j0;
    const T* dhb = dh + b * H + j0;
    const T* dcb = dc + b * H + j0;
    if (!r.on(b)) {
      for (int g = 0; g < 4; ++g) zero(dgi + g * H, n);
      carry(dho, dhb, n);
      carry(dco, dcb, n);
      continue;
    }
    T* dgf = dgi + H;
    T* dgg = dgf + H;
    T* dgo = dgg + H;
    const T* gi = gates + b * 4 * H + j0;
    const T* gf = gi + H;
    const T* gg = gf + H;
    const T* go = gg + H;
    const T* cb = c + b * H + j0;
    const T* cp = c_prev + b * H + j0;
    const T* dyb = dy ? dy + b * ldy + j0 : nullptr;
    NERVE_IVDEP
    for (int64_t j = 0; j < n; ++j) {
      const T i = gi[j], f = gf[j], g = gg[j], o = go[j];
      const T tc = act_tanh(cb[j]);
      const T dht = dyb ? dhb[j] + dyb[j] : dhb[j];
      const T dct = dcb[j] + dht * o * (T(1) - tc * tc);
      dgi[j] = dct * g * i * (T(1) - i);
      dgf[j] = dct * cp[j] * f * (T(1) - f);
      dgg[j] = dct * i * (T(1) - g * g);
      dgo[j] = dht * tc * o * (T(1) - o);
      dco[j] = dct * f;
      dho[j] = T(0);
    }
  }
}

// ---- GRU ----------------------------------------------------------------------------------------

// gates (B,3H): x W_ih^T in (b_ih added here), r z n out; hproj (B,3H): h W_hh^T (b_hh added here);
// hn_save (B,H) out: the n part of h W_hh^T + b_hh.
template <class T>
void gru_fwd_rows(T* gates, T* hn_save, T* h, T* y, int64_t ldy, const T* b_ih, const T* b_hh, const T* hproj,
                  const T* h_prev, Rows r) {
  const int64_t H = r.H, j0 = r.j0, n = r.j1 - r.j0;
  for (int64_t b = r.b0; b < r.b1; ++b) {
    T* hb = h + b * H + j0;
    T* yb = y + b * ldy + j0;
    const T* hp = h_prev + b * H + j0;
    if (!r.on(b)) {
      carry(hb, hp, n);
      zero(yb, n);
      continue;
    }
    T* gr = gates + b * 3 * H + j0;
    T* gz = gr + H;
    T* gn = gz + H;
    const T* pr = hproj + b * 3 * H + j0;
    const T* pz = pr + H;
    const T* pn = pz + H;
    T* hs = hn_save + b * H + j0;
    const T *xr = b_ih + j0, *xz = xr + H, *xn = xr + 2 * H, *hr = b_hh + j0, *hz = hr + H, *hnb = hr + 2 * H;
    NERVE_IVDEP
    for (int64_t j = 0; j < n; ++j) {
      const T rr = act_sigmoid(gr[j] + xr[j] + pr[j] + hr[j]), z = act_sigmoid(gz[j] + xz[j] + pz[j] + hz[j]);
      const T hnv = pn[j] + hnb[j];
      const T n = act_tanh(gn[j] + xn[j] + rr * hnv);
      const T hn = n + z * (hp[j] - n);
      gr[j] = rr, gz[j] = z, gn[j] = n, hs[j] = hnv;
      hb[j] = hn, yb[j] = hn;
    }
  }
}

// dgx (B,3H) out: gradients of the input-side pre-activations; dgh (B,3H) out: of the hidden side
// (its n part is multiplied by r); dh_out (B,H) out: z dh (the caller's GEMM adds dgh W_hh).
template <class T>
void gru_bwd_rows(T* dgx, T* dgh, T* dh_out, const T* dh, const T* dy, int64_t ldy, const T* gates, const T* hn_save,
                  const T* h_prev, Rows r) {
  const int64_t H = r.H, j0 = r.j0, n = r.j1 - r.j0;
  for (int64_t b = r.b0; b < r.b1; ++b) {
    T* dxr = dgx + b * 3 * H + j0;
    T* dhr = dgh + b * 3 * H + j0;
    T* dho = dh_out + b * H + j0;
    const T* dhb = dh + b * H + j0;
    if (!r.on(b)) {
      for (int g = 0; g < 3; ++g) zero(dxr + g * H, n), zero(dhr + g * H, n);
      carry(dho, dhb, n);
      continue;
    }
    T* dxz = dxr + H;
    T* dxn = dxz + H;
    T* dhz = dhr + H;
    T* dhn = dhz + H;
    const T* gr = gates + b * 3 * H + j0;
    const T* gz = gr + H;
    const T* gn = gz + H;
    const T* hs = hn_save + b * H + j0;
    const T* hp = h_prev + b * H + j0;
    const T* dyb = dy ? dy + b * ldy + j0 : nullptr;
    NERVE_IVDEP
    for (int64_t j = 0; j < n; ++j) {
      const T rr = gr[j], z = gz[j], n = gn[j];
      const T dht = dyb ? dhb[j] + dyb[j] : dhb[j];
      const T dnp = dht * (T(1) - z) * (T(1) - n * n);
      const T dzp = dht * (hp[j] - n) * z * (T(1) - z);
      const T drp = dnp * hs[j] * rr * (T(1) - rr);
      dxr[j] = drp, dxz[j] = dzp, dxn[j] = dnp;
      dhr[j] = drp, dhz[j] = dzp, dhn[j] = dnp * rr;
      dho[j] = dht * z;
    }
  }
}

// ---- Elman RNN ----------------------------------------------------------------------------------

// h (B,H): pre-activations less the bias (H) in, the new state out (inactive rows: h_prev).
template <class T>
void rnn_fwd_rows(T* h, T* y, int64_t ldy, const T* bias, const T* h_prev, bool relu, Rows r) {
  const int64_t H = r.H, j0 = r.j0, n = r.j1 - r.j0;
  for (int64_t b = r.b0; b < r.b1; ++b) {
    T* hb = h + b * H + j0;
    T* yb = y + b * ldy + j0;
    const T* bb = bias + j0;
    if (!r.on(b)) {
      carry(hb, h_prev + b * H + j0, n);
      zero(yb, n);
      continue;
    }
    if (relu) {
      NERVE_IVDEP
      for (int64_t j = 0; j < n; ++j) hb[j] = yb[j] = act_relu(hb[j] + bb[j]);
    } else {
      NERVE_IVDEP
      for (int64_t j = 0; j < n; ++j) hb[j] = yb[j] = act_tanh(hb[j] + bb[j]);
    }
  }
}

template <class T>
void rnn_bwd_rows(T* dgates, T* dh_out, const T* dh, const T* dy, int64_t ldy, const T* h, bool relu, Rows r) {
  const int64_t H = r.H, j0 = r.j0, n = r.j1 - r.j0;
  for (int64_t b = r.b0; b < r.b1; ++b) {
    T* dg = dgates + b * H + j0;
    T* dho = dh_out + b * H + j0;
    const T* dhb = dh + b * H + j0;
    if (!r.on(b)) {
      zero(dg, n);
      carry(dho, dhb, n);
      continue;
    }
    const T* hb = h + b * H + j0;
    const T* dyb = dy ? dy + b * ldy + j0 : nullptr;
    NERVE_IVDEP
    for (int64_t j = 0; j < n; ++j) {
      const T dht = dyb ? dhb[j] + dyb[j] : dhb[j];
      dg[j] = relu ? (hb[j] > T(0) ? dht : T(0)) : dht * (T(1) - hb[j] * hb[j]);
      dho[j] = T(0);
    }
  }
}

template <class T>
RnnCellKernels<T> make_rnn_cell_kernels() {
  return {lstm_fwd_rows<T>, lstm_bwd_rows<T>, gru_fwd_rows<T>, gru_bwd_rows<T>, rnn_fwd_rows<T>, rnn_bwd_rows<T>};
}

}  // namespace
}  // namespace nerve
