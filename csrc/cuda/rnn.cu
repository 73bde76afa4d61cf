// rnn.cu — nvcc translation unit of the CUDA recurrent layers: the time loop on the host, one GEMM
// (gemm.h) and one fused cell kernel (rnn.cuh) per step, in the order of csrc/cpu/rnn.cpp.
#include "gemm.h"
#include "rnn.cuh"
#include "rnn.h"

namespace nerve::cuda {

namespace {

// C (M x N, row stride ldc) = op(A) op(B) + beta C; see mm() in csrc/cpu/rnn.cpp.
void mm(cudaStream_t st, float* C, int64_t ldc, const float* A, int64_t lda, bool ta, const float* B, int64_t ldb,
        bool tb, int64_t M, int64_t N, int64_t K, float beta) {
  const MatStrides sa = ta ? MatStrides{1, lda, 0} : MatStrides{lda, 1, 0};
  const MatStrides sb = tb ? MatStrides{1, ldb, 0} : MatStrides{ldb, 1, 0};
  gemm_f32(C, MatStrides{ldc, 1, 0}, A, sa, B, sb, GemmSize{1, M, N, K}, 1.f, beta, st, 0);
}

void copy(cudaStream_t st, float* dst, const float* src, int64_t n) {
  if (n <= 0) return;
  CUDA_LAUNCH(rnn_blocks(n), kRnnThreads, 0, st, rnn_copy_kernel)(dst, src, n);
}

struct Steps {
  int64_t S;
  bool reverse;
  int64_t t(int64_t k) const { return reverse ? S - 1 - k : k; }
};

}  // namespace

void rnn_forward_f32(float* y, float* hn, float* cn, float* ws, const float* x, const float* w_ih, const float* w_hh,
                     const float* b_ih, const float* b_hh, const float* h0, const float* c0, const int64_t* lengths,
                     const RnnShape& s, void* stream) {
  const auto st = static_cast<cudaStream_t>(stream);
  const int64_t S = s.S, B = s.B, I = s.I, H = s.H, BH = B * H, GH = rnn_gates(s.mode) * H;
  if (B == 0 || H == 0) return;
  const bool lstm = s.mode == RnnMode::lstm, gru = s.mode == RnnMode::gru;
  const bool relu = s.mode == RnnMode::rnn_relu;
  if (S == 0) {
    copy(st, hn, h0, BH);
    if (lstm) copy(st, cn, c0, BH);
    check_last("rnn");
    return;
  }
  float* gates = ws;
  float* cs = lstm ? ws + S * B * GH : nullptr;
  float* hsave = gru ? ws + S * B * GH : nullptr;
  float* hs = lstm || gru ? ws + S * B * GH + S * BH : ws;
  float* step = gru ? hs + S * BH : nullptr;
  float* pre = lstm || gru ? gates : hs;

  const bool bias = b_ih || (!gru && b_hh);
  if (bias)
    CUDA_LAUNCH(rnn_blocks(S * B * GH), kRnnThreads, 0, st, rnn_bias_rows_kernel)(pre, b_ih, gru ? nullptr : b_hh,
                                                                                S * B, GH);
  mm(st, pre, GH, x, I, false, w_ih, I, true, S * B, GH, I, bias ? 1.f : 0.f);

  const Steps w{S, s.reverse};
  const unsigned blocks = rnn_blocks(BH);
  for (int64_t k = 0; k < S; ++k) {
    const int64_t t = w.t(k), tp = w.t(k - 1);
    const bool first = k == 0;
    const float* h_prev = first ? h0 : hs + tp * BH;  // may be null: zeros
    float* yt = y + t * B * s.ldy;
    if (lstm) {
      float* g = gates + t * B * GH;
      if (h_prev) mm(st, g, GH, h_prev, H, false, w_hh, H, true, B, GH, H, 1.f);
      const float* c_prev = first ? c0 : cs + tp * BH;
      CUDA_LAUNCH(blocks, kRnnThreads, 0, st, lstm_fwd_kernel)(g, cs + t * BH, hs + t * BH, yt, s.ldy, c_prev,
                                                              h_prev, lengths, t, B, H);
    } else if (gru) {
      CUDA_LAUNCH(rnn_blocks(B * GH), kRnnThreads, 0, st, rnn_bias_rows_kernel)(step, b_hh, nullptr, B, GH);
      if (h_prev) mm(st, step, GH, h_prev, H, false, w_hh, H, true, B, GH, H, 1.f);
      CUDA_LAUNCH(blocks, kRnnThreads, 0, st, gru_fwd_kernel)(gates + t * B * GH, hsave + t * BH, hs + t * BH, yt,
                                                             s.ldy, step, h_prev, lengths, t, B, H);
    } else {
      float* h = hs + t * BH;
      if (h_prev) mm(st, h, H, h_prev, H, false, w_hh, H, true, B, H, H, 1.f);
      CUDA_LAUNCH(blocks, kRnnThreads, 0, st, elman_fwd_kernel)(h, yt, s.ldy, h_prev, relu, lengths, t, B, H);
    }
  }
  const int64_t last = w.t(S - 1);
  copy(st, hn, hs + last * BH, BH);
  if (lstm) copy(st, cn, cs + last * BH, BH);
  check_last("rnn");
}

void rnn_backward_f32(float* dx, float* dw_ih, float* dw_hh, float* db_ih, float* db_hh, float* dh0, float* dc0,
                      float* scratch, const float* dy, const float* dhn, const float* dcn, const float* ws,
                      const float* x, const float* w_ih, const float* w_hh, const float* h0, const float* c0,
                      const int64_t* lengths, const RnnShape& s, bool accumulate_dx, void* stream) {
  const auto st = static_cast<cudaStream_t>(stream);
  const int64_t S = s.S, B = s.B, I = s.I, H = s.H, BH = B * H, GH = rnn_gates(s.mode) * H;
  const bool lstm = s.mode == RnnMode::lstm, gru = s.mode == RnnMode::gru;
  const bool relu = s.mode == RnnMode::rnn_relu;
  if (B == 0 || H == 0 || S == 0) {
    if (!accumulate_dx) copy(st, dx, nullptr, S * B * I);
    copy(st, dw_ih, nullptr, GH * I);
    copy(st, dw_hh, nullptr, GH * H);
    if (db_ih) copy(st, db_ih, nullptr, GH);
    if (db_hh) copy(st, db_hh, nullptr, GH);
    if (dh0) copy(st, dh0, dhn, BH);
    if (dc0) copy(st, dc0, dcn, BH);
    check_last("rnn");
    return;
  }
  const float* gates = ws;
  const float* cs = lstm ? ws + S * B * GH : nullptr;
  const float* hsave = gru ? ws + S * B * GH : nullptr;
  const float* hs = lstm || gru ? ws + S * B * GH + S * BH : ws;

  float* dg = scratch;
  float* dgh = gru ? dg + S * B * GH : dg;
  float* dh = gru ? dgh + S * B * GH : dg + S * B * GH;
  float* dh_next = dh + BH;
  float* dc = dh_next + BH;
  float* dc_next = dc + BH;
  copy(st, dh, dhn, BH);
  if (lstm) copy(st, dc, dcn, BH);

  const Steps w{S, s.reverse};
  const unsigned blocks = rnn_blocks(BH);
  for (int64_t k = S - 1; k >= 0; --k) {
    const int64_t t = w.t(k), tp = w.t(k - 1);
    const bool first = k == 0;
    const float* h_prev = first ? h0 : hs + tp * BH;
    const float* dyt = dy ? dy + t * B * s.ldy : nullptr;
    float* dgt = dg + t * B * GH;
    float* dght = dgh + t * B * GH;
    if (lstm) {
      const float* c_prev = first ? c0 : cs + tp * BH;
      CUDA_LAUNCH(blocks, kRnnThreads, 0, st, lstm_bwd_kernel)(dgt, dh_next, dc_next, dh, dc, dyt, s.ldy,
                                                              gates + t * B * GH, cs + t * BH, c_prev, lengths, t, B,
                                                              H);
      float* tmp = dc;
      dc = dc_next, dc_next = tmp;
    } else if (gru) {
      CUDA_LAUNCH(blocks, kRnnThreads, 0, st, gru_bwd_kernel)(dgt, dght, dh_next, dh, dyt, s.ldy, gates + t * B * GH,
                                                             hsave + t * BH, h_prev, lengths, t, B, H);
    } else {
      CUDA_LAUNCH(blocks, kRnnThreads, 0, st, elman_bwd_kernel)(dgt, dh_next, dh, dyt, s.ldy, hs + t * BH, relu,
                                                               lengths, t, B, H);
    }
    if (!first || dh0) mm(st, dh_next, H, dght, GH, false, w_hh, H, false, B, H, GH, 1.f);
    float* tmp = dh;
    dh = dh_next, dh_next = tmp;
  }
  if (dh0) copy(st, dh0, dh, BH);
  if (dc0) copy(st, dc0, dc, BH);

  const int64_t SB = S * B;
  mm(st, dx, I, dg, GH, false, w_ih, I, false, SB, I, GH, accumulate_dx ? 1.f : 0.f);
  mm(st, dw_ih, I, dg, GH, true, x, I, false, GH, I, SB, 0.f);
  const int64_t first_t = w.t(0);
  const float* dg_rest = s.reverse ? dgh : dgh + B * GH;
  const float* h_rest = s.reverse ? hs + BH : hs;
  mm(st, dw_hh, H, dg_rest, GH, true, h_rest, H, false, GH, H, (S - 1) * B, 0.f);
  if (h0) mm(st, dw_hh, H, dgh + first_t * B * GH, GH, true, h0, H, false, GH, H, B, 1.f);
  if (db_ih) CUDA_LAUNCH(rnn_blocks(GH), kRnnThreads, 0, st, rnn_colsum_kernel)(db_ih, dg, SB, GH);
  if (db_hh) CUDA_LAUNCH(rnn_blocks(GH), kRnnThreads, 0, st, rnn_colsum_kernel)(db_hh, dgh, SB, GH);
  check_last("rnn");
}

}  // namespace nerve::cuda
