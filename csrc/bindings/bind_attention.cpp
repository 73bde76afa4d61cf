// bind_attention.cpp — scaled dot-product attention forward and backward (csrc/cpu/attention.h) and
// the CUDA twins (csrc/cuda/attention.h). q (N, heads, L, E), k (N, heads, S, E), v (N, heads, S, Ev)
// and out (N, heads, L, Ev) are 4-D views with contiguous features and any other strides (so the
// heads of a (N, L, heads*E) projection are read in place); the gradients dq, dk, dv, dout must
// have the strides of q, k, v, out. lse and delta are contiguous (N, heads, L). The mask, when
// given, is a (N, heads, L, S) view with any strides (0 for broadcast dimensions), bool (true:
// take part) or of the scores' dtype (added). The seed drives dropout's counter-based mask, so
// backward regenerates forward's.
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

// A (N, heads, rows, features) view with contiguous features; returns its layout.
AttnLayout expect_heads(const TensorView& v, const TensorView& like, const char* op, const char* name) {
  if (v.ndim() != 4)
    fail(op, "expected ", name, " of 4 dimensions (N, heads, rows, features), got shape ", shape_str(v.shape));
  expect_same_dtype(like, v, op, "query", name);
  if (v.shape[3] > 1 && v.strides[3] != 1) fail(op, name, " must have contiguous features (last stride 1)");
  for (int d = 0; d < 3; ++d)
    if (v.shape[d] > 1 && v.strides[d] == 0) fail(op, name, " must not be a broadcast view");
  return AttnLayout{v.strides[0], v.strides[1], v.strides[2]};
}

template <class A>
AttnArgs check_attention(py::handle q, py::handle k, py::handle v, py::handle mask, bool causal, double scale,
                         double dropout_p, uint64_t seed, const char* op) {
  AttnArgs a;
  a.q = A::in(q, op, "query");
  a.k = A::in(k, op, "key");
  a.v = A::in(v, op, "value");
  expect_float(a.q, op, "query");
  const AttnLayout lq = expect_heads(a.q, a.q, op, "query");
  const AttnLayout lk = expect_heads(a.k, a.q, op, "key");
  const AttnLayout lv = expect_heads(a.v, a.q, op, "value");
  const int64_t N = a.q.shape[0], H = a.q.shape[1], L = a.q.shape[2], E = a.q.shape[3];
  const int64_t S = a.k.shape[2], Ev = a.v.shape[3];
  if (a.k.shape[0] != N || a.v.shape[0] != N || a.k.shape[1] != H || a.v.shape[1] != H)
    fail(op, "query, key and value must have the same batch and heads, got ", shape_str(a.q.shape), ", ",
         shape_str(a.k.shape), " and ", shape_str(a.v.shape));
  if (a.k.shape[3] != E) fail(op, "key has ", a.k.shape[3], " features, query has ", E);
  if (a.v.shape[2] != S) fail(op, "value has ", a.v.shape[2], " positions, key has ", S);
  a.s = AttnShape{N * H, L, S, E, Ev, H > 0 ? H : 1, lq, lk, lv, attn_contiguous(H, L, Ev)};
  if (!mask.is_none()) {
    TensorView m = A::in(mask, op, "attn_mask");
    if (m.ndim() != 4 || m.shape[0] != N || m.shape[1] != H || m.shape[2] != L || m.shape[3] != S)
      fail(op, "attn_mask of shape ", shape_str(m.shape), " does not match (N, heads, L, S) = (", N, ", ", H, ", ", L,
           ", ", S, ")");
    if (m.dtype == DType::b8) {
      a.mask.is_bool = true;
    } else if (m.dtype != a.q.dtype) {
      fail(op, "attn_mask must be bool or of the query's dtype (", dtype_name(a.q.dtype), "), got ",
           dtype_name(m.dtype));
    }
    a.mask.data = m.data;
    a.mask.sn = m.strides[0], a.mask.sh = m.strides[1], a.mask.sl = m.strides[2], a.mask.ss = m.strides[3];
  }
  if (!(scale == scale)) fail(op, "scale must be a number, got NaN");
  if (!(dropout_p >= 0 && dropout_p <= 1)) fail(op, "dropout_p must be in [0, 1], got ", dropout_p);
  a.o = AttnOptions{scale, causal, dropout_p, seed};
  return a;
}

// out (N, heads, L, Ev): sets the output layout.
void expect_out_view(const TensorView& v, AttnArgs& a, const char* op) {
  a.s.o = expect_heads(v, a.q, op, "out");
  const int64_t N = a.q.shape[0], H = a.q.shape[1];
  expect_shape(v, {N, H, a.s.L, a.s.Ev}, op, "out");
}

void expect_rows(const TensorView& v, const AttnArgs& a, const char* op, const char* name) {
  expect_same_dtype(a.q, v, op, "query", name);
  expect_shape(v, {a.q.shape[0], a.q.shape[1], a.s.L}, op, name);
  expect_contiguous(v, op, name);
}

// A gradient with the shape and strides of the array it belongs to (they share one layout).
void expect_like(const TensorView& g, const TensorView& x, const char* op, const char* gname, const char* xname) {
  expect_same_dtype(x, g, op, xname, gname);
  expect_shape(g, x.shape, op, gname);
  if (g.strides != x.strides && g.numel() > 1)
    fail(op, gname, " must have the strides of ", xname, " (", shape_str(x.strides), "), got ", shape_str(g.strides));
}

struct AttnGrads {
  TensorView dq, dk, dv, dmask, delta, dout, out, lse;
};

template <class A>
AttnGrads check_grads(AttnArgs& a, py::handle dq, py::handle dk, py::handle dv, py::handle dmask, py::handle delta,
                      py::handle dout, py::handle out, py::handle lse, const char* op) {
  const AttnShape& s = a.s;
  AttnGrads g;
  g.dq = A::out(dq, op, "dquery");
  g.dk = A::out(dk, op, "dkey");
  g.dv = A::out(dv, op, "dvalue");
  g.delta = A::out(delta, op, "delta");
  g.dout = A::in(dout, op, "grad_out");
  g.out = A::in(out, op, "out");
  g.lse = A::in(lse, op, "lse");
  expect_out_view(g.out, a, op);
  expect_like(g.dq, a.q, op, "dquery", "query");
  expect_like(g.dk, a.k, op, "dkey", "key");
  expect_like(g.dv, a.v, op, "dvalue", "value");
  expect_like(g.dout, g.out, op, "grad_out", "out");
  expect_rows(g.delta, a, op, "delta");
  expect_rows(g.lse, a, op, "lse");
  if (!dmask.is_none()) {
    g.dmask = A::out(dmask, op, "dmask");
    expect_same_dtype(a.q, g.dmask, op, "query", "dmask");
    expect_shape(g.dmask, {a.q.shape[0], a.q.shape[1], s.L, s.S}, op, "dmask");
    expect_contiguous(g.dmask, op, "dmask");
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
        expect_out_view(vo, a, o);
        expect_rows(vl, a, o, "lse");
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
        expect_out_view(vo, a, o);
        expect_rows(vl, a, o, "lse");
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
      "out (N,H,L,Ev), lse (N,H,L) = softmax(scale q k^T + mask) v with dropout; blocked, online softmax");
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
      "dquery, dkey, dvalue (=), dmask (= dS, for a float mask) or None, delta (N,H,L) = rowsum(grad_out * out)");
  def_attention_cuda<DeviceArrays>(cuda);
}
#else
void init_attention_emu(py::module_& emu) { def_attention_cuda<HostArrays>(emu); }
#endif

}  // namespace nerve
