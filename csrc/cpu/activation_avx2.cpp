// activation_avx2.cpp — the AVX2 activation back end: activation_impl.h's kernels, 8 lanes
// (compiled with AVX2 + FMA flags; used when isa() says so).
#include "activation_impl.h"

namespace nerve {

const ActivationArch& activation_arch_avx2() {
  static const ActivationArch arch = make_activation_arch();
  return arch;
}

}  // namespace nerve
