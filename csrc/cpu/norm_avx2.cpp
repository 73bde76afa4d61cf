// norm_avx2.cpp — the norm inner loops (norm_rows.h) compiled with AVX2 flags; norm.cpp uses them
// when isa() says avx2 (8-lane floats where the portable copy has SSE2's 4).
#define NERVE_NORM_ISA norm_avx2
#include "norm_rows.h"

namespace nerve {

const NormRows<float>& norm_rows_avx2_f32() {
  static const NormRows<float> rows = norm_avx2::make_rows<float>();
  return rows;
}

const NormRows<double>& norm_rows_avx2_f64() {
  static const NormRows<double> rows = norm_avx2::make_rows<double>();
  return rows;
}

}  // namespace nerve
