// check.h — the one way nerve's C++ reports bad input.
// Every message starts with the op in brackets and says what was expected and what came:
//   "[matmul] inner dimensions differ: a is 3x4, b is 5x2"
// fail() throws std::invalid_argument, which pybind11 turns into ValueError.
#pragma once
#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace nerve {

template <class... Args>
[[noreturn]] inline void fail(const char* op, const Args&... args) {
  std::ostringstream s;
  s << '[' << op << "] ";
  (s << ... << args);
  throw std::invalid_argument(s.str());
}

// "(2, 3, 4)" for messages.
inline std::string shape_str(const int64_t* shape, int ndim) {
  std::ostringstream s;
  s << '(';
  for (int i = 0; i < ndim; ++i) s << (i ? ", " : "") << shape[i];
  s << (ndim == 1 ? ",)" : ")");
  return s.str();
}
inline std::string shape_str(const std::vector<int64_t>& shape) {
  return shape_str(shape.data(), static_cast<int>(shape.size()));
}

}  // namespace nerve

#define NERVE_CHECK(cond, op, ...)                  \
  do {                                              \
    if (!(cond)) ::nerve::fail(op, __VA_ARGS__);    \
  } while (0)
