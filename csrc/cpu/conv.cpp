// conv.cpp — conv2d forward / input-grad / weight-grad / bias-grad drivers and the naive oracle.
//
// Three algorithms, picked per call (see ConvAlgo in conv.h):
//  * Winograd (float32, AVX-512, 3x3 stride 1, conv_winograd_avx512.cpp) for all three passes.
//  * direct (float32, AVX-512): each image is zero-padded into a flat buffer (phase planes when
//    strided) and the micro-kernels of conv_avx512.cpp read the taps at fixed offsets
//    (conv_direct.h). The input gradient of a stride-1 convolution is itself a stride-1 convolution
//    (flipped, transposed weights, padding dil*(k-1) - pad), so it runs on the forward kernels;
//    a strided one splits into a stride-1 convolution per output phase (PhasedInput), likewise.
//  * im2col + nerve::gemm (float64, other ISAs): the im2col matrix is built for at most kColChunk
//    elements of one image at a time, so its buffer stays small.
// Threads split images (or pixel panels / weight tiles); each thread owns its scratch buffers.
#include "conv.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <type_traits>
#include <vector>

#include "../core/cpu_features.h"
#include "../core/parallel.h"
#include "conv_direct.h"
#include "gemm.h"

namespace nerve {

namespace {
std::atomic<int> g_conv_algo{static_cast<int>(ConvAlgo::kAuto)};
}  // namespace

void set_conv_algo(ConvAlgo a) { g_conv_algo.store(static_cast<int>(a)); }
ConvAlgo conv_algo() { return static_cast<ConvAlgo>(g_conv_algo.load(std::memory_order_relaxed)); }

namespace conv_direct {

int thread_index() {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

float* scratch(int slot, int64_t n) {
  thread_local std::vector<float> bufs[kScratchSlots];
  std::vector<float>& b = bufs[slot];
  if (static_cast<int64_t>(b.size()) < n) {
    b = std::vector<float>();
    b.resize(n);
  }
  return b.data();
}

}  // namespace conv_direct

namespace {

using conv_direct::scratch;
using conv_direct::thread_index;

constexpr int64_t kColChunk = int64_t{1} << 20;  // elements of im2col scratch per thread

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// ---- im2col + GEMM -----------------------------------------------------------------------------

// col[t, q - q0] = x[c, ih, iw] (0 outside) for tap t = (c, r, s) of group g and output pixel q.
template <class T>
void im2col(T* col, const T* x /* (C,H,W) of one image */, const Conv2dShape& s, int64_t g, int64_t q0, int64_t q1) {
  const int64_t nq = q1 - q0, Cg = s.Cg();
  T* row = col;
  for (int64_t c = 0; c < Cg; ++c) {
    const T* plane = x + (g * Cg + c) * s.H * s.W;
    for (int64_t r = 0; r < s.R; ++r)
      for (int64_t t = 0; t < s.S; ++t, row += nq)
        for (int64_t q = q0; q < q1;) {
          const int64_t oh = q / s.OW, ow0 = q % s.OW, run = std::min(s.OW - ow0, q1 - q);
          const int64_t ih = oh * s.sh - s.pt + r * s.dh;
          T* dst = row + (q - q0);
          if (ih < 0 || ih >= s.H) {
            std::fill(dst, dst + run, T(0));
          } else {
            const T* src = plane + ih * s.W;
            const int64_t iw0 = ow0 * s.sw - s.pl + t * s.dw;
            for (int64_t i = 0; i < run; ++i) {
              const int64_t iw = iw0 + i * s.sw;
              dst[i] = (iw >= 0 && iw < s.W) ? src[iw] : T(0);
            }
          }
          q += run;
        }
  }
}

// The adjoint of im2col: dx[c, ih, iw] += col[t, q - q0].
template <class T>
void col2im(T* dx /* (C,H,W) of one image */, const T* col, const Conv2dShape& s, int64_t g, int64_t q0, int64_t q1) {
  const int64_t nq = q1 - q0, Cg = s.Cg();
  const T* row = col;
  for (int64_t c = 0; c < Cg; ++c) {
    T* plane = dx + (g * Cg + c) * s.H * s.W;
    for (int64_t r = 0; r < s.R; ++r)
      for (int64_t t = 0; t < s.S; ++t, row += nq)
        for (int64_t q = q0; q < q1;) {
          const int64_t oh = q / s.OW, ow0 = q % s.OW, run = std::min(s.OW - ow0, q1 - q);
          const int64_t ih = oh * s.sh - s.pt + r * s.dh;
          if (ih >= 0 && ih < s.H) {
            T* dst = plane + ih * s.W;
            const T* src = row + (q - q0);
            const int64_t iw0 = ow0 * s.sw - s.pl + t * s.dw;
            for (int64_t i = 0; i < run; ++i) {
              const int64_t iw = iw0 + i * s.sw;
              if (iw >= 0 && iw < s.W) dst[iw] += src[i];
            }
          }
          q += run;
        }
  }
}

// Runs fn(n, g, col_scratch, threads_for_gemm) for every image-group: in parallel with serial GEMMs
// when there are enough of them, else one after another with a threaded GEMM.
template <class T, class F>
void for_image_groups(const Conv2dShape& s, int64_t col_elems, F&& fn) {
  const int64_t items = s.N * s.groups;
  const int nt = num_threads();
  if (items >= nt && nt > 1) {
    parallel_for(items, 1, [&](int64_t b, int64_t e) {
      std::vector<T> col(col_elems);
      for (int64_t it = b; it < e; ++it) fn(it / s.groups, it % s.groups, col.data(), 1);
    });
  } else {
    std::vector<T> col(col_elems);
    for (int64_t it = 0; it < items; ++it) fn(it / s.groups, it % s.groups, col.data(), 0);
  }
}

template <class T>
int64_t col_chunk(const Conv2dShape& s) {
  const int64_t depth = s.Cg() * s.R * s.S;
  return std::max<int64_t>(1, std::min(s.OH * s.OW, kColChunk / std::max<int64_t>(depth, 1)));
}

template <class T>
void forward_gemm(T* y, const T* x, const T* w, const T* bias, const Conv2dShape& s) {
  const int64_t depth = s.Cg() * s.R * s.S, P = s.OH * s.OW, chunk = col_chunk<T>(s), Kg = s.Kg();
  for_image_groups<T>(s, depth * chunk, [&](int64_t n, int64_t g, T* col, int threads) {
    T* yg = y + (n * s.K + g * Kg) * P;
    for (int64_t q0 = 0; q0 < P; q0 += chunk) {
      const int64_t q1 = std::min(P, q0 + chunk);
      im2col(col, x + n * s.C * s.H * s.W, s, g, q0, q1);
      gemm<T>(yg + q0, {P, 1, 0}, w + g * Kg * depth, {depth, 1, 0}, col, {q1 - q0, 1, 0}, {1, Kg, q1 - q0, depth},
              T(1), T(0), threads);
    }
    if (bias)
      for (int64_t k = 0; k < Kg; ++k) {
        const T b = bias[g * Kg + k];
        for (int64_t q = 0; q < P; ++q) yg[k * P + q] += b;
      }
  });
}

template <class T>
void backward_input_gemm(T* dx, const T* dy, const T* w, const Conv2dShape& s) {
  const int64_t depth = s.Cg() * s.R * s.S, P = s.OH * s.OW, chunk = col_chunk<T>(s), Kg = s.Kg();
  const int64_t HWg = s.Cg() * s.H * s.W;
  for_image_groups<T>(s, depth * chunk, [&](int64_t n, int64_t g, T* col, int threads) {
    T* dxn = dx + n * s.C * s.H * s.W;
    std::fill(dxn + g * HWg, dxn + (g + 1) * HWg, T(0));
    const T* dyg = dy + (n * s.K + g * Kg) * P;
    for (int64_t q0 = 0; q0 < P; q0 += chunk) {
      const int64_t q1 = std::min(P, q0 + chunk);
      gemm<T>(col, {q1 - q0, 1, 0}, w + g * Kg * depth, {1, depth, 0}, dyg + q0, {P, 1, 0}, {1, depth, q1 - q0, Kg},
              T(1), T(0), threads);
      col2im(dxn, col, s, g, q0, q1);
    }
  });
}

template <class T>
void backward_weight_gemm(T* dw, const T* dy, const T* x, const Conv2dShape& s) {
  const int64_t depth = s.Cg() * s.R * s.S, P = s.OH * s.OW, chunk = col_chunk<T>(s), Kg = s.Kg();
  const int64_t items = s.N * s.groups, wsize = s.K * depth;
  const int nt = num_threads();
  auto run = [&](int64_t n, int64_t g, T* col, T* dwacc, int threads) {
    const T* dyg = dy + (n * s.K + g * Kg) * P;
    for (int64_t q0 = 0; q0 < P; q0 += chunk) {
      const int64_t q1 = std::min(P, q0 + chunk), nq = q1 - q0;
      im2col(col, x + n * s.C * s.H * s.W, s, g, q0, q1);
      gemm<T>(dwacc + g * Kg * depth, {depth, 1, 0}, dyg + q0, {P, 1, 0}, col, {1, nq, 0}, {1, Kg, depth, nq}, T(1),
              T(1), threads);
    }
  };
  if (items >= nt && nt > 1) {
    // Images race on dw: each thread sums into its own copy, added at the end.
    std::vector<T> part(size_t(nt) * wsize, T(0));
    const int64_t per_thread = ceil_div(items, nt);  // parallel_for's static chunk
    parallel_for(items, 1, [&](int64_t b, int64_t e) {
      std::vector<T> col(depth * chunk);
      const int64_t t = b / per_thread;
      for (int64_t it = b; it < e; ++it) run(it / s.groups, it % s.groups, col.data(), part.data() + t * wsize, 1);
    });
    for (int t = 0; t < nt; ++t)
      for (int64_t i = 0; i < wsize; ++i) dw[i] += part[t * wsize + i];
  } else {
    std::vector<T> col(depth * chunk);
    for (int64_t it = 0; it < items; ++it) run(it / s.groups, it % s.groups, col.data(), dw, 0);
  }
}

// ---- direct (stride 1, float32, AVX-512) -------------------------------------------------------

#ifdef NERVE_X86_KERNELS
using conv_direct::kMr;
using conv_direct::kNp;

// Geometry of the zero-padded flat copy of one image.
// Stride 1: a row is pl zeros, the W inputs, then zeros up to Wp. The right padding of a row and the
// left padding of the next are the same zeros, so Wp needs only max(pl, pr) columns beyond W (and
// at least OW): fewer wasted flat positions.
// Stride sh x sw: the padded input is split into phase planes Q_ab[i][j] = xpad[i*sh + a][j*sw + b]
// (only the phases some tap reads), so output (oh, ow) reads tap (r, s) at Q[oh + r*dh/sh][ow +
// s*dw/sw] of phase (r*dh % sh, s*dw % sw): again a fixed offset from p = oh*Wp + ow, and the
// direct kernels need no change.
struct Flat {
  int64_t Hp, Wp;        // rows and row width of a (phase) plane
  int64_t qplane;        // Hp * Wp
  std::vector<int> slot;  // phase (a*sw + b) -> its plane among the channel's, -1 when unread
  int64_t nphase;         // phase planes per channel
  int64_t plane, img, Pv, L;

  explicit Flat(const Conv2dShape& s) : slot(s.sh * s.sw, -1), nphase(0) {
    if (s.sh == 1 && s.sw == 1) {
      Hp = s.H + s.pt + s.pb;
      Wp = s.W + std::max({s.pl, s.pr, s.pl + s.pr - s.dw * (s.S - 1)});
    } else {
      Hp = s.OH + (s.R - 1) * s.dh / s.sh;
      Wp = s.OW + (s.S - 1) * s.dw / s.sw;
    }
    for (int64_t r = 0; r < s.R; ++r)
      for (int64_t t = 0; t < s.S; ++t) {
        int& k = slot[(r * s.dh % s.sh) * s.sw + t * s.dw % s.sw];
        if (k < 0) k = static_cast<int>(nphase++);
      }
    qplane = Hp * Wp;
    plane = nphase * qplane;
    img = ceil_div(s.C * plane + (s.S - 1) * s.dw + 2 * kNp, 16) * 16;
    Pv = s.OH * Wp;
    L = ceil_div(Pv, 16) * 16;
  }

  // Tap (c, r, s) of a group lies boff[t] floats after the flat output position.
  std::vector<int64_t> taps(const Conv2dShape& s) const {
    std::vector<int64_t> boff;
    boff.reserve(s.Cg() * s.R * s.S);
    for (int64_t c = 0; c < s.Cg(); ++c)
      for (int64_t r = 0; r < s.R; ++r)
        for (int64_t t = 0; t < s.S; ++t) {
          const int64_t ph = slot[(r * s.dh % s.sh) * s.sw + t * s.dw % s.sw];
          boff.push_back(c * plane + ph * qplane + r * s.dh / s.sh * Wp + t * s.dw / s.sw);
        }
    return boff;
  }

  // Channel c of a padded image; the last channel also zeroes the slack behind it.
  void pad_plane(float* img_base, const float* x_img, int64_t c, const Conv2dShape& s) const {
    const float* src = x_img + c * s.H * s.W;
    float* dst = img_base + c * plane;
    if (s.sh == 1 && s.sw == 1) pad(dst, src, s);
    else
      for (int64_t a = 0; a < s.sh; ++a)
        for (int64_t b = 0; b < s.sw; ++b)
          if (slot[a * s.sw + b] >= 0) pad_phase(dst + slot[a * s.sw + b] * qplane, src, a, b, s);
    if (c == s.C - 1) std::memset(img_base + s.C * plane, 0, sizeof(float) * (img - s.C * plane));
  }

  // dst (Hp x Wp) = src (H x W) shifted by (pt, pl) with zeros around; negative padding crops.
  void pad(float* dst, const float* src, const Conv2dShape& s) const {
    const int64_t w0 = std::max<int64_t>(0, s.pl), w1 = std::min(Wp, s.pl + s.W);
    for (int64_t hp = 0; hp < Hp; ++hp) {
      float* d = dst + hp * Wp;
      const int64_t h = hp - s.pt;
      if (h < 0 || h >= s.H || w0 >= w1) {
        std::memset(d, 0, sizeof(float) * Wp);
        continue;
      }
      std::memset(d, 0, sizeof(float) * w0);
      std::memcpy(d + w0, src + h * s.W + (w0 - s.pl), sizeof(float) * (w1 - w0));
      std::memset(d + w1, 0, sizeof(float) * (Wp - w1));
    }
  }

  // dst[i][j] = xpad[i*sh + a][j*sw + b]: phase (a, b) of the zero-padded input.
  void pad_phase(float* dst, const float* src, int64_t a, int64_t b, const Conv2dShape& s) const {
    for (int64_t i = 0; i < Hp; ++i) {
      float* d = dst + i * Wp;
      const int64_t h = i * s.sh + a - s.pt;
      if (h < 0 || h >= s.H) {
        std::memset(d, 0, sizeof(float) * Wp);
        continue;
      }
      const float* row = src + h * s.W;
      for (int64_t j = 0; j < Wp; ++j) {
        const int64_t w = j * s.sw + b - s.pl;
        d[j] = (w >= 0 && w < s.W) ? row[w] : 0.f;
      }
    }
  }
};

void forward_direct(float* y, const float* x, const float* w, const float* bias, const Conv2dShape& s) {
  if (conv_algo() != ConvAlgo::kDirect && conv_direct::winograd_suits(s, num_threads()))
    return conv_direct::winograd_forward_avx512(y, x, w, bias, s, conv_algo() == ConvAlgo::kWinograd4 ? 4 : 2);
  const Flat f(s);
  const int64_t Cg = s.Cg(), Kg = s.Kg(), depth = Cg * s.R * s.S, P = s.OH * s.OW, G = s.groups;
  const int64_t gpack = ceil_div(Kg, kMr) * kMr * depth;
  float* apack = scratch(0, G * gpack);
  std::fill(apack, apack + G * gpack, 0.f);
  for (int64_t g = 0; g < G; ++g)
    for (int64_t k = 0; k < Kg; ++k)
      for (int64_t t = 0; t < depth; ++t)
        apack[g * gpack + (k / kMr) * kMr * depth + t * kMr + k % kMr] = w[(g * Kg + k) * depth + t];
  const std::vector<int64_t> boff = f.taps(s);
  const int nt = num_threads();
  const int64_t npan = ceil_div(f.Pv, kNp);
  auto panel = [&](const float* xb, int64_t n, int64_t g, int64_t pan) {
    const conv_direct::FlatConv fc{apack + g * gpack, boff.data(), depth, Kg, f.Wp, s.OW, f.Pv, P};
    conv_direct::forward_panel_avx512(fc, xb + g * Cg * f.plane, y + (n * s.K + g * Kg) * P,
                                      bias ? bias + g * Kg : nullptr, pan * kNp, std::min<int64_t>(kNp, f.Pv - pan * kNp),
                                      false);
  };
  if (s.N >= nt) {
    // Whole images per thread: no barrier until the end (barriers stall when the machine is busy).
    float* xbuf = scratch(1, nt * f.img);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t n = 0; n < s.N; ++n) {
      float* xb = xbuf + thread_index() * f.img;
      for (int64_t c = 0; c < s.C; ++c) f.pad_plane(xb, x + n * s.C * s.H * s.W, c, s);
      for (int64_t g = 0; g < G; ++g)
        for (int64_t pan = 0; pan < npan; ++pan) panel(xb, n, g, pan);
    }
    return;
  }
  // Fewer images than threads: pad one image together, then share its panels.
  float* xb = scratch(1, f.img);
#pragma omp parallel num_threads(nt)
  for (int64_t n = 0; n < s.N; ++n) {
#pragma omp for schedule(static)
    for (int64_t c = 0; c < s.C; ++c) f.pad_plane(xb, x + n * s.C * s.H * s.W, c, s);
#pragma omp for schedule(static)
    for (int64_t it = 0; it < G * npan; ++it) panel(xb, n, it / npan, it % npan);
  }
}

// dx = conv(dy, w') with w'[c, k, r, s] = w[k, c, R-1-r, S-1-s] and padding dil*(k-1) - pad.
void backward_input_direct(float* dx, const float* dy, const float* w, const Conv2dShape& s) {
  const int64_t Cg = s.Cg(), Kg = s.Kg(), RS = s.R * s.S;
  float* wt = scratch(2, s.C * Kg * RS);
  for (int64_t g = 0; g < s.groups; ++g)
    for (int64_t k = 0; k < Kg; ++k)
      for (int64_t c = 0; c < Cg; ++c)
        for (int64_t rs = 0; rs < RS; ++rs)
          wt[((g * Cg + c) * Kg + k) * RS + (RS - 1 - rs)] = w[((g * Kg + k) * Cg + c) * RS + rs];
  Conv2dShape t = s;
  t.C = s.K, t.H = s.OH, t.W = s.OW, t.K = s.C, t.OH = s.H, t.OW = s.W;
  t.pt = s.dh * (s.R - 1) - s.pt, t.pb = s.dh * (s.R - 1) - s.pb;
  t.pl = s.dw * (s.S - 1) - s.pl, t.pr = s.dw * (s.S - 1) - s.pr;
  forward_direct(dx, dy, wt, nullptr, t);
}

// Any stride or padding: dx by output phases. Row ih = a + sh*i of dx (phase a) gathers dy row
// oh = i + q through exactly the taps r with a + pt - r*dh = q*sh (likewise columns), so phase
// (a, b) of dx is a stride-1 correlation of the zero-padded dy with that phase's taps: the forward
// kernels run it on flat rows of the padded dy (no im2col, no col2im), and its output is then
// interleaved into dx. Over all phases every tap is used once: the FLOPs of the forward pass.
struct PhasedInput {
  struct Tap { int64_t r, q; };
  struct Phase {
    int64_t a, b, H, W;      // dx rows a, a + sh, ... (H of them) and columns b, b + sw, ... (W)
    int64_t depth;           // Kg * taps
    std::vector<int64_t> boff;
    std::vector<float> apack;  // (groups, ceil(Cg/kMr), depth, kMr)
  };
  int64_t PT, PL, Hq, Wq, plane, img, phmax;
  std::vector<Phase> phases;

  explicit PhasedInput(const float* w, const Conv2dShape& s) {
    const int64_t Cg = s.Cg(), Kg = s.Kg(), G = s.groups, RS = s.R * s.S;
    std::vector<std::vector<Tap>> rows(s.sh), cols(s.sw);
    for (int64_t a = 0; a < s.sh; ++a)
      for (int64_t r = 0; r < s.R; ++r)
        if ((a + s.pt - r * s.dh) % s.sh == 0) rows[a].push_back({r, (a + s.pt - r * s.dh) / s.sh});
    for (int64_t b = 0; b < s.sw; ++b)
      for (int64_t t = 0; t < s.S; ++t)
        if ((b + s.pl - t * s.dw) % s.sw == 0) cols[b].push_back({t, (b + s.pl - t * s.dw) / s.sw});
    auto count = [](int64_t n, int64_t a, int64_t st) { return a < n ? (n - a + st - 1) / st : 0; };
    // dy padding so that every read for a real output lands inside the padded plane
    int64_t pt = 0, pb = 0, pl = 0, pr = 0;
    for (int64_t a = 0; a < s.sh; ++a)
      for (const Tap& tp : rows[a]) pt = std::max(pt, -tp.q), pb = std::max(pb, count(s.H, a, s.sh) - 1 + tp.q - (s.OH - 1));
    for (int64_t b = 0; b < s.sw; ++b)
      for (const Tap& tp : cols[b]) pl = std::max(pl, -tp.q), pr = std::max(pr, count(s.W, b, s.sw) - 1 + tp.q - (s.OW - 1));
    PT = pt, PL = pl, Hq = s.OH + pt + pb, Wq = s.OW + pl + pr, plane = Hq * Wq, phmax = 0;
    img = ceil_div(s.K * plane + Wq + 2 * kNp, 16) * 16;
    for (int64_t a = 0; a < s.sh; ++a)
      for (int64_t b = 0; b < s.sw; ++b) {
        Phase ph{a, b, count(s.H, a, s.sh), count(s.W, b, s.sw), 0, {}, {}};
        if (ph.H == 0 || ph.W == 0) continue;
        phmax = std::max(phmax, ph.H * ph.W);
        for (int64_t k = 0; k < Kg; ++k)
          for (const Tap& tr : rows[a])
            for (const Tap& tc : cols[b]) ph.boff.push_back(k * plane + (tr.q + PT) * Wq + tc.q + PL);
        ph.depth = static_cast<int64_t>(ph.boff.size());
        const int64_t gpack = ceil_div(Cg, kMr) * kMr * ph.depth;
        ph.apack.assign(G * gpack, 0.f);
        for (int64_t g = 0; g < G; ++g)
          for (int64_t c = 0; c < Cg; ++c) {
            int64_t t = 0;
            for (int64_t k = 0; k < Kg; ++k)
              for (const Tap& tr : rows[a])
                for (const Tap& tc : cols[b]) {
                  ph.apack[g * gpack + (c / kMr) * kMr * ph.depth + t * kMr + c % kMr] =
                      w[((g * Kg + k) * Cg + c) * RS + tr.r * s.S + tc.r];
                  ++t;
                }
          }
        phases.push_back(std::move(ph));
      }
  }

  // dy (K, OH, OW) of one image into the padded planes.
  void pad(float* dst, const float* dy, int64_t k, const Conv2dShape& s) const {
    float* d = dst + k * plane;
    std::memset(d, 0, sizeof(float) * PT * Wq);
    for (int64_t oh = 0; oh < s.OH; ++oh) {
      float* row = d + (PT + oh) * Wq;
      std::memset(row, 0, sizeof(float) * PL);
      std::memcpy(row + PL, dy + (k * s.OH + oh) * s.OW, sizeof(float) * s.OW);
      std::memset(row + PL + s.OW, 0, sizeof(float) * (Wq - PL - s.OW));
    }
    std::memset(d + (PT + s.OH) * Wq, 0, sizeof(float) * (Hq - PT - s.OH) * Wq);
    if (k == s.K - 1) std::memset(dst + s.K * plane, 0, sizeof(float) * (img - s.K * plane));
  }

  int64_t panels(const Phase& ph) const { return ceil_div(ph.H * Wq, kNp); }

  // Panel `pan` of phase ph, group g: out (C, ph.H * ph.W) gets the phase's outputs.
  void panel(float* out, const float* dyp, const Phase& ph, int64_t g, int64_t pan, const Conv2dShape& s) const {
    const int64_t Cg = s.Cg(), Kg = s.Kg(), gpack = ceil_div(Cg, kMr) * kMr * ph.depth, Pv = ph.H * Wq;
    const conv_direct::FlatConv fc{ph.apack.data() + g * gpack, ph.boff.data(), ph.depth, Cg, Wq, ph.W, Pv,
                                   ph.H * ph.W};
    conv_direct::forward_panel_avx512(fc, dyp + g * Kg * plane, out + g * Cg * ph.H * ph.W, nullptr, pan * kNp,
                                      std::min<int64_t>(kNp, Pv - pan * kNp), false);
  }

  // Channels [c0, c1) of one phase's output into dx of one image.
  static void scatter(float* dx, const float* out, const Phase& ph, int64_t c0, int64_t c1, const Conv2dShape& s) {
    for (int64_t c = c0; c < c1; ++c)
      for (int64_t i = 0; i < ph.H; ++i) {
        const float* src = out + (c * ph.H + i) * ph.W;
        float* dst = dx + (c * s.H + ph.a + i * s.sh) * s.W + ph.b;
        for (int64_t j = 0; j < ph.W; ++j) dst[j * s.sw] = src[j];
      }
  }
};

void backward_input_phased(float* dx, const float* dy, const float* w, const Conv2dShape& s) {
  const PhasedInput pi(w, s);
  const int64_t G = s.groups, CHW = s.C * s.H * s.W;
  const int nt = num_threads();
  // Rows of dx that no phase reaches (no tap lands there) stay zero.
  const bool full = static_cast<int64_t>(pi.phases.size()) == std::min(s.sh, s.H) * std::min(s.sw, s.W);
  if (s.N >= nt) {
    float* bufs = scratch(1, nt * (pi.img + s.C * pi.phmax));
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t n = 0; n < s.N; ++n) {
      float* dyp = bufs + thread_index() * (pi.img + s.C * pi.phmax);
      float* out = dyp + pi.img;
      float* dxn = dx + n * CHW;
      if (!full) std::fill(dxn, dxn + CHW, 0.f);
      for (int64_t k = 0; k < s.K; ++k) pi.pad(dyp, dy + n * s.K * s.OH * s.OW, k, s);
      for (const auto& ph : pi.phases) {
        for (int64_t g = 0; g < G; ++g)
          for (int64_t pan = 0, np = pi.panels(ph); pan < np; ++pan) pi.panel(out, dyp, ph, g, pan, s);
        PhasedInput::scatter(dxn, out, ph, 0, s.C, s);
      }
    }
    return;
  }
  // Fewer images than threads: share each image's panels.
  float* dyp = scratch(1, pi.img + s.C * pi.phmax);
  float* out = dyp + pi.img;
#pragma omp parallel num_threads(nt)
  for (int64_t n = 0; n < s.N; ++n) {
    float* dxn = dx + n * CHW;
    if (!full) {
#pragma omp for schedule(static)
      for (int64_t c = 0; c < s.C; ++c) std::fill(dxn + c * s.H * s.W, dxn + (c + 1) * s.H * s.W, 0.f);
    }
#pragma omp for schedule(static)
    for (int64_t k = 0; k < s.K; ++k) pi.pad(dyp, dy + n * s.K * s.OH * s.OW, k, s);
    for (const auto& ph : pi.phases) {
      const int64_t np = pi.panels(ph);
#pragma omp for schedule(static)
      for (int64_t it = 0; it < G * np; ++it) pi.panel(out, dyp, ph, it / np, it % np, s);
#pragma omp for schedule(static)
      for (int64_t c = 0; c < s.C; ++c) PhasedInput::scatter(dxn, out, ph, c, c + 1, s);
    }
  }
}

// Kg >= 16: output channels along the vector. dy is transposed onto the flat positions (dyt, p-major,
// Kg padded to 16) so that each tile is an outer-product GEMM over flat positions; threads own
// disjoint taps of dwt = dw^T, so nothing races. Positions are blocked by kKc for the L1.
void backward_weight_direct_k(float* dw, const float* dy, const float* x, const Conv2dShape& s) {
  constexpr int64_t kKc = 128;
  const Flat f(s);
  const int64_t Cg = s.Cg(), Kg = s.Kg(), depth = Cg * s.R * s.S, G = s.groups, P = s.OH * s.OW;
  const int64_t Kgp = ceil_div(Kg, 16) * 16, dyt_img = G * f.Pv * Kgp;
  const int mt = Kgp <= 32 ? 12 : 6;
  const int64_t tb = ceil_div(depth, mt), items = G * tb;
  const std::vector<int64_t> boff = f.taps(s);
  const int64_t nimg = std::max<int64_t>(1, std::min<int64_t>(s.N, (int64_t{4} << 20) / (f.img + dyt_img)));
  float* xbuf = scratch(0, nimg * f.img);
  float* dyt = scratch(1, nimg * dyt_img);
  float* dwt = scratch(2, G * depth * Kgp);
  std::fill(dwt, dwt + G * depth * Kgp, 0.f);
  const int nt = num_threads();
  const int64_t ohb = 4, nohb = ceil_div(s.OH, ohb);
#pragma omp parallel num_threads(nt)
  for (int64_t n0 = 0; n0 < s.N; n0 += nimg) {
    const int64_t nb = std::min(nimg, s.N - n0);
#pragma omp for schedule(static) nowait
    for (int64_t i = 0; i < nb * s.C; ++i)
      f.pad_plane(xbuf + (i / s.C) * f.img, x + (n0 + i / s.C) * s.C * s.H * s.W, i % s.C, s);
#pragma omp for schedule(static)
    for (int64_t i = 0; i < nb * G * nohb; ++i) {
      const int64_t mg = i / nohb, oh0 = (i % nohb) * ohb;
      conv_direct::transpose_dy_avx512(dyt + mg * f.Pv * Kgp, Kgp, dy + (n0 * s.K + mg * Kg) * P, P, Kg, s.OW,
                                       f.Wp, oh0, std::min(s.OH, oh0 + ohb));
    }
#pragma omp for schedule(static)
    for (int w = 0; w < nt; ++w) {
      const int64_t i0 = items * w / nt, i1 = items * (w + 1) / nt;
      for (int64_t m = 0; m < nb; ++m)
        for (int64_t p0 = 0; p0 < f.Pv; p0 += kKc)
          for (int64_t kb = 0; kb < Kgp; kb += 64)
            for (int64_t it = i0; it < i1; ++it) {
              const int64_t g = it / tb, t0 = (it % tb) * mt;
              conv_direct::weight_tile_k_avx512(
                  dwt + (g * depth + t0) * Kgp + kb, Kgp, dyt + (m * G + g) * f.Pv * Kgp + kb, Kgp,
                  xbuf + m * f.img + g * Cg * f.plane, boff.data() + t0, 1, p0, std::min(f.Pv, p0 + kKc),
                  static_cast<int>(std::min<int64_t>(mt, depth - t0)), static_cast<int>(std::min<int64_t>(4, (Kgp - kb) / 16)),
                  true);
            }
    }
  }
  parallel_for(s.K, 1, [&](int64_t k0, int64_t k1) {
    for (int64_t k = k0; k < k1; ++k) {
      const int64_t g = k / Kg, kk = k % Kg;
      for (int64_t t = 0; t < depth; ++t) dw[k * depth + t] += dwt[(g * depth + t) * Kgp + kk];
    }
  });
}

// Kg < 16 (depthwise and the like) or few taps: flat positions along the vector. Work items are
// (image, group, block of kWk output channels); each thread takes an equal run of them, so mostly
// whole images: it pads the image once, copies the block's dy into flat layout (dyf, in L1) and
// sweeps every tap block over it, adding per-lane partial sums into its own buffer (K x depth x 16
// floats; no reduction per tile). The buffers are summed across threads and lanes at the end.
void backward_weight_direct(float* dw, const float* dy, const float* x, const Conv2dShape& s) {
  using conv_direct::kWk;
  using conv_direct::kWt;
  const Flat f(s);
  const int64_t Cg = s.Cg(), Kg = s.Kg(), depth = Cg * s.R * s.S, P = s.OH * s.OW, G = s.groups;
  const std::vector<int64_t> boff = f.taps(s);
  const int64_t nvec = ceil_div(f.Pv, 16), Lp = nvec * 16;
  std::vector<uint16_t> mask(nvec);
  for (int64_t v = 0, col = 0; v < nvec; ++v) {
    unsigned m = 0;
    for (int l = 0; l < 16; ++l) {
      if (16 * v + l < f.Pv && col < s.OW) m |= 1u << l;
      if (++col == f.Wp) col = 0;
    }
    mask[v] = static_cast<uint16_t>(m);
  }
  const int64_t kbw = ceil_div(Kg, kWk), tbw = ceil_div(depth, kWt), items = s.N * G * kbw;
  const int64_t psize = s.K * depth * 16;
  const int nt = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(num_threads(), items)));
  std::vector<float*> parts(nt, nullptr);
#pragma omp parallel num_threads(nt)
  {
    int t = 0, T = 1;
#ifdef _OPENMP
    t = omp_get_thread_num(), T = omp_get_num_threads();  // the runtime may grant fewer than nt
#endif
    float* xb = scratch(0, f.img);
    float* dyf = scratch(1, kWk * Lp);
    float* part = parts[t] = scratch(2, psize);
    std::fill(part, part + psize, 0.f);
    int64_t padded = -1;
    for (int64_t it = items * t / T, e = items * (t + 1) / T; it < e; ++it) {
      const int64_t n = it / (G * kbw), g = (it / kbw) % G, k0 = (it % kbw) * kWk;
      const int mk = static_cast<int>(std::min<int64_t>(kWk, Kg - k0));
      if (padded != n) {
        for (int64_t c = 0; c < s.C; ++c) f.pad_plane(xb, x + n * s.C * s.H * s.W, c, s);
        padded = n;
      }
      for (int i = 0; i < mk; ++i) {  // dy rows onto the flat positions, zeros in between and after
        const float* src = dy + (n * s.K + g * Kg + k0 + i) * P;
        float* d = dyf + i * Lp;
        for (int64_t oh = 0; oh < s.OH; ++oh) {
          std::memcpy(d + oh * f.Wp, src + oh * s.OW, sizeof(float) * s.OW);
          std::memset(d + oh * f.Wp + s.OW, 0, sizeof(float) * (f.Wp - s.OW));
        }
        std::memset(d + f.Pv, 0, sizeof(float) * (Lp - f.Pv));
      }
      for (int64_t tb = 0; tb < tbw; ++tb) {
        const int64_t t0 = tb * kWt;
        conv_direct::weight_tile_avx512(part + ((g * Kg + k0) * depth + t0) * 16, depth * 16, dyf, Lp,
                                        xb + g * Cg * f.plane, boff.data() + t0, mask.data(), nvec, mk,
                                        static_cast<int>(std::min<int64_t>(kWt, depth - t0)));
      }
    }
  }
  parallel_for(s.K * depth, 256, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      float acc = 0.f;
      for (float* part : parts)
        if (part)
          for (int l = 0; l < 16; ++l) acc += part[i * 16 + l];
      dw[i] += acc;
    }
  });
}

// Forward and weight gradient run direct at any stride (through phase planes).
bool use_direct(const Conv2dShape& s) { return isa() == Isa::avx512 && conv_algo() != ConvAlgo::kGemm; }

// The input gradient of a stride-1 convolution runs as a stride-1 convolution with padding
// dil*(k-1) - pad (Winograd where it suits), which must not be negative (cropping); any other
// input gradient runs by output phases.
bool use_direct_input(const Conv2dShape& s) {
  return use_direct(s) && s.sh == 1 && s.sw == 1 && s.pt <= s.dh * (s.R - 1) && s.pb <= s.dh * (s.R - 1) && s.pl <= s.dw * (s.S - 1) &&
         s.pr <= s.dw * (s.S - 1);
}
#endif

}  // namespace

// ---- entry points ------------------------------------------------------------------------------

template <class T>
void conv2d_forward(T* y, const T* x, const T* w, const T* bias, const Conv2dShape& s) {
#ifdef NERVE_X86_KERNELS
  if constexpr (std::is_same_v<T, float>)
    if (use_direct(s)) return forward_direct(y, x, w, bias, s);
#endif
  forward_gemm(y, x, w, bias, s);
}

template <class T>
void conv2d_backward_input(T* dx, const T* dy, const T* w, const Conv2dShape& s) {
#ifdef NERVE_X86_KERNELS
  if constexpr (std::is_same_v<T, float>) {
    if (use_direct_input(s)) return backward_input_direct(dx, dy, w, s);
    if (use_direct(s)) return backward_input_phased(dx, dy, w, s);
  }
#endif
  backward_input_gemm(dx, dy, w, s);
}

template <class T>
void conv2d_backward_weight(T* dw, const T* dy, const T* x, const Conv2dShape& s) {
#ifdef NERVE_X86_KERNELS
  if constexpr (std::is_same_v<T, float>) {
    if (use_direct(s) && conv_algo() != ConvAlgo::kDirect && conv_direct::winograd_suits(s, num_threads()))
      return conv_direct::winograd_backward_weight_avx512(dw, dy, x, s, conv_algo() == ConvAlgo::kWinograd4 ? 4 : 2);
    if (use_direct(s))
      return s.Kg() >= 16 && s.Cg() * s.R * s.S >= 64 ? backward_weight_direct_k(dw, dy, x, s)
                                                      : backward_weight_direct(dw, dy, x, s);
  }
#endif
  backward_weight_gemm(dw, dy, x, s);
}

template <class T>
void conv2d_backward_bias(T* db, const T* dy, const Conv2dShape& s) {
  const int64_t P = s.OH * s.OW;
  parallel_for(s.K, 16, [&](int64_t k0, int64_t k1) {
    for (int64_t k = k0; k < k1; ++k) {
      double acc = 0;  // rows summed in T (vector lanes), rows accumulated in double
      for (int64_t n = 0; n < s.N; ++n) {
        const T* row = dy + (n * s.K + k) * P;
        T part = 0;
#pragma omp simd reduction(+ : part)
        for (int64_t q = 0; q < P; ++q) part += row[q];
        acc += double(part);
      }
      db[k] += T(acc);
    }
  });
}

// ---- naive oracle ------------------------------------------------------------------------------

template <class T>
void conv2d_forward_naive(T* y, const T* x, const T* w, const T* bias, const Conv2dShape& s) {
  const int64_t Cg = s.Cg(), Kg = s.Kg();
  for (int64_t n = 0; n < s.N; ++n)
    for (int64_t k = 0; k < s.K; ++k)
      for (int64_t oh = 0; oh < s.OH; ++oh)
        for (int64_t ow = 0; ow < s.OW; ++ow) {
          double acc = bias ? double(bias[k]) : 0.0;
          for (int64_t c = 0; c < Cg; ++c)
            for (int64_t r = 0; r < s.R; ++r)
              for (int64_t t = 0; t < s.S; ++t) {
                const int64_t ih = oh * s.sh - s.pt + r * s.dh, iw = ow * s.sw - s.pl + t * s.dw;
                if (ih < 0 || ih >= s.H || iw < 0 || iw >= s.W) continue;
                acc += double(w[((k * Cg + c) * s.R + r) * s.S + t]) *
                       double(x[((n * s.C + (k / Kg) * Cg + c) * s.H + ih) * s.W + iw]);
              }
          y[((n * s.K + k) * s.OH + oh) * s.OW + ow] = T(acc);
        }
}

template <class T>
void conv2d_backward_input_naive(T* dx, const T* dy, const T* w, const Conv2dShape& s) {
  const int64_t Cg = s.Cg(), Kg = s.Kg();
  for (int64_t n = 0; n < s.N; ++n)
    for (int64_t c = 0; c < s.C; ++c)
      for (int64_t ih = 0; ih < s.H; ++ih)
        for (int64_t iw = 0; iw < s.W; ++iw) {
          double acc = 0;
          const int64_t g = c / Cg;
          for (int64_t k = g * Kg; k < (g + 1) * Kg; ++k)
            for (int64_t r = 0; r < s.R; ++r)
              for (int64_t t = 0; t < s.S; ++t) {
                const int64_t hh = ih + s.pt - r * s.dh, ww = iw + s.pl - t * s.dw;
                if (hh < 0 || ww < 0 || hh % s.sh || ww % s.sw) continue;
                const int64_t oh = hh / s.sh, ow = ww / s.sw;
                if (oh >= s.OH || ow >= s.OW) continue;
                acc += double(w[((k * Cg + (c - g * Cg)) * s.R + r) * s.S + t]) *
                       double(dy[((n * s.K + k) * s.OH + oh) * s.OW + ow]);
              }
          dx[((n * s.C + c) * s.H + ih) * s.W + iw] = T(acc);
        }
}

template <class T>
void conv2d_backward_weight_naive(T* dw, const T* dy, const T* x, const Conv2dShape& s) {
  const int64_t Cg = s.Cg(), Kg = s.Kg();
  for (int64_t k = 0; k < s.K; ++k)
    for (int64_t c = 0; c < Cg; ++c)
      for (int64_t r = 0; r < s.R; ++r)
        for (int64_t t = 0; t < s.S; ++t) {
          double acc = 0;
          for (int64_t n = 0; n < s.N; ++n)
            for (int64_t oh = 0; oh < s.OH; ++oh)
              for (int64_t ow = 0; ow < s.OW; ++ow) {
                const int64_t ih = oh * s.sh - s.pt + r * s.dh, iw = ow * s.sw - s.pl + t * s.dw;
                if (ih < 0 || ih >= s.H || iw < 0 || iw >= s.W) continue;
                acc += double(dy[((n * s.K + k) * s.OH + oh) * s.OW + ow]) *
                       double(x[((n * s.C + (k / Kg) * Cg + c) * s.H + ih) * s.W + iw]);
              }
          dw[((k * Cg + c) * s.R + r) * s.S + t] += T(acc);
        }
}

#define NERVE_CONV_INSTANTIATE(T)                                                            \
  template void conv2d_forward<T>(T*, const T*, const T*, const T*, const Conv2dShape&);       \
  template void conv2d_backward_input<T>(T*, const T*, const T*, const Conv2dShape&);          \
  template void conv2d_backward_weight<T>(T*, const T*, const T*, const Conv2dShape&);         \
  template void conv2d_backward_bias<T>(T*, const T*, const Conv2dShape&);                     \
  template void conv2d_forward_naive<T>(T*, const T*, const T*, const T*, const Conv2dShape&); \
  template void conv2d_backward_input_naive<T>(T*, const T*, const T*, const Conv2dShape&);    \
  template void conv2d_backward_weight_naive<T>(T*, const T*, const T*, const Conv2dShape&);
NERVE_CONV_INSTANTIATE(float)
NERVE_CONV_INSTANTIATE(double)
#undef NERVE_CONV_INSTANTIATE

}  // namespace nerve
