// tensor_view.h — a borrowed view of an array: pointer, dtype, shape and strides in elements.
// Bindings build one from a numpy array (host) or a __cuda_array_interface__ object (device),
// check it, and hand kernels plain pointers and sizes. A view never owns memory.
#pragma once
#include <cstdint>
#include <vector>

namespace nerve {

enum class DType { f32, f64, i64, i32, u8, b8 };

inline const char* dtype_name(DType d) {
  switch (d) {
    case DType::f32: return "float32";
    case DType::f64: return "float64";
    case DType::i64: return "int64";
    case DType::i32: return "int32";
    case DType::u8: return "uint8";
    default: return "bool";
  }
}

inline int64_t dtype_size(DType d) {
  switch (d) {
    case DType::f64: case DType::i64: return 8;
    case DType::f32: case DType::i32: return 4;
    default: return 1;
  }
}

template <class T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::f32; }
template <> constexpr DType dtype_of<double>() { return DType::f64; }
template <> constexpr DType dtype_of<int64_t>() { return DType::i64; }
template <> constexpr DType dtype_of<int32_t>() { return DType::i32; }
template <> constexpr DType dtype_of<uint8_t>() { return DType::u8; }
template <> constexpr DType dtype_of<bool>() { return DType::b8; }

struct TensorView {
  void* data = nullptr;
  DType dtype = DType::f32;
  bool on_device = false;          // true for CUDA device memory
  std::vector<int64_t> shape;
  std::vector<int64_t> strides;    // in elements, may be 0 (broadcast) or negative

  int ndim() const { return static_cast<int>(shape.size()); }
  int64_t size(int d) const { return shape[d < 0 ? d + ndim() : d]; }
  int64_t stride(int d) const { return strides[d < 0 ? d + ndim() : d]; }
  int64_t numel() const {
    int64_t n = 1;
    for (auto s : shape) n *= s;
    return n;
  }
  bool is_contiguous() const {  // C order; size-1 dims may have any stride
    if (numel() == 0) return true;  // numpy gives empty arrays zero strides; nothing is read anyway
    int64_t expect = 1;
    for (int d = ndim() - 1; d >= 0; --d) {
      if (shape[d] != 1 && strides[d] != expect) return false;
      expect *= shape[d];
    }
    return true;
  }
  template <class T> T* ptr() const { return static_cast<T*>(data); }
};

}  // namespace nerve
