// attention.h — host entries of the CUDA scaled dot-product attention: the contract of
// csrc/cpu/attention.h (float32, device pointers, the same dropout mask for the same seed),
// launched on `stream`. Head sizes E and Ev up to kAttnMaxHead (one warp per row holds them).
#pragma once
#include "../core/check.h"
#include "../cpu/attention.h"

namespace nerve::cuda {

constexpr int64_t kAttnMaxHead = 128;

// Raises "[op] ..." when the shape is beyond what the kernels handle.
inline void check_attention_sizes(const AttnShape& s, const char* op) {
  if (s.E > kAttnMaxHead || s.Ev > kAttnMaxHead)
    fail(op, "the CUDA kernel takes query/key and value features up to ", kAttnMaxHead, ", got ", s.E, " and ",
         s.Ev);
}

void attention_forward_f32(float* out, float* lse, const float* q, const float* k, const float* v,
                           const AttnMask& mask, const AttnShape& s, const AttnOptions& o, void* stream);

void attention_backward_f32(float* dq, float* dk, float* dv, float* dmask, float* delta, const float* dout,
                            const float* q, const float* k, const float* v, const float* out, const float* lse,
                            const AttnMask& mask, const AttnShape& s, const AttnOptions& o, void* stream);

}  // namespace nerve::cuda
