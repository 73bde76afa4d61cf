// attention.h — scaled dot-product attention on the CPU, forward and backward, with torch's
// semantics (torch.nn.functional.scaled_dot_product_attention), plus plain-loop *_naive references.
//
//   out[b, i] = sum_j P[b, i, j] v[b, j],  P = dropout(softmax_j(scale * q[b, i] . k[b, j] + mask[b, i, j]))
//
// b runs over all leading dimensions folded into one (batch x heads); the mask is addressed by
// (n, h, i, j) with b = n * heads + h, through strides that may be 0 (broadcast). A boolean mask
// lets an entry take part where true; a float mask is added to the scores; `causal` keeps j <= i
// (top-left aligned, as torch). A row whose every entry is masked gets zeros, as torch 2.13 does.
//
// The fast kernel is flash-attention-shaped: for a block of query rows it walks blocks of keys,
// keeps a running maximum and sum per row (online softmax) and rescales its output accumulator,
// so only one block of scores exists at a time, never the (L, S) matrix. It saves
// lse = max + log(sum) per row; backward recomputes each block's probabilities from it
// (P = exp(s - lse)) and forms dq, dk, dv block by block with D_i = dout_i . out_i:
//   dv += P^T dout,  dP = dout v^T,  dS = P * (dP - D),  dq += scale dS k,  dk += scale dS^T q.
// The GEMMs are nerve's (gemm.h); the row passes (masking, exp, dropout) are vectorised per ISA.
//
// Dropout keeps an entry when a counter-based hash of (seed, (b*L + i)*S + j) clears p, and
// scales kept entries by 1/(1-p); backward (and the CUDA kernels) regenerate the same mask.
//
// Gradient rule: dq, dk, dv and dmask are written (=).
#pragma once
#include <cstdint>

#if defined(__CUDACC__)
#define NERVE_ATTN_HD __host__ __device__
#else
#define NERVE_ATTN_HD
#endif

namespace nerve {

// Where the rows of q, k, v and out lie: batch entry b = n * heads + h, row i of it starts at
// n * sn + h * sh + i * row (its features are contiguous). A (N, heads, L, E) array has
// sn = heads*L*E, sh = L*E, row = E; the projection of a (N, L, heads*E) batch (MultiheadAttention)
// has sn = L*heads*E, sh = E, row = heads*E, so heads are read in place, never transposed.
struct AttnLayout {
  int64_t sn = 0, sh = 0, row = 0;
  NERVE_ATTN_HD int64_t at(int64_t b, int64_t heads, int64_t i) const {
    return (b / heads) * sn + (b % heads) * sh + i * row;
  }
};

inline AttnLayout attn_contiguous(int64_t heads, int64_t rows, int64_t features) {
  return AttnLayout{heads * rows * features, rows * features, features};
}

struct AttnShape {
  int64_t B, L, S, E, Ev;  // batch (N * heads), queries, keys, query/key features, value features
  int64_t heads;           // b = n * heads + h, for the mask and the layouts
  AttnLayout q, k, v, o;   // also the layouts of dq, dk, dv and dout
};

struct AttnMask {
  const void* data = nullptr;  // null: no mask; else bool (uint8) or the score dtype
  bool is_bool = false;
  int64_t sn = 0, sh = 0, sl = 0, ss = 0;  // strides over (n, h, query, key), in elements
};

struct AttnOptions {
  double scale = 1.0;
  bool causal = false;
  double dropout_p = 0.0;
  uint64_t seed = 0;
};

// The dropout hash (splitmix64 of seed and counter): an entry is kept when its top 24 bits are at
// least attn_drop_threshold(p). Shared with the CUDA kernels, which must drop the same entries.
NERVE_ATTN_HD inline uint32_t attn_hash24(uint64_t seed, uint64_t counter) {
  uint64_t z = seed + (counter + 1) * 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return uint32_t(z >> 40);
}
NERVE_ATTN_HD inline uint32_t attn_drop_threshold(double p) {
  return p <= 0 ? 0u : p >= 1 ? (1u << 24) : uint32_t(p * 16777216.0 + 0.5);
}

// out (B,L,Ev), lse (B,L) contiguous; q (B,L,E), k (B,S,E), v (B,S,Ev), out in their layouts;
// mask as above.
template <class T>
void attention_forward(T* out, T* lse, const T* q, const T* k, const T* v, const AttnMask& mask, const AttnShape& s,
                       const AttnOptions& o);

// dq (B,L,E), dk (B,S,E), dv (B,S,Ev) in the layouts of q, k, v; dmask (B,L,S) or null (the gradient
// of a float mask's scores) and delta (B,L) = rowsum(dout * out), contiguous; dout (B,L,Ev) in out's
// layout; q, k, v, out, lse as forward used and left them.
template <class T>
void attention_backward(T* dq, T* dk, T* dv, T* dmask, T* delta, const T* dout, const T* q, const T* k, const T* v,
                        const T* out, const T* lse, const AttnMask& mask, const AttnShape& s, const AttnOptions& o);

// The oracle: each row's scores, softmax and sums in double, the whole row at once.
template <class T>
void attention_forward_naive(T* out, T* lse, const T* q, const T* k, const T* v, const AttnMask& mask,
                             const AttnShape& s, const AttnOptions& o);
template <class T>
void attention_backward_naive(T* dq, T* dk, T* dv, T* dmask, T* delta, const T* dout, const T* q, const T* k, const T* v,
                              const AttnMask& mask, const AttnShape& s, const AttnOptions& o);

}  // namespace nerve
