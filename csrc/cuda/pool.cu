// pool.cu — nvcc translation unit for the CUDA pooling (kernels live in pool.cuh).
#include "pool.cuh"
#include "pool.h"

namespace nerve::cuda {

namespace {
cudaStream_t as_stream(void* s) { return static_cast<cudaStream_t>(s); }
}  // namespace

template <class T>
void max_pool2d_forward(T* y, int64_t* indices, const T* x, const Pool2dShape& s, void* stream) {
  pool_launch<T>(PoolOp::max_fwd, y, indices, x, nullptr, s, false, 0, as_stream(stream), "max_pool2d");
}

template <class T>
void adaptive_max_pool2d_forward(T* y, int64_t* indices, const T* x, const Pool2dShape& s, void* stream) {
  pool_launch<T>(PoolOp::adaptive_max_fwd, y, indices, x, nullptr, s, false, 0, as_stream(stream),
                 "adaptive_max_pool2d");
}

template <class T>
void max_pool2d_backward(T* dx, const T* dy, const int64_t* indices, const Pool2dShape& s, int window, void* stream) {
  const PoolOp op = window == kMaxWindow ? PoolOp::max_bwd : window == kAdaptiveWindow ? PoolOp::adaptive_max_bwd
                                                                                       : PoolOp::max_scatter;
  pool_launch<T>(op, dx, nullptr, dy, indices, s, false, 0, as_stream(stream), "max_pool2d");
}

template <class T>
void avg_pool2d_forward(T* y, const T* x, const Pool2dShape& s, bool count_include_pad, int64_t divisor, void* stream) {
  pool_launch<T>(PoolOp::avg_fwd, y, nullptr, x, nullptr, s, count_include_pad, divisor, as_stream(stream),
                 "avg_pool2d");
}

template <class T>
void avg_pool2d_backward(T* dx, const T* dy, const Pool2dShape& s, bool count_include_pad, int64_t divisor,
                         void* stream) {
  pool_launch<T>(PoolOp::avg_bwd, dx, nullptr, dy, nullptr, s, count_include_pad, divisor, as_stream(stream),
                 "avg_pool2d");
}

template <class T>
void adaptive_avg_pool2d_forward(T* y, const T* x, const Pool2dShape& s, void* stream) {
  pool_launch<T>(PoolOp::adaptive_avg_fwd, y, nullptr, x, nullptr, s, false, 0, as_stream(stream),
                 "adaptive_avg_pool2d");
}

template <class T>
void adaptive_avg_pool2d_backward(T* dx, const T* dy, const Pool2dShape& s, void* stream) {
  pool_launch<T>(PoolOp::adaptive_avg_bwd, dx, nullptr, dy, nullptr, s, false, 0, as_stream(stream),
                 "adaptive_avg_pool2d");
}

#define NERVE_POOL_CUDA_INSTANTIATE(T)                                                                      \
  template void max_pool2d_forward<T>(T*, int64_t*, const T*, const Pool2dShape&, void*);                  \
  template void adaptive_max_pool2d_forward<T>(T*, int64_t*, const T*, const Pool2dShape&, void*);         \
  template void max_pool2d_backward<T>(T*, const T*, const int64_t*, const Pool2dShape&, int, void*);      \
  template void avg_pool2d_forward<T>(T*, const T*, const Pool2dShape&, bool, int64_t, void*);             \
  template void avg_pool2d_backward<T>(T*, const T*, const Pool2dShape&, bool, int64_t, void*);            \
  template void adaptive_avg_pool2d_forward<T>(T*, const T*, const Pool2dShape&, void*);                   \
  template void adaptive_avg_pool2d_backward<T>(T*, const T*, const Pool2dShape&, void*);
NERVE_POOL_CUDA_INSTANTIATE(float)
NERVE_POOL_CUDA_INSTANTIATE(double)
#undef NERVE_POOL_CUDA_INSTANTIATE

}  // namespace nerve::cuda
