// bind_conv.cpp — conv2d forward / backward kernels over contiguous NCHW arrays.
// Every shape, dtype and option is checked here, so no kernel reads out of bounds. `op` names the
// user-facing op in messages (conv1d, conv_transpose2d reuse these kernels through the Python layer).
// padding is (ph, pw) or (top, bottom, left, right); parameter gradients accumulate into their out.
//
// The CUDA twins (csrc/cuda/conv.cu) take the CPU entries' arguments plus `stream` and `kernel`,
// bound once by def_conv_cuda<Arrays>: over cupy arrays in nerve._C.cuda and, compiled with
// NERVE_EMU, over numpy arrays in nerve._C_emu (the emulator runs them); see bind_gemm.cpp.
#include <pybind11/stl.h>

#include "../cpu/conv.h"
#include "../cuda/conv.h"
#include "views.h"

namespace nerve {

namespace {

using Pair = std::vector<int64_t>;

struct ConvArgs {
  Pair stride, padding, dilation;
  int64_t groups;
};

void expect_pair(const Pair& v, const char* op, const char* name, int64_t lo) {
  if (v.size() != 2) fail(op, "expected ", name, " with 2 values, got ", v.size());
  if (v[0] < lo || v[1] < lo) fail(op, name, " must be >= ", lo, ", got (", v[0], ", ", v[1], ")");
}

// The convolution an input (N, C, H, W) and a weight (K, C/groups, R, S) describe.
Conv2dShape conv_shape(const TensorView& x, const TensorView& w, const ConvArgs& a, const char* op) {
  if (x.ndim() != 4) fail(op, "expected input of 4 dimensions (N, C, H, W), got shape ", shape_str(x.shape));
  if (w.ndim() != 4) fail(op, "expected weight of 4 dimensions (out, in/groups, kH, kW), got shape ", shape_str(w.shape));
  expect_pair(a.stride, op, "stride", 1);
  expect_pair(a.dilation, op, "dilation", 1);
  if (a.padding.size() != 2 && a.padding.size() != 4)
    fail(op, "expected padding with 2 or 4 values, got ", a.padding.size());
  for (int64_t p : a.padding)
    if (p < 0) fail(op, "padding must be >= 0, got ", p);
  if (a.groups < 1) fail(op, "groups must be >= 1, got ", a.groups);
  Conv2dShape s;
  s.N = x.shape[0], s.C = x.shape[1], s.H = x.shape[2], s.W = x.shape[3];
  s.K = w.shape[0], s.R = w.shape[2], s.S = w.shape[3];
  s.sh = a.stride[0], s.sw = a.stride[1], s.dh = a.dilation[0], s.dw = a.dilation[1], s.groups = a.groups;
  if (a.padding.size() == 2) s.pt = s.pb = a.padding[0], s.pl = s.pr = a.padding[1];
  else s.pt = a.padding[0], s.pb = a.padding[1], s.pl = a.padding[2], s.pr = a.padding[3];
  if (s.C < 1 || s.H < 1 || s.W < 1) fail(op, "input has an empty dimension: ", shape_str(x.shape));
  if (s.K < 1 || s.R < 1 || s.S < 1 || w.shape[1] < 1) fail(op, "weight has an empty dimension: ", shape_str(w.shape));
  if (s.C % s.groups) fail(op, "groups=", s.groups, " does not divide the input's ", s.C, " channels");
  if (s.K % s.groups) fail(op, "groups=", s.groups, " does not divide the weight's ", s.K, " output channels");
  if (w.shape[1] * s.groups != s.C)
    fail(op, "input has ", s.C, " channels, weight expects ", w.shape[1] * s.groups);
  const int64_t eh = s.dh * (s.R - 1) + 1, ew = s.dw * (s.S - 1) + 1;
  if (eh > s.H + s.pt + s.pb || ew > s.W + s.pl + s.pr)
    fail(op, "kernel ", s.R, "x", s.S, " with dilation ", s.dh, "x", s.dw, " spans ", eh, "x", ew,
         ", larger than the padded input ", s.H + s.pt + s.pb, "x", s.W + s.pl + s.pr);
  s.OH = Conv2dShape::out_size(s.H, s.pt, s.pb, s.R, s.sh, s.dh);
  s.OW = Conv2dShape::out_size(s.W, s.pl, s.pr, s.S, s.sw, s.dw);
  return s;
}

void expect_array(const TensorView& v, const TensorView& ref, const std::vector<int64_t>& shape, const char* op,
                  const char* name) {
  expect_same_dtype(ref, v, op, "input", name);
  expect_shape(v, shape, op, name);
  expect_contiguous(v, op, name);
}

ConvArgs args(Pair stride, Pair padding, Pair dilation, int64_t groups) {
  return {std::move(stride), std::move(padding), std::move(dilation), groups};
}

// The CUDA kernels index with 32-bit ints within an image and within a batch of pixels.
void expect_cuda_sizes(const Conv2dShape& s, const char* op) {
  const int64_t limit = (int64_t{1} << 31) - 4096;
  const struct {
    const char* what;
    int64_t n;
  } sizes[] = {{"C*H*W (one input image)", s.C * s.H * s.W},   {"K*OH*OW (one output image)", s.K * s.OH * s.OW},
               {"the weight's elements", s.K * s.Cg() * s.R * s.S}, {"N*H*W", s.N * s.H * s.W},
               {"N*OH*OW", s.N * s.OH * s.OW},                    {"H + W + padding", s.pt + s.pb + s.pl + s.pr + s.H + s.W}};
  for (const auto& z : sizes)
    if (z.n >= limit) fail(op, "CUDA kernels need ", z.what, " below 2^31, got ", z.n);
}

// kernel= of the CUDA entries: 0 automatic, 1 simple, 2 tile64, 3 tile128 (csrc/cuda/conv.h).
int cuda_kernel(const std::string& name, bool naive, DType dtype, const char* op) {
  const int k = naive ? 1 : name == "auto" ? 0 : name == "simple" ? 1 : name == "tile64" ? 2 : name == "tile128" ? 3 : -1;
  if (k < 0) fail(op, "kernel must be 'auto', 'simple', 'tile64' or 'tile128', got '", name, "'");
  if (k > 1 && dtype != DType::f32) fail(op, "the tiled CUDA kernels take float32, got ", dtype_name(dtype));
  return k;
}

template <class Arrays>
void def_conv_cuda(py::module_& m) {
  m.def(
      "conv2d_forward",
      [](py::object out, py::object input, py::object weight, py::object bias, Pair stride, Pair padding,
         Pair dilation, int64_t groups, bool naive, std::string op, uintptr_t stream, const std::string& kernel) {
        const char* o = op.c_str();
        TensorView y = Arrays::view(out, o, "out"), x = Arrays::view(input, o, "input"),
                   w = Arrays::view(weight, o, "weight");
        expect_float(x, o, "input");
        const Conv2dShape s = conv_shape(x, w, args(stride, padding, dilation, groups), o);
        expect_array(x, x, x.shape, o, "input");
        expect_array(w, x, w.shape, o, "weight");
        expect_array(y, x, {s.N, s.K, s.OH, s.OW}, o, "out");
        TensorView b;
        if (!bias.is_none()) {
          b = Arrays::view(bias, o, "bias");
          expect_array(b, x, {s.K}, o, "bias");
        }
        expect_writable_distinct(y, x, o, "input");
        expect_writable_distinct(y, w, o, "weight");
        expect_cuda_sizes(s, o);
        const int k = cuda_kernel(kernel, naive, x.dtype, o);
        py::gil_scoped_release release;
        dispatch_float(x.dtype, o, [&](auto t) {
          using T = decltype(t);
          cuda::conv2d_forward<T>(y.ptr<T>(), x.ptr<T>(), w.ptr<T>(), bias.is_none() ? nullptr : b.ptr<T>(), s,
                                  reinterpret_cast<void*>(stream), k);
        });
      },
      py::arg("out"), py::arg("input"), py::arg("weight"), py::arg("bias") = py::none(), py::arg("stride") = Pair{1, 1},
      py::arg("padding") = Pair{0, 0}, py::arg("dilation") = Pair{1, 1}, py::arg("groups") = 1,
      py::arg("naive") = false, py::arg("op") = "conv2d", py::arg("stream") = 0, py::arg("kernel") = "auto",
      "CUDA twin of cpu.conv2d_forward; kernel: 'auto', 'simple' (the reference; also naive=True), 'tile64' or "
      "'tile128' (implicit GEMM, float32)");
  m.def(
      "conv2d_backward_input",
      [](py::object dinput, py::object grad_out, py::object weight, Pair stride, Pair padding, Pair dilation,
         int64_t groups, bool naive, std::string op, uintptr_t stream, const std::string& kernel) {
        const char* o = op.c_str();
        TensorView dx = Arrays::view(dinput, o, "dinput"), dy = Arrays::view(grad_out, o, "grad_out"),
                   w = Arrays::view(weight, o, "weight");
        expect_float(dx, o, "dinput");
        const Conv2dShape s = conv_shape(dx, w, args(stride, padding, dilation, groups), o);
        expect_array(dx, dx, dx.shape, o, "dinput");
        expect_array(w, dx, w.shape, o, "weight");
        expect_array(dy, dx, {s.N, s.K, s.OH, s.OW}, o, "grad_out");
        expect_writable_distinct(dx, dy, o, "grad_out");
        expect_writable_distinct(dx, w, o, "weight");
        expect_cuda_sizes(s, o);
        const int k = cuda_kernel(kernel, naive, dx.dtype, o);
        py::gil_scoped_release release;
        dispatch_float(dx.dtype, o, [&](auto t) {
          using T = decltype(t);
          cuda::conv2d_backward_input<T>(dx.ptr<T>(), dy.ptr<T>(), w.ptr<T>(), s, reinterpret_cast<void*>(stream), k);
        });
      },
      py::arg("dinput"), py::arg("grad_out"), py::arg("weight"), py::arg("stride") = Pair{1, 1},
      py::arg("padding") = Pair{0, 0}, py::arg("dilation") = Pair{1, 1}, py::arg("groups") = 1,
      py::arg("naive") = false, py::arg("op") = "conv2d", py::arg("stream") = 0, py::arg("kernel") = "auto",
      "CUDA twin of cpu.conv2d_backward_input (dinput written); kernel as for conv2d_forward");
  m.def(
      "conv2d_backward_weight",
      [](py::object dweight, py::object grad_out, py::object input, Pair stride, Pair padding, Pair dilation,
         int64_t groups, bool naive, std::string op, uintptr_t stream, const std::string& kernel, int split_k) {
        const char* o = op.c_str();
        TensorView dw = Arrays::view(dweight, o, "dweight"), dy = Arrays::view(grad_out, o, "grad_out"),
                   x = Arrays::view(input, o, "input");
        expect_float(x, o, "input");
        const Conv2dShape s = conv_shape(x, dw, args(stride, padding, dilation, groups), o);
        expect_array(x, x, x.shape, o, "input");
        expect_array(dw, x, dw.shape, o, "dweight");
        expect_array(dy, x, {s.N, s.K, s.OH, s.OW}, o, "grad_out");
        expect_writable_distinct(dw, dy, o, "grad_out");
        expect_writable_distinct(dw, x, o, "input");
        expect_cuda_sizes(s, o);
        if (split_k < 0) fail(o, "split_k must be >= 0 (0: chosen by size), got ", split_k);
        const int k = cuda_kernel(kernel, naive, x.dtype, o);
        py::gil_scoped_release release;
        dispatch_float(x.dtype, o, [&](auto t) {
          using T = decltype(t);
          cuda::conv2d_backward_weight<T>(dw.ptr<T>(), dy.ptr<T>(), x.ptr<T>(), s, reinterpret_cast<void*>(stream), k,
                                          split_k);
        });
      },
      py::arg("dweight"), py::arg("grad_out"), py::arg("input"), py::arg("stride") = Pair{1, 1},
      py::arg("padding") = Pair{0, 0}, py::arg("dilation") = Pair{1, 1}, py::arg("groups") = 1,
      py::arg("naive") = false, py::arg("op") = "conv2d", py::arg("stream") = 0, py::arg("kernel") = "auto",
      py::arg("split_k") = 0,
      "CUDA twin of cpu.conv2d_backward_weight (dweight +=); split_k > 0 splits the tiled kernel's reduction "
      "into that many slices added with atomics (0: by size)");
  m.def(
      "conv2d_backward_bias",
      [](py::object dbias, py::object grad_out, std::string op, uintptr_t stream) {
        const char* o = op.c_str();
        TensorView db = Arrays::view(dbias, o, "dbias"), dy = Arrays::view(grad_out, o, "grad_out");
        expect_float(dy, o, "grad_out");
        if (dy.ndim() != 4) fail(o, "expected grad_out of 4 dimensions, got shape ", shape_str(dy.shape));
        expect_array(dy, dy, dy.shape, o, "grad_out");
        expect_array(db, dy, {dy.shape[1]}, o, "dbias");
        expect_writable_distinct(db, dy, o, "grad_out");
        Conv2dShape s;
        s.N = dy.shape[0], s.K = dy.shape[1], s.OH = dy.shape[2], s.OW = dy.shape[3];
        s.C = s.H = s.W = s.R = s.S = 1;
        expect_cuda_sizes(s, o);
        py::gil_scoped_release release;
        dispatch_float(dy.dtype, o, [&](auto t) {
          using T = decltype(t);
          cuda::conv2d_backward_bias<T>(db.ptr<T>(), dy.ptr<T>(), s, reinterpret_cast<void*>(stream));
        });
      },
      py::arg("dbias"), py::arg("grad_out"), py::arg("op") = "conv2d", py::arg("stream") = 0,
      "CUDA twin of cpu.conv2d_backward_bias (dbias += grad_out summed over N, OH, OW; reproducible)");
}

}  // namespace

#ifndef NERVE_EMU
void init_conv(py::module_& cpu, py::module_& cuda) {
  cpu.def(
      "conv2d_forward",
      [](py::object out, py::object input, py::object weight, py::object bias, Pair stride, Pair padding,
         Pair dilation, int64_t groups, bool naive, std::string op) {
        const char* o = op.c_str();
        TensorView x = host_view(input, o, "input"), w = host_view(weight, o, "weight"), y = host_view(out, o, "out");
        expect_float(x, o, "input");
        const Conv2dShape s = conv_shape(x, w, args(stride, padding, dilation, groups), o);
        expect_array(x, x, x.shape, o, "input");
        expect_array(w, x, w.shape, o, "weight");
        expect_array(y, x, {s.N, s.K, s.OH, s.OW}, o, "out");
        TensorView b;
        if (!bias.is_none()) {
          b = host_view(bias, o, "bias");
          expect_array(b, x, {s.K}, o, "bias");
        }
        expect_writable_distinct(y, x, o, "input");
        expect_writable_distinct(y, w, o, "weight");
        py::gil_scoped_release release;
        dispatch_float(x.dtype, o, [&](auto t) {
          using T = decltype(t);
          const T* bp = bias.is_none() ? nullptr : b.ptr<T>();
          if (naive) conv2d_forward_naive<T>(y.ptr<T>(), x.ptr<T>(), w.ptr<T>(), bp, s);
          else conv2d_forward<T>(y.ptr<T>(), x.ptr<T>(), w.ptr<T>(), bp, s);
        });
      },
      py::arg("out"), py::arg("input"), py::arg("weight"), py::arg("bias") = py::none(), py::arg("stride") = Pair{1, 1},
      py::arg("padding") = Pair{0, 0}, py::arg("dilation") = Pair{1, 1}, py::arg("groups") = 1,
      py::arg("naive") = false, py::arg("op") = "conv2d",
      "out (N,K,OH,OW) = conv2d(input (N,C,H,W), weight (K,C/groups,R,S)) + bias");
  cpu.def(
      "conv2d_backward_input",
      [](py::object dinput, py::object grad_out, py::object weight, Pair stride, Pair padding, Pair dilation,
         int64_t groups, bool naive, std::string op) {
        const char* o = op.c_str();
        TensorView dx = host_view(dinput, o, "dinput"), dy = host_view(grad_out, o, "grad_out"),
                   w = host_view(weight, o, "weight");
        expect_float(dx, o, "dinput");
        const Conv2dShape s = conv_shape(dx, w, args(stride, padding, dilation, groups), o);
        expect_array(dx, dx, dx.shape, o, "dinput");
        expect_array(w, dx, w.shape, o, "weight");
        expect_array(dy, dx, {s.N, s.K, s.OH, s.OW}, o, "grad_out");
        expect_writable_distinct(dx, dy, o, "grad_out");
        expect_writable_distinct(dx, w, o, "weight");
        py::gil_scoped_release release;
        dispatch_float(dx.dtype, o, [&](auto t) {
          using T = decltype(t);
          if (naive) conv2d_backward_input_naive<T>(dx.ptr<T>(), dy.ptr<T>(), w.ptr<T>(), s);
          else conv2d_backward_input<T>(dx.ptr<T>(), dy.ptr<T>(), w.ptr<T>(), s);
        });
      },
      py::arg("dinput"), py::arg("grad_out"), py::arg("weight"), py::arg("stride") = Pair{1, 1},
      py::arg("padding") = Pair{0, 0}, py::arg("dilation") = Pair{1, 1}, py::arg("groups") = 1,
      py::arg("naive") = false, py::arg("op") = "conv2d",
      "dinput (N,C,H,W) = gradient of conv2d w.r.t. its input (also conv_transpose2d's forward); its shape "
      "fixes H and W");
  cpu.def(
      "conv2d_backward_weight",
      [](py::object dweight, py::object grad_out, py::object input, Pair stride, Pair padding, Pair dilation,
         int64_t groups, bool naive, std::string op) {
        const char* o = op.c_str();
        TensorView dw = host_view(dweight, o, "dweight"), dy = host_view(grad_out, o, "grad_out"),
                   x = host_view(input, o, "input");
        expect_float(x, o, "input");
        const Conv2dShape s = conv_shape(x, dw, args(stride, padding, dilation, groups), o);
        expect_array(x, x, x.shape, o, "input");
        expect_array(dw, x, dw.shape, o, "dweight");
        expect_array(dy, x, {s.N, s.K, s.OH, s.OW}, o, "grad_out");
        expect_writable_distinct(dw, dy, o, "grad_out");
        expect_writable_distinct(dw, x, o, "input");
        py::gil_scoped_release release;
        dispatch_float(x.dtype, o, [&](auto t) {
          using T = decltype(t);
          if (naive) conv2d_backward_weight_naive<T>(dw.ptr<T>(), dy.ptr<T>(), x.ptr<T>(), s);
          else conv2d_backward_weight<T>(dw.ptr<T>(), dy.ptr<T>(), x.ptr<T>(), s);
        });
      },
      py::arg("dweight"), py::arg("grad_out"), py::arg("input"), py::arg("stride") = Pair{1, 1},
      py::arg("padding") = Pair{0, 0}, py::arg("dilation") = Pair{1, 1}, py::arg("groups") = 1,
      py::arg("naive") = false, py::arg("op") = "conv2d",
      "dweight (K,C/groups,R,S) += gradient of conv2d w.r.t. its weight");
  cpu.def(
      "conv2d_backward_bias",
      [](py::object dbias, py::object grad_out, std::string op) {
        const char* o = op.c_str();
        TensorView db = host_view(dbias, o, "dbias"), dy = host_view(grad_out, o, "grad_out");
        expect_float(dy, o, "grad_out");
        if (dy.ndim() != 4) fail(o, "expected grad_out of 4 dimensions, got shape ", shape_str(dy.shape));
        expect_array(dy, dy, dy.shape, o, "grad_out");
        expect_array(db, dy, {dy.shape[1]}, o, "dbias");
        Conv2dShape s;
        s.N = dy.shape[0], s.K = dy.shape[1], s.OH = dy.shape[2], s.OW = dy.shape[3];
        py::gil_scoped_release release;
        dispatch_float(dy.dtype, o, [&](auto t) {
          using T = decltype(t);
          conv2d_backward_bias<T>(db.ptr<T>(), dy.ptr<T>(), s);
        });
      },
      py::arg("dbias"), py::arg("grad_out"), py::arg("op") = "conv2d",
      "dbias (K) += grad_out (N,K,OH,OW) summed over N, OH, OW");
  cpu.def(
      "conv_algorithm",
      [](py::object name) {
        static const char* names[] = {"auto", "gemm", "direct", "winograd4"};
        const std::string old = names[static_cast<int>(conv_algo())];
        if (!name.is_none()) {
          const std::string n = name.cast<std::string>();
          int i = 0;
          while (i < 4 && n != names[i]) ++i;
          if (i == 4) fail("conv_algorithm", "expected 'auto', 'gemm', 'direct' or 'winograd4', got '", n, "'");
          set_conv_algo(static_cast<ConvAlgo>(i));
        }
        return old;
      },
      py::arg("name") = py::none(),
      "Returns the float32 convolution algorithm preference and sets it when a name is given: 'auto' "
      "(Winograd F(2x2,3x3) / direct / im2col+GEMM by shape), 'gemm', 'direct' or 'winograd4' (F(4x4,3x3): "
      "faster on large images, ~5x the rounding error)");
  def_conv_cuda<DeviceArrays>(cuda);
}
#else
void init_conv_emu(py::module_& emu) { def_conv_cuda<HostArrays>(emu); }
#endif

}  // namespace nerve
