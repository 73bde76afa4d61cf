// bind_core.cpp — threads, ISA detection and build facts for nerve.show_config().
#include <pybind11/pybind11.h>

#include "../core/check.h"
#include "../core/cpu_features.h"
#include "../core/parallel.h"
#include "../cuda/runtime.h"

namespace nerve {
namespace py = pybind11;

static const char* compiler() {
#if defined(__clang__)
  return "clang " __clang_version__;
#elif defined(__GNUC__)
  return "g++ " __VERSION__;
#else
  return "unknown";
#endif
}

void init_core(py::module_& m) {
  m.def("set_num_threads", &set_num_threads, py::arg("n"), "Threads used by CPU kernels (<= 0 resets)");
  m.def("get_num_threads", &num_threads);
  m.def("isa", [] { return isa_name(isa()); }, "SIMD instruction set the kernels use now");
  m.def("set_isa", [](const std::string& name) {
    if (name == "avx512") set_isa(Isa::avx512);
    else if (name == "avx2") set_isa(Isa::avx2);
    else if (name == "generic") set_isa(Isa::generic);
    else fail("set_isa", "expected 'avx512', 'avx2' or 'generic', got '", name, "'");
  }, py::arg("name"), "Caps the SIMD instruction set (for tests); never raises it above what the CPU has");
  m.def("cpu_features", [] {
    const CpuFeatures& f = cpu_features();
    py::dict d;
    d["avx2"] = f.avx2; d["fma"] = f.fma; d["avx512f"] = f.avx512f; d["avx512bw"] = f.avx512bw;
    d["avx512dq"] = f.avx512dq; d["avx512vl"] = f.avx512vl;
    return d;
  });
  py::dict build;
  build["compiler"] = compiler();
  build["openmp"] = openmp_enabled();
  build["cuda"] = cuda::compiled();
  build["cuda_archs"] = cuda::compiled_archs();
  build["cuda_runtime_version"] = cuda::runtime_version();
  m.attr("build_info") = build;
  m.def("cuda_device_count", &cuda::device_count, "CUDA devices that answer (0 without CUDA or a driver)");
  m.def("cuda_synchronize", &cuda::synchronize);
}

}  // namespace nerve
