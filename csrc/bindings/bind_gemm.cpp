// bind_gemm.cpp — out = alpha * a @ b + beta * out over strided 2-D or 3-D (batched) arrays.
// Transposes and broadcast batches arrive as strides (numpy .T / broadcast_to), never copies.
//
// The pattern of a family with a CUDA twin (csrc/cuda/<family>.cu):
//   def_<family>_cuda<Arrays>(m)  binds the CUDA entry points once; Arrays::view reads arguments.
//   init_<family>(cpu, cuda)      nerve._C: the CPU kernels, and def_<family>_cuda<DeviceArrays>.
//   init_<family>_emu(emu)        nerve._C_emu (this file compiled again with NERVE_EMU, next to
//                                 <family>.cu compiled by g++): def_<family>_cuda<HostArrays>, the
//                                 same entries over numpy arrays, kernels run by the emulator.
// csrc/emu/CMakeLists.txt finds the families by file name; module_emu.cpp needs no edit.
#include "../cpu/gemm.h"
#include "../cuda/gemm.h"
#include "views.h"

namespace nerve {

namespace {

struct GemmViews {
  TensorView out, a, b;
  GemmSize size;
  MatStrides so, sa, sb;
};

// Byte range [lo, hi) that a view can touch.
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

bool overlap(const TensorView& x, const TensorView& y) {
  const char *xl, *xh, *yl, *yh;
  extent(x, &xl, &xh);
  extent(y, &yl, &yh);
  return xl < yh && yl < xh;
}

#ifndef NERVE_EMU
TensorView cpu_view(py::handle obj, const char* name, bool written) {
  return written ? host_out_view(obj, "matmul", name) : host_view(obj, "matmul", name);
}
#endif

GemmViews check_gemm(TensorView out, TensorView a, TensorView b) {
  const char* op = "matmul";
  expect_float(a, op, "a");
  expect_same_dtype(a, b, op, "a", "b");
  expect_same_dtype(a, out, op, "a", "out");
  if (a.ndim() != b.ndim() || a.ndim() != out.ndim() || a.ndim() < 2 || a.ndim() > 3)
    fail(op, "expected a, b and out all 2-D or all 3-D, got shapes ", shape_str(a.shape), ", ", shape_str(b.shape),
         " and ", shape_str(out.shape));
  const bool batched = a.ndim() == 3;
  const int r = batched ? 1 : 0;
  GemmSize n{batched ? a.shape[0] : 1, a.shape[r], b.shape[r + 1], a.shape[r + 1]};
  if (b.shape[r] != n.K)
    fail(op, "inner dimensions differ: a is ", shape_str(a.shape), ", b is ", shape_str(b.shape));
  if (batched && (b.shape[0] != n.batch || out.shape[0] != n.batch))
    fail(op, "batch sizes differ: a ", shape_str(a.shape), ", b ", shape_str(b.shape), ", out ", shape_str(out.shape));
  if (out.shape[r] != n.M || out.shape[r + 1] != n.N)
    fail(op, "out has shape ", shape_str(out.shape), ", expected (", batched ? std::to_string(n.batch) + ", " : "",
         n.M, ", ", n.N, ")");
  for (int d = 0; d < out.ndim() && out.numel() > 0; ++d)  // an empty array may carry zero strides
    if (out.shape[d] > 1 && out.strides[d] == 0) fail(op, "out must not be a broadcast view");
  if (overlap(out, a) || overlap(out, b)) fail(op, "out must not share memory with a or b");
  auto strides = [&](const TensorView& v) {
    return MatStrides{v.strides[r], v.strides[r + 1], batched ? v.strides[0] : 0};
  };
  return {out, a, b, n, strides(out), strides(a), strides(b)};
}

template <class Arrays>
void def_gemm_cuda(py::module_& m) {
  m.def(
      "gemm",
      [](py::object out, py::object a, py::object b, double alpha, double beta, uintptr_t stream,
         const std::string& kernel) {
        TensorView vo = Arrays::view(out, "matmul", "out"), va = Arrays::view(a, "matmul", "a"),
                   vb = Arrays::view(b, "matmul", "b");  // in order, so the first bad argument is named
        GemmViews g = check_gemm(vo, va, vb);
        expect_dtype(g.a, DType::f32, "matmul", "a");
        const int k = kernel == "auto"      ? 0
                      : kernel == "simple"  ? 1
                      : kernel == "tile64"  ? 2
                      : kernel == "tile128" ? 3
                                            : -1;
        if (k < 0) fail("matmul", "kernel must be 'auto', 'simple', 'tile64' or 'tile128', got '", kernel, "'");
        py::gil_scoped_release release;
        cuda::gemm_f32(g.out.ptr<float>(), g.so, g.a.ptr<float>(), g.sa, g.b.ptr<float>(), g.sb, g.size,
                       float(alpha), float(beta), reinterpret_cast<void*>(stream), k);
      },
      py::arg("out"), py::arg("a"), py::arg("b"), py::arg("alpha") = 1.0, py::arg("beta") = 0.0,
      py::arg("stream") = 0, py::arg("kernel") = "auto",
      "CUDA twin of cpu.gemm (float32); kernel: 'auto', 'simple' (the reference), 'tile64' or 'tile128'");
}

}  // namespace

#ifndef NERVE_EMU
void init_gemm(py::module_& cpu, py::module_& cuda) {
  cpu.def(
      "gemm",
      [](py::object out, py::object a, py::object b, double alpha, double beta, bool naive) {
        GemmViews g = check_gemm(cpu_view(out, "out", true), cpu_view(a, "a", false), cpu_view(b, "b", false));
        py::gil_scoped_release release;
        dispatch_float(g.a.dtype, "matmul", [&](auto t) {
          using T = decltype(t);
          if (naive)
            gemm_naive<T>(g.out.ptr<T>(), g.so, g.a.ptr<T>(), g.sa, g.b.ptr<T>(), g.sb, g.size, T(alpha), T(beta));
          else
            gemm<T>(g.out.ptr<T>(), g.so, g.a.ptr<T>(), g.sa, g.b.ptr<T>(), g.sb, g.size, T(alpha), T(beta));
        });
      },
      py::arg("out"), py::arg("a"), py::arg("b"), py::arg("alpha") = 1.0, py::arg("beta") = 0.0,
      py::arg("naive") = false,
      "out = alpha * a @ b + beta * out for 2-D or batched 3-D float arrays with any strides");
  cpu.def(
      "gemm_prepacked",
      [](py::object out, py::object a, py::object b, double alpha, double beta) {
        GemmViews g = check_gemm(cpu_view(out, "out", true), cpu_view(a, "a", false), cpu_view(b, "b", false));
        if (g.a.ndim() != 2) fail("matmul", "gemm_prepacked takes 2-D arrays, got a of shape ", shape_str(g.a.shape));
        if (g.so.cs != 1) fail("matmul", "gemm_prepacked needs out's rows contiguous");
        py::gil_scoped_release release;
        dispatch_float(g.a.dtype, "matmul", [&](auto t) {
          using T = decltype(t);
          const PackedB<T> pb(g.b.ptr<T>(), g.sb, g.size.K, g.size.N);
          pb.gemm(g.out.ptr<T>(), g.so, g.a.ptr<T>(), g.sa, g.size.M, T(alpha), T(beta));
        });
      },
      py::arg("out"), py::arg("a"), py::arg("b"), py::arg("alpha") = 1.0, py::arg("beta") = 0.0,
      "cpu.gemm through PackedB (b packed once, then one product on the calling thread): for tests");
  cpu.def(
      "gemm_choice",
      [](py::object out, py::object a, py::object b) {
        GemmViews g = check_gemm(cpu_view(out, "out", true), cpu_view(a, "a", false), cpu_view(b, "b", false));
        GemmPath c = GemmPath::kPacked;
        dispatch_float(g.a.dtype, "matmul", [&](auto t) { c = gemm_choice<decltype(t)>(g.so, g.sa, g.sb, g.size); });
        return std::string(c == GemmPath::kDirect ? "direct" : "packed");
      },
      py::arg("out"), py::arg("a"), py::arg("b"),
      "'direct' or 'packed': the path cpu.gemm(out, a, b) takes under the current gemm_path setting");
  cpu.def("gemm_backend", &gemm_backend, "SIMD back end cpu.gemm uses now: 'avx512', 'avx2' or 'generic'");
  cpu.def(
      "gemm_path",
      [](py::object name) {
        static const char* names[] = {"auto", "packed", "direct"};
        const std::string old = names[static_cast<int>(gemm_path())];
        if (!name.is_none()) {
          const std::string n = name.cast<std::string>();
          int i = 0;
          while (i < 3 && n != names[i]) ++i;
          if (i == 3) fail("gemm_path", "expected 'auto', 'packed' or 'direct', got '", n, "'");
          set_gemm_path(static_cast<GemmPath>(i));
        }
        return old;
      },
      py::arg("name") = py::none(),
      "Returns the CPU GEMM path preference and sets it when a name is given: 'auto' (direct kernels on "
      "small matrices, packed panels otherwise), 'packed' or 'direct' (wherever the strides allow)");
  cpu.def(
      "fma_peak_gflops",
      [](int threads) {
        py::gil_scoped_release release;
        return fma_peak_gflops(threads);
      },
      py::arg("threads") = 0,
      "Measured FMA throughput (GFLOP/s) of `threads` threads (0: nerve's thread count) with the current ISA");
  def_gemm_cuda<DeviceArrays>(cuda);
}
#else
void init_gemm_emu(py::module_& emu) { def_gemm_cuda<HostArrays>(emu); }
#endif

}  // namespace nerve
