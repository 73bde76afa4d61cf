// bind_activation.cpp — elementwise activation kernels (csrc/cpu/activation.h, csrc/cuda/activation.h)
// over contiguous arrays of the same shape and float dtype. `op` is the activation's name
// ("relu", "gelu_tanh", ...), a and b its parameters. out may be the input itself (in-place
// activations) and dinput may be grad_out; any other overlap is refused. `name` is the op the
// user called, for messages. The CPU and CUDA entries share their leading arguments (out, input,
// op, a, b, name), so the Python layer calls either the same way.
#include <pybind11/stl.h>

#include "../cpu/activation.h"
#include "../cuda/activation.h"
#include "views.h"

namespace nerve {

namespace {

// C-contiguous, or empty (numpy gives empty arrays zero strides)
void expect_dense(const TensorView& v, const char* op, const char* name) {
  if (v.numel() > 0) expect_contiguous(v, op, name);
}

Act parse_op(const std::string& op, const char* name) {
  Act a;
  if (!act_from_name(op.c_str(), &a))
    fail(name, "unknown activation '", op, "'; expected relu, leaky_relu, elu, gelu, gelu_tanh, silu, sigmoid, tanh, "
               "softplus or hardtanh");
  return a;
}

// Byte range [lo, hi) a view can touch.
void extent(const TensorView& v, const char** lo, const char** hi) {
  int64_t mn = 0, mx = 0;
  for (int d = 0; d < v.ndim(); ++d) {
    if (v.shape[d] == 0) { *lo = *hi = static_cast<const char*>(v.data); return; }
    const int64_t span = (v.shape[d] - 1) * v.strides[d];
    (span < 0 ? mn : mx) += span;
  }
  const int64_t item = dtype_size(v.dtype);
  *lo = static_cast<const char*>(v.data) + mn * item;
  *hi = static_cast<const char*>(v.data) + (mx + 1) * item;
}

// out and in are the same array, or do not overlap at all.
void expect_same_or_apart(const TensorView& out, const TensorView& in, const char* op, const char* oname,
                          const char* iname) {
  if (out.data == in.data) return;
  const char *ol, *oh, *il, *ih;
  extent(out, &ol, &oh);
  extent(in, &il, &ih);
  if (ol < ih && il < oh) fail(op, oname, " overlaps ", iname, " without being the same array");
}

void expect_like(const TensorView& v, const TensorView& ref, const char* op, const char* name, const char* rname) {
  expect_same_dtype(ref, v, op, rname, name);
  if (v.shape != ref.shape)
    fail(op, name, " has shape ", shape_str(v.shape), ", expected ", shape_str(ref.shape), " (the shape of ", rname, ")");
  expect_dense(v, op, name);
}

ActParams params(Act a, double pa, double pb, const char* op) {
  if (a == Act::softplus && pa == 0) fail(op, "beta must be non-zero");
  if (a == Act::hardtanh && !(pa <= pb))
    fail(op, "min_val (", pa, ") must be less than or equal to max_val (", pb, ")");
  return ActParams{pa, pb};
}

struct Forward {
  TensorView y, x;
  Act act;
  ActParams p;
};

Forward check_forward(TensorView y, TensorView x, const std::string& op, double a, double b, const char* name) {
  expect_float(x, name, "input");
  expect_dense(x, name, "input");
  expect_like(y, x, name, "out", "input");
  expect_same_or_apart(y, x, name, "out", "input");
  const Act act = parse_op(op, name);
  return {y, x, act, params(act, a, b, name)};
}

struct Backward {
  TensorView dx, dy, s;
  Act act;
  ActParams p;
};

Backward check_backward(TensorView dx, TensorView dy, TensorView s, const std::string& op, double a, double b,
                        bool from_output, const char* name) {
  expect_float(dy, name, "grad_out");
  expect_dense(dy, name, "grad_out");
  expect_like(s, dy, name, "saved", "grad_out");
  expect_like(dx, dy, name, "dinput", "grad_out");
  expect_same_or_apart(dx, dy, name, "dinput", "grad_out");
  expect_same_or_apart(dx, s, name, "dinput", "saved");
  const Act act = parse_op(op, name);
  const ActParams p = params(act, a, b, name);
  if (from_output && !act_backward_from_output_ok(act, p))
    fail(name, "the gradient of ", act_name(act), " with these parameters cannot be computed from its output");
  if (!from_output && (act == Act::sigmoid || act == Act::tanh))
    fail(name, "the gradient of ", act_name(act), " is computed from its output: pass from_output=True");
  return {dx, dy, s, act, p};
}

template <class Arrays>
void def_activation_cuda(py::module_& m) {
  m.def(
      "activation_forward",
      [](py::object out, py::object input, const std::string& op, double a, double b, std::string name,
         uintptr_t stream) {
        const char* n = name.c_str();
        Forward f = check_forward(Arrays::view(out, n, "out"), Arrays::view(input, n, "input"), op, a, b, n);
        py::gil_scoped_release release;
        dispatch_float(f.x.dtype, n, [&](auto t) {
          using T = decltype(t);
          cuda::activation_forward(f.y.ptr<T>(), f.x.ptr<T>(), f.x.numel(), f.act, f.p,
                                   reinterpret_cast<void*>(stream));
        });
      },
      py::arg("out"), py::arg("input"), py::arg("op"), py::arg("a") = 0.0, py::arg("b") = 0.0,
      py::arg("name") = "activation", py::arg("stream") = 0, "CUDA twin of cpu.activation_forward");
  m.def(
      "activation_backward",
      [](py::object dinput, py::object grad_out, py::object saved, const std::string& op, double a, double b,
         bool from_output, std::string name, uintptr_t stream) {
        const char* n = name.c_str();
        Backward g = check_backward(Arrays::view(dinput, n, "dinput"), Arrays::view(grad_out, n, "grad_out"),
                                    Arrays::view(saved, n, "saved"), op, a, b, from_output, n);
        py::gil_scoped_release release;
        dispatch_float(g.dy.dtype, n, [&](auto t) {
          using T = decltype(t);
          cuda::activation_backward(g.dx.ptr<T>(), g.dy.ptr<T>(), g.s.ptr<T>(), g.dy.numel(), g.act, g.p,
                                    from_output, reinterpret_cast<void*>(stream));
        });
      },
      py::arg("dinput"), py::arg("grad_out"), py::arg("saved"), py::arg("op"), py::arg("a") = 0.0,
      py::arg("b") = 0.0, py::arg("from_output") = false, py::arg("name") = "activation", py::arg("stream") = 0,
      "CUDA twin of cpu.activation_backward");
}

}  // namespace

#ifndef NERVE_EMU
void init_activation(py::module_& cpu, py::module_& cuda) {
  cpu.def(
      "activation_forward",
      [](py::object out, py::object input, const std::string& op, double a, double b, std::string name, bool naive) {
        const char* n = name.c_str();
        Forward f = check_forward(host_out_view(out, n, "out"), host_view(input, n, "input"), op, a, b, n);
        py::gil_scoped_release release;
        dispatch_float(f.x.dtype, n, [&](auto t) {
          using T = decltype(t);
          if (naive) activation_forward_naive<T>(f.y.ptr<T>(), f.x.ptr<T>(), f.x.numel(), f.act, f.p);
          else activation_forward<T>(f.y.ptr<T>(), f.x.ptr<T>(), f.x.numel(), f.act, f.p);
        });
      },
      py::arg("out"), py::arg("input"), py::arg("op"), py::arg("a") = 0.0, py::arg("b") = 0.0,
      py::arg("name") = "activation", py::arg("naive") = false,
      "out = op(input) elementwise; out may be input (in place). a, b: negative_slope / alpha / (beta, threshold) / "
      "(min_val, max_val)");
  cpu.def(
      "activation_backward",
      [](py::object dinput, py::object grad_out, py::object saved, const std::string& op, double a, double b,
         bool from_output, std::string name, bool naive) {
        const char* n = name.c_str();
        Backward g = check_backward(host_out_view(dinput, n, "dinput"), host_view(grad_out, n, "grad_out"),
                                    host_view(saved, n, "saved"), op, a, b, from_output, n);
        py::gil_scoped_release release;
        dispatch_float(g.dy.dtype, n, [&](auto t) {
          using T = decltype(t);
          const int64_t size = g.dy.numel();
          if (naive)
            activation_backward_naive<T>(g.dx.ptr<T>(), g.dy.ptr<T>(), g.s.ptr<T>(), size, g.act, g.p, from_output);
          else
            activation_backward<T>(g.dx.ptr<T>(), g.dy.ptr<T>(), g.s.ptr<T>(), size, g.act, g.p, from_output);
        });
      },
      py::arg("dinput"), py::arg("grad_out"), py::arg("saved"), py::arg("op"), py::arg("a") = 0.0,
      py::arg("b") = 0.0, py::arg("from_output") = false, py::arg("name") = "activation", py::arg("naive") = false,
      "dinput = grad_out * op'(saved); saved is the input, or the output when from_output");
  cpu.def(
      "vector_math",
      [](py::object out, py::object input, const std::string& fn) {
        TensorView y = host_out_view(out, "vector_math", "out"), x = host_view(input, "vector_math", "input");
        expect_dtype(x, DType::f32, "vector_math", "input");
        expect_dense(x, "vector_math", "input");
        expect_like(y, x, "vector_math", "out", "input");
        expect_writable_distinct(y, x, "vector_math", "input");
        bool ok;
        {
          py::gil_scoped_release release;
          ok = vector_math(y.ptr<float>(), x.ptr<float>(), x.numel(), fn.c_str());
        }
        if (!ok) fail("vector_math", "unknown function '", fn, "'; expected exp, expm1, log, log1p, erf, tanh, sigmoid or ndtr");
      },
      py::arg("out"), py::arg("input"), py::arg("fn"),
      "out = fn(input) with the float32 SIMD math the activation kernels use (for accuracy tests)");
  cpu.def("activation_backend", &activation_backend, "SIMD back end of the float32 activation kernels now");
  def_activation_cuda<DeviceArrays>(cuda);
}
#else
void init_activation_emu(py::module_& emu) { def_activation_cuda<HostArrays>(emu); }
#endif

}  // namespace nerve
