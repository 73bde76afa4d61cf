// no_cuda.cpp — stands in for every CUDA entry point when nerve is built without CUDA.
// Each raises "[op] nerve was built without CUDA"; see csrc/cuda/*.h for the real ones.
#include <stdexcept>
#include <string>

#include "conv.h"
#include "gemm.h"
#include "pool.h"
#include "runtime.h"

namespace nerve::cuda {

void not_built(const char* op) {
  throw std::runtime_error(std::string("[") + op +
                           "] nerve was built without CUDA (rebuild with nvcc on PATH and NERVE_CUDA=ON)");
}

bool compiled() { return false; }
std::string compiled_archs() { return ""; }
int runtime_version() { return 0; }
int device_count() { return 0; }
void synchronize() { not_built("synchronize"); }

void gemm_f32(float*, MatStrides, const float*, MatStrides, const float*, MatStrides, GemmSize, float, float, void*,
              int) {
  not_built("matmul");
}

template <class T>
void conv2d_forward(T*, const T*, const T*, const T*, const Conv2dShape&, void*, int) {
  not_built("conv2d");
}
template <class T>
void conv2d_backward_input(T*, const T*, const T*, const Conv2dShape&, void*, int) {
  not_built("conv2d");
}
template <class T>
void conv2d_backward_weight(T*, const T*, const T*, const Conv2dShape&, void*, int, int) {
  not_built("conv2d");
}
template <class T>
void conv2d_backward_bias(T*, const T*, const Conv2dShape&, void*) {
  not_built("conv2d");
}
#define NERVE_CONV_STUBS(T)                                                                              \
  template void conv2d_forward<T>(T*, const T*, const T*, const T*, const Conv2dShape&, void*, int);      \
  template void conv2d_backward_input<T>(T*, const T*, const T*, const Conv2dShape&, void*, int);         \
  template void conv2d_backward_weight<T>(T*, const T*, const T*, const Conv2dShape&, void*, int, int);   \
  template void conv2d_backward_bias<T>(T*, const T*, const Conv2dShape&, void*);
NERVE_CONV_STUBS(float)
NERVE_CONV_STUBS(double)
#undef NERVE_CONV_STUBS

template <class T>
void max_pool2d_forward(T*, int64_t*, const T*, const Pool2dShape&, void*) {
  not_built("max_pool2d");
}
template <class T>
void adaptive_max_pool2d_forward(T*, int64_t*, const T*, const Pool2dShape&, void*) {
  not_built("adaptive_max_pool2d");
}
template <class T>
void max_pool2d_backward(T*, const T*, const int64_t*, const Pool2dShape&, int, void*) {
  not_built("max_pool2d");
}
template <class T>
void avg_pool2d_forward(T*, const T*, const Pool2dShape&, bool, int64_t, void*) {
  not_built("avg_pool2d");
}
template <class T>
void avg_pool2d_backward(T*, const T*, const Pool2dShape&, bool, int64_t, void*) {
  not_built("avg_pool2d");
}
template <class T>
void adaptive_avg_pool2d_forward(T*, const T*, const Pool2dShape&, void*) {
  not_built("adaptive_avg_pool2d");
}
template <class T>
void adaptive_avg_pool2d_backward(T*, const T*, const Pool2dShape&, void*) {
  not_built("adaptive_avg_pool2d");
}
#define NERVE_POOL_STUBS(T)                                                                             \
  template void max_pool2d_forward<T>(T*, int64_t*, const T*, const Pool2dShape&, void*);              \
  template void adaptive_max_pool2d_forward<T>(T*, int64_t*, const T*, const Pool2dShape&, void*);     \
  template void max_pool2d_backward<T>(T*, const T*, const int64_t*, const Pool2dShape&, int, void*);  \
  template void avg_pool2d_forward<T>(T*, const T*, const Pool2dShape&, bool, int64_t, void*);         \
  template void avg_pool2d_backward<T>(T*, const T*, const Pool2dShape&, bool, int64_t, void*);        \
  template void adaptive_avg_pool2d_forward<T>(T*, const T*, const Pool2dShape&, void*);               \
  template void adaptive_avg_pool2d_backward<T>(T*, const T*, const Pool2dShape&, void*);
NERVE_POOL_STUBS(float)
NERVE_POOL_STUBS(double)
#undef NERVE_POOL_STUBS

}  // namespace nerve::cuda
