// no_cuda/conv.cpp — stands in for the entry points of csrc/cuda/conv.h when nerve is built
// without CUDA: each raises "[op] nerve was built without CUDA" (not_built, csrc/cuda/runtime.h).
#include "../conv.h"
#include "../runtime.h"

namespace nerve::cuda {

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

}  // namespace nerve::cuda
