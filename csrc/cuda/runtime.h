// runtime.h — what the rest of nerve may ask of the CUDA runtime. Implemented by runtime.cu when
// built with CUDA and by no_cuda.cpp otherwise; nothing here crashes when no driver is present.
#pragma once
#include <string>

namespace nerve::cuda {

bool compiled();                   // built with nvcc
std::string compiled_archs();      // "75;80;86;89;90" or ""
int runtime_version();             // CUDA runtime version (e.g. 13000), 0 without CUDA
int device_count();                // devices that answer; 0 without a driver or GPU
void synchronize();                // waits for the current device; raises without CUDA

[[noreturn]] void not_built(const char* op);  // "[op] nerve was built without CUDA"

}  // namespace nerve::cuda
