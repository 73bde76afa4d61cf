// no_cuda/pool.cpp — stands in for the entry points of csrc/cuda/pool.h when nerve is built
// without CUDA: each raises "[op] nerve was built without CUDA" (not_built, csrc/cuda/runtime.h).
#include "../pool.h"
#include "../runtime.h"

namespace nerve::cuda {

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
