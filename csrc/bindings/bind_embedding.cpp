// bind_embedding.cpp — embedding forward (gather) / backward (deterministic scatter-add) over
// contiguous arrays, on the CPU and (def_embedding_cuda) on CUDA or the emulator. weight is
// (V, D); indices (any shape) int64 or int32; out and grad_out are indices.shape + (D,). An index
// out of range raises IndexError "[embedding] ..." (as torch raises IndexError).
#include "../cuda/embedding.h"
#include "views.h"
#ifndef NERVE_EMU
#include "../cpu/embedding.h"
#endif

namespace nerve {

namespace {

// Contiguous, or empty (TensorView::is_contiguous refuses some empty shapes, e.g. (6, 0)).
void expect_dense(const TensorView& v, const char* op, const char* name) {
  if (v.numel() > 0) expect_contiguous(v, op, name);
}

constexpr const char* kOp = "embedding";

struct EmbShape {
  int64_t n, V, D;
};

// weight (V, D), indices (...), rows (...) + (D,): `rows` is out (forward) or grad_out (backward).
EmbShape check_embedding(const TensorView& weight, const TensorView& indices, const TensorView& rows,
                         const char* wname, const char* rname) {
  expect_float(weight, kOp, wname);
  if (weight.ndim() != 2) fail(kOp, "expected ", wname, " of 2 dimensions (num_embeddings, embedding_dim), got shape ", shape_str(weight.shape));
  expect_dense(weight, kOp, wname);
  if (indices.dtype != DType::i64 && indices.dtype != DType::i32)
    fail(kOp, "expected indices of dtype int64 or int32, got ", dtype_name(indices.dtype));
  expect_dense(indices, kOp, "indices");
  std::vector<int64_t> shape = indices.shape;
  shape.push_back(weight.shape[1]);
  expect_same_dtype(weight, rows, kOp, wname, rname);
  expect_shape(rows, shape, kOp, rname);
  expect_dense(rows, kOp, rname);
  return {indices.numel(), weight.shape[0], weight.shape[1]};
}

[[noreturn, maybe_unused]] void out_of_range(const TensorView& indices, int64_t pos, int64_t V) {
  const int64_t v = indices.dtype == DType::i64 ? indices.ptr<int64_t>()[pos] : indices.ptr<int32_t>()[pos];
  throw py::index_error("[embedding] index " + std::to_string(v) + " at position " + std::to_string(pos) +
                        " is out of range for " + std::to_string(V) + " embeddings");
}

template <class F>
auto dispatch_index(DType d, F&& f) {
  if (d == DType::i64) return f(int64_t{});
  return f(int32_t{});
}

template <class Arrays>
void def_embedding_cuda(py::module_& m) {
  m.def(
      "embedding_forward",
      [](py::object out, py::object weight, py::object indices, py::object status, uintptr_t stream) {
        TensorView y = Arrays::view(out, kOp, "out"), w = Arrays::view(weight, kOp, "weight"),
                   ix = Arrays::view(indices, kOp, "indices"), st = Arrays::view(status, kOp, "status");
        const EmbShape s = check_embedding(w, ix, y, "weight", "out");
        expect_writable_distinct(y, w, kOp, "weight");
        expect_dtype(w, DType::f32, kOp, "weight");
        expect_dtype(st, DType::i64, kOp, "status");
        if (st.numel() != 1) fail(kOp, "status must hold one int64, got shape ", shape_str(st.shape));
        py::gil_scoped_release release;
        cuda::embedding_forward_f32(y.ptr<float>(), w.ptr<float>(), ix.data, ix.dtype == DType::i64, s.n, s.V, s.D,
                                    st.ptr<int64_t>(), reinterpret_cast<void*>(stream));
      },
      py::arg("out"), py::arg("weight"), py::arg("indices"), py::arg("status"), py::arg("stream") = 0,
      "CUDA twin of cpu.embedding_forward (float32): bad indices give zero rows and status[0] = n - first bad "
      "position (status must start at 0)");
  m.def(
      "embedding_backward",
      [](py::object dweight, py::object grad_out, py::object indices, py::object workspace, int64_t padding_idx,
         bool scale_grad_by_freq, uintptr_t stream) {
        TensorView dw = Arrays::view(dweight, kOp, "dweight"), dy = Arrays::view(grad_out, kOp, "grad_out"),
                   ix = Arrays::view(indices, kOp, "indices"), ws = Arrays::view(workspace, kOp, "workspace");
        const EmbShape s = check_embedding(dw, ix, dy, "dweight", "grad_out");
        expect_writable_distinct(dw, dy, kOp, "grad_out");
        expect_dtype(dw, DType::f32, kOp, "dweight");
        if (s.n >= (int64_t{1} << 31) || s.V >= (int64_t{1} << 31))
          fail(kOp, "the CUDA kernel takes fewer than 2^31 indices and rows, got ", s.n, " and ", s.V);
        expect_dtype(ws, DType::i32, kOp, "workspace");
        expect_dense(ws, kOp, "workspace");
        if (ws.numel() < cuda::embedding_workspace(s.n, s.V))
          fail(kOp, "workspace must hold at least ", cuda::embedding_workspace(s.n, s.V), " int32 values, got ",
               ws.numel());
        py::gil_scoped_release release;
        cuda::embedding_backward_f32(dw.ptr<float>(), dy.ptr<float>(), ix.data, ix.dtype == DType::i64, s.n, s.V, s.D,
                                     padding_idx, scale_grad_by_freq, ws.ptr<int32_t>(),
                                     reinterpret_cast<void*>(stream));
      },
      py::arg("dweight"), py::arg("grad_out"), py::arg("indices"), py::arg("workspace"), py::arg("padding_idx") = -1,
      py::arg("scale_grad_by_freq") = false, py::arg("stream") = 0,
      "CUDA twin of cpu.embedding_backward (float32, accumulates, bitwise the CPU result); indices must be valid "
      "(the forward checked them)");
  m.def(
      "embedding_workspace", [](int64_t n, int64_t V, uintptr_t) { return cuda::embedding_workspace(n, V); },
      py::arg("n"), py::arg("V"), py::arg("stream") = 0, "int32 values of scratch embedding_backward needs");
}

}  // namespace

#ifndef NERVE_EMU
void init_embedding(py::module_& cpu, py::module_& cuda) {
  cpu.def(
      "embedding_forward",
      [](py::object out, py::object weight, py::object indices, bool naive) {
        TensorView y = host_out_view(out, kOp, "out"), w = host_view(weight, kOp, "weight"),
                   ix = host_view(indices, kOp, "indices");
        const EmbShape s = check_embedding(w, ix, y, "weight", "out");
        expect_writable_distinct(y, w, kOp, "weight");
        int64_t bad;
        {
          py::gil_scoped_release release;
          bad = dispatch_float(w.dtype, kOp, [&](auto t) {
            using T = decltype(t);
            return dispatch_index(ix.dtype, [&](auto i) {
              using I = decltype(i);
              return naive ? embedding_forward_naive<T, I>(y.ptr<T>(), w.ptr<T>(), ix.ptr<I>(), s.n, s.V, s.D)
                           : embedding_forward<T, I>(y.ptr<T>(), w.ptr<T>(), ix.ptr<I>(), s.n, s.V, s.D);
            });
          });
        }
        if (bad >= 0) out_of_range(ix, bad, s.V);
      },
      py::arg("out"), py::arg("weight"), py::arg("indices"), py::arg("naive") = false,
      "out[...] = weight[indices[...]]: rows of weight (V, D) gathered into out (indices.shape + (D,))");
  cpu.def(
      "embedding_backward",
      [](py::object dweight, py::object grad_out, py::object indices, int64_t padding_idx, bool scale_grad_by_freq,
         bool naive) {
        TensorView dw = host_out_view(dweight, kOp, "dweight"), dy = host_view(grad_out, kOp, "grad_out"),
                   ix = host_view(indices, kOp, "indices");
        const EmbShape s = check_embedding(dw, ix, dy, "dweight", "grad_out");
        expect_writable_distinct(dw, dy, kOp, "grad_out");
        int64_t bad;
        {
          py::gil_scoped_release release;
          bad = dispatch_float(dw.dtype, kOp, [&](auto t) {
            using T = decltype(t);
            return dispatch_index(ix.dtype, [&](auto i) {
              using I = decltype(i);
              auto f = naive ? embedding_backward_naive<T, I> : embedding_backward<T, I>;
              return f(dw.ptr<T>(), dy.ptr<T>(), ix.ptr<I>(), s.n, s.V, s.D, padding_idx, scale_grad_by_freq);
            });
          });
        }
        if (bad >= 0) out_of_range(ix, bad, s.V);
      },
      py::arg("dweight"), py::arg("grad_out"), py::arg("indices"), py::arg("padding_idx") = -1,
      py::arg("scale_grad_by_freq") = false, py::arg("naive") = false,
      "dweight[indices[...]] += grad_out[...] (deterministic: each row sums in index order); rows equal to "
      "padding_idx (-1: none) get nothing");
  def_embedding_cuda<DeviceArrays>(cuda);
}
#else
void init_embedding_emu(py::module_& emu) { def_embedding_cuda<HostArrays>(emu); }
#endif

}  // namespace nerve
