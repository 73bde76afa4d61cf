// attention_avx512.cpp — the attention row passes of attention_rows.h compiled with AVX512 flags
// (masking, exp and dropout over a block of scores vectorise; attention.cpp uses this table when
// isa() says so).
#include "attention_rows.h"

namespace nerve {

const AttnRowKernels<float>& attn_rows_avx512_f32() {
  static const AttnRowKernels<float> k = make_attn_row_kernels<float>();
  return k;
}

}  // namespace nerve
