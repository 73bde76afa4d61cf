// bind_loss.cpp — loss kernels (csrc/cpu/loss.h, csrc/cuda/loss.h) over contiguous arrays.
//
// Class losses take input (C,), (N, C) or (N, C, d1, ...) and a target of class indices (int64,
// shape (), (N,) or (N, d1, ...)) or, for cross_entropy, class probabilities (the input's dtype
// and shape). Per-sample arrays (loss, the saved stats, dloss) have the samples' count of values;
// `dloss` may instead hold one value for every sample ('mean'/'sum' reductions), times `scale`.
// The CPU entries return the sums the reductions need: (sum of losses, sum of target weights).
// Pointwise losses take input, target and the optional weight / pos_weight of one shape
// (broadcast by the caller). `name` is the op the user called, for messages.
#include <pybind11/stl.h>

#include "../cpu/loss.h"
#include "../cuda/loss.h"
#include "views.h"

namespace nerve {

namespace {

// C-contiguous, or empty (numpy gives empty arrays zero strides)
void expect_dense(const TensorView& v, const char* op, const char* name) {
  if (v.numel() > 0) expect_contiguous(v, op, name);
}

TensorView none_view() { return TensorView{}; }

template <class Arrays>
TensorView opt_view(py::handle obj, const char* op, const char* name) {
  return obj.is_none() ? none_view() : Arrays::view(obj, op, name);
}

[[maybe_unused]] TensorView host_opt_view(py::handle obj, const char* op, const char* name, bool written) {
  if (obj.is_none()) return none_view();
  return written ? host_out_view(obj, op, name) : host_view(obj, op, name);
}

template <class T>
T* ptr_or_null(const TensorView& v) {
  return v.data ? v.ptr<T>() : nullptr;
}

void expect_values(const TensorView& v, const TensorView& ref, int64_t n, const char* op, const char* name) {
  expect_same_dtype(ref, v, op, "input", name);
  expect_dense(v, op, name);
  if (v.numel() != n) fail(op, name, " has ", v.numel(), " values (shape ", shape_str(v.shape), "), expected ", n);
}

struct ClassArgs {
  ClassShape s;
  bool prob = false;  // class-probability targets
  int64_t samples = 0;
};

// input (C,) / (N, C) / (N, C, d...) and its target; weight (C,) or missing
ClassArgs check_class(const TensorView& x, const TensorView& t, const TensorView& w, const char* op, bool allow_prob) {
  expect_float(x, op, "input");
  expect_dense(x, op, "input");
  if (x.ndim() == 0) fail(op, "input must be (C,), (N, C) or (N, C, d1, ...), got a 0-d tensor");
  ClassArgs a;
  std::vector<int64_t> sample_shape;
  if (x.ndim() == 1) {
    a.s.C = x.shape[0];
  } else {
    a.s.N = x.shape[0], a.s.C = x.shape[1];
    sample_shape.push_back(a.s.N);
    for (int d = 2; d < x.ndim(); ++d) a.s.inner *= x.shape[d], sample_shape.push_back(x.shape[d]);
  }
  a.samples = a.s.N * a.s.inner;
  if (t.dtype == DType::i64) {
    if (t.shape != sample_shape)
      fail(op, "expected target of shape ", shape_str(sample_shape), " (class indices) for input of shape ",
           shape_str(x.shape), ", got ", shape_str(t.shape));
  } else if (allow_prob && t.dtype == x.dtype) {
    a.prob = true;
    if (t.shape != x.shape)
      fail(op, "expected target of shape ", shape_str(x.shape), " (class probabilities, the input's shape), got ",
           shape_str(t.shape));
  } else if (allow_prob) {
    fail(op, "target has dtype ", dtype_name(t.dtype), ", expected int64 (class indices) or ", dtype_name(x.dtype),
         " (class probabilities, the input's dtype)");
  } else {
    fail(op, "target has dtype ", dtype_name(t.dtype), ", expected int64 (class indices)");
  }
  expect_dense(t, op, "target");
  if (w.data) {
    expect_same_dtype(x, w, op, "input", "weight");
    expect_dense(w, op, "weight");
    if (w.ndim() != 1 || w.shape[0] != a.s.C)
      fail(op, "weight has shape ", shape_str(w.shape), ", expected (", a.s.C, ",) (one weight per class)");
  }
  return a;
}

void expect_smoothing(double eps, const char* op) {
  if (!(eps >= 0.0 && eps <= 1.0)) fail(op, "label_smoothing must be between 0.0 and 1.0, got ", eps);
}

[[maybe_unused]] void bad_target(int64_t t, int64_t C, const char* op) {
  fail(op, "target ", t, " is out of bounds: class indices must lie in [0, ", C, ") or equal ignore_index");
}

// dloss holds one value per sample (stride 1) or one value for all of them (stride 0)
int64_t grad_stride(const TensorView& g, const TensorView& ref, int64_t samples, const char* op) {
  expect_same_dtype(ref, g, op, "input", "grad_out");
  expect_dense(g, op, "grad_out");
  if (g.numel() == 1) return 0;
  if (g.numel() != samples)
    fail(op, "grad_out has ", g.numel(), " values, expected 1 or ", samples, " (one per sample)");
  return 1;
}

// The CPU kernels' form of it: the per-sample pointer, or null with the one value folded into scale.
template <class T>
const T* host_grad(const TensorView& g, int64_t stride, double* scale) {
  if (stride) return g.ptr<T>();
  *scale *= double(*g.ptr<T>());
  return nullptr;
}

[[maybe_unused]] void expect_unit_scale(int64_t stride, double scale, const char* op) {
  if (stride && scale != 1.0) fail(op, "scale must be 1 with a per-sample grad_out");
}

PointLoss point_kind(const std::string& k, const char* op) {
  if (k == "mse") return PointLoss::mse;
  if (k == "l1") return PointLoss::l1;
  if (k == "bce") return PointLoss::bce;
  if (k == "bce_logits") return PointLoss::bce_logits;
  fail(op, "unknown pointwise loss '", k, "'; expected mse, l1, bce or bce_logits");
}

// input and target of one shape, weight and pos_weight (when given) too
int64_t check_point(const TensorView& x, const TensorView& t, const TensorView& w, const TensorView& pw,
                    const char* op) {
  expect_float(x, op, "input");
  expect_dense(x, op, "input");
  expect_same_dtype(x, t, op, "input", "target");
  expect_dense(t, op, "target");
  if (t.shape != x.shape)
    fail(op, "target has shape ", shape_str(t.shape), ", expected the input's shape ", shape_str(x.shape));
  for (const auto& [v, name] : {std::pair<const TensorView&, const char*>{w, "weight"}, {pw, "pos_weight"}}) {
    if (!v.data) continue;
    expect_same_dtype(x, v, op, "input", name);
    expect_dense(v, op, name);
    if (v.shape != x.shape)
      fail(op, name, " has shape ", shape_str(v.shape), ", expected the input's shape ", shape_str(x.shape),
           " (broadcast it first)");
  }
  return x.numel();
}

template <class T>
void bce_range_error(const TensorView& x, const char* op) {
  const T* p = x.ptr<T>();
  for (int64_t i = 0; i < x.numel(); ++i)
    if (!(p[i] >= T(0) && p[i] <= T(1))) fail(op, "all elements of input should be between 0 and 1");
  fail(op, "all elements of target should be between 0 and 1");
}

template <class Arrays>
void def_loss_cuda(py::module_& m) {
  m.def(
      "cross_entropy_forward",
      [](py::object loss, py::object wt, py::object stats, py::object input, py::object target, py::object weight,
         py::object wsum, int64_t ignore_index, double eps, std::string name, uintptr_t stream) {
        const char* n = name.c_str();
        TensorView vl = Arrays::view(loss, n, "loss"), vwt = opt_view<Arrays>(wt, n, "wt"),
                   vs = opt_view<Arrays>(stats, n, "stats"), x = Arrays::view(input, n, "input"),
                   t = Arrays::view(target, n, "target"), w = opt_view<Arrays>(weight, n, "weight"),
                   ws = opt_view<Arrays>(wsum, n, "wsum");
        const ClassArgs a = check_class(x, t, w, n, true);
        expect_smoothing(eps, n);
        expect_values(vl, x, a.samples, n, "loss");
        if (vwt.data) expect_values(vwt, x, a.samples, n, "wt");
        if (vs.data) expect_values(vs, x, 2 * a.samples, n, "stats");
        if (ws.data) expect_values(ws, x, 1, n, "wsum");
        py::gil_scoped_release release;
        dispatch_float(x.dtype, n, [&](auto z) {
          using T = decltype(z);
          void* st = reinterpret_cast<void*>(stream);
          if (a.prob)
            cuda::cross_entropy_prob_forward(vl.ptr<T>(), ptr_or_null<T>(vs), x.ptr<T>(), t.ptr<T>(), ptr_or_null<T>(w),
                                             a.s, eps, st);
          else
            cuda::cross_entropy_forward(vl.ptr<T>(), ptr_or_null<T>(vwt), ptr_or_null<T>(vs), x.ptr<T>(),
                                        t.ptr<int64_t>(), ptr_or_null<T>(w), ptr_or_null<T>(ws), a.s, ignore_index,
                                        eps, st);
        });
      },
      py::arg("loss"), py::arg("wt"), py::arg("stats"), py::arg("input"), py::arg("target"), py::arg("weight"),
      py::arg("wsum"), py::arg("ignore_index") = -100, py::arg("label_smoothing") = 0.0,
      py::arg("name") = "cross_entropy", py::arg("stream") = 0,
      "per-sample cross-entropy losses (and target weights wt, stats) on the device; targets: int64 or probabilities");
  m.def(
      "cross_entropy_backward",
      [](py::object dinput, py::object input, py::object stats, py::object target, py::object weight, py::object wsum,
         py::object dloss, double scale, int64_t ignore_index, double eps, std::string name, py::object dtarget,
         uintptr_t stream) {
        const char* n = name.c_str();
        TensorView dx = Arrays::view(dinput, n, "dinput"), x = Arrays::view(input, n, "input"),
                   vs = Arrays::view(stats, n, "stats"), t = Arrays::view(target, n, "target"),
                   w = opt_view<Arrays>(weight, n, "weight"), ws = opt_view<Arrays>(wsum, n, "wsum"),
                   g = Arrays::view(dloss, n, "grad_out"), dt = opt_view<Arrays>(dtarget, n, "dtarget");
        const ClassArgs a = check_class(x, t, w, n, true);
        expect_smoothing(eps, n);
        expect_values(dx, x, x.numel(), n, "dinput");
        expect_writable_distinct(dx, x, n, "input");
        expect_values(vs, x, 2 * a.samples, n, "stats");
        if (ws.data) expect_values(ws, x, 1, n, "wsum");
        if (dt.data && !a.prob) fail(n, "dtarget is only for class-probability targets");
        if (dt.data) expect_values(dt, x, x.numel(), n, "dtarget");
        const int64_t stride = grad_stride(g, x, a.samples, n);
        py::gil_scoped_release release;
        dispatch_float(x.dtype, n, [&](auto z) {
          using T = decltype(z);
          void* st = reinterpret_cast<void*>(stream);
          if (a.prob)
            cuda::cross_entropy_prob_backward(dx.ptr<T>(), ptr_or_null<T>(dt), x.ptr<T>(), vs.ptr<T>(), t.ptr<T>(),
                                              ptr_or_null<T>(w), g.ptr<T>(), stride, scale, a.s, eps, st);
          else
            cuda::cross_entropy_backward(dx.ptr<T>(), x.ptr<T>(), vs.ptr<T>(), t.ptr<int64_t>(), ptr_or_null<T>(w),
                                         ptr_or_null<T>(ws), g.ptr<T>(), stride, scale, a.s, ignore_index, eps, st);
        });
      },
      py::arg("dinput"), py::arg("input"), py::arg("stats"), py::arg("target"), py::arg("weight"), py::arg("wsum"),
      py::arg("dloss"), py::arg("scale") = 1.0, py::arg("ignore_index") = -100, py::arg("label_smoothing") = 0.0,
      py::arg("name") = "cross_entropy", py::arg("dtarget") = py::none(), py::arg("stream") = 0,
      "dinput (and dtarget for probability targets) of cross_entropy on the device");
  m.def(
      "nll_loss_forward",
      [](py::object loss, py::object wt, py::object input, py::object target, py::object weight, int64_t ignore_index,
         std::string name, uintptr_t stream) {
        const char* n = name.c_str();
        TensorView vl = Arrays::view(loss, n, "loss"), vwt = opt_view<Arrays>(wt, n, "wt"),
                   x = Arrays::view(input, n, "input"), t = Arrays::view(target, n, "target"),
                   w = opt_view<Arrays>(weight, n, "weight");
        const ClassArgs a = check_class(x, t, w, n, false);
        expect_values(vl, x, a.samples, n, "loss");
        if (vwt.data) expect_values(vwt, x, a.samples, n, "wt");
        py::gil_scoped_release release;
        dispatch_float(x.dtype, n, [&](auto z) {
          using T = decltype(z);
          cuda::nll_loss_forward(vl.ptr<T>(), ptr_or_null<T>(vwt), x.ptr<T>(), t.ptr<int64_t>(), ptr_or_null<T>(w),
                                 a.s, ignore_index, reinterpret_cast<void*>(stream));
        });
      },
      py::arg("loss"), py::arg("wt"), py::arg("input"), py::arg("target"), py::arg("weight"),
      py::arg("ignore_index") = -100, py::arg("name") = "nll_loss", py::arg("stream") = 0,
      "per-sample nll losses (and target weights wt) on the device");
  m.def(
      "nll_loss_backward",
      [](py::object dinput, py::object target, py::object weight, py::object dloss, double scale, int64_t ignore_index,
         std::string name, uintptr_t stream) {
        const char* n = name.c_str();
        TensorView dx = Arrays::view(dinput, n, "dinput"), t = Arrays::view(target, n, "target"),
                   w = opt_view<Arrays>(weight, n, "weight"), g = Arrays::view(dloss, n, "grad_out");
        const ClassArgs a = check_class(dx, t, w, n, false);
        const int64_t stride = grad_stride(g, dx, a.samples, n);
        py::gil_scoped_release release;
        dispatch_float(dx.dtype, n, [&](auto z) {
          using T = decltype(z);
          cuda::nll_loss_backward(dx.ptr<T>(), t.ptr<int64_t>(), ptr_or_null<T>(w), g.ptr<T>(), stride, scale, a.s,
                                  ignore_index, reinterpret_cast<void*>(stream));
        });
      },
      py::arg("dinput"), py::arg("target"), py::arg("weight"), py::arg("dloss"), py::arg("scale") = 1.0,
      py::arg("ignore_index") = -100, py::arg("name") = "nll_loss", py::arg("stream") = 0,
      "dinput of nll_loss on the device");
  m.def(
      "pointwise_loss_forward",
      [](py::object loss, py::object input, py::object target, py::object weight, py::object pos_weight,
         const std::string& kind, std::string name, uintptr_t stream) {
        const char* n = name.c_str();
        TensorView vl = Arrays::view(loss, n, "loss"), x = Arrays::view(input, n, "input"),
                   t = Arrays::view(target, n, "target"), w = opt_view<Arrays>(weight, n, "weight"),
                   pw = opt_view<Arrays>(pos_weight, n, "pos_weight");
        const int64_t size = check_point(x, t, w, pw, n);
        expect_values(vl, x, size, n, "loss");
        const PointLoss k = point_kind(kind, n);
        py::gil_scoped_release release;
        dispatch_float(x.dtype, n, [&](auto z) {
          using T = decltype(z);
          cuda::pointwise_loss_forward(vl.ptr<T>(), x.ptr<T>(), t.ptr<T>(), ptr_or_null<T>(w), ptr_or_null<T>(pw), size,
                                       k, reinterpret_cast<void*>(stream));
        });
      },
      py::arg("loss"), py::arg("input"), py::arg("target"), py::arg("weight"), py::arg("pos_weight"), py::arg("kind"),
      py::arg("name") = "loss", py::arg("stream") = 0, "elementwise losses on the device (kind: mse, l1, bce, bce_logits)");
  m.def(
      "pointwise_loss_backward",
      [](py::object dinput, py::object dtarget, py::object input, py::object target, py::object weight,
         py::object pos_weight, py::object dloss, double scale, const std::string& kind, std::string name,
         uintptr_t stream) {
        const char* n = name.c_str();
        TensorView dx = opt_view<Arrays>(dinput, n, "dinput"), dt = opt_view<Arrays>(dtarget, n, "dtarget"),
                   x = Arrays::view(input, n, "input"), t = Arrays::view(target, n, "target"),
                   w = opt_view<Arrays>(weight, n, "weight"), pw = opt_view<Arrays>(pos_weight, n, "pos_weight"),
                   g = Arrays::view(dloss, n, "grad_out");
        const int64_t size = check_point(x, t, w, pw, n);
        if (dx.data) expect_values(dx, x, size, n, "dinput");
        if (dt.data) expect_values(dt, x, size, n, "dtarget");
        const int64_t stride = grad_stride(g, x, size, n);
        const PointLoss k = point_kind(kind, n);
        py::gil_scoped_release release;
        dispatch_float(x.dtype, n, [&](auto z) {
          using T = decltype(z);
          cuda::pointwise_loss_backward(ptr_or_null<T>(dx), ptr_or_null<T>(dt), x.ptr<T>(), t.ptr<T>(), ptr_or_null<T>(w),
                                        ptr_or_null<T>(pw), g.ptr<T>(), stride, scale, size, k,
                                        reinterpret_cast<void*>(stream));
        });
      },
      py::arg("dinput"), py::arg("dtarget"), py::arg("input"), py::arg("target"), py::arg("weight"),
      py::arg("pos_weight"), py::arg("dloss"), py::arg("scale") = 1.0, py::arg("kind") = "mse",
      py::arg("name") = "loss", py::arg("stream") = 0, "dinput and/or dtarget of an elementwise loss on the device");
}

}  // namespace

#ifndef NERVE_EMU
void init_loss(py::module_& cpu, py::module_& cuda) {
  cpu.def(
      "cross_entropy_forward",
      [](py::object loss, py::object stats, py::object input, py::object target, py::object weight,
         int64_t ignore_index, double eps, std::string name, bool naive) {
        const char* n = name.c_str();
        TensorView vl = host_opt_view(loss, n, "loss", true), vs = host_opt_view(stats, n, "stats", true),
                   x = host_view(input, n, "input"), t = host_view(target, n, "target"),
                   w = host_opt_view(weight, n, "weight", false);
        const ClassArgs a = check_class(x, t, w, n, true);
        expect_smoothing(eps, n);
        if (vl.data) expect_values(vl, x, a.samples, n, "loss");
        if (vs.data) expect_values(vs, x, 2 * a.samples, n, "stats");
        double sums[2] = {0, 0};
        int64_t bad = 0;
        bool ok = true;
        {
          py::gil_scoped_release release;
          dispatch_float(x.dtype, n, [&](auto z) {
            using T = decltype(z);
            T *l = ptr_or_null<T>(vl), *st = ptr_or_null<T>(vs);
            const T* wp = ptr_or_null<T>(w);
            if (a.prob && naive) cross_entropy_prob_forward_naive<T>(l, st, sums, x.ptr<T>(), t.ptr<T>(), wp, a.s, eps);
            else if (a.prob) cross_entropy_prob_forward<T>(l, st, sums, x.ptr<T>(), t.ptr<T>(), wp, a.s, eps);
            else if (naive)
              ok = cross_entropy_forward_naive<T>(l, st, sums, x.ptr<T>(), t.ptr<int64_t>(), wp, a.s, ignore_index, eps,
                                                  &bad);
            else
              ok = cross_entropy_forward<T>(l, st, sums, x.ptr<T>(), t.ptr<int64_t>(), wp, a.s, ignore_index, eps, &bad);
          });
        }
        if (!ok) bad_target(bad, a.s.C, n);
        return py::make_tuple(sums[0], a.prob ? double(a.samples) : sums[1]);
      },
      py::arg("loss"), py::arg("stats"), py::arg("input"), py::arg("target"), py::arg("weight"),
      py::arg("ignore_index") = -100, py::arg("label_smoothing") = 0.0, py::arg("name") = "cross_entropy",
      py::arg("naive") = false,
      "cross_entropy per sample into loss (may be None) and (max, log-sum) pairs into stats (None: no backward); "
      "returns (sum of losses, divisor of 'mean'): the target weights' sum, or the sample count for probabilities");
  cpu.def(
      "cross_entropy_backward",
      [](py::object dinput, py::object input, py::object stats, py::object target, py::object weight, py::object dloss,
         double scale, int64_t ignore_index, double eps, std::string name, py::object dtarget, bool naive) {
        const char* n = name.c_str();
        TensorView dx = host_out_view(dinput, n, "dinput"), x = host_view(input, n, "input"),
                   vs = host_view(stats, n, "stats"), t = host_view(target, n, "target"),
                   w = host_opt_view(weight, n, "weight", false), g = host_view(dloss, n, "grad_out"),
                   dt = host_opt_view(dtarget, n, "dtarget", true);
        const ClassArgs a = check_class(x, t, w, n, true);
        expect_smoothing(eps, n);
        expect_values(dx, x, x.numel(), n, "dinput");
        expect_writable_distinct(dx, x, n, "input");
        expect_values(vs, x, 2 * a.samples, n, "stats");
        if (dt.data && !a.prob) fail(n, "dtarget is only for class-probability targets");
        if (dt.data) expect_values(dt, x, x.numel(), n, "dtarget");
        const int64_t stride = grad_stride(g, x, a.samples, n);
        expect_unit_scale(stride, scale, n);
        int64_t bad = 0;
        bool ok = true;
        {
          py::gil_scoped_release release;
          dispatch_float(x.dtype, n, [&](auto z) {
            using T = decltype(z);
            double sc = scale;
            const T* gp = host_grad<T>(g, stride, &sc);
            const T* wp = ptr_or_null<T>(w);
            if (a.prob && naive)
              cross_entropy_prob_backward_naive<T>(dx.ptr<T>(), ptr_or_null<T>(dt), x.ptr<T>(), vs.ptr<T>(), t.ptr<T>(),
                                                   wp, gp, sc, a.s, eps);
            else if (a.prob)
              cross_entropy_prob_backward<T>(dx.ptr<T>(), ptr_or_null<T>(dt), x.ptr<T>(), vs.ptr<T>(), t.ptr<T>(), wp,
                                             gp, sc, a.s, eps);
            else if (naive)
              ok = cross_entropy_backward_naive<T>(dx.ptr<T>(), x.ptr<T>(), vs.ptr<T>(), t.ptr<int64_t>(), wp, gp, sc,
                                                   a.s, ignore_index, eps, &bad);
            else
              ok = cross_entropy_backward<T>(dx.ptr<T>(), x.ptr<T>(), vs.ptr<T>(), t.ptr<int64_t>(), wp, gp, sc, a.s,
                                             ignore_index, eps, &bad);
          });
        }
        if (!ok) bad_target(bad, a.s.C, n);
      },
      py::arg("dinput"), py::arg("input"), py::arg("stats"), py::arg("target"), py::arg("weight"), py::arg("dloss"),
      py::arg("scale") = 1.0, py::arg("ignore_index") = -100, py::arg("label_smoothing") = 0.0,
      py::arg("name") = "cross_entropy", py::arg("dtarget") = py::none(), py::arg("naive") = false,
      "dinput = gradient of cross_entropy (fused softmax + NLL) from the saved stats; dtarget for probabilities");
  cpu.def(
      "nll_loss_forward",
      [](py::object loss, py::object input, py::object target, py::object weight, int64_t ignore_index,
         std::string name) {
        const char* n = name.c_str();
        TensorView vl = host_opt_view(loss, n, "loss", true), x = host_view(input, n, "input"),
                   t = host_view(target, n, "target"), w = host_opt_view(weight, n, "weight", false);
        const ClassArgs a = check_class(x, t, w, n, false);
        if (vl.data) expect_values(vl, x, a.samples, n, "loss");
        double sums[2] = {0, 0};
        int64_t bad = 0;
        bool ok = true;
        {
          py::gil_scoped_release release;
          dispatch_float(x.dtype, n, [&](auto z) {
            using T = decltype(z);
            ok = nll_loss_forward<T>(ptr_or_null<T>(vl), sums, x.ptr<T>(), t.ptr<int64_t>(), ptr_or_null<T>(w), a.s,
                                     ignore_index, &bad);
          });
        }
        if (!ok) bad_target(bad, a.s.C, n);
        return py::make_tuple(sums[0], sums[1]);
      },
      py::arg("loss"), py::arg("input"), py::arg("target"), py::arg("weight"), py::arg("ignore_index") = -100,
      py::arg("name") = "nll_loss", "nll_loss per sample into loss (may be None); returns (sum, target weights' sum)");
  cpu.def(
      "nll_loss_backward",
      [](py::object dinput, py::object target, py::object weight, py::object dloss, double scale, int64_t ignore_index,
         std::string name) {
        const char* n = name.c_str();
        TensorView dx = host_out_view(dinput, n, "dinput"), t = host_view(target, n, "target"),
                   w = host_opt_view(weight, n, "weight", false), g = host_view(dloss, n, "grad_out");
        const ClassArgs a = check_class(dx, t, w, n, false);
        const int64_t stride = grad_stride(g, dx, a.samples, n);
        expect_unit_scale(stride, scale, n);
        int64_t bad = 0;
        bool ok = true;
        {
          py::gil_scoped_release release;
          dispatch_float(dx.dtype, n, [&](auto z) {
            using T = decltype(z);
            double sc = scale;
            const T* gp = host_grad<T>(g, stride, &sc);
            ok = nll_loss_backward<T>(dx.ptr<T>(), t.ptr<int64_t>(), ptr_or_null<T>(w), gp, sc, a.s, ignore_index, &bad);
          });
        }
        if (!ok) bad_target(bad, a.s.C, n);
      },
      py::arg("dinput"), py::arg("target"), py::arg("weight"), py::arg("dloss"), py::arg("scale") = 1.0,
      py::arg("ignore_index") = -100, py::arg("name") = "nll_loss", "dinput = gradient of nll_loss");
  cpu.def(
      "pointwise_loss_forward",
      [](py::object loss, py::object input, py::object target, py::object weight, py::object pos_weight,
         const std::string& kind, std::string name, bool naive) {
        const char* n = name.c_str();
        TensorView vl = host_opt_view(loss, n, "loss", true), x = host_view(input, n, "input"),
                   t = host_view(target, n, "target"), w = host_opt_view(weight, n, "weight", false),
                   pw = host_opt_view(pos_weight, n, "pos_weight", false);
        const int64_t size = check_point(x, t, w, pw, n);
        if (vl.data) expect_values(vl, x, size, n, "loss");
        const PointLoss k = point_kind(kind, n);
        double sum = 0;
        bool ok = true;
        {
          py::gil_scoped_release release;
          dispatch_float(x.dtype, n, [&](auto z) {
            using T = decltype(z);
            if (naive)
              ok = pointwise_loss_forward_naive<T>(ptr_or_null<T>(vl), &sum, x.ptr<T>(), t.ptr<T>(), ptr_or_null<T>(w),
                                                   ptr_or_null<T>(pw), size, k);
            else
              ok = pointwise_loss_forward<T>(ptr_or_null<T>(vl), &sum, x.ptr<T>(), t.ptr<T>(), ptr_or_null<T>(w),
                                             ptr_or_null<T>(pw), size, k);
          });
        }
        if (!ok) dispatch_float(x.dtype, n, [&](auto z) { bce_range_error<decltype(z)>(x, n); });
        return sum;
      },
      py::arg("loss"), py::arg("input"), py::arg("target"), py::arg("weight"), py::arg("pos_weight"), py::arg("kind"),
      py::arg("name") = "loss", py::arg("naive") = false,
      "elementwise losses into loss (may be None); returns their sum. kind: mse, l1, bce, bce_logits");
  cpu.def(
      "pointwise_loss_backward",
      [](py::object dinput, py::object dtarget, py::object input, py::object target, py::object weight,
         py::object pos_weight, py::object dloss, double scale, const std::string& kind, std::string name, bool naive) {
        const char* n = name.c_str();
        TensorView dx = host_opt_view(dinput, n, "dinput", true), dt = host_opt_view(dtarget, n, "dtarget", true),
                   x = host_view(input, n, "input"), t = host_view(target, n, "target"),
                   w = host_opt_view(weight, n, "weight", false), pw = host_opt_view(pos_weight, n, "pos_weight", false),
                   g = host_view(dloss, n, "grad_out");
        const int64_t size = check_point(x, t, w, pw, n);
        if (dx.data) expect_values(dx, x, size, n, "dinput");
        if (dt.data) expect_values(dt, x, size, n, "dtarget");
        const PointLoss k = point_kind(kind, n);
        const int64_t stride = grad_stride(g, x, size, n);
        expect_unit_scale(stride, scale, n);
        py::gil_scoped_release release;
        dispatch_float(x.dtype, n, [&](auto z) {
          using T = decltype(z);
          double sc = scale;
          const T* gp = host_grad<T>(g, stride, &sc);
          if (naive)
            pointwise_loss_backward_naive<T>(ptr_or_null<T>(dx), ptr_or_null<T>(dt), x.ptr<T>(), t.ptr<T>(),
                                             ptr_or_null<T>(w), ptr_or_null<T>(pw), gp, sc, size, k);
          else
            pointwise_loss_backward<T>(ptr_or_null<T>(dx), ptr_or_null<T>(dt), x.ptr<T>(), t.ptr<T>(), ptr_or_null<T>(w),
                                       ptr_or_null<T>(pw), gp, sc, size, k);
        });
      },
      py::arg("dinput"), py::arg("dtarget"), py::arg("input"), py::arg("target"), py::arg("weight"),
      py::arg("pos_weight"), py::arg("dloss"), py::arg("scale") = 1.0, py::arg("kind") = "mse",
      py::arg("name") = "loss", py::arg("naive") = false,
      "dinput and/or dtarget (either may be None) of an elementwise loss");
  cpu.def("loss_backend", &loss_backend, "SIMD back end of the float32 loss kernels now");
  def_loss_cuda<DeviceArrays>(cuda);
}
#else
void init_loss_emu(py::module_& emu) { def_loss_cuda<HostArrays>(emu); }
#endif

}  // namespace nerve
