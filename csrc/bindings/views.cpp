// views.cpp — buffer-protocol and __cuda_array_interface__ parsing, and argument checks.
#include "views.h"

#include <cstring>

namespace nerve {
namespace {

bool parse_format(const std::string& fmt, int64_t itemsize, DType* out) {
  // struct-module codes, possibly with a byte-order prefix.
  char c = fmt.empty() ? '?' : fmt.back();
  switch (c) {
    case 'f': if (itemsize == 4) { *out = DType::f32; return true; } break;
    case 'd': if (itemsize == 8) { *out = DType::f64; return true; } break;
    case 'l': case 'q': if (itemsize == 8) { *out = DType::i64; return true; } break;
    case 'i': if (itemsize == 4) { *out = DType::i32; return true; } break;
    case 'B': if (itemsize == 1) { *out = DType::u8; return true; } break;
    case '?': if (itemsize == 1) { *out = DType::b8; return true; } break;
  }
  return false;
}

bool parse_typestr(const std::string& ts, DType* out) {
  if (ts.size() < 3 || ts[0] == '>') return false;
  const char kind = ts[1];
  const int size = std::atoi(ts.c_str() + 2);
  if (kind == 'f' && size == 4) *out = DType::f32;
  else if (kind == 'f' && size == 8) *out = DType::f64;
  else if (kind == 'i' && size == 8) *out = DType::i64;
  else if (kind == 'i' && size == 4) *out = DType::i32;
  else if (kind == 'u' && size == 1) *out = DType::u8;
  else if (kind == 'b' && size == 1) *out = DType::b8;
  else return false;
  return true;
}

// numpy arrays are read through their own header: a buffer-protocol request allocates and formats
// strings, half the cost of a 64 x 64 product.
TensorView numpy_view(const py::array& arr, const char* op, const char* name, bool written) {
  const py::dtype dt = arr.dtype();
  const char kind = dt.kind();
  const int64_t item = dt.itemsize();
  TensorView v;
  if (kind == 'f' && item == 4) v.dtype = DType::f32;
  else if (kind == 'f' && item == 8) v.dtype = DType::f64;
  else if (kind == 'i' && item == 8) v.dtype = DType::i64;
  else if (kind == 'i' && item == 4) v.dtype = DType::i32;
  else if (kind == 'u' && item == 1) v.dtype = DType::u8;
  else if (kind == 'b' && item == 1) v.dtype = DType::b8;
  else fail(op, name, " has unsupported dtype ", std::string(py::str(dt)));
  if (dt.byteorder() == '>') fail(op, name, " must be in native byte order");
  if (written && !arr.writeable()) fail(op, name, " is read-only");
  v.data = const_cast<void*>(arr.data());
  const int nd = int(arr.ndim());
  v.shape.resize(nd);
  v.strides.resize(nd);
  for (int d = 0; d < nd; ++d) {
    v.shape[d] = arr.shape(d);
    if (arr.strides(d) % item != 0) fail(op, name, " has strides that are not a multiple of its itemsize");
    v.strides[d] = arr.strides(d) / item;
  }
  return v;
}

}  // namespace

TensorView host_out_view(py::handle obj, const char* op, const char* name) {
  if (py::isinstance<py::array>(obj)) return numpy_view(py::reinterpret_borrow<py::array>(obj), op, name, true);
  return host_view(obj, op, name);
}

TensorView host_view(py::handle obj, const char* op, const char* name) {
  if (py::isinstance<py::array>(obj)) return numpy_view(py::reinterpret_borrow<py::array>(obj), op, name, false);
  if (!PyObject_CheckBuffer(obj.ptr()))
    fail(op, name, " must be a host array (numpy), got ", std::string(py::str(py::type::of(obj))));
  py::buffer_info info = py::reinterpret_borrow<py::buffer>(obj).request();
  TensorView v;
  if (!parse_format(info.format, info.itemsize, &v.dtype))
    fail(op, name, " has unsupported element format '", info.format, "'");
  v.data = info.ptr;
  v.shape.assign(info.shape.begin(), info.shape.end());
  v.strides.resize(info.strides.size());
  for (size_t d = 0; d < info.strides.size(); ++d) {
    if (info.strides[d] % info.itemsize != 0) fail(op, name, " has strides that are not a multiple of its itemsize");
    v.strides[d] = info.strides[d] / info.itemsize;
  }
  return v;
}

TensorView device_view(py::handle obj, const char* op, const char* name) {
  if (!py::hasattr(obj, "__cuda_array_interface__"))
    fail(op, name, " must be a CUDA array (cupy), got ", std::string(py::str(py::type::of(obj))));
  py::dict cai = obj.attr("__cuda_array_interface__");
  TensorView v;
  v.on_device = true;
  if (!parse_typestr(cai["typestr"].cast<std::string>(), &v.dtype))
    fail(op, name, " has unsupported typestr ", cai["typestr"].cast<std::string>());
  v.data = reinterpret_cast<void*>(cai["data"].cast<py::tuple>()[0].cast<uintptr_t>());
  for (auto s : cai["shape"].cast<py::tuple>()) v.shape.push_back(s.cast<int64_t>());
  const int64_t item = dtype_size(v.dtype);
  if (cai.contains("strides") && !cai["strides"].is_none()) {
    for (auto s : cai["strides"].cast<py::tuple>()) {
      const int64_t b = s.cast<int64_t>();
      if (b % item != 0) fail(op, name, " has strides that are not a multiple of its itemsize");
      v.strides.push_back(b / item);
    }
  } else {
    v.strides.assign(v.shape.size(), 1);
    for (int d = static_cast<int>(v.shape.size()) - 2; d >= 0; --d) v.strides[d] = v.strides[d + 1] * v.shape[d + 1];
  }
  return v;
}

void expect_dtype(const TensorView& v, DType d, const char* op, const char* name) {
  if (v.dtype != d) fail(op, "expected ", name, " of dtype ", dtype_name(d), ", got ", dtype_name(v.dtype));
}

void expect_float(const TensorView& v, const char* op, const char* name) {
  if (v.dtype != DType::f32 && v.dtype != DType::f64)
    fail(op, "expected ", name, " of dtype float32 or float64, got ", dtype_name(v.dtype));
}

void expect_same_dtype(const TensorView& a, const TensorView& b, const char* op, const char* na, const char* nb) {
  if (a.dtype != b.dtype)
    fail(op, na, " and ", nb, " must have the same dtype, got ", dtype_name(a.dtype), " and ", dtype_name(b.dtype));
}

void expect_ndim(const TensorView& v, int ndim, const char* op, const char* name) {
  if (v.ndim() != ndim)
    fail(op, "expected ", name, " with ", ndim, " dimensions, got ", v.ndim(), " with shape ", shape_str(v.shape));
}

void expect_contiguous(const TensorView& v, const char* op, const char* name) {
  if (!v.is_contiguous()) fail(op, name, " must be contiguous");
}

void expect_shape(const TensorView& v, const std::vector<int64_t>& shape, const char* op, const char* name) {
  if (v.shape != shape) fail(op, "expected ", name, " of shape ", shape_str(shape), ", got ", shape_str(v.shape));
}

void expect_writable_distinct(const TensorView& out, const TensorView& in, const char* op, const char* name) {
  if (out.data == in.data && out.numel() > 0) fail(op, "out must not share memory with ", name);
}

}  // namespace nerve
