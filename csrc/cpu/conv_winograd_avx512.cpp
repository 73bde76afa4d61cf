// conv_winograd_avx512.cpp — Winograd F(4x4, 3x3) convolution (Lavin & Gray, 2015) with AVX-512.
//
// A 4x4 output tile comes from a 6x6 input tile d and the 3x3 filter g as
//   Y = A^T [ (G g G^T) .* (B^T d B) ] A,
// so the 36 multiply-adds per output of a direct 3x3 convolution over a channel become 36 per
// 16 outputs: the products turn into 36 independent GEMMs M[xi] = V[xi] U[xi] (tiles x C times
// C x K), one per point xi of the 6x6 transform domain. The transforms run 16 channels at a time:
// images are first copied into a channel-blocked, zero-padded layout (16 channels contiguous per
// pixel) and outputs leave through the same layout, with in-register 16x16 transposes at both ends.
// float32 error is about 2.5x the direct algorithm's (see the interpolation points below).
//
// Threads own whole chunks of images (their V, M and blocked buffers), so nothing synchronizes
// between the weight transform and the end.
// GCC 12's own AVX-512 shuffle intrinsics trip -Wmaybe-uninitialized on an internal placeholder.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
// Keep short loops of vector stores as stores: GCC would turn them into memcpy calls (rep movs)
// from a spilled copy of the registers.
#pragma GCC optimize("no-tree-loop-distribute-patterns")
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "../core/parallel.h"
#include "conv_direct.h"

namespace nerve::conv_direct {
namespace {

constexpr int64_t kTargetTiles = 64;  // tiles per chunk: enough rows to reuse each U[xi] panel
constexpr int64_t kL2Bytes = 512 << 10;  // what V and M of one pass may take of the 1 MiB L2

// Tiles of m x m outputs from (m+2) x (m+2) inputs.
struct Geo {
  int64_t m, n;        // output tile side, input tile side (m + 2)
  int64_t TH, TW, T1;  // tile rows, tile columns, tiles per image
  int64_t Hb, Wb;      // blocked padded input: the n x n windows of every tile
  int64_t Cp, Kp;      // channels padded to 16
  Geo(const Conv2dShape& s, int64_t m)
      : m(m), n(m + 2), TH((s.OH + m - 1) / m), TW((s.OW + m - 1) / m), T1(TH * TW), Hb(m * TH + 2),
        Wb(m * TW + 2), Cp((s.C + 15) / 16 * 16), Kp((s.K + 15) / 16 * 16) {}
};

// In-register transpose of 16 rows of 16 floats (the same as conv_avx512.cpp's).
__attribute__((always_inline)) inline void transpose16(__m512 r[16]) {
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

// The transforms below use the interpolation points 0, 1, -1, 2, -1/2 (and infinity) rather than
// Lavin's 0, +-1, +-2: measured in float32 over 20-channel sums, their result is about 2.3x
// closer to the exact convolution (within ~2.5x of direct summation) for a few more additions.

// v = B^T d for one line of the 6x6 input tile.
inline void bt6(const __m512 d[6], __m512 v[6]) {
  const __m512 t = _mm512_sub_ps(d[1], d[3]), p = _mm512_sub_ps(d[4], d[2]);
  v[0] = _mm512_fmadd_ps(c(1.5f), t, _mm512_add_ps(_mm512_fnmadd_ps(c(2), d[2], d[0]), d[4]));
  v[1] = _mm512_sub_ps(_mm512_fnmadd_ps(c(2.5f), d[2], d[4]), _mm512_fmadd_ps(c(0.5f), d[3], d[1]));
  v[2] = _mm512_add_ps(_mm512_fmadd_ps(c(0.5f), d[2], d[4]), _mm512_fnmadd_ps(c(2.5f), d[3], d[1]));
  v[3] = _mm512_fnmadd_ps(c(0.5f), t, p);
  v[4] = _mm512_fmadd_ps(c(2), t, p);
  v[5] = _mm512_fmadd_ps(c(1.5f), _mm512_sub_ps(d[2], d[4]), _mm512_add_ps(_mm512_fnmadd_ps(c(2), d[3], d[5]), d[1]));
}

// y = A^T m for one line of the 6x6 product tile.
inline void at6(const __m512 m[6], __m512 y[4]) {
  const __m512 s = _mm512_add_ps(m[1], m[2]), d = _mm512_sub_ps(m[1], m[2]);
  y[0] = _mm512_add_ps(_mm512_add_ps(m[0], s), _mm512_add_ps(m[3], m[4]));
  y[1] = _mm512_fnmadd_ps(c(0.5f), m[4], _mm512_fmadd_ps(c(2), m[3], d));
  y[2] = _mm512_fmadd_ps(c(0.25f), m[4], _mm512_fmadd_ps(c(4), m[3], s));
  y[3] = _mm512_add_ps(_mm512_fnmadd_ps(c(0.125f), m[4], _mm512_fmadd_ps(c(8), m[3], d)), m[5]);
}

// u = G g for one line of the 3x3 filter.
inline void g3(const __m512 g[3], __m512 u[6]) {
  const __m512 s = _mm512_add_ps(g[0], g[2]);
  u[0] = g[0];
  u[1] = _mm512_mul_ps(c(-1.f / 3), _mm512_add_ps(s, g[1]));
  u[2] = _mm512_mul_ps(c(1.f / 3), _mm512_sub_ps(s, g[1]));
  u[3] = _mm512_mul_ps(c(1.f / 15), _mm512_fmadd_ps(c(4), g[2], _mm512_fmadd_ps(c(2), g[1], g[0])));
  u[4] = _mm512_mul_ps(c(1.f / 15), _mm512_fnmadd_ps(c(4), g[2], _mm512_fnmadd_ps(c(16), g[0], _mm512_mul_ps(c(8), g[1]))));
  u[5] = g[2];
}

// F(2x2, 3x3) with the points 0, 1, -1: every coefficient is 0, +-1 or 1/2, so it rounds no worse
// than direct summation (measured: better, the reduction per output being shorter).
inline void bt4(const __m512 d[4], __m512 v[4]) {
  v[0] = _mm512_sub_ps(d[0], d[2]);
  v[1] = _mm512_add_ps(d[1], d[2]);
  v[2] = _mm512_sub_ps(d[2], d[1]);
  v[3] = _mm512_sub_ps(d[1], d[3]);
}
inline void at4(const __m512 m[4], __m512 y[2]) {
  y[0] = _mm512_add_ps(_mm512_add_ps(m[0], m[1]), m[2]);
  y[1] = _mm512_sub_ps(_mm512_sub_ps(m[1], m[2]), m[3]);
}
inline void g3_4(const __m512 g[3], __m512 u[4]) {
  const __m512 s = _mm512_add_ps(g[0], g[2]);
  u[0] = g[0];
  u[1] = _mm512_mul_ps(c(0.5f), _mm512_add_ps(s, g[1]));
  u[2] = _mm512_mul_ps(c(0.5f), _mm512_sub_ps(s, g[1]));
  u[3] = g[2];
}

// The weight gradient runs the transforms backwards: z = A y (output tile to product tile) and
// r = G^T u (product tile to filter).
inline void a4(const __m512 y[2], __m512 z[4]) {
  z[0] = y[0];
  z[1] = _mm512_add_ps(y[0], y[1]);
  z[2] = _mm512_sub_ps(y[0], y[1]);
  z[3] = _mm512_sub_ps(_mm512_setzero_ps(), y[1]);
}
inline void gt4(const __m512 u[4], __m512 r[3]) {
  const __m512 s = _mm512_mul_ps(c(0.5f), _mm512_add_ps(u[1], u[2]));
  r[0] = _mm512_add_ps(u[0], s);
  r[1] = _mm512_mul_ps(c(0.5f), _mm512_sub_ps(u[1], u[2]));
  r[2] = _mm512_add_ps(s, u[3]);
}
inline void a6(const __m512 y[4], __m512 z[6]) {
  const __m512 e = _mm512_add_ps(y[0], y[2]), o = _mm512_add_ps(y[1], y[3]);
  z[0] = y[0];
  z[1] = _mm512_add_ps(e, o);
  z[2] = _mm512_sub_ps(e, o);
  z[3] = _mm512_fmadd_ps(c(8), y[3], _mm512_fmadd_ps(c(4), y[2], _mm512_fmadd_ps(c(2), y[1], y[0])));
  z[4] = _mm512_fnmadd_ps(c(0.125f), y[3], _mm512_fmadd_ps(c(0.25f), y[2], _mm512_fnmadd_ps(c(0.5f), y[1], y[0])));
  z[5] = y[3];
}
inline void gt6(const __m512 u[6], __m512 r[3]) {
  const __m512 s = _mm512_add_ps(u[1], u[2]), d = _mm512_sub_ps(u[2], u[1]);
  r[0] = _mm512_fnmadd_ps(c(16.f / 15), u[4], _mm512_fmadd_ps(c(1.f / 15), u[3], _mm512_fmadd_ps(c(1.f / 3), d, u[0])));
  r[1] = _mm512_fmadd_ps(c(8.f / 15), u[4], _mm512_fmadd_ps(c(2.f / 15), u[3], _mm512_mul_ps(c(-1.f / 3), s)));
  r[2] = _mm512_add_ps(_mm512_fnmadd_ps(c(4.f / 15), u[4], _mm512_fmadd_ps(c(4.f / 15), u[3], _mm512_mul_ps(c(1.f / 3), d))),
                       u[5]);
}

// The 1-D transforms of F(M x M, 3x3), N = M + 2.
template <int M>
struct Wino;
template <>
struct Wino<4> {
  static constexpr int N = 6;
  static void bt(const __m512* d, __m512* v) { bt6(d, v); }
  static void at(const __m512* m, __m512* y) { at6(m, y); }
  static void g(const __m512* g, __m512* u) { g3(g, u); }
  static void a(const __m512* y, __m512* z) { a6(y, z); }
  static void gt(const __m512* u, __m512* r) { gt6(u, r); }
};
template <>
struct Wino<2> {
  static constexpr int N = 4;
  static void bt(const __m512* d, __m512* v) { bt4(d, v); }
  static void at(const __m512* m, __m512* y) { at4(m, y); }
  static void g(const __m512* g, __m512* u) { g3_4(g, u); }
  static void a(const __m512* y, __m512* z) { a4(y, z); }
  static void gt(const __m512* u, __m512* r) { gt4(u, r); }
};

// U[xi][c][k0 + i] = (G g G^T)[xi] of filter (k0 + i, c) for 16 output channels and every c. The
// 16 filter rows (C*9 contiguous floats each) are read 16 columns at a time and transposed, so
// every tap arrives as one vector over the 16 output channels.
template <int M>
void transform_weights(float* U, const float* w, int64_t k0, int64_t K, int64_t C, int64_t Kp) {
  constexpr int N = Wino<M>::N;
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
      __m512 t[3][N];
      for (int rr = 0; rr < 3; ++rr) {
        const __m512 g[3] = {_mm512_load_ps(g9[3 * rr]), _mm512_load_ps(g9[3 * rr + 1]),
                             _mm512_load_ps(g9[3 * rr + 2])};
        Wino<M>::g(g, t[rr]);  // t[r][j] = (g G^T)[r][j]
      }
      for (int j = 0; j < N; ++j) {
        const __m512 g[3] = {t[0][j], t[1][j], t[2][j]};
        __m512 u[N];
        Wino<M>::g(g, u);
        for (int i = 0; i < N; ++i) _mm512_storeu_ps(U + ((i * N + j) * C + c) * Kp + k0, u[i]);
      }
    }
  }
}

// Xb[cb][hp][wp][16] = x[cb*16 + i][hp - pt][wp - pl] for hp < Hb, wp < Wb: C planes of H x W to the
// channel-blocked layout, zero outside the planes (and past C).
void pack_blocked(float* Xb, const float* x, int64_t C, int64_t H, int64_t W, int64_t pt, int64_t pl, int64_t Cp,
                  int64_t Hb, int64_t Wb) {
  // Which of the 16 columns of each column block lie inside the plane: the same for every row.
  const int64_t nwb = (Wb + 15) / 16;
  __mmask16 colm[64];
  uint16_t* wm = nwb <= 64 ? nullptr : new uint16_t[nwb];
  auto colmask = [&](int64_t wb) -> __mmask16 { return wm ? wm[wb] : colm[wb]; };
  for (int64_t wb = 0; wb < nwb; ++wb) {
    unsigned m = 0;
    for (int l = 0; l < 16; ++l) {
      const int64_t iw = wb * 16 + l - pl;
      m |= (wb * 16 + l < Wb && iw >= 0 && iw < W) ? 1u << l : 0u;
    }
    if (wm) wm[wb] = static_cast<uint16_t>(m);
    else colm[wb] = static_cast<__mmask16>(m);
  }
  __m512 r[16];
  for (int64_t cb = 0; cb < Cp / 16; ++cb) {
    // Channels past C load nothing (mask 0) from a harmless address.
    const float* row[16];
    __mmask16 chm[16];
    for (int i = 0; i < 16; ++i) {
      const bool ok = cb * 16 + i < C;
      row[i] = ok ? x + (cb * 16 + i) * H * W : x;
      chm[i] = ok ? 0xFFFF : 0;
    }
    for (int64_t hp = 0; hp < Hb; ++hp) {
      float* dst = Xb + (cb * Hb + hp) * Wb * 16;
      const int64_t ih = hp - pt;
      if (ih < 0 || ih >= H) {
        std::memset(dst, 0, sizeof(float) * Wb * 16);
        continue;
      }
      for (int64_t wb = 0; wb < nwb; ++wb) {
        const __mmask16 m = colmask(wb);
        const int64_t off = ih * W + wb * 16 - pl;  // masked-off lanes are never read, even before the row
        for (int i = 0; i < 16; ++i) r[i] = _mm512_maskz_loadu_ps(m & chm[i], row[i] + (chm[i] ? off : 0));
        transpose16(r);
        const int64_t n = std::min<int64_t>(16, Wb - wb * 16);
        for (int l = 0; l < n; ++l) _mm512_storeu_ps(dst + (wb * 16 + l) * 16, r[l]);
      }
    }
  }
  delete[] wm;
}

void pack_input(float* X16, const float* x, const Conv2dShape& s, const Geo& g) {
  pack_blocked(X16, x, s.C, s.H, s.W, s.pt, s.pl, g.Cp, g.Hb, g.Wb);
}

// V[xi][t - ta][c] = (B^T d B)[xi] for the chunk's tiles t in [ta, tb) (tile t is tile t % T1 of
// image t / T1, whose blocked input is X16 + (t / T1) * img); V's planes hold tb - ta tiles.
template <int M>
void input_transform(float* V, const float* X16, int64_t ta, int64_t tb, const Geo& g) {
  constexpr int N = Wino<M>::N;
  const int64_t Cp = g.Cp, Hb = g.Hb, Wb = g.Wb, TW = g.TW, T1 = g.T1, plane = (tb - ta) * Cp;  // locals: no reloads
  const int64_t img = Cp * Hb * Wb;
  __m512 tmp[N][N];
  for (int64_t t = ta; t < tb; ++t) {
    const int64_t th = (t % T1) / TW, tw = (t % T1) % TW;
    for (int64_t cb = 0; cb < Cp / 16; ++cb) {
      const float* base = X16 + (t / T1) * img + ((cb * Hb + M * th) * Wb + M * tw) * 16;
      for (int i = 0; i < N; ++i) {
        __m512 d[N];
        for (int j = 0; j < N; ++j) d[j] = _mm512_loadu_ps(base + (i * Wb + j) * 16);
        Wino<M>::bt(d, tmp[i]);
      }
      float* out = V + (t - ta) * Cp + cb * 16;
      for (int j = 0; j < N; ++j) {
        __m512 d[N], v[N];
        for (int i = 0; i < N; ++i) d[i] = tmp[i][j];
        Wino<M>::bt(d, v);
        for (int i = 0; i < N; ++i) _mm512_storeu_ps(out + (i * N + j) * plane, v[i]);
      }
    }
  }
}

// Y16[kb][oh][ow][16] = (A^T M A) + bias for the chunk's tiles t in [ta, tb); M's planes hold tb - ta
// tiles, Y16 holds the chunk's images one after another.
template <int M>
void output_transform(float* Y16, const float* Mx, const float* bias, int64_t K, int64_t ta, int64_t tb,
                      const Geo& g) {
  constexpr int N = Wino<M>::N;
  const int64_t OHb = M * g.TH, OWb = M * g.TW, TW = g.TW, T1 = g.T1, Kp = g.Kp, plane = (tb - ta) * Kp;
  const int64_t img = Kp * OHb * OWb;
  __m512 tmp[N][M];
  for (int64_t t = ta; t < tb; ++t) {
    const int64_t th = (t % T1) / TW, tw = (t % T1) % TW;
    for (int64_t kb = 0; kb < Kp / 16; ++kb) {
      const __mmask16 km = static_cast<__mmask16>(K - kb * 16 >= 16 ? 0xFFFF : (1u << (K - kb * 16)) - 1);
      const __m512 b = bias ? _mm512_maskz_loadu_ps(km, bias + kb * 16) : _mm512_setzero_ps();
      const float* in = Mx + (t - ta) * Kp + kb * 16;
      for (int i = 0; i < N; ++i) {
        __m512 m[N];
        for (int j = 0; j < N; ++j) m[j] = _mm512_loadu_ps(in + (i * N + j) * plane);
        Wino<M>::at(m, tmp[i]);
      }
      float* out = Y16 + (t / T1) * img + ((kb * OHb + M * th) * OWb + M * tw) * 16;
      for (int bcol = 0; bcol < M; ++bcol) {
        __m512 m[N], y[M];
        for (int i = 0; i < N; ++i) m[i] = tmp[i][bcol];
        Wino<M>::at(m, y);
        for (int a = 0; a < M; ++a) _mm512_storeu_ps(out + (a * OWb + bcol) * 16, _mm512_add_ps(y[a], b));
      }
    }
  }
}

// y[k][oh][ow] = Y16[k/16][oh][ow][k%16] for the real outputs.
void unpack_output(float* y, const float* Y16, const Conv2dShape& s, const Geo& g) {
  const int64_t OHb = g.m * g.TH, OWb = g.m * g.TW;
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

// Images per chunk: near `want`, with every thread getting the same number of chunks (the threads
// own whole chunks, so an odd split would leave one thread idle at the end).
int64_t images_per_chunk(int64_t N, int nt, int64_t want) {
  const int64_t per_thread = (N + nt - 1) / nt;
  const int64_t chunks = (per_thread + std::max<int64_t>(want, 1) - 1) / std::max<int64_t>(want, 1);
  return (per_thread + chunks - 1) / chunks;
}

template <int M>
void forward(float* y, const float* x, const float* w, const float* bias, const Conv2dShape& s) {
  constexpr int NN = Wino<M>::N * Wino<M>::N;
  const Geo g(s, M);
  const int nt = num_threads();
  const int64_t target = kTargetTiles * 16 / (M * M);
  const int64_t nimg = images_per_chunk(s.N, nt, (target + g.T1 - 1) / g.T1);
  const int64_t chunks = (s.N + nimg - 1) / nimg, T = nimg * g.T1;
  // Tiles per transform-GEMM-transform pass: few enough that V and M stay in L2 when the channels
  // allow it; with many channels the whole chunk, so each U[xi] panel serves many tiles.
  const int64_t l2_tiles = kL2Bytes / (NN * 4 * (g.Cp + g.Kp));
  const int64_t Tb = std::min(T, l2_tiles >= 24 ? l2_tiles / 12 * 12 : T);
  const int64_t x16 = nimg * g.Cp * g.Hb * g.Wb, y16 = nimg * g.Kp * M * M * g.T1;
  const int64_t v = NN * Tb * g.Cp, m = NN * Tb * g.Kp, per_thread = x16 + y16 + v + m;
  float* U = scratch(3, NN * s.C * g.Kp);
  float* buf = scratch(4, nt * per_thread);
  const int mt = g.Kp <= 32 ? 12 : 6;  // tiles per GEMM micro-tile (24 accumulators)
  int64_t boff[12];
  for (int i = 0; i < 12; ++i) boff[i] = i * g.Cp;
#pragma omp parallel num_threads(nt)
  {
#pragma omp for schedule(static)
    for (int64_t k0 = 0; k0 < g.Kp; k0 += 16) transform_weights<M>(U, w, k0, s.K, s.C, g.Kp);
#pragma omp for schedule(static)
    for (int64_t chunk = 0; chunk < chunks; ++chunk) {
      float* X16 = buf + thread_index() * per_thread;
      float* Y16 = X16 + x16;
      float* V = Y16 + y16;
      float* Mx = V + v;
      const int64_t n0 = chunk * nimg, nb = std::min(nimg, s.N - n0), Tc = nb * g.T1;
      for (int64_t i = 0; i < nb; ++i) pack_input(X16 + i * g.Cp * g.Hb * g.Wb, x + (n0 + i) * s.C * s.H * s.W, s, g);
      for (int64_t ta = 0; ta < Tc; ta += Tb) {
        const int64_t tb = std::min(Tc, ta + Tb), nbt = tb - ta;
        input_transform<M>(V, X16, ta, tb, g);
        for (int64_t xi = 0; xi < NN; ++xi)
          for (int64_t k0 = 0; k0 < g.Kp; k0 += 64)
            for (int64_t t = 0; t < nbt; t += mt)
              weight_tile_k_avx512(Mx + (xi * nbt + t) * g.Kp + k0, g.Kp, U + xi * s.C * g.Kp + k0, g.Kp,
                                   V + (xi * nbt + t) * g.Cp, boff, 1, 0, s.C,
                                   static_cast<int>(std::min<int64_t>(mt, nbt - t)),
                                   static_cast<int>(std::min<int64_t>(4, (g.Kp - k0) / 16)), false);
        output_transform<M>(Y16, Mx, bias, s.K, ta, tb, g);
      }
      for (int64_t i = 0; i < nb; ++i)
        unpack_output(y + (n0 + i) * s.K * s.OH * s.OW, Y16 + i * g.Kp * M * M * g.T1, s, g);
    }
  }
}

// Z[xi][t - ta][k] = (A dY A^T)[xi] for the chunk's tiles t in [ta, tb), from the blocked output
// gradient dY16[kb][oh][ow][16] (zero past the outputs); Z's planes hold tb - ta tiles.
template <int M>
void dy_transform(float* Z, const float* dY16, int64_t ta, int64_t tb, const Geo& g) {
  constexpr int N = Wino<M>::N;
  const int64_t OHb = M * g.TH, OWb = M * g.TW, TW = g.TW, T1 = g.T1, Kp = g.Kp, plane = (tb - ta) * Kp;
  const int64_t img = Kp * OHb * OWb;
  __m512 tmp[M][N];
  for (int64_t t = ta; t < tb; ++t) {
    const int64_t th = (t % T1) / TW, tw = (t % T1) % TW;
    for (int64_t kb = 0; kb < Kp / 16; ++kb) {
      const float* in = dY16 + (t / T1) * img + ((kb * OHb + M * th) * OWb + M * tw) * 16;
      for (int a = 0; a < M; ++a) {
        __m512 y[M];
        for (int b = 0; b < M; ++b) y[b] = _mm512_loadu_ps(in + (a * OWb + b) * 16);
        Wino<M>::a(y, tmp[a]);
      }
      float* out = Z + (t - ta) * Kp + kb * 16;
      for (int j = 0; j < N; ++j) {
        __m512 y[M], z[N];
        for (int a = 0; a < M; ++a) y[a] = tmp[a][j];
        Wino<M>::a(y, z);
        for (int i = 0; i < N; ++i) _mm512_storeu_ps(out + (i * N + j) * plane, z[i]);
      }
    }
  }
}

// dw[k][c][r][s] += (G^T dU G)[r][s] with dU[xi][k][c] summed over the `parts` per-thread copies.
template <int M>
void weight_back_transform(float* dw, const float* dU, int64_t parts, int64_t part, int64_t k, int64_t K, int64_t C,
                           int64_t Cp) {
  constexpr int N = Wino<M>::N;
  alignas(64) float buf[9][16];
  for (int64_t c0 = 0; c0 < C; c0 += 16) {
    __m512 u[N][N];
    for (int xi = 0; xi < N * N; ++xi) {
      __m512 acc = _mm512_setzero_ps();
      for (int64_t q = 0; q < parts; ++q) acc = _mm512_add_ps(acc, _mm512_loadu_ps(dU + q * part + (xi * K + k) * Cp + c0));
      u[xi / N][xi % N] = acc;
    }
    __m512 t[N][3];
    for (int i = 0; i < N; ++i) Wino<M>::gt(u[i], t[i]);  // t = dU G
    for (int sx = 0; sx < 3; ++sx) {
      __m512 col[N], r[3];
      for (int i = 0; i < N; ++i) col[i] = t[i][sx];
      Wino<M>::gt(col, r);  // r[rr] = (G^T dU G)[rr][sx]
      for (int rr = 0; rr < 3; ++rr) _mm512_store_ps(buf[rr * 3 + sx], r[rr]);
    }
    for (int64_t i = 0; i < std::min<int64_t>(16, C - c0); ++i)
      for (int rs = 0; rs < 9; ++rs) dw[(k * C + c0 + i) * 9 + rs] += buf[rs][i];
  }
}

template <int M>
void backward_weight(float* dw, const float* dy, const float* x, const Conv2dShape& s) {
  constexpr int NN = Wino<M>::N * Wino<M>::N;
  const Geo g(s, M);
  const int nt = num_threads();
  const int64_t OHb = M * g.TH, OWb = M * g.TW;
  const int64_t target = kTargetTiles * 16 / (M * M);
  const int64_t nimg = images_per_chunk(s.N, nt, (target + g.T1 - 1) / g.T1);
  const int64_t chunks = (s.N + nimg - 1) / nimg, T = nimg * g.T1;
  const int64_t l2_tiles = kL2Bytes / (NN * 4 * (g.Cp + g.Kp));
  const int64_t Tb = std::min(T, l2_tiles >= 24 ? l2_tiles / 12 * 12 : T);
  const int64_t x16 = nimg * g.Cp * g.Hb * g.Wb, y16 = nimg * g.Kp * OHb * OWb;
  const int64_t v = NN * Tb * g.Cp, z = NN * Tb * g.Kp, du = NN * s.K * g.Cp;
  const int64_t per_thread = x16 + y16 + v + z;
  float* dU = scratch(3, nt * du);  // one copy per thread, summed at the end
  float* buf = scratch(4, nt * per_thread);
  const int mt = g.Cp <= 32 ? 12 : 6;  // output channels per GEMM micro-tile (24 accumulators)
  const int64_t koff[12] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
#pragma omp parallel num_threads(nt)
  {
#pragma omp for schedule(static)
    for (int q = 0; q < nt; ++q) std::memset(dU + q * du, 0, sizeof(float) * du);
#pragma omp for schedule(static)
    for (int64_t chunk = 0; chunk < chunks; ++chunk) {
      float* X16 = buf + thread_index() * per_thread;
      float* dY16 = X16 + x16;
      float* V = dY16 + y16;
      float* Z = V + v;
      float* dUt = dU + thread_index() * du;
      const int64_t n0 = chunk * nimg, nb = std::min(nimg, s.N - n0), Tc = nb * g.T1;
      for (int64_t i = 0; i < nb; ++i) {
        pack_input(X16 + i * g.Cp * g.Hb * g.Wb, x + (n0 + i) * s.C * s.H * s.W, s, g);
        pack_blocked(dY16 + i * g.Kp * OHb * OWb, dy + (n0 + i) * s.K * s.OH * s.OW, s.K, s.OH, s.OW, 0, 0, g.Kp,
                     OHb, OWb);
      }
      for (int64_t ta = 0; ta < Tc; ta += Tb) {
        const int64_t tb = std::min(Tc, ta + Tb), nbt = tb - ta;
        input_transform<M>(V, X16, ta, tb, g);
        dy_transform<M>(Z, dY16, ta, tb, g);
        // dU[xi] (K x C) += Z[xi]^T (K x tiles) V[xi] (tiles x C)
        for (int64_t xi = 0; xi < NN; ++xi)
          for (int64_t c0 = 0; c0 < g.Cp; c0 += 64)
            for (int64_t k0 = 0; k0 < s.K; k0 += mt)
              weight_tile_k_avx512(dUt + (xi * s.K + k0) * g.Cp + c0, g.Cp, V + xi * nbt * g.Cp + c0, g.Cp,
                                   Z + xi * nbt * g.Kp + k0, koff, g.Kp, 0, nbt,
                                   static_cast<int>(std::min<int64_t>(mt, s.K - k0)),
                                   static_cast<int>(std::min<int64_t>(4, (g.Cp - c0) / 16)), true);
      }
    }
#pragma omp for schedule(static)
    for (int64_t k = 0; k < s.K; ++k) weight_back_transform<M>(dw, dU, nt, du, k, s.K, s.C, g.Cp);
  }
}

}  // namespace

bool winograd_suits(const Conv2dShape& s, int threads) {
  return s.R == 3 && s.S == 3 && s.sh == 1 && s.sw == 1 && s.dh == 1 && s.dw == 1 && s.groups == 1 && s.C >= 16 &&
         s.K >= 16 && s.N >= threads && s.OH >= 4 && s.OW >= 4;
}

void winograd_forward_avx512(float* y, const float* x, const float* w, const float* bias, const Conv2dShape& s,
                             int m) {
  if (m == 4) forward<4>(y, x, w, bias, s);
  else forward<2>(y, x, w, bias, s);
}

}  // namespace nerve::conv_direct

namespace nerve::conv_direct {

void winograd_backward_weight_avx512(float* dw, const float* dy, const float* x, const Conv2dShape& s, int m) {
  if (m == 4) backward_weight<4>(dw, dy, x, s);
  else backward_weight<2>(dw, dy, x, s);
}

}  // namespace nerve::conv_direct
