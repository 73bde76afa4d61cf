// runtime.cu — the CUDA runtime facts nerve reports; cudart is linked statically.
#include <cuda_runtime.h>

#include <stdexcept>

#include "runtime.h"

#ifndef NERVE_CUDA_ARCHS
#define NERVE_CUDA_ARCHS ""
#endif

namespace nerve::cuda {

bool compiled() { return true; }
std::string compiled_archs() { return NERVE_CUDA_ARCHS; }

int runtime_version() {
  int v = 0;
  cudaRuntimeGetVersion(&v);
  return v;
}

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no driver" error so later queries start clean
    return 0;
  }
  return n;
}

void synchronize() {
  cudaError_t e = cudaDeviceSynchronize();
  if (e != cudaSuccess) throw std::runtime_error(std::string("[synchronize] CUDA error: ") + cudaGetErrorString(e));
}

void not_built(const char* op) { throw std::runtime_error(std::string("[") + op + "] unreachable: CUDA is built"); }

}  // namespace nerve::cuda
