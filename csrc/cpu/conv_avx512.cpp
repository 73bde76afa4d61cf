// conv_avx512.cpp — AVX-512 micro-kernels of the flat-row direct convolution (see conv_direct.h).
//
// Forward tile: kMr output channels x kNv vectors of 16 flat positions = 24 accumulators; per tap
// three unaligned loads of the padded input and kMr weight broadcasts feed 24 FMAs. Flat positions
// that are not outputs (the padding columns) are squeezed out with a register compress before a
// masked store, so the output lands in plain NCHW with no second pass.
// Weight-gradient tile: kWk x kWt dot products over flat positions, 16 lanes each, added to
// per-lane partial sums in memory (reduced across lanes once, by the driver); dy arrives in flat
// layout with zeros at the padding columns, x is loaded masked.
// GCC 12's own 512->256 extract intrinsics trip -Wuninitialized on an internal placeholder.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
// Keep short loops of vector stores as stores (GCC would call memcpy on a spilled copy).
#pragma GCC optimize("no-tree-loop-distribute-patterns")
#include <immintrin.h>

#include <algorithm>
#include <utility>

#include "conv_direct.h"

namespace nerve::conv_direct {
namespace {

struct Lanes {
  __mmask16 mask[kNv];  // which of the 16 flat positions are outputs
  int64_t q[kNv];       // output index of the first of them
};

template <int MR, int NV>
void forward_tile(const float* a, const float* xb, const int64_t* boff, int64_t depth, float* y, int64_t ks,
                  const float* bias, const Lanes& ln, bool accumulate) {
  __m512 c[MR][NV];
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 3
    for (int j = 0; j < NV; ++j) c[i][j] = _mm512_setzero_ps();
  for (int64_t t = 0; t < depth; ++t) {
    const float* b = xb + boff[t];
    __m512 bv[NV];
#pragma GCC unroll 3
    for (int j = 0; j < NV; ++j) bv[j] = _mm512_loadu_ps(b + 16 * j);
    const float* at = a + t * kMr;
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      const __m512 av = _mm512_set1_ps(at[i]);
#pragma GCC unroll 3
      for (int j = 0; j < NV; ++j) c[i][j] = _mm512_fmadd_ps(av, bv[j], c[i][j]);
    }
  }
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) {
    const __m512 bi = _mm512_set1_ps(bias ? bias[i] : 0.f);
    float* yi = y + i * ks;
#pragma GCC unroll 3
    for (int j = 0; j < NV; ++j) {
      __m512 v = _mm512_add_ps(c[i][j], bi);
      const __mmask16 m = ln.mask[j];
      float* dst = yi + ln.q[j];
      if (m == 0xFFFF) {
        if (accumulate) v = _mm512_add_ps(v, _mm512_loadu_ps(dst));
        _mm512_storeu_ps(dst, v);
      } else if (m) {
        const __mmask16 sm = static_cast<__mmask16>((1u << __builtin_popcount(m)) - 1);
        v = _mm512_maskz_compress_ps(m, v);
        if (accumulate) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(sm, dst));
        _mm512_mask_storeu_ps(dst, sm, v);
      }
    }
  }
}

using ForwardTile = void (*)(const float*, const float*, const int64_t*, int64_t, float*, int64_t, const float*,
                             const Lanes&, bool);

template <int MR>
constexpr ForwardTile forward_tile_for(int nv) {
  return nv == 1 ? forward_tile<MR, 1> : nv == 2 ? forward_tile<MR, 2> : forward_tile<MR, 3>;
}

ForwardTile pick_forward(int mr, int nv) {
  switch (mr) {
    case 1: return forward_tile_for<1>(nv);
    case 2: return forward_tile_for<2>(nv);
    case 3: return forward_tile_for<3>(nv);
    case 4: return forward_tile_for<4>(nv);
    case 5: return forward_tile_for<5>(nv);
    case 6: return forward_tile_for<6>(nv);
    case 7: return forward_tile_for<7>(nv);
    default: return forward_tile_for<8>(nv);
  }
}

template <int MK, int NT>
void weight_tile(float* part, int64_t part_ks, const float* dyf, int64_t dyf_ks, const float* xb, const int64_t* boff,
                 const uint16_t* mask, int64_t nvec) {
  __m512 c[MK][NT];
#pragma GCC unroll 4
  for (int i = 0; i < MK; ++i)
#pragma GCC unroll 6
    for (int j = 0; j < NT; ++j) c[i][j] = _mm512_setzero_ps();
  const float* xs[NT];
  for (int j = 0; j < NT; ++j) xs[j] = xb + boff[j];
  for (int64_t v = 0; v < nvec; ++v) {
    const __mmask16 mv = mask[v];
    const int64_t p = 16 * v;
    __m512 dv[MK];
#pragma GCC unroll 4
    for (int i = 0; i < MK; ++i) dv[i] = _mm512_loadu_ps(dyf + i * dyf_ks + p);
#pragma GCC unroll 6
    for (int j = 0; j < NT; ++j) {
      const __m512 xv = _mm512_maskz_loadu_ps(mv, xs[j] + p);  // masked: no 0 * inf from non-outputs
#pragma GCC unroll 4
      for (int i = 0; i < MK; ++i) c[i][j] = _mm512_fmadd_ps(dv[i], xv, c[i][j]);
    }
  }
#pragma GCC unroll 4
  for (int i = 0; i < MK; ++i)
#pragma GCC unroll 6
    for (int j = 0; j < NT; ++j) {
      float* o = part + i * part_ks + 16 * j;
      _mm512_storeu_ps(o, _mm512_add_ps(_mm512_loadu_ps(o), c[i][j]));
    }
}

using WeightTile = void (*)(float*, int64_t, const float*, int64_t, const float*, const int64_t*, const uint16_t*,
                            int64_t);

template <int MK>
constexpr WeightTile weight_tile_for(int nt) {
  return nt == 1 ? weight_tile<MK, 1> : nt == 2 ? weight_tile<MK, 2> : nt == 3 ? weight_tile<MK, 3>
       : nt == 4 ? weight_tile<MK, 4> : nt == 5 ? weight_tile<MK, 5> : weight_tile<MK, 6>;
}

template <int MT, int NV, bool kAccumulate>
void weight_tile_k(float* dwt, int64_t ldw, const float* dyt, int64_t ldy, const float* xb, const int64_t* boff,
                   int64_t ldx, int64_t p0, int64_t p1) {
  __m512 c[MT][NV];
#pragma GCC unroll 12
  for (int t = 0; t < MT; ++t)
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) c[t][j] = _mm512_setzero_ps();
  const float* xs[MT];
  for (int t = 0; t < MT; ++t) xs[t] = xb + boff[t];
  const float* d = dyt + p0 * ldy;
  int64_t q = p0 * ldx;
  for (int64_t p = p0; p < p1; ++p, d += ldy, q += ldx) {
    __m512 dv[NV];
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) dv[j] = _mm512_loadu_ps(d + 16 * j);
#pragma GCC unroll 12
    for (int t = 0; t < MT; ++t) {
      const __m512 a = _mm512_set1_ps(xs[t][q]);
#pragma GCC unroll 4
      for (int j = 0; j < NV; ++j) c[t][j] = _mm512_fmadd_ps(a, dv[j], c[t][j]);
    }
  }
#pragma GCC unroll 12
  for (int t = 0; t < MT; ++t)
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) {
      float* o = dwt + t * ldw + 16 * j;
      _mm512_storeu_ps(o, kAccumulate ? _mm512_add_ps(_mm512_loadu_ps(o), c[t][j]) : c[t][j]);
    }
}

using WeightTileK = void (*)(float*, int64_t, const float*, int64_t, const float*, const int64_t*, int64_t, int64_t,
                             int64_t);

template <int NV, bool kAccumulate, int... MT>
constexpr WeightTileK pick_weight_k(int mt, std::integer_sequence<int, MT...>) {
  WeightTileK f = nullptr;
  ((f = (mt == MT + 1) ? weight_tile_k<MT + 1, NV, kAccumulate> : f), ...);
  return f;
}

template <bool kAccumulate>
WeightTileK pick_weight_k(int mt, int nv) {
  return nv == 1   ? pick_weight_k<1, kAccumulate>(mt, std::make_integer_sequence<int, 12>{})
         : nv == 2 ? pick_weight_k<2, kAccumulate>(mt, std::make_integer_sequence<int, 12>{})
         : nv == 3 ? pick_weight_k<3, kAccumulate>(mt, std::make_integer_sequence<int, 6>{})
                   : pick_weight_k<4, kAccumulate>(mt, std::make_integer_sequence<int, 6>{});
}

// In-register transpose of 16 rows of 16 floats.
inline void transpose16(__m512 r[16]) {
  __m512 t[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) {
    r[i] = _mm512_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
    r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
    r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
    r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int i = 0; i < 4; ++i) {
    t[i] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0x88);
    t[i + 4] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0xdd);
    t[i + 8] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0x88);
    t[i + 12] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0xdd);
  }
  for (int i = 0; i < 4; ++i) {
    r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
    r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xdd);
    r[i + 4] = _mm512_shuffle_f32x4(t[i + 4], t[i + 12], 0x88);
    r[i + 12] = _mm512_shuffle_f32x4(t[i + 4], t[i + 12], 0xdd);
  }
}

}  // namespace

void weight_tile_k_avx512(float* dwt, int64_t ldw, const float* dyt, int64_t ldy, const float* xb,
                          const int64_t* boff, int64_t ldx, int64_t p0, int64_t p1, int mt, int nv, bool accumulate) {
  (accumulate ? pick_weight_k<true>(mt, nv) : pick_weight_k<false>(mt, nv))(dwt, ldw, dyt, ldy, xb, boff, ldx, p0,
                                                                             p1);
}

void transpose_dy_avx512(float* dyt, int64_t ldt, const float* dy, int64_t ystride, int64_t Kg, int64_t OW,
                         int64_t Wp, int64_t oh0, int64_t oh1) {
  __m512 r[16];
  for (int64_t oh = oh0; oh < oh1; ++oh) {
    float* row = dyt + oh * Wp * ldt;
    for (int64_t ow = OW; ow < Wp; ++ow) std::fill(row + ow * ldt, row + (ow + 1) * ldt, 0.f);
    for (int64_t ow0 = 0; ow0 < OW; ow0 += 16) {
      const int64_t nw = std::min<int64_t>(16, OW - ow0);
      const __mmask16 m = static_cast<__mmask16>((1u << nw) - 1);
      for (int64_t k0 = 0; k0 < ldt; k0 += 16) {
        for (int i = 0; i < 16; ++i)
          r[i] = k0 + i < Kg ? _mm512_maskz_loadu_ps(m, dy + (k0 + i) * ystride + oh * OW + ow0) : _mm512_setzero_ps();
        transpose16(r);
        for (int i = 0; i < nw; ++i) _mm512_storeu_ps(row + (ow0 + i) * ldt + k0, r[i]);
      }
    }
  }
}

void forward_panel_avx512(const FlatConv& fc, const float* xflat, float* y, const float* bias, int64_t p0,
                          int64_t np, bool accumulate) {
  // Where each 16-position vector's outputs go: walk the positions once for all channel blocks.
  Lanes ln;
  const int nv = static_cast<int>((np + 15) / 16);
  int64_t row = p0 / fc.Wp, col = p0 - row * fc.Wp;
  for (int j = 0; j < nv; ++j) {
    ln.q[j] = row * fc.OW + std::min(col, fc.OW);
    unsigned m = 0;
    for (int l = 0; l < 16; ++l) {
      if (16 * j + l < np && col < fc.OW) m |= 1u << l;
      if (++col == fc.Wp) col = 0, ++row;
    }
    ln.mask[j] = static_cast<__mmask16>(m);
  }
  const float* xb = xflat + p0;
  for (int64_t k0 = 0; k0 < fc.Kg; k0 += kMr) {
    const int mr = static_cast<int>(std::min<int64_t>(kMr, fc.Kg - k0));
    pick_forward(mr, nv)(fc.apack + k0 * fc.depth, xb, fc.boff, fc.depth, y + k0 * fc.ystride, fc.ystride,
                         bias ? bias + k0 : nullptr, ln, accumulate);
  }
}

void weight_tile_avx512(float* part, int64_t part_ks, const float* dyf, int64_t dyf_ks, const float* xflat,
                        const int64_t* boff, const uint16_t* mask, int64_t nvec, int mk, int nt) {
  WeightTile f = mk == 1 ? weight_tile_for<1>(nt) : mk == 2 ? weight_tile_for<2>(nt)
               : mk == 3 ? weight_tile_for<3>(nt) : weight_tile_for<4>(nt);
  f(part, part_ks, dyf, dyf_ks, xflat, boff, mask, nvec);
}

}  // namespace nerve::conv_direct
