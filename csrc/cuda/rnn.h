// rnn.h — host entries of the CUDA recurrent layers: same contract, layouts and workspace as
// csrc/cpu/rnn.h (float32, device pointers, lengths as a device int64 array), launched on `stream`.
// Each step is one GEMM (csrc/cuda/gemm.h) and one fused cell kernel (csrc/cuda/rnn.cuh).
#pragma once
#include "../cpu/rnn.h"

namespace nerve::cuda {

void rnn_forward_f32(float* y, float* hn, float* cn, float* ws, const float* x, const float* w_ih, const float* w_hh,
                     const float* b_ih, const float* b_hh, const float* h0, const float* c0, const int64_t* lengths,
                     const RnnShape& s, void* stream);

void rnn_backward_f32(float* dx, float* dw_ih, float* dw_hh, float* db_ih, float* db_hh, float* dh0, float* dc0,
                      float* scratch, const float* dy, const float* dhn, const float* dcn, const float* ws,
                      const float* x, const float* w_ih, const float* w_hh, const float* h0, const float* c0,
                      const int64_t* lengths, const RnnShape& s, bool accumulate_dx, void* stream);

}  // namespace nerve::cuda
