// no_cuda/runtime.cpp — the runtime queries (CUDA compiled: no; no devices) and not_built, the
// error every stub in this folder raises, for a build without CUDA. The stubs come one file per
// kernel family, as the kernels do in csrc/cuda/.
#include <stdexcept>
#include <string>

#include "../runtime.h"

namespace nerve::cuda {

[[noreturn]] void not_built(const char* op) {
  throw std::runtime_error(std::string("[") + op +
                           "] nerve was built without CUDA (rebuild with nvcc on PATH and NERVE_CUDA=ON)");
}

bool compiled() { return false; }
std::string compiled_archs() { return ""; }
int runtime_version() { return 0; }
int device_count() { return 0; }
void synchronize() { not_built("synchronize"); }

}  // namespace nerve::cuda
