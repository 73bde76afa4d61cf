// bind_optim.cpp — the fused optimizer updates (sgd_update, adam_update, rmsprop_update,
// adagrad_update) on the CPU (nerve._C.cpu), on CUDA (nerve._C.cuda) and under the emulator
// (nerve._C_emu), with the same names and arguments everywhere.
//
// Every array argument is a list with one array per parameter (or a single array for one
// parameter): params and state are updated in place, grads are read. State lists an option does
// not use may be empty. All arrays of one call share the params' float dtype; each tensor's state
// and gradient have its parameter's shape and are contiguous; no written array may share memory
// with any other array of the call. Hyper-parameters are torch's and are checked in Python
// (nerve.optim raises torch's ValueErrors); steps are the incremented step counts (>= 1).
// See bind_gemm.cpp for the CPU / CUDA / emulator pattern.
#include <pybind11/stl.h>

#include <algorithm>
#include <string>
#include <vector>

#include "../cpu/optim.h"
#include "../cuda/optim.h"
#include "views.h"

namespace nerve {

namespace {

using ViewFn = TensorView (*)(py::handle, const char*, const char*);

struct ListArg {
  const char* name;
  py::handle obj;
  bool written;
  bool required;
};

// The views of one call: lists[a][k] is argument a's array for parameter k (lists[a] is empty
// when an optional argument was not given).
struct Batch {
  int64_t count = 0;
  DType dtype = DType::f32;
  std::vector<std::vector<TensorView>> lists;

  template <class T>
  T* ptr(size_t arg, int64_t k) const {
    return lists[arg].empty() ? nullptr : lists[arg][k].ptr<T>();
  }
};

std::vector<py::handle> items(py::handle obj) {
  std::vector<py::handle> out;
  if (obj.is_none()) return out;
  if (py::isinstance<py::list>(obj) || py::isinstance<py::tuple>(obj)) {
    for (py::handle h : obj) out.push_back(h);
    return out;
  }
  out.push_back(obj);  // one parameter
  return out;
}

std::string item_name(const char* list, int64_t k) { return std::string(list) + "[" + std::to_string(k) + "]"; }

struct Range {
  const char *lo, *hi;
  bool written;
  std::string name;
};

// No written array may overlap any other array of the call (threads would race, or a gradient
// would change under its own update). Sorted by start, an array conflicts with an earlier one
// exactly when it starts before the furthest end of the earlier arrays it may not overlap.
void expect_disjoint(std::vector<Range>& ranges, const char* op) {
  std::sort(ranges.begin(), ranges.end(), [](const Range& a, const Range& b) { return a.lo < b.lo; });
  const Range *far_all = nullptr, *far_written = nullptr;
  for (const Range& r : ranges) {
    const Range* other = r.written ? far_all : far_written;
    if (other && r.lo < other->hi) fail(op, r.name, " and ", other->name, " share memory");
    if (!far_all || r.hi > far_all->hi) far_all = &r;
    if (r.written && (!far_written || r.hi > far_written->hi)) far_written = &r;
  }
}

Batch gather(const char* op, const std::vector<ListArg>& args, ViewFn written_view, ViewFn read_view) {
  Batch b;
  const std::vector<py::handle> params = items(args[0].obj);
  b.count = static_cast<int64_t>(params.size());
  std::vector<Range> ranges;
  for (const ListArg& a : args) {
    const std::vector<py::handle> its = &a == &args[0] ? params : items(a.obj);
    b.lists.emplace_back();
    if (its.empty() && !a.required) continue;
    if (static_cast<int64_t>(its.size()) != b.count)
      fail(op, "expected ", b.count, " ", a.name, " (one per parameter), got ", its.size());
    std::vector<TensorView>& views = b.lists.back();
    for (int64_t k = 0; k < b.count; ++k) {
      const std::string name = item_name(a.name, k);
      TensorView v = (a.written ? written_view : read_view)(its[k], op, name.c_str());
      if (&a == &args[0] && k == 0) {
        expect_float(v, op, name.c_str());
        b.dtype = v.dtype;
      } else if (v.dtype != b.dtype) {
        fail(op, name, " has dtype ", dtype_name(v.dtype), ", expected ", dtype_name(b.dtype), " like params[0]");
      }
      if (v.numel() > 0) expect_contiguous(v, op, name.c_str());  // empty arrays may carry any strides
      if (&a != &args[0] && v.shape != b.lists[0][k].shape)
        fail(op, name, " has shape ", shape_str(v.shape), ", expected ", shape_str(b.lists[0][k].shape), " like params[",
             k, "]");
      if (v.numel() > 0) {
        const char* lo = static_cast<const char*>(v.data);
        ranges.push_back({lo, lo + v.numel() * dtype_size(v.dtype), a.written, name});
      }
      views.push_back(std::move(v));
    }
  }
  expect_disjoint(ranges, op);
  return b;
}

// Incremented step counts: one number for every parameter, or a list with one each.
std::vector<double> steps_of(py::handle obj, int64_t count, const char* op) {
  std::vector<double> out;
  if (py::isinstance<py::list>(obj) || py::isinstance<py::tuple>(obj)) {
    for (py::handle h : obj) out.push_back(h.cast<double>());
    if (static_cast<int64_t>(out.size()) != count)
      fail(op, "expected ", count, " steps (one per parameter), got ", out.size());
  } else {
    out.assign(count, obj.cast<double>());
  }
  for (size_t k = 0; k < out.size(); ++k)
    if (!(out[k] >= 1)) fail(op, "steps[", k, "] is ", out[k], ", expected a count >= 1 (incremented before the update)");
  return out;
}

std::vector<bool> flags_of(py::handle obj, int64_t count, const char* op, const char* name) {
  std::vector<bool> out;
  if (py::isinstance<py::list>(obj) || py::isinstance<py::tuple>(obj)) {
    for (py::handle h : obj) out.push_back(h.cast<bool>());
    if (static_cast<int64_t>(out.size()) != count)
      fail(op, "expected ", count, " ", name, " (one per parameter), got ", out.size());
  } else {
    out.assign(count, obj.cast<bool>());
  }
  return out;
}

// ---- per optimizer: views -> typed tensors --------------------------------------------------------

struct SgdCall {
  Batch b;
  std::vector<bool> init;
  SgdOptions o;
};

SgdCall sgd_call(py::handle params, py::handle bufs, py::handle grads, py::handle init_buffers, double lr,
                 double momentum, double dampening, double weight_decay, bool nesterov, bool maximize, ViewFn wv,
                 ViewFn rv) {
  SgdCall c;
  c.b = gather("sgd", {{"params", params, true, true}, {"momentum_buffers", bufs, true, momentum != 0},
                       {"grads", grads, false, true}},
               wv, rv);
  c.init = flags_of(init_buffers, c.b.count, "sgd", "init_buffers");
  c.o = {lr, momentum, dampening, weight_decay, nesterov, maximize};
  return c;
}

template <class T>
std::vector<SgdTensor<T>> sgd_tensors(const SgdCall& c) {
  std::vector<SgdTensor<T>> ts(c.b.count);
  for (int64_t k = 0; k < c.b.count; ++k)
    ts[k] = {c.b.ptr<T>(0, k), c.o.momentum != 0 ? c.b.ptr<T>(1, k) : nullptr, c.b.ptr<T>(2, k),
             c.b.lists[0][k].numel(), bool(c.init[k])};
  return ts;
}

struct AdamCall {
  Batch b;
  std::vector<double> steps;
  AdamOptions o;
};

AdamCall adam_call(py::handle params, py::handle exp_avgs, py::handle exp_avg_sqs, py::handle max_exp_avg_sqs,
                   py::handle grads, py::handle steps, double lr, double beta1, double beta2, double eps,
                   double weight_decay, bool amsgrad, bool maximize, bool decoupled, ViewFn wv, ViewFn rv) {
  AdamCall c;
  c.b = gather("adam", {{"params", params, true, true}, {"exp_avgs", exp_avgs, true, true},
                        {"exp_avg_sqs", exp_avg_sqs, true, true}, {"max_exp_avg_sqs", max_exp_avg_sqs, true, amsgrad},
                        {"grads", grads, false, true}},
               wv, rv);
  c.steps = steps_of(steps, c.b.count, "adam");
  c.o = {lr, beta1, beta2, eps, weight_decay, amsgrad, maximize, decoupled};
  return c;
}

template <class T>
std::vector<AdamTensor<T>> adam_tensors(const AdamCall& c) {
  std::vector<AdamTensor<T>> ts(c.b.count);
  for (int64_t k = 0; k < c.b.count; ++k)
    ts[k] = {c.b.ptr<T>(0, k), c.b.ptr<T>(1, k), c.b.ptr<T>(2, k), c.o.amsgrad ? c.b.ptr<T>(3, k) : nullptr,
             c.b.ptr<T>(4, k), c.b.lists[0][k].numel(), c.steps[k]};
  return ts;
}

struct RmspropCall {
  Batch b;
  RmspropOptions o;
};

RmspropCall rmsprop_call(py::handle params, py::handle square_avgs, py::handle grad_avgs, py::handle bufs,
                         py::handle grads, double lr, double alpha, double eps, double weight_decay, double momentum,
                         bool centered, bool maximize, ViewFn wv, ViewFn rv) {
  RmspropCall c;
  c.b = gather("rmsprop", {{"params", params, true, true}, {"square_avgs", square_avgs, true, true},
                           {"grad_avgs", grad_avgs, true, centered}, {"momentum_buffers", bufs, true, momentum > 0},
                           {"grads", grads, false, true}},
               wv, rv);
  c.o = {lr, alpha, eps, weight_decay, momentum, centered, maximize};
  return c;
}

template <class T>
std::vector<RmspropTensor<T>> rmsprop_tensors(const RmspropCall& c) {
  std::vector<RmspropTensor<T>> ts(c.b.count);
  for (int64_t k = 0; k < c.b.count; ++k)
    ts[k] = {c.b.ptr<T>(0, k), c.b.ptr<T>(1, k), c.o.centered ? c.b.ptr<T>(2, k) : nullptr,
             c.o.momentum > 0 ? c.b.ptr<T>(3, k) : nullptr, c.b.ptr<T>(4, k), c.b.lists[0][k].numel()};
  return ts;
}

struct AdagradCall {
  Batch b;
  std::vector<double> steps;
  AdagradOptions o;
};

AdagradCall adagrad_call(py::handle params, py::handle sums, py::handle grads, py::handle steps, double lr,
                         double lr_decay, double weight_decay, double eps, bool maximize, ViewFn wv, ViewFn rv) {
  AdagradCall c;
  c.b = gather("adagrad", {{"params", params, true, true}, {"state_sums", sums, true, true},
                           {"grads", grads, false, true}},
               wv, rv);
  c.steps = steps_of(steps, c.b.count, "adagrad");
  c.o = {lr, lr_decay, weight_decay, eps, maximize};
  return c;
}

template <class T>
std::vector<AdagradTensor<T>> adagrad_tensors(const AdagradCall& c) {
  std::vector<AdagradTensor<T>> ts(c.b.count);
  for (int64_t k = 0; k < c.b.count; ++k)
    ts[k] = {c.b.ptr<T>(0, k), c.b.ptr<T>(1, k), c.b.ptr<T>(2, k), c.b.lists[0][k].numel(), c.steps[k]};
  return ts;
}

// Runs f.operator()<T>() with T the batch's dtype (nothing for an empty batch).
template <class F>
void on_dtype(const Batch& b, const char* op, F&& f) {
  if (b.count == 0) return;
  dispatch_float(b.dtype, op, [&](auto t) { f(t); });
}

template <class Arrays>
TensorView arrays_view(py::handle obj, const char* op, const char* name) {
  return Arrays::view(obj, op, name);
}

constexpr const char* kSgdDoc =
    "SGD step in place (torch.optim.SGD, foreach=False formulas): params, momentum_buffers (empty when momentum "
    "is 0) and grads are lists with one array per parameter; init_buffers (bool or one per parameter) marks "
    "buffers that start as the gradient";
constexpr const char* kAdamDoc =
    "Adam / AdamW step in place (torch.optim.Adam): steps are the incremented step counts; max_exp_avg_sqs may be "
    "empty unless amsgrad; decoupled_weight_decay=True is AdamW";
constexpr const char* kRmspropDoc =
    "RMSprop step in place (torch.optim.RMSprop): grad_avgs may be empty unless centered, momentum_buffers unless "
    "momentum > 0";
constexpr const char* kAdagradDoc = "Adagrad step in place (torch.optim.Adagrad): steps are the incremented step counts";

template <class Arrays>
void def_optim_cuda(py::module_& m) {
  ViewFn v = &arrays_view<Arrays>;
  m.def(
      "sgd_update",
      [v](py::object params, py::object bufs, py::object grads, double lr, double momentum, double dampening,
          double weight_decay, bool nesterov, bool maximize, py::object init_buffers, uintptr_t stream) {
        SgdCall c = sgd_call(params, bufs, grads, init_buffers, lr, momentum, dampening, weight_decay, nesterov,
                             maximize, v, v);
        py::gil_scoped_release release;
        on_dtype(c.b, "sgd", [&](auto t) {
          using T = decltype(t);
          const auto ts = sgd_tensors<T>(c);
          cuda::sgd_update<T>(ts.data(), c.b.count, c.o, reinterpret_cast<void*>(stream));
        });
      },
      py::arg("params"), py::arg("momentum_buffers"), py::arg("grads"), py::arg("lr"), py::arg("momentum") = 0.0,
      py::arg("dampening") = 0.0, py::arg("weight_decay") = 0.0, py::arg("nesterov") = false,
      py::arg("maximize") = false, py::arg("init_buffers") = false, py::arg("stream") = 0, kSgdDoc);
  m.def(
      "adam_update",
      [v](py::object params, py::object exp_avgs, py::object exp_avg_sqs, py::object max_exp_avg_sqs,
          py::object grads, py::object steps, double lr, double beta1, double beta2, double eps, double weight_decay,
          bool amsgrad, bool maximize, bool decoupled, uintptr_t stream) {
        AdamCall c = adam_call(params, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, grads, steps, lr, beta1, beta2, eps,
                               weight_decay, amsgrad, maximize, decoupled, v, v);
        py::gil_scoped_release release;
        on_dtype(c.b, "adam", [&](auto t) {
          using T = decltype(t);
          const auto ts = adam_tensors<T>(c);
          cuda::adam_update<T>(ts.data(), c.b.count, c.o, reinterpret_cast<void*>(stream));
        });
      },
      py::arg("params"), py::arg("exp_avgs"), py::arg("exp_avg_sqs"), py::arg("max_exp_avg_sqs"), py::arg("grads"),
      py::arg("steps"), py::arg("lr"), py::arg("beta1") = 0.9, py::arg("beta2") = 0.999, py::arg("eps") = 1e-8,
      py::arg("weight_decay") = 0.0, py::arg("amsgrad") = false, py::arg("maximize") = false,
      py::arg("decoupled_weight_decay") = false, py::arg("stream") = 0, kAdamDoc);
  m.def(
      "rmsprop_update",
      [v](py::object params, py::object square_avgs, py::object grad_avgs, py::object bufs, py::object grads,
          double lr, double alpha, double eps, double weight_decay, double momentum, bool centered, bool maximize,
          uintptr_t stream) {
        RmspropCall c = rmsprop_call(params, square_avgs, grad_avgs, bufs, grads, lr, alpha, eps, weight_decay,
                                     momentum, centered, maximize, v, v);
        py::gil_scoped_release release;
        on_dtype(c.b, "rmsprop", [&](auto t) {
          using T = decltype(t);
          const auto ts = rmsprop_tensors<T>(c);
          cuda::rmsprop_update<T>(ts.data(), c.b.count, c.o, reinterpret_cast<void*>(stream));
        });
      },
      py::arg("params"), py::arg("square_avgs"), py::arg("grad_avgs"), py::arg("momentum_buffers"),
      py::arg("grads"), py::arg("lr"), py::arg("alpha") = 0.99, py::arg("eps") = 1e-8, py::arg("weight_decay") = 0.0,
      py::arg("momentum") = 0.0, py::arg("centered") = false, py::arg("maximize") = false, py::arg("stream") = 0,
      kRmspropDoc);
  m.def(
      "adagrad_update",
      [v](py::object params, py::object sums, py::object grads, py::object steps, double lr, double lr_decay,
          double weight_decay, double eps, bool maximize, uintptr_t stream) {
        AdagradCall c = adagrad_call(params, sums, grads, steps, lr, lr_decay, weight_decay, eps, maximize, v, v);
        py::gil_scoped_release release;
        on_dtype(c.b, "adagrad", [&](auto t) {
          using T = decltype(t);
          const auto ts = adagrad_tensors<T>(c);
          cuda::adagrad_update<T>(ts.data(), c.b.count, c.o, reinterpret_cast<void*>(stream));
        });
      },
      py::arg("params"), py::arg("state_sums"), py::arg("grads"), py::arg("steps"), py::arg("lr"),
      py::arg("lr_decay") = 0.0, py::arg("weight_decay") = 0.0, py::arg("eps") = 1e-10, py::arg("maximize") = false,
      py::arg("stream") = 0, kAdagradDoc);
}

}  // namespace

#ifndef NERVE_EMU
void init_optim(py::module_& cpu, py::module_& cuda) {
  ViewFn wv = &host_out_view, rv = &host_view;
  cpu.def(
      "sgd_update",
      [wv, rv](py::object params, py::object bufs, py::object grads, double lr, double momentum, double dampening,
               double weight_decay, bool nesterov, bool maximize, py::object init_buffers, bool naive) {
        SgdCall c = sgd_call(params, bufs, grads, init_buffers, lr, momentum, dampening, weight_decay, nesterov,
                             maximize, wv, rv);
        py::gil_scoped_release release;
        on_dtype(c.b, "sgd", [&](auto t) {
          using T = decltype(t);
          const auto ts = sgd_tensors<T>(c);
          (naive ? sgd_update_naive<T> : sgd_update<T>)(ts.data(), c.b.count, c.o);
        });
      },
      py::arg("params"), py::arg("momentum_buffers"), py::arg("grads"), py::arg("lr"), py::arg("momentum") = 0.0,
      py::arg("dampening") = 0.0, py::arg("weight_decay") = 0.0, py::arg("nesterov") = false,
      py::arg("maximize") = false, py::arg("init_buffers") = false, py::arg("naive") = false, kSgdDoc);
  cpu.def(
      "adam_update",
      [wv, rv](py::object params, py::object exp_avgs, py::object exp_avg_sqs, py::object max_exp_avg_sqs,
               py::object grads, py::object steps, double lr, double beta1, double beta2, double eps,
               double weight_decay, bool amsgrad, bool maximize, bool decoupled, bool naive) {
        AdamCall c = adam_call(params, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, grads, steps, lr, beta1, beta2, eps,
                               weight_decay, amsgrad, maximize, decoupled, wv, rv);
        py::gil_scoped_release release;
        on_dtype(c.b, "adam", [&](auto t) {
          using T = decltype(t);
          const auto ts = adam_tensors<T>(c);
          (naive ? adam_update_naive<T> : adam_update<T>)(ts.data(), c.b.count, c.o);
        });
      },
      py::arg("params"), py::arg("exp_avgs"), py::arg("exp_avg_sqs"), py::arg("max_exp_avg_sqs"), py::arg("grads"),
      py::arg("steps"), py::arg("lr"), py::arg("beta1") = 0.9, py::arg("beta2") = 0.999, py::arg("eps") = 1e-8,
      py::arg("weight_decay") = 0.0, py::arg("amsgrad") = false, py::arg("maximize") = false,
      py::arg("decoupled_weight_decay") = false, py::arg("naive") = false, kAdamDoc);
  cpu.def(
      "rmsprop_update",
      [wv, rv](py::object params, py::object square_avgs, py::object grad_avgs, py::object bufs, py::object grads,
               double lr, double alpha, double eps, double weight_decay, double momentum, bool centered,
               bool maximize, bool naive) {
        RmspropCall c = rmsprop_call(params, square_avgs, grad_avgs, bufs, grads, lr, alpha, eps, weight_decay,
                                     momentum, centered, maximize, wv, rv);
        py::gil_scoped_release release;
        on_dtype(c.b, "rmsprop", [&](auto t) {
          using T = decltype(t);
          const auto ts = rmsprop_tensors<T>(c);
          (naive ? rmsprop_update_naive<T> : rmsprop_update<T>)(ts.data(), c.b.count, c.o);
        });
      },
      py::arg("params"), py::arg("square_avgs"), py::arg("grad_avgs"), py::arg("momentum_buffers"),
      py::arg("grads"), py::arg("lr"), py::arg("alpha") = 0.99, py::arg("eps") = 1e-8, py::arg("weight_decay") = 0.0,
      py::arg("momentum") = 0.0, py::arg("centered") = false, py::arg("maximize") = false, py::arg("naive") = false,
      kRmspropDoc);
  cpu.def(
      "adagrad_update",
      [wv, rv](py::object params, py::object sums, py::object grads, py::object steps, double lr, double lr_decay,
               double weight_decay, double eps, bool maximize, bool naive) {
        AdagradCall c = adagrad_call(params, sums, grads, steps, lr, lr_decay, weight_decay, eps, maximize, wv, rv);
        py::gil_scoped_release release;
        on_dtype(c.b, "adagrad", [&](auto t) {
          using T = decltype(t);
          const auto ts = adagrad_tensors<T>(c);
          (naive ? adagrad_update_naive<T> : adagrad_update<T>)(ts.data(), c.b.count, c.o);
        });
      },
      py::arg("params"), py::arg("state_sums"), py::arg("grads"), py::arg("steps"), py::arg("lr"),
      py::arg("lr_decay") = 0.0, py::arg("weight_decay") = 0.0, py::arg("eps") = 1e-10, py::arg("maximize") = false,
      py::arg("naive") = false, kAdagradDoc);
  cpu.def("optim_backend", &optim_backend, "SIMD back end the optimizer updates use now: 'avx512', 'avx2' or 'generic'");
  def_optim_cuda<DeviceArrays>(cuda);
}
#else
void init_optim_emu(py::module_& emu) { def_optim_cuda<HostArrays>(emu); }
#endif

}  // namespace nerve
