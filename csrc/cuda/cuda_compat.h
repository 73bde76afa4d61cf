// cuda_compat.h — the only header a kernel file (.cuh) includes. Under nvcc it maps nerve's launch
// and shared-memory macros onto CUDA; under g++ (tests) the emulator in csrc/emu provides them,
// so the very same kernel source runs on the CPU. Rules for kernel code:
//   launch only through CUDA_LAUNCH(grid, block, smem_bytes, stream, kernel)(args...)
//     (the kernel is the last argument, so template kernels need no parentheses);
//   dynamic shared memory only through CUDA_DYNAMIC_SHARED(type, name);
//   warp intrinsics only in their _sync forms, with explicit masks (no __activemask);
//   __device__ functions in headers are inline or __forceinline__;
//   NERVE_UNROLL before a loop unrolls it under both compilers (register arrays need it).
#pragma once

#if defined(__CUDACC__)
#include <cuda_runtime.h>
#define CUDA_LAUNCH(grid, block, smem, stream, ...) __VA_ARGS__<<<(grid), (block), (smem), (stream)>>>
#define CUDA_DYNAMIC_SHARED(type, name) extern __shared__ type name[]
#define NERVE_HOST_DEVICE __host__ __device__
#define NERVE_UNROLL _Pragma("unroll")
#else
#include "../emu/cuda_emu.h"
#define CUDA_LAUNCH NERVE_EMU_LAUNCH
#define CUDA_DYNAMIC_SHARED NERVE_EMU_DYNAMIC_SHARED
#define NERVE_HOST_DEVICE
#define NERVE_UNROLL _Pragma("GCC unroll 16")
#endif

#include <stdexcept>
#include <string>

namespace nerve::cuda {

// Raises "[op] CUDA error: ..." for the last launch or call.
inline void check_last(const char* op) {
  cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) throw std::runtime_error(std::string("[") + op + "] CUDA error: " + cudaGetErrorString(e));
}

inline unsigned ceil_div(long long a, long long b) { return static_cast<unsigned>((a + b - 1) / b); }

}  // namespace nerve::cuda
