// softmax_avx512.cpp — the AVX-512 softmax back end: softmax_impl.h's kernels, 16 lanes
// (compiled with AVX-512 flags; used when isa() says so).
// GCC 12's AVX-512 intrinsics start from a self-initialised "undefined" register and then warn
// about it; the warning is about the header, not this code.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "softmax_impl.h"

namespace nerve {

const SoftmaxArch& softmax_arch_avx512() {
  static const SoftmaxArch arch = make_softmax_arch();
  return arch;
}

}  // namespace nerve
