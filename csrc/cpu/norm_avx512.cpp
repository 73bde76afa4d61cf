// norm_avx512.cpp — the norm inner loops (norm_rows.h) compiled with AVX-512 flags; norm.cpp uses
// them when isa() says so. Same source as the portable copy: the loops are `omp simd`, and on
// this machine the compiler's 16-lane code keeps the kernels memory-bound (bench_norm.py).
#define NERVE_NORM_ISA norm_avx512
#include "norm_rows.h"

namespace nerve {

const NormRows<float>& norm_rows_avx512_f32() {
  static const NormRows<float> rows = norm_avx512::make_rows<float>();
  return rows;
}

const NormRows<double>& norm_rows_avx512_f64() {
  static const NormRows<double> rows = norm_avx512::make_rows<double>();
  return rows;
}

}  // namespace nerve
