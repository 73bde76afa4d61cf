// module.cpp — nerve._C: the compiled half of nerve. Submodules `cpu` and `cuda` hold the kernels
// (same names on both); each op family binds itself in bind_<family>.cpp through init_<family>.
#include <pybind11/pybind11.h>

namespace py = pybind11;

namespace nerve {
void init_core(py::module_& m);
void init_gemm(py::module_& cpu, py::module_& cuda);
void init_conv(py::module_& cpu, py::module_& cuda);
void init_pool(py::module_& cpu, py::module_& cuda);
void init_optim(py::module_& cpu, py::module_& cuda);
void init_activation(py::module_& cpu, py::module_& cuda);
void init_softmax(py::module_& cpu, py::module_& cuda);
void init_dropout(py::module_& cpu, py::module_& cuda);
void init_loss(py::module_& cpu, py::module_& cuda);
void init_norm(py::module_& cpu, py::module_& cuda);
void init_embedding(py::module_& cpu, py::module_& cuda);
void init_rnn(py::module_& cpu, py::module_& cuda);
void init_attention(py::module_& cpu, py::module_& cuda);
}  // namespace nerve

PYBIND11_MODULE(_C, m) {
  m.doc() = "nerve's hand-written CPU and CUDA kernels";
  py::module_ cpu = m.def_submodule("cpu", "CPU kernels (C++, OpenMP, SIMD intrinsics)");
  py::module_ cuda = m.def_submodule("cuda", "CUDA kernels; every entry raises when nerve was built without CUDA");
  nerve::init_core(m);
  nerve::init_gemm(cpu, cuda);
  nerve::init_conv(cpu, cuda);
  nerve::init_pool(cpu, cuda);
  nerve::init_optim(cpu, cuda);
  nerve::init_activation(cpu, cuda);
  nerve::init_softmax(cpu, cuda);
  nerve::init_dropout(cpu, cuda);
  nerve::init_loss(cpu, cuda);
  nerve::init_norm(cpu, cuda);
  nerve::init_embedding(cpu, cuda);
  nerve::init_rnn(cpu, cuda);
  nerve::init_attention(cpu, cuda);
}
