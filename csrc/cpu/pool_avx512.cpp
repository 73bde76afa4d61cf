// pool_avx512.cpp — the AVX-512 inner loop of global average pooling (adaptive_avg_pool2d to 1x1 and
// any window spanning whole rows): the sum of one contiguous span, four 16-float accumulators.
// The baseline build's 16 partial sums run on 4-float SSE registers, and the loop is bound by adds.
#include <immintrin.h>

#include <cstdint>

namespace nerve {

float pool_sum_span_avx512(const float* x, int64_t n) {
  __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  int64_t i = 0;
  for (; i + 64 <= n; i += 64) {
    a0 = _mm512_add_ps(a0, _mm512_loadu_ps(x + i));
    a1 = _mm512_add_ps(a1, _mm512_loadu_ps(x + i + 16));
    a2 = _mm512_add_ps(a2, _mm512_loadu_ps(x + i + 32));
    a3 = _mm512_add_ps(a3, _mm512_loadu_ps(x + i + 48));
  }
  for (; i + 16 <= n; i += 16) a0 = _mm512_add_ps(a0, _mm512_loadu_ps(x + i));
  if (i < n) a1 = _mm512_add_ps(a1, _mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << (n - i)) - 1), x + i));
  return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
}

}  // namespace nerve
