// bind_attention.cpp — scaled dot-product attention forward and backward (csrc/cpu/attention.h) and
// the CUDA twins (csrc/cuda/attention.h). q (B, L, E), k (B, S, E), v (B, S, Ev) contiguous, B the
// folded batch (N * heads); the mask, when given, is a 4-D (N, heads, L, S) view with any strides
// (0 for broadcast dimensions), bool (true: take part) or of the scores' dtype (added). The seed
// drives dropout's counter-based mask, so backward regenerates forward's.
#include "../cpu/attention.h"
#include "../cuda/attention.h"
#include "views.h"

namespace nerve {

namespace {

struct AttnArgs {
  TensorView q, k, v;
  AttnMask mask;
  AttnShape s;
  AttnOptions o;
};

struct CpuArrays {
  static TensorView in(py::handle o, const char* op, const char* n) { return host_view(o, op, n); }
  static TensorView out(py::handle o, const char* op, const char* n) { return host_out_view(o, op, n); }
};
template <class A>
struct CudaArrays {
  static TensorView in(py::handle o, const char* op, const char* n) { return A::view(o, op, n); }
  static TensorView out(py::handle o, const char* op, const char* n) { return A::view(o, op, n); }
};

void expect_3d(const TensorView& v, const TensorView& like, const char* op, const char* name) {
  if (v.ndim() != 3) fail(op, "expected ", name, " of 3 dimensions (batch, rows, features), got shape ",
                          shape_str(v.shape));
  expect_same_dtype(like, v, op, "query", name);
  expect_contiguous(v, op, name);
}

template <class A>
AttnArgs check_attention(py::handle q, py::handle k, py::handle v, py::handle mask, bool causal, double scale,
                         double dropout_p, uint64_t seed, const char* op) {
  AttnArgs a;
  a.q = A::in(q, op, "query");
  a.k = A::in(k, op, "key");
  a.v = A::in(v, op, "value");
  expect_float(a.q, op, "query");
  expect_3d(a.q, a.q, op, "query");
  expect_3d(a.k, a.q, op, "key");
  expect_3d(a.v, a.q, op, "value");
  const int64_t B = a.q.shape[0], L = a.q.shape[1], E = a.q.shape[2], S = a.k.shape[1], Ev = a.v.shape[2];
  if (a.k.shape[0] != B || a.v.shape[0] != B)
    fail(op, "query, key and value must have the same batch size, got ", shape_str(a.q.shape), ", ",
         shape_str(a.k.shape), " and ", shape_str(a.v.shape));
  if (a.k.shape[2] != E) fail(op, "key has ", a.k.shape[2], " features, query has ", E);
  if (a.v.shape[1] != S) fail(op, "value has ", a.v.shape[1], " positions, key has ", S);
  a.s = AttnShape{B, L, S, E, Ev, 1};
  if (!mask.is_none()) {
    TensorView m = A::in(mask, op, "attn_mask");
    if (m.ndim() != 4) fail(op, "expected attn_mask as a 4-D (N, heads, L, S) view, got shape ", shape_str(m.shape));
    if (m.shape[0] * m.shape[1] != B || m.shape[2] != L || m.shape[3] != S)
      fail(op, "attn_mask of shape ", shape_str(m.shape), " does not match ", B, " attention batches of ", L,
           " queries and ", S, " keys");
    if (m.dtype == DType::b8) {
      a.mask.is_bool = true;
    } else if (m.dtype != a.q.dtype) {
      fail(op, "attn_mask must be bool or of the query's dtype (", dtype_name(a.q.dtype), "), got ",
           dtype_name(m.dtype));
    }
    a.mask.data = m.data;
    a.mask.sn = m.strides[0], a.mask.sh = m.strides[1], a.mask.sl = m.strides[2], a.mask.ss = m.strides[3];
    a.s.heads = m.shape[1] > 0 ? m.shape[1] : 1;
  }
  if (!(scale == scale)) fail(op, "scale must be a number, got NaN");
  if (!(dropout_p >= 0 && dropout_p <= 1)) fail(op, "dropout_p must be in [0, 1], got ", dropout_p);
  a.o = AttnOptions{scale, causal, dropout_p, seed};
  return a;
}

void expect_out(const TensorView& v, const TensorView& like, std::vector<int64_t> shape, const char* op,
                const char* name) {
  expect_same_dtype(like, v, op, "query", name);
  expect_shape(v, shape, op, name);
  expect_contiguous(v, op, name);
}

struct AttnGrads {
  TensorView dq, dk, dv, dmask, delta, dout, out, lse;
};

template <class A>
AttnGrads check_grads(const AttnArgs& a, py::handle dq, py::handle dk, py::handle dv, py::handle dmask,
                      py::handle delta, py::handle dout, py::handle out, py::handle lse, const char* op) {
  const AttnShape& s = a.s;
  AttnGrads g;
  g.dq = A::out(dq, op, "dquery");
  g.dk = A::out(dk, op, "dkey");
  g.dv = A::out(dv, op, "dvalue");
  g.delta = A::out(delta, op, "delta");
  g.dout = A::in(dout, op, "grad_out");
  g.out = A::in(out, op, "out");
  g.lse = A::in(lse, op, "lse");
  expect_out(g.dq, a.q, {s.B, s.L, s.E}, op, "dquery");
  expect_out(g.dk, a.q, {s.B, s.S, s.E}, op, "dkey");
  expect_out(g.dv, a.q, {s.B, s.S, s.Ev}, op, "dvalue");
  expect_out(g.delta, a.q, {s.B, s.L}, op, "delta");
  expect_out(g.dout, a.q, {s.B, s.L, s.Ev}, op, "grad_out");
  expect_out(g.out, a.q, {s.B, s.L, s.Ev}, op, "out");
  expect_out(g.lse, a.q, {s.B, s.L}, op, "lse");
  if (!dmask.is_none()) {
    g.dmask = A::out(dmask, op, "dmask");
    expect_out(g.dmask, a.q, {s.B, s.L, s.S}, op, "dmask");
    if (a.mask.is_bool || !a.mask.data) fail(op, "dmask is the gradient of a float attn_mask; none was given");
  }
  return g;
}

template <class Arrays>
void def_attention_cuda(py::module_& m) {
  using A = CudaArrays<Arrays>;
  m.def(
      "attention_forward",
      [](py::object out, py::object lse, py::object q, py::object k, py::object v, py::object mask, bool causal,
         double scale, double dropout_p, uint64_t seed, uintptr_t stream, std::string op) {
        const char* o = op.c_str();
        TensorView vo = A::out(out, o, "out"), vl = A::out(lse, o, "lse");
        AttnArgs a = check_attention<A>(q, k, v, mask, causal, scale, dropout_p, seed, o);
        expect_dtype(a.q, DType::f32, o, "query");
        expect_out(vo, a.q, {a.s.B, a.s.L, a.s.Ev}, o, "out");
        expect_out(vl, a.q, {a.s.B, a.s.L}, o, "lse");
        cuda::check_attention_sizes(a.s, o);
        py::gil_scoped_release release;
        cuda::attention_forward_f32(vo.ptr<float>(), vl.ptr<float>(), a.q.ptr<float>(), a.k.ptr<float>(),
                                    a.v.ptr<float>(), a.mask, a.s, a.o, reinterpret_cast<void*>(stream));
      },
      py::arg("out"), py::arg("lse"), py::arg("query"), py::arg("key"), py::arg("value"), py::arg("attn_mask"),
      py::arg("is_causal") = false, py::arg("scale") = 1.0, py::arg("dropout_p") = 0.0, py::arg("seed") = 0,
      py::arg("stream") = 0, py::arg("op") = "scaled_dot_product_attention",
      "CUDA twin of cpu.attention_forward (float32, head sizes up to 128)");
  m.def(
      "attention_backward",
      [](py::object dq, py::object dk, py::object dv, py::object dmask, py::object delta, py::object dout,
         py::object q, py::object k, py::object v, py::object out, py::object lse, py::object mask, bool causal,
         double scale, double dropout_p, uint64_t seed, uintptr_t stream, std::string op) {
        const char* o = op.c_str();
        AttnArgs a = check_attention<A>(q, k, v, mask, causal, scale, dropout_p, seed, o);
        expect_dtype(a.q, DType::f32, o, "query");
        AttnGrads g = check_grads<A>(a, dq, dk, dv, dmask, delta, dout, out, lse, o);
        cuda::check_attention_sizes(a.s, o);
        py::gil_scoped_release release;
        cuda::attention_backward_f32(g.dq.ptr<float>(), g.dk.ptr<float>(), g.dv.ptr<float>(),
                                     g.dmask.data ? g.dmask.ptr<float>() : nullptr, g.delta.ptr<float>(),
                                     g.dout.ptr<float>(), a.q.ptr<float>(), a.k.ptr<float>(), a.v.ptr<float>(),
                                     g.out.ptr<float>(), g.lse.ptr<float>(), a.mask, a.s, a.o,
                                     reinterpret_cast<void*>(stream));
      },
      py::arg("dquery"), py::arg("dkey"), py::arg("dvalue"), py::arg("dmask"), py::arg("delta"), py::arg("grad_out"),
      py::arg("query"), py::arg("key"), py::arg("value"), py::arg("out"), py::arg("lse"), py::arg("attn_mask"),
      py::arg("is_causal") = false, py::arg("scale") = 1.0, py::arg("dropout_p") = 0.0, py::arg("seed") = 0,
      py::arg("stream") = 0, py::arg("op") = "scaled_dot_product_attention",
      "CUDA twin of cpu.attention_backward (float32)");
}

}  // namespace

#ifndef NERVE_EMU
void init_attention(py::module_& cpu, py::module_& cuda) {
  using A = CpuArrays;
  cpu.def(
      "attention_forward",
      [](py::object out, py::object lse, py::object q, py::object k, py::object v, py::object mask, bool causal,
         double scale, double dropout_p, uint64_t seed, bool naive, std::string op) {
        const char* o = op.c_str();
        TensorView vo = A::out(out, o, "out"), vl = A::out(lse, o, "lse");
        AttnArgs a = check_attention<A>(q, k, v, mask, causal, scale, dropout_p, seed, o);
        expect_out(vo, a.q, {a.s.B, a.s.L, a.s.Ev}, o, "out");
        expect_out(vl, a.q, {a.s.B, a.s.L}, o, "lse");
        expect_writable_distinct(vo, a.q, o, "query");
        py::gil_scoped_release release;
        dispatch_float(a.q.dtype, o, [&](auto t) {
          using T = decltype(t);
          if (naive)
            attention_forward_naive<T>(vo.ptr<T>(), vl.ptr<T>(), a.q.ptr<T>(), a.k.ptr<T>(), a.v.ptr<T>(), a.mask,
                                       a.s, a.o);
          else
            attention_forward<T>(vo.ptr<T>(), vl.ptr<T>(), a.q.ptr<T>(), a.k.ptr<T>(), a.v.ptr<T>(), a.mask, a.s,
                                 a.o);
        });
      },
      py::arg("out"), py::arg("lse"), py::arg("query"), py::arg("key"), py::arg("value"), py::arg("attn_mask"),
      py::arg("is_causal") = false, py::arg("scale") = 1.0, py::arg("dropout_p") = 0.0, py::arg("seed") = 0,
      py::arg("naive") = false, py::arg("op") = "scaled_dot_product_attention",
      "out (B,L,Ev), lse (B,L) = softmax(scale q k^T + mask) v with dropout; blocked, online softmax");
  cpu.def(
      "attention_backward",
      [](py::object dq, py::object dk, py::object dv, py::object dmask, py::object delta, py::object dout,
         py::object q, py::object k, py::object v, py::object out, py::object lse, py::object mask, bool causal,
         double scale, double dropout_p, uint64_t seed, bool naive, std::string op) {
        const char* o = op.c_str();
        AttnArgs a = check_attention<A>(q, k, v, mask, causal, scale, dropout_p, seed, o);
        AttnGrads g = check_grads<A>(a, dq, dk, dv, dmask, delta, dout, out, lse, o);
        py::gil_scoped_release release;
        dispatch_float(a.q.dtype, o, [&](auto t) {
          using T = decltype(t);
          T* dm = g.dmask.data ? g.dmask.ptr<T>() : nullptr;
          if (naive)
            attention_backward_naive<T>(g.dq.ptr<T>(), g.dk.ptr<T>(), g.dv.ptr<T>(), dm, g.delta.ptr<T>(),
                                        g.dout.ptr<T>(),
                                        a.q.ptr<T>(), a.k.ptr<T>(), a.v.ptr<T>(), a.mask, a.s, a.o);
          else
            attention_backward<T>(g.dq.ptr<T>(), g.dk.ptr<T>(), g.dv.ptr<T>(), dm, g.delta.ptr<T>(),
                                  g.dout.ptr<T>(), a.q.ptr<T>(), a.k.ptr<T>(), a.v.ptr<T>(), g.out.ptr<T>(),
                                  g.lse.ptr<T>(), a.mask, a.s, a.o);
        });
      },
      py::arg("dquery"), py::arg("dkey"), py::arg("dvalue"), py::arg("dmask"), py::arg("delta"), py::arg("grad_out"),
      py::arg("query"), py::arg("key"), py::arg("value"), py::arg("out"), py::arg("lse"), py::arg("attn_mask"),
      py::arg("is_causal") = false, py::arg("scale") = 1.0, py::arg("dropout_p") = 0.0, py::arg("seed") = 0,
      py::arg("naive") = false, py::arg("op") = "scaled_dot_product_attention",
      "dquery, dkey, dvalue (=), dmask (= dS, for a float mask) or None, delta (B,L) = rowsum(grad_out * out)");
  def_attention_cuda<DeviceArrays>(cuda);
}
#else
void init_attention_emu(py::module_& emu) { def_attention_cuda<HostArrays>(emu); }
#endif

}  // namespace nerve
