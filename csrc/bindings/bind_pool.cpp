// bind_pool.cpp — max / average / adaptive pooling kernels over contiguous NCHW arrays.
// The output size follows PyTorch (ceil_mode included) and is checked against `out`; kernel, stride,
// padding and dilation are (h, w) pairs. Indices are int64 flat positions in the input plane.
//
// The CUDA twins (csrc/cuda/pool.cu) take the CPU entries' arguments plus `stream`, bound once by
// def_pool_cuda<Arrays>: over cupy arrays in nerve._C.cuda and, compiled with NERVE_EMU, over
// numpy arrays in nerve._C_emu (see bind_gemm.cpp). Each pass has one CUDA kernel, so `naive` is
// accepted there and changes nothing. The CUDA max_pool2d_backward also takes the forward's window
// (kernel_size, ...) or adaptive=True, and then gathers deterministically (see csrc/cuda/pool.h).
#include <pybind11/stl.h>

#include "../cpu/pool.h"
#include "../cuda/pool.h"
#include "views.h"

namespace nerve {

namespace {

using Pair = std::vector<int64_t>;

void expect_pair(const Pair& v, const char* op, const char* name, int64_t lo) {
  if (v.size() != 2) fail(op, "expected ", name, " with 2 values, got ", v.size());
  if (v[0] < lo || v[1] < lo) fail(op, name, " must be >= ", lo, ", got (", v[0], ", ", v[1], ")");
}

void expect_4d(const TensorView& v, const char* op, const char* name) {
  if (v.ndim() != 4) fail(op, "expected ", name, " of 4 dimensions (N, C, H, W), got shape ", shape_str(v.shape));
  expect_contiguous(v, op, name);
  if (v.shape[2] < 1 || v.shape[3] < 1) fail(op, name, " has an empty spatial dimension: ", shape_str(v.shape));
}

// PyTorch's pooling_output_shape: the last window must start inside the input or its left padding.
int64_t pooled_size(int64_t in, int64_t k, int64_t pad, int64_t stride, int64_t dil, bool ceil_mode) {
  const int64_t span = in + 2 * pad - dil * (k - 1) - 1 + (ceil_mode ? stride - 1 : 0);
  int64_t out = (span >= 0 ? span / stride : -((-span + stride - 1) / stride)) + 1;
  if (ceil_mode && (out - 1) * stride >= in + pad) --out;
  return out;
}

Pool2dShape pool_shape(const TensorView& x, const Pair& kernel, Pair stride, const Pair& padding,
                       const Pair& dilation, bool ceil_mode, const char* op) {
  expect_4d(x, op, "input");
  expect_float(x, op, "input");
  expect_pair(kernel, op, "kernel_size", 1);
  if (stride.empty()) stride = kernel;  // PyTorch: stride defaults to the kernel size
  expect_pair(stride, op, "stride", 1);
  expect_pair(padding, op, "padding", 0);
  expect_pair(dilation, op, "dilation", 1);
  if (padding[0] > kernel[0] / 2 || padding[1] > kernel[1] / 2)
    fail(op, "padding (", padding[0], ", ", padding[1], ") must be at most half the kernel size (", kernel[0], ", ",
         kernel[1], ")");
  if (x.shape[2] >= (int64_t{1} << 31) || x.shape[3] >= (int64_t{1} << 31))
    fail(op, "input height and width must be below 2^31, got ", shape_str(x.shape));
  Pool2dShape s;
  s.N = x.shape[0], s.C = x.shape[1], s.H = x.shape[2], s.W = x.shape[3];
  s.kh = kernel[0], s.kw = kernel[1], s.sh = stride[0], s.sw = stride[1];
  s.ph = padding[0], s.pw = padding[1], s.dh = dilation[0], s.dw = dilation[1];
  s.OH = pooled_size(s.H, s.kh, s.ph, s.sh, s.dh, ceil_mode);
  s.OW = pooled_size(s.W, s.kw, s.pw, s.sw, s.dw, ceil_mode);
  if (s.OH < 1 || s.OW < 1)
    fail(op, "input ", s.H, "x", s.W, " is too small for kernel ", s.kh, "x", s.kw, " (dilation ", s.dh, "x", s.dw,
         ", padding ", s.ph, "x", s.pw, "): output would be ", s.OH, "x", s.OW);
  // With dilation a window can fall entirely into the padding (PyTorch then reports an index outside
  // the input); refuse such shapes instead.
  auto covers = [](int64_t out, int64_t in, int64_t k, int64_t stride, int64_t pad, int64_t dil) {
    for (int64_t o = 0; o < out; ++o) {
      bool any = false;
      for (int64_t i = 0; i < k && !any; ++i) any = o * stride - pad + i * dil >= 0 && o * stride - pad + i * dil < in;
      if (!any) return false;
    }
    return true;
  };
  if (!covers(s.OH, s.H, s.kh, s.sh, s.ph, s.dh) || !covers(s.OW, s.W, s.kw, s.sw, s.pw, s.dw))
    fail(op, "a pooling window covers only padding: input ", s.H, "x", s.W, ", kernel ", s.kh, "x", s.kw,
         ", dilation ", s.dh, "x", s.dw, ", padding ", s.ph, "x", s.pw);
  return s;
}

// The shape of an adaptive pooling from its input and its out array.
Pool2dShape adaptive_shape(const TensorView& x, const TensorView& y, const char* op, const char* xname,
                           const char* yname) {
  expect_4d(x, op, xname);
  expect_4d(y, op, yname);
  if (y.shape[0] != x.shape[0] || y.shape[1] != x.shape[1])
    fail(op, yname, " ", shape_str(y.shape), " does not match ", xname, " ", shape_str(x.shape), " in N and C");
  Pool2dShape s;
  s.N = x.shape[0], s.C = x.shape[1], s.H = x.shape[2], s.W = x.shape[3], s.OH = y.shape[2], s.OW = y.shape[3];
  return s;
}

void expect_out(const TensorView& v, const TensorView& x, const Pool2dShape& s, const char* op, const char* name) {
  expect_same_dtype(x, v, op, "input", name);
  expect_shape(v, {s.N, s.C, s.OH, s.OW}, op, name);
  expect_contiguous(v, op, name);
  expect_writable_distinct(v, x, op, "input");
}

void expect_indices(const TensorView& v, const Pool2dShape& s, const char* op) {
  expect_dtype(v, DType::i64, op, "indices");
  expect_shape(v, {s.N, s.C, s.OH, s.OW}, op, "indices");
  expect_contiguous(v, op, "indices");
}

// dinput (N,C,H,W) of a pooling whose grad_out is (N,C,OH,OW).
Pool2dShape grad_shape(const TensorView& dx, const TensorView& dy, const char* op) {
  expect_4d(dx, op, "dinput");
  expect_4d(dy, op, "grad_out");
  expect_float(dx, op, "dinput");
  expect_same_dtype(dx, dy, op, "dinput", "grad_out");
  if (dy.shape[0] != dx.shape[0] || dy.shape[1] != dx.shape[1])
    fail(op, "grad_out ", shape_str(dy.shape), " does not match dinput ", shape_str(dx.shape), " in N and C");
  expect_writable_distinct(dx, dy, op, "grad_out");
  Pool2dShape s;
  s.N = dx.shape[0], s.C = dx.shape[1], s.H = dx.shape[2], s.W = dx.shape[3], s.OH = dy.shape[2], s.OW = dy.shape[3];
  return s;
}


// The CUDA kernels keep coordinates in int.
void expect_cuda_plane(const Pool2dShape& s, const char* op) {
  const int64_t limit = (int64_t{1} << 30);
  if (s.H >= limit || s.W >= limit || s.OH >= limit || s.OW >= limit)
    fail(op, "CUDA kernels need heights and widths below 2^30, got input ", s.H, "x", s.W, ", output ", s.OH, "x", s.OW);
}

template <class Arrays>
void def_pool_cuda(py::module_& m) {
  m.def(
      "max_pool2d_forward",
      [](py::object out, py::object indices, py::object input, Pair kernel, Pair stride, Pair padding, Pair dilation,
         bool ceil_mode, bool naive, std::string op, uintptr_t stream) {
        const char* o = op.c_str();
        TensorView y = Arrays::view(out, o, "out"), x = Arrays::view(input, o, "input");
        const Pool2dShape s = pool_shape(x, kernel, stride, padding, dilation, ceil_mode, o);
        expect_out(y, x, s, o, "out");
        TensorView ix;
        if (!indices.is_none()) ix = Arrays::view(indices, o, "indices"), expect_indices(ix, s, o);
        expect_cuda_plane(s, o);
        int64_t* ip = indices.is_none() ? nullptr : ix.ptr<int64_t>();
        py::gil_scoped_release release;
        dispatch_float(x.dtype, o, [&](auto t) {
          using T = decltype(t);
          cuda::max_pool2d_forward<T>(y.ptr<T>(), ip, x.ptr<T>(), s, reinterpret_cast<void*>(stream));
        });
      },
      py::arg("out"), py::arg("indices"), py::arg("input"), py::arg("kernel_size"), py::arg("stride") = Pair{},
      py::arg("padding") = Pair{0, 0}, py::arg("dilation") = Pair{1, 1}, py::arg("ceil_mode") = false,
      py::arg("naive") = false, py::arg("op") = "max_pool2d", py::arg("stream") = 0,
      "CUDA twin of cpu.max_pool2d_forward (torch's argmax indices, ties and NaN included)");
  m.def(
      "max_pool2d_backward",
      [](py::object dinput, py::object grad_out, py::object indices, std::string op, Pair kernel, Pair stride,
         Pair padding, Pair dilation, bool ceil_mode, bool adaptive, uintptr_t stream) {
        const char* o = op.c_str();
        TensorView dx = Arrays::view(dinput, o, "dinput"), dy = Arrays::view(grad_out, o, "grad_out"),
                   ix = Arrays::view(indices, o, "indices");
        Pool2dShape s = grad_shape(dx, dy, o);
        expect_indices(ix, s, o);
        expect_contiguous(dx, o, "dinput");
        expect_contiguous(dy, o, "grad_out");
        if (adaptive && !kernel.empty()) fail(o, "give the max_pool2d window (kernel_size, ...) or adaptive=True, not both");
        int window = adaptive ? cuda::kAdaptiveWindow : cuda::kAnyWindow;
        if (!kernel.empty()) {
          const Pool2dShape w = pool_shape(dx, kernel, stride, padding, dilation, ceil_mode, o);
          if (w.OH != s.OH || w.OW != s.OW)
            fail(o, "grad_out ", shape_str(dy.shape), " does not match the window's output ", w.OH, "x", w.OW);
          s = w;
          window = cuda::kMaxWindow;
        }
        expect_cuda_plane(s, o);
        py::gil_scoped_release release;
        dispatch_float(dx.dtype, o, [&](auto t) {
          using T = decltype(t);
          cuda::max_pool2d_backward<T>(dx.ptr<T>(), dy.ptr<T>(), ix.ptr<int64_t>(), s, window,
                                       reinterpret_cast<void*>(stream));
        });
      },
      py::arg("dinput"), py::arg("grad_out"), py::arg("indices"), py::arg("op") = "max_pool2d",
      py::arg("kernel_size") = Pair{}, py::arg("stride") = Pair{}, py::arg("padding") = Pair{0, 0},
      py::arg("dilation") = Pair{1, 1}, py::arg("ceil_mode") = false, py::arg("adaptive") = false,
      py::arg("stream") = 0,
      "CUDA twin of cpu.max_pool2d_backward. With the forward's window (kernel_size, stride, padding, dilation, "
      "ceil_mode) or adaptive=True each input gathers the outputs whose window holds it, in output order "
      "(reproducible; indices outside their window are not picked up); without, an atomic scatter that skips "
      "indices outside [0, H*W)");
  m.def(
      "avg_pool2d_forward",
      [](py::object out, py::object input, Pair kernel, Pair stride, Pair padding, bool ceil_mode,
         bool count_include_pad, int64_t divisor_override, bool naive, std::string op, uintptr_t stream) {
        const char* o = op.c_str();
        TensorView y = Arrays::view(out, o, "out"), x = Arrays::view(input, o, "input");
        const Pool2dShape s = pool_shape(x, kernel, stride, padding, {1, 1}, ceil_mode, o);
        expect_out(y, x, s, o, "out");
        if (divisor_override < 0) fail(o, "divisor_override must be positive, got ", divisor_override);
        expect_cuda_plane(s, o);
        py::gil_scoped_release release;
        dispatch_float(x.dtype, o, [&](auto t) {
          using T = decltype(t);
          cuda::avg_pool2d_forward<T>(y.ptr<T>(), x.ptr<T>(), s, count_include_pad, divisor_override,
                                      reinterpret_cast<void*>(stream));
        });
      },
      py::arg("out"), py::arg("input"), py::arg("kernel_size"), py::arg("stride") = Pair{},
      py::arg("padding") = Pair{0, 0}, py::arg("ceil_mode") = false, py::arg("count_include_pad") = true,
      py::arg("divisor_override") = 0, py::arg("naive") = false, py::arg("op") = "avg_pool2d", py::arg("stream") = 0,
      "CUDA twin of cpu.avg_pool2d_forward");
  m.def(
      "avg_pool2d_backward",
      [](py::object dinput, py::object grad_out, Pair kernel, Pair stride, Pair padding, bool ceil_mode,
         bool count_include_pad, int64_t divisor_override, bool naive, std::string op, uintptr_t stream) {
        const char* o = op.c_str();
        TensorView dx = Arrays::view(dinput, o, "dinput"), dy = Arrays::view(grad_out, o, "grad_out");
        const Pool2dShape s = pool_shape(dx, kernel, stride, padding, {1, 1}, ceil_mode, o);
        grad_shape(dx, dy, o);
        expect_shape(dy, {s.N, s.C, s.OH, s.OW}, o, "grad_out");
        expect_contiguous(dy, o, "grad_out");
        if (divisor_override < 0) fail(o, "divisor_override must be positive, got ", divisor_override);
        expect_cuda_plane(s, o);
        py::gil_scoped_release release;
        dispatch_float(dx.dtype, o, [&](auto t) {
          using T = decltype(t);
          cuda::avg_pool2d_backward<T>(dx.ptr<T>(), dy.ptr<T>(), s, count_include_pad, divisor_override,
                                       reinterpret_cast<void*>(stream));
        });
      },
      py::arg("dinput"), py::arg("grad_out"), py::arg("kernel_size"), py::arg("stride") = Pair{},
      py::arg("padding") = Pair{0, 0}, py::arg("ceil_mode") = false, py::arg("count_include_pad") = true,
      py::arg("divisor_override") = 0, py::arg("naive") = false, py::arg("op") = "avg_pool2d", py::arg("stream") = 0,
      "CUDA twin of cpu.avg_pool2d_backward (a gather: reproducible)");
  m.def(
      "adaptive_avg_pool2d_forward",
      [](py::object out, py::object input, bool naive, std::string op, uintptr_t stream) {
        const char* o = op.c_str();
        TensorView y = Arrays::view(out, o, "out"), x = Arrays::view(input, o, "input");
        expect_float(x, o, "input");
        const Pool2dShape s = adaptive_shape(x, y, o, "input", "out");
        expect_out(y, x, s, o, "out");
        expect_cuda_plane(s, o);
        py::gil_scoped_release release;
        dispatch_float(x.dtype, o, [&](auto t) {
          using T = decltype(t);
          cuda::adaptive_avg_pool2d_forward<T>(y.ptr<T>(), x.ptr<T>(), s, reinterpret_cast<void*>(stream));
        });
      },
      py::arg("out"), py::arg("input"), py::arg("naive") = false, py::arg("op") = "adaptive_avg_pool2d",
      py::arg("stream") = 0, "CUDA twin of cpu.adaptive_avg_pool2d_forward");
  m.def(
      "adaptive_avg_pool2d_backward",
      [](py::object dinput, py::object grad_out, std::string op, uintptr_t stream) {
        const char* o = op.c_str();
        TensorView dx = Arrays::view(dinput, o, "dinput"), dy = Arrays::view(grad_out, o, "grad_out");
        const Pool2dShape s = grad_shape(dx, dy, o);
        expect_contiguous(dy, o, "grad_out");
        expect_cuda_plane(s, o);
        py::gil_scoped_release release;
        dispatch_float(dx.dtype, o, [&](auto t) {
          using T = decltype(t);
          cuda::adaptive_avg_pool2d_backward<T>(dx.ptr<T>(), dy.ptr<T>(), s, reinterpret_cast<void*>(stream));
        });
      },
      py::arg("dinput"), py::arg("grad_out"), py::arg("op") = "adaptive_avg_pool2d", py::arg("stream") = 0,
      "CUDA twin of cpu.adaptive_avg_pool2d_backward (a gather: reproducible)");
  m.def(
      "adaptive_max_pool2d_forward",
      [](py::object out, py::object indices, py::object input, bool naive, std::string op, uintptr_t stream) {
        const char* o = op.c_str();
        TensorView y = Arrays::view(out, o, "out"), x = Arrays::view(input, o, "input");
        expect_float(x, o, "input");
        const Pool2dShape s = adaptive_shape(x, y, o, "input", "out");
        expect_out(y, x, s, o, "out");
        TensorView ix;
        if (!indices.is_none()) ix = Arrays::view(indices, o, "indices"), expect_indices(ix, s, o);
        expect_cuda_plane(s, o);
        int64_t* ip = indices.is_none() ? nullptr : ix.ptr<int64_t>();
        py::gil_scoped_release release;
        dispatch_float(x.dtype, o, [&](auto t) {
          using T = decltype(t);
          cuda::adaptive_max_pool2d_forward<T>(y.ptr<T>(), ip, x.ptr<T>(), s, reinterpret_cast<void*>(stream));
        });
      },
      py::arg("out"), py::arg("indices"), py::arg("input"), py::arg("naive") = false,
      py::arg("op") = "adaptive_max_pool2d", py::arg("stream") = 0,
      "CUDA twin of cpu.adaptive_max_pool2d_forward; its backward is max_pool2d_backward(..., adaptive=True)");
}

}  // namespace

#ifndef NERVE_EMU
void init_pool(py::module_& cpu, py::module_& cuda) {
  cpu.def(
      "max_pool2d_forward",
      [](py::object out, py::object indices, py::object input, Pair kernel, Pair stride, Pair padding, Pair dilation,
         bool ceil_mode, bool naive, std::string op) {
        const char* o = op.c_str();
        TensorView x = host_view(input, o, "input"), y = host_view(out, o, "out");
        const Pool2dShape s = pool_shape(x, kernel, stride, padding, dilation, ceil_mode, o);
        expect_out(y, x, s, o, "out");
        TensorView ix;
        if (!indices.is_none()) ix = host_view(indices, o, "indices"), expect_indices(ix, s, o);
        int64_t* ip = indices.is_none() ? nullptr : ix.ptr<int64_t>();
        py::gil_scoped_release release;
        dispatch_float(x.dtype, o, [&](auto t) {
          using T = decltype(t);
          if (naive) max_pool2d_forward_naive<T>(y.ptr<T>(), ip, x.ptr<T>(), s);
          else max_pool2d_forward<T>(y.ptr<T>(), ip, x.ptr<T>(), s);
        });
      },
      py::arg("out"), py::arg("indices"), py::arg("input"), py::arg("kernel_size"), py::arg("stride") = Pair{},
      py::arg("padding") = Pair{0, 0}, py::arg("dilation") = Pair{1, 1}, py::arg("ceil_mode") = false,
      py::arg("naive") = false, py::arg("op") = "max_pool2d",
      "out, indices (N,C,OH,OW) = max over windows of input (N,C,H,W); indices may be None");
  cpu.def(
      "max_pool2d_backward",
      [](py::object dinput, py::object grad_out, py::object indices, std::string op) {
        const char* o = op.c_str();
        TensorView dx = host_view(dinput, o, "dinput"), dy = host_view(grad_out, o, "grad_out"),
                   ix = host_view(indices, o, "indices");
        const Pool2dShape s = grad_shape(dx, dy, o);
        expect_indices(ix, s, o);
        bool ok = true;
        {
          py::gil_scoped_release release;
          dispatch_float(dx.dtype, o, [&](auto t) {
            using T = decltype(t);
            ok = max_pool2d_backward<T>(dx.ptr<T>(), dy.ptr<T>(), ix.ptr<int64_t>(), s);
          });
        }
        if (!ok) fail(o, "indices must lie in [0, ", s.H * s.W, ") (positions in the input plane)");
      },
      py::arg("dinput"), py::arg("grad_out"), py::arg("indices"), py::arg("op") = "max_pool2d",
      "dinput = 0, then dinput[n, c].flat[indices] += grad_out (max_pool2d and adaptive_max_pool2d)");
  cpu.def(
      "avg_pool2d_forward",
      [](py::object out, py::object input, Pair kernel, Pair stride, Pair padding, bool ceil_mode,
         bool count_include_pad, int64_t divisor_override, bool naive, std::string op) {
        const char* o = op.c_str();
        TensorView x = host_view(input, o, "input"), y = host_view(out, o, "out");
        const Pool2dShape s = pool_shape(x, kernel, stride, padding, {1, 1}, ceil_mode, o);
        expect_out(y, x, s, o, "out");
        if (divisor_override < 0) fail(o, "divisor_override must be positive, got ", divisor_override);
        py::gil_scoped_release release;
        dispatch_float(x.dtype, o, [&](auto t) {
          using T = decltype(t);
          if (naive) avg_pool2d_forward_naive<T>(y.ptr<T>(), x.ptr<T>(), s, count_include_pad, divisor_override);
          else avg_pool2d_forward<T>(y.ptr<T>(), x.ptr<T>(), s, count_include_pad, divisor_override);
        });
      },
      py::arg("out"), py::arg("input"), py::arg("kernel_size"), py::arg("stride") = Pair{},
      py::arg("padding") = Pair{0, 0}, py::arg("ceil_mode") = false, py::arg("count_include_pad") = true,
      py::arg("divisor_override") = 0, py::arg("naive") = false, py::arg("op") = "avg_pool2d",
      "out (N,C,OH,OW) = mean over windows of input (N,C,H,W); divisor_override 0 means none");
  cpu.def(
      "avg_pool2d_backward",
      [](py::object dinput, py::object grad_out, Pair kernel, Pair stride, Pair padding, bool ceil_mode,
         bool count_include_pad, int64_t divisor_override, bool naive, std::string op) {
        const char* o = op.c_str();
        TensorView dx = host_view(dinput, o, "dinput"), dy = host_view(grad_out, o, "grad_out");
        const Pool2dShape s = pool_shape(dx, kernel, stride, padding, {1, 1}, ceil_mode, o);
        grad_shape(dx, dy, o);
        expect_shape(dy, {s.N, s.C, s.OH, s.OW}, o, "grad_out");
        if (divisor_override < 0) fail(o, "divisor_override must be positive, got ", divisor_override);
        py::gil_scoped_release release;
        dispatch_float(dx.dtype, o, [&](auto t) {
          using T = decltype(t);
          if (naive) avg_pool2d_backward_naive<T>(dx.ptr<T>(), dy.ptr<T>(), s, count_include_pad, divisor_override);
          else avg_pool2d_backward<T>(dx.ptr<T>(), dy.ptr<T>(), s, count_include_pad, divisor_override);
        });
      },
      py::arg("dinput"), py::arg("grad_out"), py::arg("kernel_size"), py::arg("stride") = Pair{},
      py::arg("padding") = Pair{0, 0}, py::arg("ceil_mode") = false, py::arg("count_include_pad") = true,
      py::arg("divisor_override") = 0, py::arg("naive") = false, py::arg("op") = "avg_pool2d",
      "dinput (N,C,H,W) = gradient of avg_pool2d");
  cpu.def(
      "adaptive_avg_pool2d_forward",
      [](py::object out, py::object input, bool naive, std::string op) {
        const char* o = op.c_str();
        TensorView x = host_view(input, o, "input"), y = host_view(out, o, "out");
        expect_float(x, o, "input");
        const Pool2dShape s = adaptive_shape(x, y, o, "input", "out");
        expect_out(y, x, s, o, "out");
        py::gil_scoped_release release;
        dispatch_float(x.dtype, o, [&](auto t) {
          using T = decltype(t);
          if (naive) adaptive_avg_pool2d_forward_naive<T>(y.ptr<T>(), x.ptr<T>(), s);
          else adaptive_avg_pool2d_forward<T>(y.ptr<T>(), x.ptr<T>(), s);
        });
      },
      py::arg("out"), py::arg("input"), py::arg("naive") = false, py::arg("op") = "adaptive_avg_pool2d",
      "out (N,C,OH,OW) = adaptive average of input (N,C,H,W); out's shape sets the output size");
  cpu.def(
      "adaptive_avg_pool2d_backward",
      [](py::object dinput, py::object grad_out, std::string op) {
        const char* o = op.c_str();
        TensorView dx = host_view(dinput, o, "dinput"), dy = host_view(grad_out, o, "grad_out");
        const Pool2dShape s = grad_shape(dx, dy, o);
        py::gil_scoped_release release;
        dispatch_float(dx.dtype, o, [&](auto t) {
          using T = decltype(t);
          adaptive_avg_pool2d_backward<T>(dx.ptr<T>(), dy.ptr<T>(), s);
        });
      },
      py::arg("dinput"), py::arg("grad_out"), py::arg("op") = "adaptive_avg_pool2d",
      "dinput (N,C,H,W) = gradient of adaptive_avg_pool2d");
  cpu.def(
      "adaptive_max_pool2d_forward",
      [](py::object out, py::object indices, py::object input, bool naive, std::string op) {
        const char* o = op.c_str();
        TensorView x = host_view(input, o, "input"), y = host_view(out, o, "out");
        expect_float(x, o, "input");
        const Pool2dShape s = adaptive_shape(x, y, o, "input", "out");
        expect_out(y, x, s, o, "out");
        TensorView ix;
        if (!indices.is_none()) ix = host_view(indices, o, "indices"), expect_indices(ix, s, o);
        int64_t* ip = indices.is_none() ? nullptr : ix.ptr<int64_t>();
        py::gil_scoped_release release;
        dispatch_float(x.dtype, o, [&](auto t) {
          using T = decltype(t);
          if (naive) adaptive_max_pool2d_forward_naive<T>(y.ptr<T>(), ip, x.ptr<T>(), s);
          else adaptive_max_pool2d_forward<T>(y.ptr<T>(), ip, x.ptr<T>(), s);
        });
      },
      py::arg("out"), py::arg("indices"), py::arg("input"), py::arg("naive") = false,
      py::arg("op") = "adaptive_max_pool2d",
      "out, indices (N,C,OH,OW) = adaptive max of input (N,C,H,W); backward is max_pool2d_backward");
  def_pool_cuda<DeviceArrays>(cuda);
}
#else
void init_pool_emu(py::module_& emu) { def_pool_cuda<HostArrays>(emu); }
#endif

}  // namespace nerve
