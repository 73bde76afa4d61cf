// module_emu.cpp — nerve._C_emu: nerve's CUDA entry points compiled by g++ and run on the CPU by
// the emulator (cuda_emu.h), for tests. Entries have the names and arguments of nerve._C.cuda but
// take numpy arrays; each family's are bound by init_<family>_emu from its bind_<family>.cpp.
// Faults the emulator finds raise EmuError (a RuntimeError); `testing` holds kernels for its tests.
#include <pybind11/pybind11.h>

#include "cuda_emu.h"

namespace py = pybind11;

namespace nerve {
#define NERVE_EMU_FAMILY(stem) void init_##stem##_emu(py::module_& m);
#include "emu_families.inc"
#undef NERVE_EMU_FAMILY
void init_emu_testing(py::module_& m);
}  // namespace nerve

PYBIND11_MODULE(_C_emu, m) {
  m.doc() = "nerve's CUDA kernels run on the CPU by an emulator (tests only)";
  py::register_exception<nerve_emu::Error>(m, "EmuError", PyExc_RuntimeError);

  m.def("set_order", [](const std::string& order) {
    if (order == "forward") nerve_emu::set_order(nerve_emu::Order::forward);
    else if (order == "reverse") nerve_emu::set_order(nerve_emu::Order::reverse);
    else throw std::invalid_argument("[set_order] expected 'forward' or 'reverse', got '" + order + "'");
  }, py::arg("order"), "Order in which a block's threads run between barriers");
  m.def("order", [] { return nerve_emu::order() == nerve_emu::Order::reverse ? "reverse" : "forward"; });
  m.def("set_threads", &nerve_emu::set_workers, py::arg("n"), "OS threads running blocks");
  m.def("threads", &nerve_emu::workers);
  py::dict build;
#ifdef NERVE_ASAN
  build["asan"] = true;
#else
  build["asan"] = false;
#endif
  m.attr("build_info") = build;

#define NERVE_EMU_FAMILY(stem) nerve::init_##stem##_emu(m);
#include "emu_families.inc"
#undef NERVE_EMU_FAMILY
  py::module_ testing = m.def_submodule("testing", "kernels that exercise the emulator (planted bugs too)");
  nerve::init_emu_testing(testing);
}
