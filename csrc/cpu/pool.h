// pool.h — 2-D pooling on the CPU (NCHW, like PyTorch): max (with argmax indices), average, and
// their adaptive forms; forward and backward, plus plain-loop *_naive references (the test oracle).
//
// Windows: output (oh, ow) reads input rows oh*sh - ph + i*dh (i < kh) and columns ow*sw - pw + j*dw
// (j < kw), skipping those outside the input. The output size (ceil_mode included) is the caller's
// (the binding's) business; every window must hold at least one input, as PyTorch guarantees.
// Max pooling follows PyTorch exactly: windows are scanned row-major, a value replaces the maximum
// when strictly greater or NaN, and an all -inf window reports its first position. Indices are flat
// positions ih*W + iw within the input plane. Activation gradients are written (dx =).
#pragma once
#include <cstdint>

namespace nerve {

struct Pool2dShape {
  int64_t N, C, H, W;      // input (N, C, H, W)
  int64_t OH, OW;          // output (N, C, OH, OW)
  int64_t kh = 1, kw = 1;  // window
  int64_t sh = 1, sw = 1;  // stride
  int64_t ph = 0, pw = 0;  // implicit padding (never read: max ignores it, avg may count it)
  int64_t dh = 1, dw = 1;  // dilation (max pooling only)
};

template <class T>
void max_pool2d_forward(T* y /* (N,C,OH,OW) */, int64_t* indices /* (N,C,OH,OW) or null */,
                        const T* x /* (N,C,H,W) */, const Pool2dShape& s);
// Shared by max_pool2d and adaptive_max_pool2d: dx = 0, then dx[n, c, indices[...]] += dy[...].
// Indices outside [0, H*W) are skipped and make it return false (the binding raises).
template <class T>
bool max_pool2d_backward(T* dx /* (N,C,H,W) */, const T* dy /* (N,C,OH,OW) */, const int64_t* indices,
                         const Pool2dShape& s);

// divisor > 0 overrides the window size (PyTorch's divisor_override); else count_include_pad picks
// the window clipped to the padded input or to the input itself.
template <class T>
void avg_pool2d_forward(T* y, const T* x, const Pool2dShape& s, bool count_include_pad, int64_t divisor);
template <class T>
void avg_pool2d_backward(T* dx, const T* dy, const Pool2dShape& s, bool count_include_pad, int64_t divisor);

// Adaptive: output row oh averages input rows [floor(oh*H/OH), ceil((oh+1)*H/OH)); likewise columns.
// Only N, C, H, W, OH, OW of the shape are read.
template <class T>
void adaptive_avg_pool2d_forward(T* y, const T* x, const Pool2dShape& s);
template <class T>
void adaptive_avg_pool2d_backward(T* dx, const T* dy, const Pool2dShape& s);
template <class T>
void adaptive_max_pool2d_forward(T* y, int64_t* indices, const T* x, const Pool2dShape& s);

// The oracle: one window at a time, sums in double.
template <class T>
void max_pool2d_forward_naive(T* y, int64_t* indices, const T* x, const Pool2dShape& s);
template <class T>
void avg_pool2d_forward_naive(T* y, const T* x, const Pool2dShape& s, bool count_include_pad, int64_t divisor);
template <class T>
void avg_pool2d_backward_naive(T* dx, const T* dy, const Pool2dShape& s, bool count_include_pad, int64_t divisor);
template <class T>
void adaptive_avg_pool2d_forward_naive(T* y, const T* x, const Pool2dShape& s);
template <class T>
void adaptive_max_pool2d_forward_naive(T* y, int64_t* indices, const T* x, const Pool2dShape& s);

}  // namespace nerve
