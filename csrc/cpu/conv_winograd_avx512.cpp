// conv_winograd_avx512.cpp — Winograd F(4x4, 3x3) convolution (Lavin & Gray, 2015) with AVX-512.
//
// A 4x4 output tile comes from a 6x6 input tile d and the 3x3 filter g as
//   Y = A^T [ (G g G^T) .* (B^T d B) ] A,
// so the 36 multiply-adds per output of a direct 3x3 convolution over a channel become 36 per
// 16 outputs: the products turn into 36 independent GEMMs M[xi] = V[xi] U[xi] (tiles x C times
// C x K), one per point xi of the 6x6 transform domain. The transforms run 16 channels at a time:
// images are first copied into a channel-blocked, zero-padded layout (16 channels contiguous per
// pixel) and outputs leave through the same layout, with in-register 16x16 transposes at both ends.
// float32 error is a few times the direct algorithm's (about 1e-6 relative for 256 channels).
//
// Threads own whole chunks of images (their V, M and blocked buffers), so nothing synchronizes
// between the weight transform and the end.
// GCC 12's own AVX-512 shuffle intrinsics trip -Wmaybe-uninitialized on an internal placeholder.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "../core/parallel.h"
#include "conv_direct.h"

namespace nerve::conv_direct {
namespace {

constexpr int64_t kTargetTiles = 64;  // tiles per chunk: enough rows to reuse each U[xi] panel
constexpr int64_t kL2Bytes = 512 << 10;  // what V and M of one pass may take of the 1 MiB L2

struct Geo {
  int64_t TH, TW, T1;  // tile rows, tile columns, tiles per image
  int64_t Hb, Wb;      // blocked padded input: the 6x6 windows of every tile
  int64_t Cp, Kp;      // channels padded to 16
  explicit Geo(const Conv2dShape& s)
      : TH((s.OH + 3) / 4), TW((s.OW + 3) / 4), T1(TH * TW), Hb(4 * TH + 2), Wb(4 * TW + 2),
        Cp((s.C + 15) / 16 * 16), Kp((s.K + 15) / 16 * 16) {}
};

// In-register transpose of 16 rows of 16 floats (the same as conv_avx512.cpp's).
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

inline __m512 c(float v) { return _mm512_set1_ps(v); }

// v = B^T d for one line of the 6x6 input tile.
inline void bt6(const __m512 d[6], __m512 v[6]) {
  const __m512 a = _mm512_fnmadd_ps(c(4), d[2], d[4]), b = _mm512_fnmadd_ps(c(4), d[1], d[3]);
  const __m512 e = _mm512_sub_ps(d[4], d[2]), f = _mm512_mul_ps(c(2), _mm512_sub_ps(d[3], d[1]));
  v[0] = _mm512_fmadd_ps(c(4), d[0], _mm512_fmadd_ps(c(-5), d[2], d[4]));
  v[1] = _mm512_add_ps(a, b);
  v[2] = _mm512_sub_ps(a, b);
  v[3] = _mm512_add_ps(e, f);
  v[4] = _mm512_sub_ps(e, f);
  v[5] = _mm512_fmadd_ps(c(4), d[1], _mm512_fmadd_ps(c(-5), d[3], d[5]));
}

// y = A^T m for one line of the 6x6 product tile.
inline void at6(const __m512 m[6], __m512 y[4]) {
  const __m512 s12 = _mm512_add_ps(m[1], m[2]), d12 = _mm512_sub_ps(m[1], m[2]);
  const __m512 s34 = _mm512_add_ps(m[3], m[4]), d34 = _mm512_sub_ps(m[3], m[4]);
  y[0] = _mm512_add_ps(_mm512_add_ps(m[0], s12), s34);
  y[1] = _mm512_fmadd_ps(c(2), d34, d12);
  y[2] = _mm512_fmadd_ps(c(4), s34, s12);
  y[3] = _mm512_add_ps(_mm512_fmadd_ps(c(8), d34, d12), m[5]);
}

// u = G g for one line of the 3x3 filter.
inline void g3(const __m512 g[3], __m512 u[6]) {
  const __m512 s = _mm512_add_ps(g[0], g[2]);
  u[0] = _mm512_mul_ps(c(1.f / 4), g[0]);
  u[1] = _mm512_mul_ps(c(-1.f / 6), _mm512_add_ps(s, g[1]));
  u[2] = _mm512_mul_ps(c(-1.f / 6), _mm512_sub_ps(s, g[1]));
  const __m512 p = _mm512_fmadd_ps(c(1.f / 24), g[0], _mm512_mul_ps(c(1.f / 6), g[2]));
  u[3] = _mm512_fmadd_ps(c(1.f / 12), g[1], p);
  u[4] = _mm512_fnmadd_ps(c(1.f / 12), g[1], p);
  u[5] = g[2];
}

// U[xi][c][k0 + i] = (G g G^T)[xi] of filter (k0 + i, c) for 16 output channels and every c. The
// 16 filter rows (C*9 contiguous floats each) are read 16 columns at a time and transposed, so
// every tap arrives as one vector over the 16 output channels.
void transform_weights(float* U, const float* w, int64_t k0, int64_t K, int64_t C, int64_t Kp) {
  alignas(64) float buf[16 * 9 + 16][16];  // taps (c, rs) of 16 channels c, over 16 k
  __m512 r[16];
  const int64_t row = C * 9;
  for (int64_t c0 = 0; c0 < C; c0 += 16) {
    const int64_t nc = std::min<int64_t>(16, C - c0), j0 = c0 * 9, j1 = j0 + nc * 9;
    for (int64_t j = j0; j < j1; j += 16) {
      const int64_t n = std::min<int64_t>(16, j1 - j);
      const __mmask16 m = static_cast<__mmask16>((1u << n) - 1);
      for (int i = 0; i < 16; ++i)
        r[i] = k0 + i < K ? _mm512_maskz_loadu_ps(m, w + (k0 + i) * row + j) : _mm512_setzero_ps();
      transpose16(r);
      for (int l = 0; l < 16; ++l) _mm512_store_ps(buf[j - j0 + l], r[l]);
    }
    for (int64_t c = c0; c < c0 + nc; ++c) {
      const float(*g9)[16] = buf + (c - c0) * 9;
      __m512 t[3][6];
      for (int rr = 0; rr < 3; ++rr) {
        const __m512 g[3] = {_mm512_load_ps(g9[3 * rr]), _mm512_load_ps(g9[3 * rr + 1]),
                             _mm512_load_ps(g9[3 * rr + 2])};
        g3(g, t[rr]);  // t[r][j] = (g G^T)[r][j]
      }
      for (int j = 0; j < 6; ++j) {
        const __m512 g[3] = {t[0][j], t[1][j], t[2][j]};
        __m512 u[6];
        g3(g, u);
        for (int i = 0; i < 6; ++i) _mm512_storeu_ps(U + ((i * 6 + j) * C + c) * Kp + k0, u[i]);
      }
    }
  }
}

// X16[cb][hp][wp][16] = x[cb*16 + i][hp - pt][wp - pl], zero outside the input (and past C).
void pack_input(float* X16, const float* x, const Conv2dShape& s, const Geo& g) {
  __m512 r[16];
  for (int64_t cb = 0; cb < g.Cp / 16; ++cb)
    for (int64_t hp = 0; hp < g.Hb; ++hp) {
      float* dst = X16 + (cb * g.Hb + hp) * g.Wb * 16;
      const int64_t ih = hp - s.pt;
      if (ih < 0 || ih >= s.H) {
        std::memset(dst, 0, sizeof(float) * g.Wb * 16);
        continue;
      }
      for (int64_t w0 = 0; w0 < g.Wb; w0 += 16) {
        const int64_t n = std::min<int64_t>(16, g.Wb - w0), iw0 = w0 - s.pl;
        unsigned m = 0;
        for (int l = 0; l < n; ++l) m |= (iw0 + l >= 0 && iw0 + l < s.W) ? 1u << l : 0u;
        for (int i = 0; i < 16; ++i) {
          const int64_t ch = cb * 16 + i;
          // Masked-off lanes are never touched, so the address may lie before the row.
          r[i] = ch < s.C && m ? _mm512_maskz_loadu_ps(static_cast<__mmask16>(m), x + (ch * s.H + ih) * s.W + iw0)
                               : _mm512_setzero_ps();
        }
        transpose16(r);
        for (int l = 0; l < n; ++l) _mm512_storeu_ps(dst + (w0 + l) * 16, r[l]);
      }
    }
}

// V[xi][t - ta][c] = (B^T d B)[xi] for the chunk's tiles t in [ta, tb) (tile t is tile t % T1 of
// image t / T1, whose blocked input is X16 + (t / T1) * img); V's planes hold tb - ta tiles.
void input_transform(float* V, const float* X16, int64_t ta, int64_t tb, const Geo& g) {
  const int64_t Cp = g.Cp, Hb = g.Hb, Wb = g.Wb, TW = g.TW, T1 = g.T1, plane = (tb - ta) * Cp;  // locals: no reloads
  const int64_t img = Cp * Hb * Wb;
  __m512 tmp[6][6];
  for (int64_t t = ta; t < tb; ++t) {
    const int64_t th = (t % T1) / TW, tw = (t % T1) % TW;
    for (int64_t cb = 0; cb < Cp / 16; ++cb) {
      const float* base = X16 + (t / T1) * img + ((cb * Hb + 4 * th) * Wb + 4 * tw) * 16;
      for (int i = 0; i < 6; ++i) {
        __m512 d[6];
        for (int j = 0; j < 6; ++j) d[j] = _mm512_loadu_ps(base + (i * Wb + j) * 16);
        bt6(d, tmp[i]);
      }
      float* out = V + (t - ta) * Cp + cb * 16;
      for (int j = 0; j < 6; ++j) {
        const __m512 d[6] = {tmp[0][j], tmp[1][j], tmp[2][j], tmp[3][j], tmp[4][j], tmp[5][j]};
        __m512 v[6];
        bt6(d, v);
        for (int i = 0; i < 6; ++i) _mm512_storeu_ps(out + (i * 6 + j) * plane, v[i]);
      }
    }
  }
}

// Y16[kb][oh][ow][16] = (A^T M A) + bias for the chunk's tiles t in [ta, tb); M's planes hold tb - ta
// tiles, Y16 holds the chunk's images one after another.
void output_transform(float* Y16, const float* M, const float* bias, int64_t K, int64_t ta, int64_t tb,
                      const Geo& g) {
  const int64_t OHb = 4 * g.TH, OWb = 4 * g.TW, TW = g.TW, T1 = g.T1, Kp = g.Kp, plane = (tb - ta) * Kp;
  const int64_t img = Kp * OHb * OWb;
  __m512 tmp[6][4];
  for (int64_t t = ta; t < tb; ++t) {
    const int64_t th = (t % T1) / TW, tw = (t % T1) % TW;
    for (int64_t kb = 0; kb < Kp / 16; ++kb) {
      const __mmask16 km = static_cast<__mmask16>(K - kb * 16 >= 16 ? 0xFFFF : (1u << (K - kb * 16)) - 1);
      const __m512 b = bias ? _mm512_maskz_loadu_ps(km, bias + kb * 16) : _mm512_setzero_ps();
      const float* in = M + (t - ta) * Kp + kb * 16;
      for (int i = 0; i < 6; ++i) {
        __m512 m[6];
        for (int j = 0; j < 6; ++j) m[j] = _mm512_loadu_ps(in + (i * 6 + j) * plane);
        at6(m, tmp[i]);
      }
      float* out = Y16 + (t / T1) * img + ((kb * OHb + 4 * th) * OWb + 4 * tw) * 16;
      for (int bcol = 0; bcol < 4; ++bcol) {
        const __m512 m[6] = {tmp[0][bcol], tmp[1][bcol], tmp[2][bcol], tmp[3][bcol], tmp[4][bcol], tmp[5][bcol]};
        __m512 y[4];
        at6(m, y);
        for (int a = 0; a < 4; ++a) _mm512_storeu_ps(out + (a * OWb + bcol) * 16, _mm512_add_ps(y[a], b));
      }
    }
  }
}

// y[k][oh][ow] = Y16[k/16][oh][ow][k%16] for the real outputs.
void unpack_output(float* y, const float* Y16, const Conv2dShape& s, const Geo& g) {
  const int64_t OHb = 4 * g.TH, OWb = 4 * g.TW;
  __m512 r[16];
  for (int64_t kb = 0; kb < g.Kp / 16; ++kb)
    for (int64_t oh = 0; oh < s.OH; ++oh)
      for (int64_t ow0 = 0; ow0 < s.OW; ow0 += 16) {
        const int64_t n = std::min<int64_t>(16, s.OW - ow0);
        const float* src = Y16 + ((kb * OHb + oh) * OWb + ow0) * 16;
        for (int l = 0; l < 16; ++l) r[l] = l < n ? _mm512_loadu_ps(src + l * 16) : _mm512_setzero_ps();
        transpose16(r);
        const __mmask16 m = static_cast<__mmask16>((1u << n) - 1);
        for (int i = 0; i < 16 && kb * 16 + i < s.K; ++i)
          _mm512_mask_storeu_ps(y + ((kb * 16 + i) * s.OH + oh) * s.OW + ow0, m, r[i]);
      }
}

}  // namespace

bool winograd_suits(const Conv2dShape& s, int threads) {
  return s.R == 3 && s.S == 3 && s.sh == 1 && s.sw == 1 && s.dh == 1 && s.dw == 1 && s.groups == 1 && s.C >= 16 &&
         s.K >= 16 && s.N >= threads && s.OH >= 4 && s.OW >= 4;
}

void winograd_forward_avx512(float* y, const float* x, const float* w, const float* bias, const Conv2dShape& s) {
  const Geo g(s);
  const int nt = num_threads();
  // Images per chunk: about kTargetTiles tiles, but at least one chunk per thread.
  const int64_t nimg = std::max<int64_t>(1, std::min((kTargetTiles + g.T1 - 1) / g.T1, (s.N + nt - 1) / nt));
  const int64_t chunks = (s.N + nimg - 1) / nimg, T = nimg * g.T1;
  // Tiles per transform-GEMM-transform pass: few enough that V and M stay in L2 when the channels
  // allow it; with many channels the whole chunk, so each U[xi] panel serves many tiles.
  const int64_t l2_tiles = kL2Bytes / (36 * 4 * (g.Cp + g.Kp));
  const int64_t Tb = l2_tiles >= 24 ? l2_tiles / 12 * 12 : T;
  const int64_t x16 = nimg * g.Cp * g.Hb * g.Wb, y16 = nimg * g.Kp * 16 * g.T1;
  const int64_t v = 36 * std::min(T, Tb) * g.Cp, m = 36 * std::min(T, Tb) * g.Kp;
  const int64_t per_thread = x16 + y16 + v + m;
  float* U = scratch(3, 36 * s.C * g.Kp);
  float* buf = scratch(4, nt * per_thread);
  const int mt = g.Kp <= 32 ? 12 : 6;  // tiles per GEMM micro-tile (24 accumulators)
  int64_t boff[12];
  for (int i = 0; i < 12; ++i) boff[i] = i * g.Cp;
#pragma omp parallel num_threads(nt)
  {
#pragma omp for schedule(static)
    for (int64_t k0 = 0; k0 < g.Kp; k0 += 16) transform_weights(U, w, k0, s.K, s.C, g.Kp);
#pragma omp for schedule(static)
    for (int64_t chunk = 0; chunk < chunks; ++chunk) {
      float* X16 = buf + thread_index() * per_thread;
      float* Y16 = X16 + x16;
      float* V = Y16 + y16;
      float* M = V + v;
      const int64_t n0 = chunk * nimg, nb = std::min(nimg, s.N - n0), Tc = nb * g.T1;
      for (int64_t i = 0; i < nb; ++i) pack_input(X16 + i * g.Cp * g.Hb * g.Wb, x + (n0 + i) * s.C * s.H * s.W, s, g);
      for (int64_t ta = 0; ta < Tc; ta += Tb) {
        const int64_t tb = std::min(Tc, ta + Tb), nbt = tb - ta;
        input_transform(V, X16, ta, tb, g);
        for (int64_t xi = 0; xi < 36; ++xi)
          for (int64_t k0 = 0; k0 < g.Kp; k0 += 64)
            for (int64_t t = 0; t < nbt; t += mt)
              weight_tile_k_avx512(M + (xi * nbt + t) * g.Kp + k0, g.Kp, U + xi * s.C * g.Kp + k0, g.Kp,
                                   V + (xi * nbt + t) * g.Cp, boff, 0, s.C,
                                   static_cast<int>(std::min<int64_t>(mt, nbt - t)),
                                   static_cast<int>(std::min<int64_t>(4, (g.Kp - k0) / 16)), false);
        output_transform(Y16, M, bias, s.K, ta, tb, g);
      }
      for (int64_t i = 0; i < nb; ++i)
        unpack_output(y + (n0 + i) * s.K * s.OH * s.OW, Y16 + i * g.Kp * 16 * g.T1, s, g);
    }
  }
}

}  // namespace nerve::conv_direct
