// conv.cu — nvcc translation unit for the CUDA convolution (kernels live in conv.cuh).
#include "conv.cuh"
#include "conv.h"

namespace nerve::cuda {

namespace {
template <class T>
ConvArgs<T> conv_args(T* out, const T* in, const T* wt, const T* bias, const Conv2dShape& s) {
  ConvArgs<T> a{};
  a.out = out, a.in = in, a.wt = wt, a.bias = bias, a.g = conv_geom(s);
  return a;
}
}  // namespace

template <class T>
void conv2d_forward(T* y, const T* x, const T* w, const T* bias, const Conv2dShape& s, void* stream, int kernel) {
  conv_launch(ConvPass::forward, conv_args<T>(y, x, w, bias, s), static_cast<ConvKernel>(kernel), 0,
              static_cast<cudaStream_t>(stream), "conv2d");
}

template <class T>
void conv2d_backward_input(T* dx, const T* dy, const T* w, const Conv2dShape& s, void* stream, int kernel) {
  conv_launch(ConvPass::input_grad, conv_args<T>(dx, dy, w, nullptr, s), static_cast<ConvKernel>(kernel), 0,
              static_cast<cudaStream_t>(stream), "conv2d");
}

template <class T>
void conv2d_backward_weight(T* dw, const T* dy, const T* x, const Conv2dShape& s, void* stream, int kernel,
                            int split_k) {
  conv_launch(ConvPass::weight_grad, conv_args<T>(dw, dy, x, nullptr, s), static_cast<ConvKernel>(kernel), split_k,
              static_cast<cudaStream_t>(stream), "conv2d");
}

template <class T>
void conv2d_backward_bias(T* db, const T* dy, const Conv2dShape& s, void* stream) {
  conv_bias_grad_launch(db, dy, conv_geom(s), static_cast<cudaStream_t>(stream), "conv2d");
}

#define NERVE_CONV_CUDA_INSTANTIATE(T)                                                                     \
  template void conv2d_forward<T>(T*, const T*, const T*, const T*, const Conv2dShape&, void*, int);      \
  template void conv2d_backward_input<T>(T*, const T*, const T*, const Conv2dShape&, void*, int);         \
  template void conv2d_backward_weight<T>(T*, const T*, const T*, const Conv2dShape&, void*, int, int);   \
  template void conv2d_backward_bias<T>(T*, const T*, const Conv2dShape&, void*);
NERVE_CONV_CUDA_INSTANTIATE(float)
NERVE_CONV_CUDA_INSTANTIATE(double)
#undef NERVE_CONV_CUDA_INSTANTIATE

}  // namespace nerve::cuda
