// bind_dropout.cpp — dropout forward / backward over contiguous arrays of any shape, on the CPU and
// (def_dropout_cuda) on CUDA or the emulator. The keep mask is a uint8 array of
// dropout_mask_bytes(n) bytes, 1 bit per element (csrc/core/philox.h); the same seed and offset
// give the same mask on every back end and thread count. out may be input itself (in place).
#include "../core/philox.h"
#include "../cuda/dropout.h"
#include "views.h"
#ifndef NERVE_EMU
#include "../cpu/dropout.h"
#endif

namespace nerve {

namespace {

// Contiguous, or empty (TensorView::is_contiguous refuses some empty shapes, e.g. (6, 0)).
void expect_dense(const TensorView& v, const char* op, const char* name) {
  if (v.numel() > 0) expect_contiguous(v, op, name);
}

constexpr const char* kOp = "dropout";

void check_p(double p) {
  if (!(p > 0.0 && p < 1.0))
    fail(kOp, "the kernel takes 0 < p < 1 (p = 0 is the identity, p = 1 gives zeros), got p = ", p);
}

void check_mask(const TensorView& m, int64_t n) {
  expect_dtype(m, DType::u8, kOp, "mask");
  expect_dense(m, kOp, "mask");
  if (m.numel() != philox::dropout_mask_bytes(n))
    fail(kOp, "mask must hold ", philox::dropout_mask_bytes(n), " bytes for ", n, " elements, got ", m.numel());
}

// out and input: same float dtype and shape, contiguous; out may be input (in place).
int64_t check_pair(const TensorView& out, const TensorView& in, const char* out_name, const char* in_name) {
  expect_float(in, kOp, in_name);
  expect_same_dtype(in, out, kOp, in_name, out_name);
  expect_shape(out, in.shape, kOp, out_name);
  expect_dense(in, kOp, in_name);
  expect_dense(out, kOp, out_name);
  return in.numel();
}

template <class Arrays>
void def_dropout_cuda(py::module_& m) {
  m.def(
      "dropout_forward",
      [](py::object out, py::object mask, py::object input, double p, uint64_t seed, uint64_t offset,
         uintptr_t stream) {
        TensorView y = Arrays::view(out, kOp, "out");
        TensorView mv;
        if (!mask.is_none()) mv = Arrays::view(mask, kOp, "mask");
        TensorView x = Arrays::view(input, kOp, "input");
        const int64_t n = check_pair(y, x, "out", "input");
        if (!mask.is_none()) check_mask(mv, n);
        check_p(p);
        uint8_t* mp = mask.is_none() ? nullptr : mv.ptr<uint8_t>();
        py::gil_scoped_release release;
        void* s = reinterpret_cast<void*>(stream);
        if (x.dtype == DType::f32) cuda::dropout_forward_f32(y.ptr<float>(), mp, x.ptr<float>(), n, p, seed, offset, s);
        else cuda::dropout_forward_f64(y.ptr<double>(), mp, x.ptr<double>(), n, p, seed, offset, s);
      },
      py::arg("out"), py::arg("mask"), py::arg("input"), py::arg("p"), py::arg("seed"), py::arg("offset") = 0,
      py::arg("stream") = 0, "CUDA twin of cpu.dropout_forward: the same mask for the same seed and offset");
  m.def(
      "dropout_backward",
      [](py::object dinput, py::object grad_out, py::object mask, double p, uintptr_t stream) {
        TensorView dx = Arrays::view(dinput, kOp, "dinput"), dy = Arrays::view(grad_out, kOp, "grad_out"),
                   mv = Arrays::view(mask, kOp, "mask");
        const int64_t n = check_pair(dx, dy, "dinput", "grad_out");
        check_mask(mv, n);
        check_p(p);
        py::gil_scoped_release release;
        void* s = reinterpret_cast<void*>(stream);
        if (dy.dtype == DType::f32) cuda::dropout_backward_f32(dx.ptr<float>(), dy.ptr<float>(), mv.ptr<uint8_t>(), n, p, s);
        else cuda::dropout_backward_f64(dx.ptr<double>(), dy.ptr<double>(), mv.ptr<uint8_t>(), n, p, s);
      },
      py::arg("dinput"), py::arg("grad_out"), py::arg("mask"), py::arg("p"), py::arg("stream") = 0,
      "CUDA twin of cpu.dropout_backward");
  m.def("dropout_mask_bytes", &philox::dropout_mask_bytes, py::arg("n"), "Bytes of the keep mask of n elements");
}

}  // namespace

#ifndef NERVE_EMU
void init_dropout(py::module_& cpu, py::module_& cuda) {
  cpu.def(
      "dropout_forward",
      [](py::object out, py::object mask, py::object input, double p, uint64_t seed, uint64_t offset, bool naive) {
        TensorView y = host_out_view(out, kOp, "out");
        TensorView mv;
        if (!mask.is_none()) mv = host_out_view(mask, kOp, "mask");
        TensorView x = host_view(input, kOp, "input");
        const int64_t n = check_pair(y, x, "out", "input");
        if (!mask.is_none()) check_mask(mv, n);
        check_p(p);
        uint8_t* mp = mask.is_none() ? nullptr : mv.ptr<uint8_t>();
        py::gil_scoped_release release;
        dispatch_float(x.dtype, kOp, [&](auto t) {
          using T = decltype(t);
          if (naive) dropout_forward_naive<T>(y.ptr<T>(), mp, x.ptr<T>(), n, p, seed, offset);
          else dropout_forward<T>(y.ptr<T>(), mp, x.ptr<T>(), n, p, seed, offset);
        });
      },
      py::arg("out"), py::arg("mask"), py::arg("input"), py::arg("p"), py::arg("seed"), py::arg("offset") = 0,
      py::arg("naive") = false,
      "out = input * keep / (1 - p), keep drawn by Philox4x32-10 from (seed, offset, element index); "
      "mask (uint8, dropout_mask_bytes(n)) gets the keep bits, or is None");
  cpu.def(
      "dropout_backward",
      [](py::object dinput, py::object grad_out, py::object mask, double p, bool naive) {
        TensorView dx = host_out_view(dinput, kOp, "dinput"), dy = host_view(grad_out, kOp, "grad_out"),
                   mv = host_view(mask, kOp, "mask");
        const int64_t n = check_pair(dx, dy, "dinput", "grad_out");
        check_mask(mv, n);
        check_p(p);
        py::gil_scoped_release release;
        dispatch_float(dy.dtype, kOp, [&](auto t) {
          using T = decltype(t);
          if (naive) dropout_backward_naive<T>(dx.ptr<T>(), dy.ptr<T>(), mv.ptr<uint8_t>(), n, p);
          else dropout_backward<T>(dx.ptr<T>(), dy.ptr<T>(), mv.ptr<uint8_t>(), n, p);
        });
      },
      py::arg("dinput"), py::arg("grad_out"), py::arg("mask"), py::arg("p"), py::arg("naive") = false,
      "dinput = grad_out * keep / (1 - p), keep read from the forward's mask");
  cpu.def("dropout_mask_bytes", &philox::dropout_mask_bytes, py::arg("n"), "Bytes of the keep mask of n elements");
  cpu.def("dropout_backend", &dropout_backend, "Block kernels dropout uses now: 'avx512', 'avx2' or 'generic'");
  def_dropout_cuda<DeviceArrays>(cuda);
}
#else
void init_dropout_emu(py::module_& emu) { def_dropout_cuda<HostArrays>(emu); }
#endif

}  // namespace nerve
