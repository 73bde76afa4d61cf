// bind_norm.cpp — batch_norm and layer_norm forward / backward over contiguous arrays, on the CPU
// and (def_norm_cuda) on CUDA or the emulator. batch_norm takes input (N, C, *): the trailing dims
// are one axis L; layer_norm takes input (*, normalized...) with normalized_ndim trailing dims
// normalised together. Optional arrays (running stats, weight, bias, gradients) may be None.
#include <pybind11/stl.h>

#include "../cpu/norm.h"
#include "../cuda/norm.h"
#include "views.h"

namespace nerve {

namespace {

// Contiguous, or empty (TensorView::is_contiguous refuses some empty shapes, e.g. (6, 0)).
void expect_dense(const TensorView& v, const char* op, const char* name) {
  if (v.numel() > 0) expect_contiguous(v, op, name);
}

// Views of the optional arguments: data == nullptr when None.
template <class View>
TensorView opt_view(py::object obj, View view, const char* op, const char* name) {
  if (obj.is_none()) return TensorView{};
  return view(obj, op, name);
}

void expect_vector(const TensorView& v, const TensorView& like, int64_t n, const char* op, const char* name) {
  if (!v.data) return;
  expect_same_dtype(like, v, op, "input", name);
  expect_shape(v, {n}, op, name);
  expect_dense(v, op, name);
}

// Saved statistics: float64 whatever the input's dtype (see norm.h).
void expect_stat_vector(const TensorView& v, int64_t n, const char* op, const char* name) {
  if (!v.data) fail(op, name, " is required");
  expect_dtype(v, DType::f64, op, name);
  expect_dense(v, op, name);
  if (v.numel() != n) fail(op, "expected ", name, " with ", n, " values, got shape ", shape_str(v.shape));
}

void expect_like(const TensorView& v, const TensorView& like, const char* op, const char* name, const char* like_name) {
  expect_same_dtype(like, v, op, like_name, name);
  expect_shape(v, like.shape, op, name);
  expect_dense(v, op, name);
}

// ---- batch_norm -----------------------------------------------------------------------------------

constexpr const char* kBn = "batch_norm";

struct BnForward {
  TensorView y, mean, invstd, rmean, rvar, x, w, b;
  BatchNormShape s;
};

BatchNormShape bn_shape(const TensorView& x) {
  expect_float(x, kBn, "input");
  if (x.ndim() < 2) fail(kBn, "expected input with at least 2 dimensions (N, C, ...), got shape ", shape_str(x.shape));
  expect_dense(x, kBn, "input");
  BatchNormShape s{x.shape[0], x.shape[1], 1};
  for (int d = 2; d < x.ndim(); ++d) s.L *= x.shape[d];
  return s;
}

void check_bn_forward(BnForward& v, bool training) {
  v.s = bn_shape(v.x);
  const int64_t C = v.s.C;
  expect_like(v.y, v.x, kBn, "out", "input");
  expect_writable_distinct(v.y, v.x, kBn, "input");
  expect_stat_vector(v.mean, C, kBn, "save_mean");
  expect_stat_vector(v.invstd, C, kBn, "save_invstd");
  expect_vector(v.rmean, v.x, C, kBn, "running_mean");
  expect_vector(v.rvar, v.x, C, kBn, "running_var");
  expect_vector(v.w, v.x, C, kBn, "weight");
  expect_vector(v.b, v.x, C, kBn, "bias");
  if (!training && (!v.rmean.data || !v.rvar.data)) fail(kBn, "running_mean and running_var must be defined in evaluation mode");
  if (!v.rmean.data != !v.rvar.data) fail(kBn, "running_mean and running_var must both be given or both be None");
  if (training && v.s.N * v.s.L < 2 && v.x.numel() > 0)
    fail(kBn, "expected more than 1 value per channel when training, got input size ", shape_str(v.x.shape));
}

struct BnBackward {
  TensorView dx, dw, db, dy, x, mean, invstd, w;
  BatchNormShape s;
};

void check_bn_backward(BnBackward& v) {
  v.s = bn_shape(v.x);
  const int64_t C = v.s.C;
  expect_like(v.dy, v.x, kBn, "grad_out", "input");
  if (v.dx.data) expect_like(v.dx, v.x, kBn, "dinput", "input"), expect_writable_distinct(v.dx, v.dy, kBn, "grad_out");
  expect_vector(v.dw, v.x, C, kBn, "dweight");
  expect_vector(v.db, v.x, C, kBn, "dbias");
  expect_stat_vector(v.mean, C, kBn, "save_mean");
  expect_stat_vector(v.invstd, C, kBn, "save_invstd");
  expect_vector(v.w, v.x, C, kBn, "weight");
}

template <class T>
T* ptr(const TensorView& v) {
  return static_cast<T*>(v.data);
}
double* dptr(const TensorView& v) { return static_cast<double*>(v.data); }

// ---- layer_norm -----------------------------------------------------------------------------------

constexpr const char* kLn = "layer_norm";

struct LnShape {
  int64_t M, D;
};

LnShape ln_shape(const TensorView& x, int normalized_ndim) {
  expect_float(x, kLn, "input");
  if (normalized_ndim < 1 || normalized_ndim > x.ndim())
    fail(kLn, "normalized_ndim must be in [1, ", x.ndim(), "] for input of shape ", shape_str(x.shape), ", got ",
         normalized_ndim);
  expect_dense(x, kLn, "input");
  LnShape s{1, 1};
  for (int d = 0; d < x.ndim(); ++d) (d < x.ndim() - normalized_ndim ? s.M : s.D) *= x.shape[d];
  return s;
}

// weight / bias: the normalized shape itself, or flat with D values.
void expect_param(const TensorView& v, const TensorView& x, int normalized_ndim, int64_t D, const char* name) {
  if (!v.data) return;
  expect_same_dtype(x, v, kLn, "input", name);
  expect_dense(v, kLn, name);
  const std::vector<int64_t> tail(x.shape.end() - normalized_ndim, x.shape.end());
  if (v.shape != tail && v.shape != std::vector<int64_t>{D})
    fail(kLn, "expected ", name, " of shape ", shape_str(tail), ", got ", shape_str(v.shape));
}

struct LnForward {
  TensorView y, mean, rstd, x, w, b;
  LnShape s;
};

void check_ln_forward(LnForward& v, int nd) {
  v.s = ln_shape(v.x, nd);
  expect_like(v.y, v.x, kLn, "out", "input");
  expect_writable_distinct(v.y, v.x, kLn, "input");
  expect_stat_vector(v.mean, v.s.M, kLn, "mean");
  expect_stat_vector(v.rstd, v.s.M, kLn, "rstd");
  expect_param(v.w, v.x, nd, v.s.D, "weight");
  expect_param(v.b, v.x, nd, v.s.D, "bias");
}

struct LnBackward {
  TensorView dx, dw, db, dy, x, mean, rstd, w;
  LnShape s;
};

void check_ln_backward(LnBackward& v, int nd) {
  v.s = ln_shape(v.x, nd);
  expect_like(v.dy, v.x, kLn, "grad_out", "input");
  if (v.dx.data) expect_like(v.dx, v.x, kLn, "dinput", "input"), expect_writable_distinct(v.dx, v.dy, kLn, "grad_out");
  expect_param(v.dw, v.x, nd, v.s.D, "dweight");
  expect_param(v.db, v.x, nd, v.s.D, "dbias");
  expect_stat_vector(v.mean, v.s.M, kLn, "mean");
  expect_stat_vector(v.rstd, v.s.M, kLn, "rstd");
  expect_param(v.w, v.x, nd, v.s.D, "weight");
}

void expect_workspace(const TensorView& w, int64_t need, const char* op) {
  expect_dtype(w, DType::f32, op, "workspace");
  expect_dense(w, op, "workspace");
  if (w.numel() < need) fail(op, "workspace must hold at least ", need, " float32 values, got ", w.numel());
}

template <class Arrays>
void def_norm_cuda(py::module_& m) {
  auto view = [](py::handle o, const char* op, const char* name) { return Arrays::view(o, op, name); };
  m.def(
      "batch_norm_forward",
      [=](py::object y, py::object save_mean, py::object save_invstd, py::object running_mean, py::object running_var,
          py::object input, py::object weight, py::object bias, bool training, double momentum, double eps,
          py::object workspace, uintptr_t stream) {
        BnForward v{view(y, kBn, "out"),
                    opt_view(save_mean, view, kBn, "save_mean"),
                    opt_view(save_invstd, view, kBn, "save_invstd"),
                    opt_view(running_mean, view, kBn, "running_mean"),
                    opt_view(running_var, view, kBn, "running_var"),
                    view(input, kBn, "input"),
                    opt_view(weight, view, kBn, "weight"),
                    opt_view(bias, view, kBn, "bias"),
                    {}};
        check_bn_forward(v, training);
        expect_dtype(v.x, DType::f32, kBn, "input");
        TensorView w = view(workspace, kBn, "workspace");
        expect_workspace(w, cuda::batch_norm_workspace(v.s.N, v.s.C, v.s.L), kBn);
        py::gil_scoped_release release;
        cuda::batch_norm_forward_f32(ptr<float>(v.y), dptr(v.mean), dptr(v.invstd), ptr<float>(v.rmean),
                                     ptr<float>(v.rvar), ptr<float>(v.x), ptr<float>(v.w), ptr<float>(v.b), v.s.N,
                                     v.s.C, v.s.L, training, momentum, eps, ptr<float>(w),
                                     reinterpret_cast<void*>(stream));
      },
      py::arg("out"), py::arg("save_mean"), py::arg("save_invstd"), py::arg("running_mean"), py::arg("running_var"),
      py::arg("input"), py::arg("weight"), py::arg("bias"), py::arg("training"), py::arg("momentum"), py::arg("eps"),
      py::arg("workspace"), py::arg("stream") = 0,
      "CUDA twin of cpu.batch_norm_forward (float32); workspace: batch_norm_workspace(N, C, L) float32 values");
  m.def(
      "batch_norm_backward",
      [=](py::object dinput, py::object dweight, py::object dbias, py::object grad_out, py::object input,
          py::object save_mean, py::object save_invstd, py::object weight, bool training, py::object workspace,
          uintptr_t stream) {
        BnBackward v{opt_view(dinput, view, kBn, "dinput"),
                     opt_view(dweight, view, kBn, "dweight"),
                     opt_view(dbias, view, kBn, "dbias"),
                     view(grad_out, kBn, "grad_out"),
                     view(input, kBn, "input"),
                     opt_view(save_mean, view, kBn, "save_mean"),
                     opt_view(save_invstd, view, kBn, "save_invstd"),
                     opt_view(weight, view, kBn, "weight"),
                     {}};
        check_bn_backward(v);
        expect_dtype(v.x, DType::f32, kBn, "input");
        TensorView w = view(workspace, kBn, "workspace");
        expect_workspace(w, cuda::batch_norm_workspace(v.s.N, v.s.C, v.s.L), kBn);
        py::gil_scoped_release release;
        cuda::batch_norm_backward_f32(ptr<float>(v.dx), ptr<float>(v.dw), ptr<float>(v.db), ptr<float>(v.dy),
                                      ptr<float>(v.x), dptr(v.mean), dptr(v.invstd), ptr<float>(v.w), v.s.N, v.s.C,
                                      v.s.L, training, ptr<float>(w), reinterpret_cast<void*>(stream));
      },
      py::arg("dinput"), py::arg("dweight"), py::arg("dbias"), py::arg("grad_out"), py::arg("input"),
      py::arg("save_mean"), py::arg("save_invstd"), py::arg("weight"), py::arg("training"), py::arg("workspace"),
      py::arg("stream") = 0, "CUDA twin of cpu.batch_norm_backward (float32)");
  m.def(
      "batch_norm_workspace",
      [](int64_t N, int64_t C, int64_t L, uintptr_t) { return cuda::batch_norm_workspace(N, C, L); },
      py::arg("N"), py::arg("C"), py::arg("L"), py::arg("stream") = 0,
      "float32 values of scratch batch_norm_forward / _backward need for input (N, C, L)");
  m.def(
      "layer_norm_forward",
      [=](py::object y, py::object mean, py::object rstd, py::object input, py::object weight, py::object bias,
          int normalized_ndim, double eps, uintptr_t stream) {
        LnForward v{view(y, kLn, "out"),    view(mean, kLn, "mean"), view(rstd, kLn, "rstd"),
                    view(input, kLn, "input"), opt_view(weight, view, kLn, "weight"),
                    opt_view(bias, view, kLn, "bias"), {}};
        check_ln_forward(v, normalized_ndim);
        expect_dtype(v.x, DType::f32, kLn, "input");
        py::gil_scoped_release release;
        cuda::layer_norm_forward_f32(ptr<float>(v.y), dptr(v.mean), dptr(v.rstd), ptr<float>(v.x), ptr<float>(v.w),
                                     ptr<float>(v.b), v.s.M, v.s.D, eps, reinterpret_cast<void*>(stream));
      },
      py::arg("out"), py::arg("mean"), py::arg("rstd"), py::arg("input"), py::arg("weight"), py::arg("bias"),
      py::arg("normalized_ndim"), py::arg("eps") = 1e-5, py::arg("stream") = 0,
      "CUDA twin of cpu.layer_norm_forward (float32)");
  m.def(
      "layer_norm_backward",
      [=](py::object dinput, py::object dweight, py::object dbias, py::object grad_out, py::object input,
          py::object mean, py::object rstd, py::object weight, int normalized_ndim, py::object workspace,
          uintptr_t stream) {
        LnBackward v{opt_view(dinput, view, kLn, "dinput"), opt_view(dweight, view, kLn, "dweight"),
                     opt_view(dbias, view, kLn, "dbias"),   view(grad_out, kLn, "grad_out"),
                     view(input, kLn, "input"),             view(mean, kLn, "mean"),
                     view(rstd, kLn, "rstd"),               opt_view(weight, view, kLn, "weight"),
                     {}};
        check_ln_backward(v, normalized_ndim);
        expect_dtype(v.x, DType::f32, kLn, "input");
        TensorView w = view(workspace, kLn, "workspace");
        expect_workspace(w, cuda::layer_norm_workspace(v.s.M, v.s.D), kLn);
        py::gil_scoped_release release;
        cuda::layer_norm_backward_f32(ptr<float>(v.dx), ptr<float>(v.dw), ptr<float>(v.db), ptr<float>(v.dy),
                                      ptr<float>(v.x), dptr(v.mean), dptr(v.rstd), ptr<float>(v.w), v.s.M, v.s.D,
                                      ptr<float>(w), reinterpret_cast<void*>(stream));
      },
      py::arg("dinput"), py::arg("dweight"), py::arg("dbias"), py::arg("grad_out"), py::arg("input"), py::arg("mean"),
      py::arg("rstd"), py::arg("weight"), py::arg("normalized_ndim"), py::arg("workspace"), py::arg("stream") = 0,
      "CUDA twin of cpu.layer_norm_backward (float32); workspace: layer_norm_workspace(M, D) float32 values");
  m.def(
      "layer_norm_workspace",
      [](int64_t M, int64_t D, uintptr_t) { return cuda::layer_norm_workspace(M, D); }, py::arg("M"), py::arg("D"),
      py::arg("stream") = 0, "float32 values of scratch layer_norm_backward needs for input (M, D)");
}

}  // namespace

#ifndef NERVE_EMU
void init_norm(py::module_& cpu, py::module_& cuda) {
  auto in = [](py::handle o, const char* op, const char* name) { return host_view(o, op, name); };
  auto out = [](py::handle o, const char* op, const char* name) { return host_out_view(o, op, name); };
  cpu.def(
      "batch_norm_forward",
      [=](py::object y, py::object save_mean, py::object save_invstd, py::object running_mean, py::object running_var,
          py::object input, py::object weight, py::object bias, bool training, double momentum, double eps,
          bool naive) {
        BnForward v{out(y, kBn, "out"),
                    opt_view(save_mean, out, kBn, "save_mean"),
                    opt_view(save_invstd, out, kBn, "save_invstd"),
                    opt_view(running_mean, out, kBn, "running_mean"),
                    opt_view(running_var, out, kBn, "running_var"),
                    in(input, kBn, "input"),
                    opt_view(weight, in, kBn, "weight"),
                    opt_view(bias, in, kBn, "bias"),
                    {}};
        check_bn_forward(v, training);
        py::gil_scoped_release release;
        dispatch_float(v.x.dtype, kBn, [&](auto t) {
          using T = decltype(t);
          auto f = naive ? batch_norm_forward_naive<T> : batch_norm_forward<T>;
          f(ptr<T>(v.y), dptr(v.mean), dptr(v.invstd), ptr<T>(v.rmean), ptr<T>(v.rvar), ptr<T>(v.x), ptr<T>(v.w),
            ptr<T>(v.b), v.s, training, momentum, eps);
        });
      },
      py::arg("out"), py::arg("save_mean"), py::arg("save_invstd"), py::arg("running_mean"), py::arg("running_var"),
      py::arg("input"), py::arg("weight"), py::arg("bias"), py::arg("training"), py::arg("momentum") = 0.1,
      py::arg("eps") = 1e-5, py::arg("naive") = false,
      "out = (input - mean) * invstd * weight + bias per channel of input (N, C, *); training uses batch "
      "statistics and updates running_mean / running_var in place; save_mean / save_invstd (C, float64) get what "
      "was used");
  cpu.def(
      "batch_norm_backward",
      [=](py::object dinput, py::object dweight, py::object dbias, py::object grad_out, py::object input,
          py::object save_mean, py::object save_invstd, py::object weight, bool training, bool naive) {
        BnBackward v{opt_view(dinput, out, kBn, "dinput"),
                     opt_view(dweight, out, kBn, "dweight"),
                     opt_view(dbias, out, kBn, "dbias"),
                     in(grad_out, kBn, "grad_out"),
                     in(input, kBn, "input"),
                     opt_view(save_mean, in, kBn, "save_mean"),
                     opt_view(save_invstd, in, kBn, "save_invstd"),
                     opt_view(weight, in, kBn, "weight"),
                     {}};
        check_bn_backward(v);
        py::gil_scoped_release release;
        dispatch_float(v.x.dtype, kBn, [&](auto t) {
          using T = decltype(t);
          auto f = naive ? batch_norm_backward_naive<T> : batch_norm_backward<T>;
          f(ptr<T>(v.dx), ptr<T>(v.dw), ptr<T>(v.db), ptr<T>(v.dy), ptr<T>(v.x), dptr(v.mean), dptr(v.invstd),
            ptr<T>(v.w), v.s, training);
        });
      },
      py::arg("dinput"), py::arg("dweight"), py::arg("dbias"), py::arg("grad_out"), py::arg("input"),
      py::arg("save_mean"), py::arg("save_invstd"), py::arg("weight"), py::arg("training"), py::arg("naive") = false,
      "dinput, dweight, dbias (each may be None) of batch_norm in one pass over grad_out and input");
  cpu.def(
      "layer_norm_forward",
      [=](py::object y, py::object mean, py::object rstd, py::object input, py::object weight, py::object bias,
          int normalized_ndim, double eps, bool naive) {
        LnForward v{out(y, kLn, "out"),  out(mean, kLn, "mean"),         out(rstd, kLn, "rstd"), in(input, kLn, "input"),
                    opt_view(weight, in, kLn, "weight"), opt_view(bias, in, kLn, "bias"), {}};
        check_ln_forward(v, normalized_ndim);
        py::gil_scoped_release release;
        dispatch_float(v.x.dtype, kLn, [&](auto t) {
          using T = decltype(t);
          auto f = naive ? layer_norm_forward_naive<T> : layer_norm_forward<T>;
          f(ptr<T>(v.y), dptr(v.mean), dptr(v.rstd), ptr<T>(v.x), ptr<T>(v.w), ptr<T>(v.b), v.s.M, v.s.D, eps);
        });
      },
      py::arg("out"), py::arg("mean"), py::arg("rstd"), py::arg("input"), py::arg("weight"), py::arg("bias"),
      py::arg("normalized_ndim"), py::arg("eps") = 1e-5, py::arg("naive") = false,
      "out = (input - mean) * rstd * weight + bias over the last normalized_ndim dims; mean, rstd (float64) get "
      "one value per row");
  cpu.def(
      "layer_norm_backward",
      [=](py::object dinput, py::object dweight, py::object dbias, py::object grad_out, py::object input,
          py::object mean, py::object rstd, py::object weight, int normalized_ndim, bool naive) {
        LnBackward v{opt_view(dinput, out, kLn, "dinput"), opt_view(dweight, out, kLn, "dweight"),
                     opt_view(dbias, out, kLn, "dbias"),   in(grad_out, kLn, "grad_out"),
                     in(input, kLn, "input"),              in(mean, kLn, "mean"),
                     in(rstd, kLn, "rstd"),                opt_view(weight, in, kLn, "weight"),
                     {}};
        check_ln_backward(v, normalized_ndim);
        py::gil_scoped_release release;
        dispatch_float(v.x.dtype, kLn, [&](auto t) {
          using T = decltype(t);
          auto f = naive ? layer_norm_backward_naive<T> : layer_norm_backward<T>;
          f(ptr<T>(v.dx), ptr<T>(v.dw), ptr<T>(v.db), ptr<T>(v.dy), ptr<T>(v.x), dptr(v.mean), dptr(v.rstd),
            ptr<T>(v.w), v.s.M, v.s.D);
        });
      },
      py::arg("dinput"), py::arg("dweight"), py::arg("dbias"), py::arg("grad_out"), py::arg("input"), py::arg("mean"),
      py::arg("rstd"), py::arg("weight"), py::arg("normalized_ndim"), py::arg("naive") = false,
      "dinput, dweight, dbias (each may be None) of layer_norm in one pass over grad_out and input");
  cpu.def("norm_backend", &norm_backend, "Inner loops the norm kernels use now: 'avx512', 'avx2' or 'generic'");
  def_norm_cuda<DeviceArrays>(cuda);
}
#else
void init_norm_emu(py::module_& emu) { def_norm_cuda<HostArrays>(emu); }
#endif

}  // namespace nerve
