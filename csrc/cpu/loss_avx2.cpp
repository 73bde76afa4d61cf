// loss_avx2.cpp — the AVX2 loss back end: loss_impl.h's kernels, 8 lanes
// (compiled with AVX2 + FMA flags; used when isa() says so).

#include "loss_impl.h"

namespace nerve {

const LossArch& loss_arch_avx2() {
  static const LossArch arch = make_loss_arch();
  return arch;
}

}  // namespace nerve
