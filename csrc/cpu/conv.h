// conv.h — 2-D convolution on the CPU (NCHW, like PyTorch): forward, input-gradient, weight-gradient,
// bias-gradient, and plain-loop *_naive references (the test oracle).
//
//   y[n, k, oh, ow] = bias[k] + sum_{c in group(k), r, s} w[k, c, r, s] * x[n, c, oh*sh - pt + r*dh, ow*sw - pl + s*dw]
//
// conv1d is conv2d with H = 1; conv_transpose2d's forward is conv2d_backward_input (see the Python
// layer). Gradient rule: activation gradients are written (dx =), parameter gradients accumulate
// (dw +=, db +=). Every pointer is a contiguous array of the shape in its comment.
//
// Algorithms (chosen per call in conv.cpp, see ConvAlgo): on AVX-512, float32 3x3 stride-1
// convolutions run Winograd (conv_winograd_avx512.cpp), others "direct" (the input is zero-padded
// once per image and read as a flat row, so tap (c, r, s) is a fixed offset and no im2col matrix
// is built; strided input gradients run one such stride-1 convolution per output phase); float64
// and other ISAs run im2col (in pixel chunks) + GEMM.
#pragma once
#include <cstdint>

namespace nerve {

struct Conv2dShape {
  int64_t N, C, H, W;        // input (N, C, H, W)
  int64_t K, R, S;           // weight (K, C / groups, R, S)
  int64_t OH, OW;            // output (N, K, OH, OW)
  int64_t sh = 1, sw = 1;    // stride
  int64_t pt = 0, pb = 0, pl = 0, pr = 0;  // zero padding: top, bottom, left, right
  int64_t dh = 1, dw = 1;    // dilation
  int64_t groups = 1;

  int64_t Cg() const { return C / groups; }
  int64_t Kg() const { return K / groups; }
  // Output extent that the input, padding, kernel and stride imply (PyTorch's floor rule).
  static int64_t out_size(int64_t in, int64_t pad0, int64_t pad1, int64_t k, int64_t stride, int64_t dil) {
    return (in + pad0 + pad1 - dil * (k - 1) - 1) / stride + 1;
  }
};

// Which algorithm the float32 kernels prefer (process-wide; shapes a choice cannot take fall back
// to the next one: Winograd -> direct -> im2col+GEMM). kAuto: Winograd F(2x2,3x3) for 3x3 stride-1
// convolutions with >= 16 channels in and out and at least one image per thread, direct for the
// rest (strided input gradients by output phases), GEMM otherwise.
// kWinograd4 uses F(4x4,3x3): about 1.3x faster on large images, about 5x the rounding error.
// Only AVX-512 machines have the direct and Winograd kernels; float64 always runs im2col+GEMM.
enum class ConvAlgo { kAuto, kGemm, kDirect, kWinograd4 };
void set_conv_algo(ConvAlgo a);
ConvAlgo conv_algo();

template <class T>
void conv2d_forward(T* y /* (N,K,OH,OW) */, const T* x /* (N,C,H,W) */, const T* w /* (K,C/g,R,S) */,
                    const T* bias /* (K) or null */, const Conv2dShape& s);
template <class T>
void conv2d_backward_input(T* dx /* (N,C,H,W) */, const T* dy /* (N,K,OH,OW) */, const T* w /* (K,C/g,R,S) */,
                           const Conv2dShape& s);
template <class T>
void conv2d_backward_weight(T* dw /* (K,C/g,R,S), += */, const T* dy /* (N,K,OH,OW) */, const T* x /* (N,C,H,W) */,
                            const Conv2dShape& s);
template <class T>
void conv2d_backward_bias(T* db /* (K), += */, const T* dy /* (N,K,OH,OW) */, const Conv2dShape& s);

// The oracle: direct loops accumulated in double.
template <class T>
void conv2d_forward_naive(T* y, const T* x, const T* w, const T* bias, const Conv2dShape& s);
template <class T>
void conv2d_backward_input_naive(T* dx, const T* dy, const T* w, const Conv2dShape& s);
template <class T>
void conv2d_backward_weight_naive(T* dw, const T* dy, const T* x, const Conv2dShape& s);

}  // namespace nerve
