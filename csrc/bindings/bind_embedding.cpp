// bind_embedding.cpp — embedding forward (gather) / backward (deterministic scatter-add) over
// contiguous arrays, on the CPU and (def_embedding_cuda) on CUDA or the emulator. weight is
// (V, D); indices (any shape) int64 or int32; out and grad_out are indices.shape + (D,). An index
// out of range raises IndexError "[embedding] ..." (as torch raises IndexError).
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

[[noreturn]] void out_of_range(const TensorView& indices, int64_t pos, int64_t V) {
  const int64_t v = indices.dtype == DType::i64 ? indices.ptr<int64_t>()[pos] : indices.ptr<int32_t>()[pos];
  throw py::index_error("[embedding] index " + std::to_string(v) + " at position " + std::to_string(pos) +
                        " is out of range for " + std::to_string(V) + " embeddings");
}

template <class F>
auto dispatch_index(DType d, F&& f) {
  if (d == DType::i64) return f(int64_t{});
  return f(int32_t{});
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
  (void)cuda;
}
#endif

}  // namespace nerve
