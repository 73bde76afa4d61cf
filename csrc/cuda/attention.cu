// attention.cu — nvcc translation unit of the CUDA attention kernels (attention.cuh): launches.
#include "attention.cuh"
#include "attention.h"

namespace nerve::cuda {

void attention_forward_f32(float* out, float* lse, const float* q, const float* k, const float* v,
                           const AttnMask& mask, const AttnShape& s, const AttnOptions& o, void* stream) {
  if (s.B == 0 || s.L == 0) return;
  AttnArgs a = attn_args(mask, s, o);
  a.q = q, a.k = k, a.v = v, a.o = out, a.l = lse;
  const auto st = static_cast<cudaStream_t>(stream);
  CUDA_LAUNCH(attn_grid(s.L, s.B), kAttnWarps * 32, attn_fwd_smem(s), st, attn_fwd_kernel)(a);
  check_last("scaled_dot_product_attention");
}

void attention_backward_f32(float* dq, float* dk, float* dv, float* dmask, float* delta, const float* dout,
                            const float* q, const float* k, const float* v, const float* out, const float* lse,
                            const AttnMask& mask, const AttnShape& s, const AttnOptions& o, void* stream) {
  if (s.B == 0) return;
  AttnArgs a = attn_args(mask, s, o);
  a.q = q, a.k = k, a.v = v, a.out = out, a.lse = lse, a.dout = dout;
  a.dq = dq, a.dk = dk, a.dv = dv, a.dmask = dmask, a.delta = delta;
  const auto st = static_cast<cudaStream_t>(stream);
  if (s.L > 0) CUDA_LAUNCH(attn_grid(s.L, s.B), kAttnWarps * 32, attn_dq_smem(s), st, attn_bwd_dq_kernel)(a);
  if (s.S > 0) CUDA_LAUNCH(attn_grid(s.S, s.B), kAttnWarps * 32, attn_dkv_smem(s), st, attn_bwd_dkv_kernel)(a);
  check_last("scaled_dot_product_attention");
}

}  // namespace nerve::cuda
