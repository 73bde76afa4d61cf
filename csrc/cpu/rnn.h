// rnn.h — recurrent layers on the CPU: one direction of one layer of an Elman RNN (tanh or relu),
// an LSTM or a GRU over a whole sequence, forward and backward, with PyTorch's equations, gate
// order (LSTM i, f, g, o; GRU r, z, n) and weight layout, plus plain-loop *_naive references.
//
//   LSTM  i, f, g, o = σ, σ, tanh, σ (x W_ih^T + b_ih + h W_hh^T + b_hh)     c' = f c + i g, h' = o tanh(c')
//   GRU   r, z = σ(x W_ih^T + b_ih + h W_hh^T + b_hh) (their gates)           n = tanh(x W_in^T + b_in
//         + r (h W_hn^T + b_hn)),  h' = (1 - z) n + z h
//   RNN   h' = tanh or relu (x W_ih^T + b_ih + h W_hh^T + b_hh)
//
// How the work is laid out: the input projections of every time step are one GEMM (rows S*B) into
// the workspace before the loop; each step is then one GEMM (B x GH += h W_hh^T) and one fused
// pass over (B, H) that applies the gate nonlinearities, updates the state and saves what backward
// needs. Backward walks the steps in reverse with one GEMM per step (dh = dgates W_hh) and one
// fused pass; the weight gradients are then single GEMMs over all steps (rows S*B).
//
// Variable lengths: with `lengths` (B,), step t of sequence b is active when t < lengths[b]. An
// inactive step carries the state unchanged and outputs zeros (pad_packed_sequence's padding), so
// the final state of a forward direction is the state at its last valid step and a reverse
// direction starts at each sequence's own last element, as with torch's packed sequences.
//
// Gradient rule: parameter gradients and dh0/dc0 are written (=); dx is written, or accumulated
// (+=) with accumulate_dx (the second direction of a bidirectional layer adds into the same dx).
// Arrays are contiguous unless a row stride is given; `x` and `dx` are (S, B, I); y and dy are
// (S, B, ldy) with the layer's H columns at the pointer (a bidirectional layer writes both
// directions into one (S, B, 2H) array at column offsets 0 and H).
#pragma once
#include <cstdint>

namespace nerve {

enum class RnnMode : int { rnn_tanh = 0, rnn_relu = 1, lstm = 2, gru = 3 };

inline int rnn_gates(RnnMode m) { return m == RnnMode::lstm ? 4 : m == RnnMode::gru ? 3 : 1; }

struct RnnShape {
  RnnMode mode;
  int64_t S, B, I, H;  // steps, batch, input features, hidden features
  bool reverse;        // walk the sequence from its end
  int64_t ldy;         // row stride of y and dy (H for one direction, 2H for two)
};

// Elements (of the layer's dtype) of the workspace forward fills and backward reads, and of the
// scratch backward needs on top. Layouts (G = rnn_gates(mode)):
//   workspace  LSTM: gates (S,B,4H) activated | c (S,B,H) | h (S,B,H)
//              GRU:  gates (S,B,3H) r, z, n   | hn (S,B,H) = h W_hn^T + b_hn | h (S,B,H) | step (B,3H)
//              RNN:  h (S,B,H)
//   scratch    dgates (S,B,GH) | GRU: dgates of the hidden side (S,B,3H) | dh, dc (2 each, (B,H))
// h and c hold the state after each step (carried through inactive steps, unlike y).
// (Inline: the CUDA twin and the emulator module, which do not link the CPU kernels, share them.)
inline int64_t rnn_workspace_size(const RnnShape& s) {
  const int64_t SB = s.S * s.B, H = s.H;
  switch (s.mode) {
    case RnnMode::lstm: return SB * 4 * H + 2 * SB * H;
    case RnnMode::gru: return SB * 3 * H + 2 * SB * H + s.B * 3 * H;
    default: return SB * H;
  }
}
inline int64_t rnn_scratch_size(const RnnShape& s) {
  const int64_t SB = s.S * s.B, GH = rnn_gates(s.mode) * s.H;
  return SB * GH * (s.mode == RnnMode::gru ? 2 : 1) + 4 * s.B * s.H;
}

// y (S,B,ldy), hn (B,H), cn (B,H; LSTM only, else null), ws (rnn_workspace_size);
// x (S,B,I), w_ih (GH,I), w_hh (GH,H), b_ih (GH) or null, b_hh (GH) or null, h0 (B,H) or null (zeros),
// c0 (B,H) or null (zeros), lengths (B,) or null (all S).
template <class T>
void rnn_forward(T* y, T* hn, T* cn, T* ws, const T* x, const T* w_ih, const T* w_hh, const T* b_ih, const T* b_hh,
                 const T* h0, const T* c0, const int64_t* lengths, const RnnShape& s);

// dx (S,B,I), dw_ih (GH,I), dw_hh (GH,H), db_ih (GH) or null, db_hh (GH) or null, dh0 (B,H), dc0 (B,H; LSTM)
// or null, scratch (rnn_scratch_size); dy (S,B,ldy) or null, dhn (B,H) or null, dcn (B,H) or null: the
// incoming gradients (null: zero); ws as forward left it; the rest as given to forward.
template <class T>
void rnn_backward(T* dx, T* dw_ih, T* dw_hh, T* db_ih, T* db_hh, T* dh0, T* dc0, T* scratch, const T* dy,
                  const T* dhn, const T* dcn, const T* ws, const T* x, const T* w_ih, const T* w_hh, const T* h0,
                  const T* c0, const int64_t* lengths, const RnnShape& s, bool accumulate_dx);

// The oracle: the equations above one scalar at a time in double, backward by recomputing the
// forward pass itself (it reads no workspace). Same arguments as the fast versions without ws.
template <class T>
void rnn_forward_naive(T* y, T* hn, T* cn, const T* x, const T* w_ih, const T* w_hh, const T* b_ih, const T* b_hh,
                       const T* h0, const T* c0, const int64_t* lengths, const RnnShape& s);
template <class T>
void rnn_backward_naive(T* dx, T* dw_ih, T* dw_hh, T* db_ih, T* db_hh, T* dh0, T* dc0, const T* dy, const T* dhn,
                        const T* dcn, const T* x, const T* w_ih, const T* w_hh, const T* b_ih, const T* b_hh,
                        const T* h0, const T* c0, const int64_t* lengths, const RnnShape& s, bool accumulate_dx);

}  // namespace nerve
