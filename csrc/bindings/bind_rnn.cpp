// bind_rnn.cpp — one direction of one recurrent layer (RNN_TANH, RNN_RELU, LSTM, GRU) over a whole
// sequence, forward and backward (csrc/cpu/rnn.h), and the same entries on CUDA (csrc/cuda/rnn.h).
// Layout: x (S, B, I); y a (S, B, H) view whose rows may be spaced wider than H (a bidirectional
// layer passes y[:, :, :H] and y[:, :, H:] of one (S, B, 2H) array); weights as torch stores them.
// Optional arguments are None. The workspace ws (1-D, rnn_workspace_size) is filled by forward and
// read by backward; scratch (rnn_scratch_size) is backward's own.
#include "../cpu/rnn.h"
#include "../cuda/rnn.h"
#include "views.h"

namespace nerve {

namespace {

RnnMode parse_mode(const std::string& m, const char* op) {
  if (m == "RNN_TANH") return RnnMode::rnn_tanh;
  if (m == "RNN_RELU") return RnnMode::rnn_relu;
  if (m == "LSTM") return RnnMode::lstm;
  if (m == "GRU") return RnnMode::gru;
  fail(op, "mode must be 'RNN_TANH', 'RNN_RELU', 'LSTM' or 'GRU', got '", m, "'");
}

template <class T>
const T* cptr(const TensorView& v) { return v.data ? v.ptr<T>() : nullptr; }
template <class T>
T* mptr(const TensorView& v) { return v.data ? v.ptr<T>() : nullptr; }

// Where arrays come from: the CPU entries read numpy arrays (outputs must be writable); the CUDA
// entries read device arrays (or numpy arrays under the emulator) through A::view.
struct CpuArrays {
  static TensorView in(py::handle o, const char* op, const char* n) { return host_view(o, op, n); }
  static TensorView out(py::handle o, const char* op, const char* n) { return host_out_view(o, op, n); }
};
template <class A>
struct CudaArrays {
  static TensorView in(py::handle o, const char* op, const char* n) { return A::view(o, op, n); }
  static TensorView out(py::handle o, const char* op, const char* n) { return A::view(o, op, n); }
};

template <class A>
TensorView opt_in(py::handle o, const char* op, const char* n) { return o.is_none() ? TensorView{} : A::in(o, op, n); }
template <class A>
TensorView opt_out(py::handle o, const char* op, const char* n) { return o.is_none() ? TensorView{} : A::out(o, op, n); }

// The arguments both directions of the computation share: the layer's inputs and weights.
struct Layer {
  TensorView x, w_ih, w_hh, b_ih, b_hh, h0, c0, lengths, ws;
  RnnShape s;
};

void expect_matrix(const TensorView& v, const TensorView& like, int64_t rows, int64_t cols, const char* op,
                   const char* name) {
  expect_same_dtype(like, v, op, "input", name);
  expect_shape(v, {rows, cols}, op, name);
  expect_contiguous(v, op, name);
}

void expect_opt_vector(const TensorView& v, const TensorView& like, int64_t n, const char* op, const char* name) {
  if (!v.data && v.shape.empty()) return;
  expect_same_dtype(like, v, op, "input", name);
  expect_shape(v, {n}, op, name);
  expect_contiguous(v, op, name);
}

void expect_opt_matrix(const TensorView& v, const TensorView& like, int64_t rows, int64_t cols, const char* op,
                       const char* name) {
  if (!v.data && v.shape.empty()) return;
  expect_matrix(v, like, rows, cols, op, name);
}

bool given(const TensorView& v) { return v.data || !v.shape.empty(); }

// The (S, B, H) view y or dy: unit column stride, rows ldy apart, steps B*ldy apart. Returns ldy.
int64_t expect_steps(const TensorView& v, const TensorView& like, const RnnShape& s, const char* op,
                     const char* name) {
  expect_same_dtype(like, v, op, "input", name);
  expect_shape(v, {s.S, s.B, s.H}, op, name);
  if (v.numel() == 0) return s.H;
  const int64_t ldy = s.B > 1 ? v.strides[1] : (s.S > 1 ? v.strides[0] : s.H);
  if ((s.H > 1 && v.strides[2] != 1) || ldy < s.H || (s.B > 1 && s.S > 1 && v.strides[0] != s.B * ldy))
    fail(op, name, " must be a (S, B, H) view with contiguous rows of a (S, B, k*H) array, got strides ",
         shape_str(v.strides));
  return ldy;
}

void expect_buffer(const TensorView& v, const TensorView& like, int64_t need, const char* op, const char* name) {
  expect_same_dtype(like, v, op, "input", name);
  if (v.ndim() != 1 || !v.is_contiguous() || v.numel() < need)
    fail(op, name, " must be a contiguous 1-D array of at least ", need, " elements, got shape ", shape_str(v.shape));
}

template <class A>
Layer check_layer(py::handle x, py::handle w_ih, py::handle w_hh, py::handle b_ih, py::handle b_hh, py::handle h0,
                  py::handle c0, py::handle lengths, py::handle ws, const std::string& mode, bool reverse,
                  const char* op) {
  Layer L;
  L.x = A::in(x, op, "input");
  L.w_ih = A::in(w_ih, op, "weight_ih");
  L.w_hh = A::in(w_hh, op, "weight_hh");
  L.b_ih = opt_in<A>(b_ih, op, "bias_ih");
  L.b_hh = opt_in<A>(b_hh, op, "bias_hh");
  L.h0 = opt_in<A>(h0, op, "h0");
  L.c0 = opt_in<A>(c0, op, "c0");
  L.lengths = opt_in<A>(lengths, op, "lengths");
  L.ws = A::in(ws, op, "workspace");
  const RnnMode m = parse_mode(mode, op);
  expect_float(L.x, op, "input");
  if (L.x.ndim() != 3) fail(op, "expected input of 3 dimensions (S, B, I), got shape ", shape_str(L.x.shape));
  expect_contiguous(L.x, op, "input");
  if (L.w_hh.ndim() != 2) fail(op, "expected weight_hh of 2 dimensions, got shape ", shape_str(L.w_hh.shape));
  const int64_t G = rnn_gates(m), S = L.x.shape[0], B = L.x.shape[1], I = L.x.shape[2], H = L.w_hh.shape[1];
  L.s = RnnShape{m, S, B, I, H, reverse, H};
  expect_matrix(L.w_hh, L.x, G * H, H, op, "weight_hh");
  expect_matrix(L.w_ih, L.x, G * H, I, op, "weight_ih");
  expect_opt_vector(L.b_ih, L.x, G * H, op, "bias_ih");
  expect_opt_vector(L.b_hh, L.x, G * H, op, "bias_hh");
  expect_opt_matrix(L.h0, L.x, B, H, op, "h0");
  if (m != RnnMode::lstm && given(L.c0)) fail(op, "c0 is only for LSTM, got mode ", mode);
  expect_opt_matrix(L.c0, L.x, B, H, op, "c0");
  if (given(L.lengths)) {  // any values are memory-safe: a step is active when t < lengths[b]
    expect_dtype(L.lengths, DType::i64, op, "lengths");
    expect_shape(L.lengths, {B}, op, "lengths");
    expect_contiguous(L.lengths, op, "lengths");
  }
  expect_buffer(L.ws, L.x, rnn_workspace_size(L.s), op, "workspace");
  return L;
}

struct Forward {
  TensorView y, hn, cn;
  Layer L;
};

template <class A>
Forward check_forward(py::handle y, py::handle hn, py::handle cn, py::handle ws, py::handle x, py::handle w_ih,
                      py::handle w_hh, py::handle b_ih, py::handle b_hh, py::handle h0, py::handle c0,
                      py::handle lengths, const std::string& mode, bool reverse, const char* op) {
  Forward f;
  f.y = A::out(y, op, "out");
  f.hn = A::out(hn, op, "hn");
  f.cn = opt_out<A>(cn, op, "cn");
  f.L = check_layer<A>(x, w_ih, w_hh, b_ih, b_hh, h0, c0, lengths, ws, mode, reverse, op);
  RnnShape& s = f.L.s;
  s.ldy = expect_steps(f.y, f.L.x, s, op, "out");
  expect_matrix(f.hn, f.L.x, s.B, s.H, op, "hn");
  if ((s.mode == RnnMode::lstm) != given(f.cn)) fail(op, "cn must be given for LSTM and only for LSTM");
  expect_opt_matrix(f.cn, f.L.x, s.B, s.H, op, "cn");
  expect_writable_distinct(f.y, f.L.x, op, "input");
  return f;
}

struct Backward {
  TensorView dx, dw_ih, dw_hh, db_ih, db_hh, dh0, dc0, scratch, dy, dhn, dcn;
  Layer L;
};

template <class A>
Backward check_backward(py::handle dx, py::handle dw_ih, py::handle dw_hh, py::handle db_ih, py::handle db_hh,
                        py::handle dh0, py::handle dc0, py::handle scratch, py::handle dy, py::handle dhn,
                        py::handle dcn, py::handle ws, py::handle x, py::handle w_ih, py::handle w_hh,
                        py::handle b_ih, py::handle b_hh, py::handle h0, py::handle c0, py::handle lengths,
                        const std::string& mode, bool reverse, const char* op) {
  Backward g;
  g.dx = A::out(dx, op, "dinput");
  g.dw_ih = A::out(dw_ih, op, "dweight_ih");
  g.dw_hh = A::out(dw_hh, op, "dweight_hh");
  g.db_ih = opt_out<A>(db_ih, op, "dbias_ih");
  g.db_hh = opt_out<A>(db_hh, op, "dbias_hh");
  g.dh0 = opt_out<A>(dh0, op, "dh0");
  g.dc0 = opt_out<A>(dc0, op, "dc0");
  g.scratch = A::out(scratch, op, "scratch");
  g.dy = opt_in<A>(dy, op, "grad_out");
  g.dhn = opt_in<A>(dhn, op, "grad_hn");
  g.dcn = opt_in<A>(dcn, op, "grad_cn");
  g.L = check_layer<A>(x, w_ih, w_hh, b_ih, b_hh, h0, c0, lengths, ws, mode, reverse, op);
  RnnShape& s = g.L.s;
  const TensorView& like = g.L.x;
  const int64_t GH = rnn_gates(s.mode) * s.H;
  expect_same_dtype(like, g.dx, op, "input", "dinput");
  expect_shape(g.dx, {s.S, s.B, s.I}, op, "dinput");
  expect_contiguous(g.dx, op, "dinput");
  expect_matrix(g.dw_ih, like, GH, s.I, op, "dweight_ih");
  expect_matrix(g.dw_hh, like, GH, s.H, op, "dweight_hh");
  expect_opt_vector(g.db_ih, like, GH, op, "dbias_ih");
  expect_opt_vector(g.db_hh, like, GH, op, "dbias_hh");
  expect_opt_matrix(g.dh0, like, s.B, s.H, op, "dh0");
  if (s.mode != RnnMode::lstm && (given(g.dc0) || given(g.dcn))) fail(op, "dc0 and grad_cn are only for LSTM");
  expect_opt_matrix(g.dc0, like, s.B, s.H, op, "dc0");
  expect_buffer(g.scratch, like, rnn_scratch_size(s), op, "scratch");
  if (given(g.dy)) s.ldy = expect_steps(g.dy, like, s, op, "grad_out");
  expect_opt_matrix(g.dhn, like, s.B, s.H, op, "grad_hn");
  expect_opt_matrix(g.dcn, like, s.B, s.H, op, "grad_cn");
  expect_writable_distinct(g.dx, like, op, "input");
  return g;
}

template <class Arrays>
void def_rnn_cuda(py::module_& m) {
  using A = CudaArrays<Arrays>;
  m.def(
      "rnn_forward",
      [](py::object y, py::object hn, py::object cn, py::object ws, py::object x, py::object w_ih, py::object w_hh,
         py::object b_ih, py::object b_hh, py::object h0, py::object c0, py::object lengths, std::string mode,
         bool reverse, uintptr_t stream, std::string op) {
        const char* o = op.c_str();
        Forward f = check_forward<A>(y, hn, cn, ws, x, w_ih, w_hh, b_ih, b_hh, h0, c0, lengths, mode, reverse, o);
        expect_dtype(f.L.x, DType::f32, o, "input");
        const Layer& L = f.L;
        py::gil_scoped_release release;
        cuda::rnn_forward_f32(f.y.ptr<float>(), f.hn.ptr<float>(), mptr<float>(f.cn), L.ws.ptr<float>(),
                              L.x.ptr<float>(), L.w_ih.ptr<float>(), L.w_hh.ptr<float>(), cptr<float>(L.b_ih),
                              cptr<float>(L.b_hh), cptr<float>(L.h0), cptr<float>(L.c0),
                              cptr<int64_t>(L.lengths), L.s, reinterpret_cast<void*>(stream));
      },
      py::arg("out"), py::arg("hn"), py::arg("cn"), py::arg("workspace"), py::arg("input"), py::arg("weight_ih"),
      py::arg("weight_hh"), py::arg("bias_ih"), py::arg("bias_hh"), py::arg("h0"), py::arg("c0"),
      py::arg("lengths"), py::arg("mode"), py::arg("reverse") = false, py::arg("stream") = 0,
      py::arg("op") = "rnn", "CUDA twin of cpu.rnn_forward (float32)");
  m.def(
      "rnn_backward",
      [](py::object dx, py::object dw_ih, py::object dw_hh, py::object db_ih, py::object db_hh, py::object dh0,
         py::object dc0, py::object scratch, py::object dy, py::object dhn, py::object dcn, py::object ws,
         py::object x, py::object w_ih, py::object w_hh, py::object b_ih, py::object b_hh, py::object h0,
         py::object c0, py::object lengths, std::string mode, bool reverse, bool accumulate_dx, uintptr_t stream,
         std::string op) {
        const char* o = op.c_str();
        Backward g = check_backward<A>(dx, dw_ih, dw_hh, db_ih, db_hh, dh0, dc0, scratch, dy, dhn, dcn, ws, x, w_ih,
                                       w_hh, b_ih, b_hh, h0, c0, lengths, mode, reverse, o);
        expect_dtype(g.L.x, DType::f32, o, "input");
        const Layer& L = g.L;
        py::gil_scoped_release release;
        cuda::rnn_backward_f32(g.dx.ptr<float>(), g.dw_ih.ptr<float>(), g.dw_hh.ptr<float>(), mptr<float>(g.db_ih),
                               mptr<float>(g.db_hh), mptr<float>(g.dh0), mptr<float>(g.dc0),
                               g.scratch.ptr<float>(), cptr<float>(g.dy), cptr<float>(g.dhn),
                               cptr<float>(g.dcn), L.ws.ptr<float>(), L.x.ptr<float>(), L.w_ih.ptr<float>(),
                               L.w_hh.ptr<float>(), cptr<float>(L.h0), cptr<float>(L.c0),
                               cptr<int64_t>(L.lengths), L.s, accumulate_dx, reinterpret_cast<void*>(stream));
      },
      py::arg("dinput"), py::arg("dweight_ih"), py::arg("dweight_hh"), py::arg("dbias_ih"), py::arg("dbias_hh"),
      py::arg("dh0"), py::arg("dc0"), py::arg("scratch"), py::arg("grad_out"), py::arg("grad_hn"),
      py::arg("grad_cn"), py::arg("workspace"), py::arg("input"), py::arg("weight_ih"), py::arg("weight_hh"),
      py::arg("bias_ih"), py::arg("bias_hh"), py::arg("h0"), py::arg("c0"), py::arg("lengths"), py::arg("mode"),
      py::arg("reverse") = false, py::arg("accumulate_dx") = false, py::arg("stream") = 0, py::arg("op") = "rnn",
      "CUDA twin of cpu.rnn_backward (float32)");
}

void def_rnn_sizes(py::module_& m) {
  auto shape = [](const std::string& mode, int64_t S, int64_t B, int64_t I, int64_t H) {
    if (S < 0 || B < 0 || I < 0 || H < 0) fail("rnn", "sizes must be non-negative");
    return RnnShape{parse_mode(mode, "rnn"), S, B, I, H, false, H};
  };
  m.def(
      "rnn_workspace_size",
      [shape](const std::string& mode, int64_t S, int64_t B, int64_t I, int64_t H) {
        return rnn_workspace_size(shape(mode, S, B, I, H));
      },
      py::arg("mode"), py::arg("S"), py::arg("B"), py::arg("I"), py::arg("H"),
      "elements of the workspace rnn_forward fills and rnn_backward reads");
  m.def(
      "rnn_scratch_size",
      [shape](const std::string& mode, int64_t S, int64_t B, int64_t I, int64_t H) {
        return rnn_scratch_size(shape(mode, S, B, I, H));
      },
      py::arg("mode"), py::arg("S"), py::arg("B"), py::arg("I"), py::arg("H"), "elements of rnn_backward's scratch");
}

}  // namespace

#ifndef NERVE_EMU
void init_rnn(py::module_& cpu, py::module_& cuda) {
  using A = CpuArrays;
  cpu.def(
      "rnn_forward",
      [](py::object y, py::object hn, py::object cn, py::object ws, py::object x, py::object w_ih, py::object w_hh,
         py::object b_ih, py::object b_hh, py::object h0, py::object c0, py::object lengths, std::string mode,
         bool reverse, bool naive, std::string op) {
        const char* o = op.c_str();
        Forward f = check_forward<A>(y, hn, cn, ws, x, w_ih, w_hh, b_ih, b_hh, h0, c0, lengths, mode, reverse, o);
        const Layer& L = f.L;
        py::gil_scoped_release release;
        dispatch_float(L.x.dtype, o, [&](auto t) {
          using T = decltype(t);
          if (naive)
            rnn_forward_naive<T>(f.y.ptr<T>(), f.hn.ptr<T>(), mptr<T>(f.cn), L.x.ptr<T>(), L.w_ih.ptr<T>(),
                                 L.w_hh.ptr<T>(), cptr<T>(L.b_ih), cptr<T>(L.b_hh), cptr<T>(L.h0), cptr<T>(L.c0),
                                 cptr<int64_t>(L.lengths), L.s);
          else
            rnn_forward<T>(f.y.ptr<T>(), f.hn.ptr<T>(), mptr<T>(f.cn), L.ws.ptr<T>(), L.x.ptr<T>(), L.w_ih.ptr<T>(),
                           L.w_hh.ptr<T>(), cptr<T>(L.b_ih), cptr<T>(L.b_hh), cptr<T>(L.h0), cptr<T>(L.c0),
                           cptr<int64_t>(L.lengths), L.s);
        });
      },
      py::arg("out"), py::arg("hn"), py::arg("cn"), py::arg("workspace"), py::arg("input"), py::arg("weight_ih"),
      py::arg("weight_hh"), py::arg("bias_ih"), py::arg("bias_hh"), py::arg("h0"), py::arg("c0"),
      py::arg("lengths"), py::arg("mode"), py::arg("reverse") = false, py::arg("naive") = false,
      py::arg("op") = "rnn",
      "out (S,B,H view), hn, cn (B,H) = one direction of a recurrent layer over input (S,B,I); fills workspace");
  cpu.def(
      "rnn_backward",
      [](py::object dx, py::object dw_ih, py::object dw_hh, py::object db_ih, py::object db_hh, py::object dh0,
         py::object dc0, py::object scratch, py::object dy, py::object dhn, py::object dcn, py::object ws,
         py::object x, py::object w_ih, py::object w_hh, py::object b_ih, py::object b_hh, py::object h0,
         py::object c0, py::object lengths, std::string mode, bool reverse, bool accumulate_dx, bool naive,
         std::string op) {
        const char* o = op.c_str();
        Backward g = check_backward<A>(dx, dw_ih, dw_hh, db_ih, db_hh, dh0, dc0, scratch, dy, dhn, dcn, ws, x, w_ih,
                                       w_hh, b_ih, b_hh, h0, c0, lengths, mode, reverse, o);
        const Layer& L = g.L;
        py::gil_scoped_release release;
        dispatch_float(L.x.dtype, o, [&](auto t) {
          using T = decltype(t);
          if (naive)
            rnn_backward_naive<T>(g.dx.ptr<T>(), g.dw_ih.ptr<T>(), g.dw_hh.ptr<T>(), mptr<T>(g.db_ih),
                                  mptr<T>(g.db_hh), mptr<T>(g.dh0), mptr<T>(g.dc0), cptr<T>(g.dy), cptr<T>(g.dhn),
                                  cptr<T>(g.dcn), L.x.ptr<T>(), L.w_ih.ptr<T>(), L.w_hh.ptr<T>(), cptr<T>(L.b_ih),
                                  cptr<T>(L.b_hh), cptr<T>(L.h0), cptr<T>(L.c0), cptr<int64_t>(L.lengths), L.s,
                                  accumulate_dx);
          else
            rnn_backward<T>(g.dx.ptr<T>(), g.dw_ih.ptr<T>(), g.dw_hh.ptr<T>(), mptr<T>(g.db_ih), mptr<T>(g.db_hh),
                            mptr<T>(g.dh0), mptr<T>(g.dc0), g.scratch.ptr<T>(), cptr<T>(g.dy), cptr<T>(g.dhn),
                            cptr<T>(g.dcn), L.ws.ptr<T>(), L.x.ptr<T>(), L.w_ih.ptr<T>(), L.w_hh.ptr<T>(),
                            cptr<T>(L.h0), cptr<T>(L.c0), cptr<int64_t>(L.lengths), L.s, accumulate_dx);
        });
      },
      py::arg("dinput"), py::arg("dweight_ih"), py::arg("dweight_hh"), py::arg("dbias_ih"), py::arg("dbias_hh"),
      py::arg("dh0"), py::arg("dc0"), py::arg("scratch"), py::arg("grad_out"), py::arg("grad_hn"),
      py::arg("grad_cn"), py::arg("workspace"), py::arg("input"), py::arg("weight_ih"), py::arg("weight_hh"),
      py::arg("bias_ih"), py::arg("bias_hh"), py::arg("h0"), py::arg("c0"), py::arg("lengths"), py::arg("mode"),
      py::arg("reverse") = false, py::arg("accumulate_dx") = false, py::arg("naive") = false, py::arg("op") = "rnn",
      "gradients of rnn_forward: dinput (= or += with accumulate_dx), weight and bias gradients (=), dh0, dc0");
  def_rnn_sizes(cpu);
  def_rnn_cuda<DeviceArrays>(cuda);  // sizes: cpu.rnn_workspace_size (one layout for both devices)
}
#else
void init_rnn_emu(py::module_& emu) {
  def_rnn_cuda<HostArrays>(emu);
  def_rnn_sizes(emu);
}
#endif

}  // namespace nerve
