// bind_softmax.cpp — softmax / log_softmax over one axis (`dim`, negative counts from the end) of a
// contiguous float array of any rank (a 0-d array is one value), and their backward from the
// output. The array is seen as (outer, dim, inner) around that axis; nothing is transposed.
// `name` is the op the user called ("softmax", "log_softmax", ...), for messages.
#include <pybind11/stl.h>

#include "../cpu/softmax.h"
#include "../cuda/softmax.h"
#include "views.h"

namespace nerve {

namespace {

// C-contiguous, or empty (numpy gives empty arrays zero strides)
void expect_dense(const TensorView& v, const char* op, const char* name) {
  if (v.numel() > 0) expect_contiguous(v, op, name);
}

struct Walk {
  int64_t outer = 1, dim = 1, inner = 1;
};

Walk walk(const TensorView& v, int64_t axis, const char* op) {
  const int nd = v.ndim();
  const int lo = nd == 0 ? -1 : -nd, hi = nd == 0 ? 0 : nd - 1;
  if (axis < lo || axis > hi)
    fail(op, "dim ", axis, " is out of range for a tensor of ", nd, " dimensions (expected it in [", lo, ", ", hi, "])");
  Walk w;
  if (nd == 0) return w;
  const int a = int(axis < 0 ? axis + nd : axis);
  for (int d = 0; d < a; ++d) w.outer *= v.shape[d];
  w.dim = v.shape[a];
  for (int d = a + 1; d < nd; ++d) w.inner *= v.shape[d];
  return w;
}

void expect_like(const TensorView& v, const TensorView& ref, const char* op, const char* name, const char* rname) {
  expect_same_dtype(ref, v, op, rname, name);
  if (v.shape != ref.shape)
    fail(op, name, " has shape ", shape_str(v.shape), ", expected ", shape_str(ref.shape), " (the shape of ", rname, ")");
  expect_dense(v, op, name);
}

Walk check_forward(const TensorView& y, const TensorView& x, int64_t axis, const char* op) {
  expect_float(x, op, "input");
  expect_dense(x, op, "input");
  expect_like(y, x, op, "out", "input");
  expect_writable_distinct(y, x, op, "input");
  return walk(x, axis, op);
}

Walk check_backward(const TensorView& dx, const TensorView& dy, const TensorView& y, int64_t axis, const char* op) {
  expect_float(dy, op, "grad_out");
  expect_dense(dy, op, "grad_out");
  expect_like(y, dy, op, "output", "grad_out");
  expect_like(dx, dy, op, "dinput", "grad_out");
  expect_writable_distinct(dx, y, op, "output");  // dinput may be grad_out, not the output it reads twice
  return walk(dy, axis, op);
}

template <class Arrays>
void def_softmax_cuda(py::module_& m) {
  m.def(
      "softmax_forward",
      [](py::object out, py::object input, int64_t dim, bool log, std::string name, uintptr_t stream) {
        const char* n = name.c_str();
        TensorView y = Arrays::view(out, n, "out"), x = Arrays::view(input, n, "input");
        const Walk w = check_forward(y, x, dim, n);
        py::gil_scoped_release release;
        dispatch_float(x.dtype, n, [&](auto t) {
          using T = decltype(t);
          cuda::softmax_forward(y.ptr<T>(), x.ptr<T>(), w.outer, w.dim, w.inner, log, reinterpret_cast<void*>(stream));
        });
      },
      py::arg("out"), py::arg("input"), py::arg("dim"), py::arg("log") = false, py::arg("name") = "softmax",
      py::arg("stream") = 0, "CUDA twin of cpu.softmax_forward");
  m.def(
      "softmax_backward",
      [](py::object dinput, py::object grad_out, py::object output, int64_t dim, bool log, std::string name,
         uintptr_t stream) {
        const char* n = name.c_str();
        TensorView dx = Arrays::view(dinput, n, "dinput"), dy = Arrays::view(grad_out, n, "grad_out"),
                   y = Arrays::view(output, n, "output");
        const Walk w = check_backward(dx, dy, y, dim, n);
        py::gil_scoped_release release;
        dispatch_float(dy.dtype, n, [&](auto t) {
          using T = decltype(t);
          cuda::softmax_backward(dx.ptr<T>(), dy.ptr<T>(), y.ptr<T>(), w.outer, w.dim, w.inner, log,
                                 reinterpret_cast<void*>(stream));
        });
      },
      py::arg("dinput"), py::arg("grad_out"), py::arg("output"), py::arg("dim"), py::arg("log") = false,
      py::arg("name") = "softmax", py::arg("stream") = 0, "CUDA twin of cpu.softmax_backward");
}

}  // namespace

#ifndef NERVE_EMU
void init_softmax(py::module_& cpu, py::module_& cuda) {
  cpu.def(
      "softmax_forward",
      [](py::object out, py::object input, int64_t dim, bool log, std::string name, bool naive) {
        const char* n = name.c_str();
        TensorView y = host_out_view(out, n, "out"), x = host_view(input, n, "input");
        const Walk w = check_forward(y, x, dim, n);
        py::gil_scoped_release release;
        dispatch_float(x.dtype, n, [&](auto t) {
          using T = decltype(t);
          if (naive) softmax_forward_naive<T>(y.ptr<T>(), x.ptr<T>(), w.outer, w.dim, w.inner, log);
          else softmax_forward<T>(y.ptr<T>(), x.ptr<T>(), w.outer, w.dim, w.inner, log);
        });
      },
      py::arg("out"), py::arg("input"), py::arg("dim"), py::arg("log") = false, py::arg("name") = "softmax",
      py::arg("naive") = false, "out = softmax(input) (log: log_softmax) along dim");
  cpu.def(
      "softmax_backward",
      [](py::object dinput, py::object grad_out, py::object output, int64_t dim, bool log, std::string name,
         bool naive) {
        const char* n = name.c_str();
        TensorView dx = host_out_view(dinput, n, "dinput"), dy = host_view(grad_out, n, "grad_out"),
                   y = host_view(output, n, "output");
        const Walk w = check_backward(dx, dy, y, dim, n);
        py::gil_scoped_release release;
        dispatch_float(dy.dtype, n, [&](auto t) {
          using T = decltype(t);
          if (naive) softmax_backward_naive<T>(dx.ptr<T>(), dy.ptr<T>(), y.ptr<T>(), w.outer, w.dim, w.inner, log);
          else softmax_backward<T>(dx.ptr<T>(), dy.ptr<T>(), y.ptr<T>(), w.outer, w.dim, w.inner, log);
        });
      },
      py::arg("dinput"), py::arg("grad_out"), py::arg("output"), py::arg("dim"), py::arg("log") = false,
      py::arg("name") = "softmax", py::arg("naive") = false,
      "dinput = gradient of softmax (log: log_softmax) along dim, from grad_out and the forward's output");
  cpu.def("softmax_backend", &softmax_backend, "SIMD back end of the float32 softmax kernels now");
  def_softmax_cuda<DeviceArrays>(cuda);
}
#else
void init_softmax_emu(py::module_& emu) { def_softmax_cuda<HostArrays>(emu); }
#endif

}  // namespace nerve
