// dropout_avx2.cpp — the portable dropout block kernels (dropout_blocks.h) compiled with AVX2 flags;
// dropout.cpp uses them when isa() says avx2. Their 16-lane Philox loops vectorise to vpmuludq.
#define NERVE_DROPOUT_ISA dropout_avx2
#include "dropout_blocks.h"

namespace nerve {

const DropoutKernels<float>& dropout_kernels_avx2_f32() {
  static const DropoutKernels<float> k = dropout_avx2::make_kernels<float>();
  return k;
}

const DropoutKernels<double>& dropout_kernels_avx2_f64() {
  static const DropoutKernels<double> k = dropout_avx2::make_kernels<double>();
  return k;
}

}  // namespace nerve
