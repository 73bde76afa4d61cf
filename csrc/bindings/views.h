// views.h — turning Python arrays into checked TensorViews. Shared by every bind_<family>.cpp.
// Host arrays come through the buffer protocol (numpy); device arrays through
// __cuda_array_interface__ (cupy, torch.cuda, numba). All checks raise "[op] ..." ValueErrors.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <initializer_list>
#include <string>

#include "../core/check.h"
#include "../core/tensor_view.h"

namespace nerve {
namespace py = pybind11;

TensorView host_view(py::handle obj, const char* op, const char* name);
TensorView host_out_view(py::handle obj, const char* op, const char* name);  // + must be writable (outputs)
TensorView device_view(py::handle obj, const char* op, const char* name);

// Where a CUDA entry point's arrays live. Each bind_<family>.cpp writes its CUDA bindings once, as
// `template <class Arrays> void def_<family>_cuda(py::module_&)` taking views through Arrays::view,
// and instantiates them twice: DeviceArrays for nerve._C.cuda (cupy arrays, the nvcc-built kernels)
// and HostArrays for the test module nerve._C_emu (numpy arrays, the same kernels run by the CPU
// emulator in csrc/emu). See bind_gemm.cpp.
struct DeviceArrays {
  static TensorView view(py::handle obj, const char* op, const char* name) { return device_view(obj, op, name); }
};
struct HostArrays {
  static TensorView view(py::handle obj, const char* op, const char* name) { return host_view(obj, op, name); }
};

// Argument checks; `name` is the argument as the user knows it ("input", "weight").
void expect_dtype(const TensorView& v, DType d, const char* op, const char* name);
void expect_float(const TensorView& v, const char* op, const char* name);  // float32 or float64
void expect_same_dtype(const TensorView& a, const TensorView& b, const char* op, const char* na, const char* nb);
void expect_ndim(const TensorView& v, int ndim, const char* op, const char* name);
void expect_contiguous(const TensorView& v, const char* op, const char* name);
void expect_shape(const TensorView& v, const std::vector<int64_t>& shape, const char* op, const char* name);
void expect_writable_distinct(const TensorView& out, const TensorView& in, const char* op, const char* name);

// Calls f(T{}) with T the C++ type of a float dtype (float or double).
template <class F>
auto dispatch_float(DType d, const char* op, F&& f) {
  if (d == DType::f32) return f(float{});
  if (d == DType::f64) return f(double{});
  fail(op, "expected a float32 or float64 tensor, got ", dtype_name(d));
}

}  // namespace nerve
