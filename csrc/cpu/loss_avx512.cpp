// loss_avx512.cpp — the AVX-512 loss back end: loss_impl.h's kernels, 16 lanes
// (compiled with AVX-512 flags; used when isa() says so).
// GCC 12's AVX-512 intrinsics start from a self-initialised "undefined" register and then warn
// about it; the warning is about the header, not this code.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "loss_impl.h"

namespace nerve {

const LossArch& loss_arch_avx512() {
  static const LossArch arch = make_loss_arch();
  return arch;
}

}  // namespace nerve
