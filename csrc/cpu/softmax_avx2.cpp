// softmax_avx2.cpp — the AVX2 softmax back end: softmax_impl.h's kernels, 8 lanes
// (compiled with AVX2 + FMA flags; used when isa() says so).
#include "softmax_impl.h"

namespace nerve {

const SoftmaxArch& softmax_arch_avx2() {
  static const SoftmaxArch arch = make_softmax_arch();
  return arch;
}

}  // namespace nerve
