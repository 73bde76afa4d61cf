// gemm.cpp — the GEMM driver (BLIS-style packing, threading, batching), the portable back end and
// gemm_naive, the oracle. Micro-kernels for AVX2 / AVX-512 live in gemm_avx2.cpp / gemm_avx512.cpp.
//
// Two paths, chosen by size alone (never by thread count, so threads cannot change the bits):
//  * direct, for small matrices (at most kDirectFlops of work, depth <= kDirectMaxK) and for short
//    ones (at most kDirectMaxRowTiles row tiles, depth <= kDirectShortMaxK, any width): the direct
//    micro-kernels read A and B where they lie and C is computed tile by tile, column panel by
//    column panel (the panel of B stays in L1). Packing both operands of a 64^3 product costs ~15%
//    of its time; here nothing is copied but a short last row tile of A or, when B's rows are not
//    contiguous, one column panel of B at a time.
//  * packed: for each slab of depth kc (up to 512), the slab of A (mb x kc, in mr-row panels) and
//    of B (kc x nb, in nr-column panels) are packed, then C is computed tile by tile: each A panel,
//    in L1, sweeps a block of B panels (512 KiB, sized to stay in L2). Packing reads A and B
//    through their strides, so the four transpose cases, sliced views and broadcast batches never
//    need a materialised copy.
// Threads: batches of small matrices go one matrix per thread from a shared counter; otherwise
// each thread takes an equal block of C's columns (or rows, when C is tall) and runs the
// one-thread algorithm on it with its own packing buffers (see thread_block). Every tile is
// computed by one kernel call in one fixed order, so results do not depend on the thread count.
#include "gemm.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <stdexcept>

#ifdef __linux__
#include <sys/mman.h>
#endif

#include "../core/cpu_features.h"
#include "../core/parallel.h"
#include "gemm_arch.h"
#include "gemm_impl.h"

namespace nerve {
namespace {

constexpr int64_t kSlabRows = 4096;          // cap on the rows of A (and columns of B) packed at once
constexpr int64_t kL2Block = 512 * 1024;     // bytes of packed B one task sweeps over (half of L2)
constexpr double kFlopsPerThread = 3.0e6;    // packed path: below this much work per thread, extra threads cost more than they give
constexpr double kBatchSplitFlops = 6.4e7;   // matrices smaller than this go one per thread in batched calls
constexpr double kDirectFlops = 2.0 * 160 * 160 * 160;  // direct path: at most this much work per matrix ...
constexpr int64_t kDirectMaxK = 256;         // ... and this deep (a column panel of B, K x nr, stays in L1)
constexpr int64_t kDirectMaxRowTiles = 4;    // direct too for products of at most this many row tiles ...
constexpr int64_t kDirectShortMaxK = 512;    // ... and this deep, whatever their width
constexpr double kDirectFlopsPerThread = 1.5e6;  // direct path: the fork and join cost ~5 us; a thread must earn it

// ---- the portable back end ----------------------------------------------------------------------

template <class T, int MR, int NR>
GemmArch<T> portable_arch() {
  constexpr int64_t KC = 256;
  GemmArch<T> a{"generic", MR, NR, KC, {}, {}, pack_a_portable<T, MR, KC>, pack_b_portable<T, NR>};
  for (auto& by_m : a.kernels[0])
    for (auto& k : by_m) k = ukernel_portable<T, MR, NR, KC, 1>;
  for (auto& by_m : a.kernels[1])
    for (auto& k : by_m) k = ukernel_portable<T, MR, NR, 1, MR>;
  return a;
}

const GemmArch<float>& portable_f32() {
  static const GemmArch<float> arch = portable_arch<float, 4, 8>();
  return arch;
}

const GemmArch<double>& portable_f64() {
  static const GemmArch<double> arch = portable_arch<double, 4, 4>();
  return arch;
}

template <class T>
const GemmArch<T>& arch_for(Isa isa);

template <>
const GemmArch<float>& arch_for<float>(Isa isa) {
#ifdef NERVE_X86_KERNELS
  if (isa == Isa::avx512) return gemm_arch_avx512_f32();
  if (isa == Isa::avx2) return gemm_arch_avx2_f32();
#endif
  return portable_f32();
}

template <>
const GemmArch<double>& arch_for<double>(Isa isa) {
#ifdef NERVE_X86_KERNELS
  if (isa == Isa::avx512) return gemm_arch_avx512_f64();
  if (isa == Isa::avx2) return gemm_arch_avx2_f64();
#endif
  return portable_f64();
}

// ---- scratch ------------------------------------------------------------------------------------

// Packing buffers: 64-byte aligned, per thread, grown on demand and kept, so a caller that runs
// gemm(threads = 1) inside its own parallel region gets one small buffer per thread.
struct Scratch {
  void* p = nullptr;
  size_t bytes = 0;
  ~Scratch() { std::free(p); }
  void* get(size_t n) noexcept {
    if (n > bytes) {
      std::free(p);
      // Slabs of a few MiB go on 2 MiB pages where the kernel allows (fewer TLB misses).
      const size_t align = n >= (size_t(2) << 20) ? size_t(2) << 20 : 64;
      bytes = (n + align - 1) / align * align;
      p = std::aligned_alloc(align, bytes);
      if (!p) bytes = 0;
#ifdef MADV_HUGEPAGE
      if (p && align > 64) madvise(p, bytes, MADV_HUGEPAGE);
#endif
    }
    return p;
  }
};

template <class T>
T* scratch(int which, size_t elems) noexcept {
  thread_local Scratch s[2];
  return static_cast<T*>(s[which].get(elems * sizeof(T)));
}

// ---- the blocked algorithm on one matrix --------------------------------------------------------

template <class T>
struct Problem {
  const GemmArch<T>* ar;
  T* C;
  MatStrides sc;
  const T* A;
  MatStrides sa;
  const T* B;
  MatStrides sb;
  int64_t M, N, K;
  T alpha, beta;
  // Rows of A (columns of B, on the shifted grid: at most N + nr) packed at once: about kSlabRows,
  // in equal slabs of whole panels (4096 rows are one slab, not 4092 + 4: a second slab repacks
  // all of B for four rows).
  static int64_t even_slab(int64_t n, int64_t panel) {
    const int64_t slabs = (n + kSlabRows - 1) / kSlabRows;
    return ((n + slabs - 1) / slabs + panel - 1) / panel * panel;
  }
  int64_t slab_rows() const { return even_slab(M, ar->mr); }
  int64_t slab_cols() const { return even_slab(N + ar->nr - 1, ar->nr); }
  size_t abuf_elems() const { return size_t((slab_rows() + ar->mr - 1) / ar->mr * ar->mr * ar->kc_max); }
  size_t bbuf_elems() const { return size_t((slab_cols() + ar->nr - 1) / ar->nr * ar->nr * ar->kc_max); }
};

// Columns of C are cut into nr-wide panels on a grid shifted by `shift` columns, chosen so that
// every full panel of a row starts on a cache line: numpy's large arrays start 16 bytes past one,
// and unaligned tiles split every vector load and store of C in two (5% of the time). The shift
// costs one more (partial) panel per row unless the last panel had room; worth it for wide C only.
template <class T>
int64_t column_shift(const T* C, MatStrides sc, int64_t N, int nr) {
  constexpr int64_t line = 64 / sizeof(T);
  const auto addr = reinterpret_cast<uintptr_t>(C);
  if (sc.cs != 1 || sc.rs % line != 0 || addr % sizeof(T) != 0 || nr % line != 0) return 0;
  const int64_t shift = int64_t(addr % 64 / sizeof(T));
  const bool free = (N + shift + nr - 1) / nr == (N + nr - 1) / nr;
  return free || N >= 32 * nr ? shift : 0;
}

// Depth of the k slabs for a product of depth K: as deep as the panels allow, all of equal depth
// (K = 784 is two slabs of 392, not 512 + 272).
inline int64_t slab_depth(int64_t K, int64_t KC) {
  const int64_t slabs = (K + KC - 1) / KC;
  return std::min(KC, ((K + slabs - 1) / slabs + 7) / 8 * 8);
}

// bpre: B already packed by PackedB (column shift 0; slab s, panel j at bpre + (s * bpre_panels +
// j) * nr * kc_max), or null to pack B here.
template <class T>
void gemm_matrix(const Problem<T>& p, int64_t b, T* abuf, T* bbuf, const T* bpre = nullptr, int64_t bpre_panels = 0) {
  const GemmArch<T>& ar = *p.ar;
  const int MR = ar.mr, NR = ar.nr;
  const int64_t KC = ar.kc_max;
  T* C = p.C + b * p.sc.bs;
  const T* A = p.A + b * p.sa.bs;
  const T* B = p.B + b * p.sb.bs;
  const bool ik = !(p.sa.rs == 1 && p.sa.cs != 1);  // A panels copy rows unless A is column-major
  const int64_t MB = p.slab_rows(), NB = p.slab_cols();
  const int64_t kstep = slab_depth(p.K, KC);
  const int64_t ncb = std::max<int64_t>(1, kL2Block / int64_t(kstep * NR * sizeof(T)));  // B panels per block
  const int64_t shift = bpre ? 0 : column_shift(C, p.sc, p.N, NR), Nv = p.N + shift;  // Nv: columns on the shifted grid
  auto col0 = [&](int64_t v) { return std::max<int64_t>(0, v - shift); };           // first real column
  auto cols = [&](int64_t v) { return int(std::min(p.N, v + NR - shift) - col0(v)); };  // panel width

  for (int64_t jv = 0; jv < Nv; jv += NB) {
    const int64_t np = (std::min(NB, Nv - jv) + NR - 1) / NR;
    for (int64_t ic = 0; ic < p.M; ic += MB) {
      const int64_t mb = std::min(MB, p.M - ic), mp = (mb + MR - 1) / MR;
      for (int64_t pc = 0; pc < p.K; pc += kstep) {
        const int64_t kc = std::min(kstep, p.K - pc);
        const T beta = pc == 0 ? p.beta : T(1);
        for (int64_t t = 0; t < mp; ++t) {
          const int64_t i = ic + t * MR;
          ar.pack_a(abuf + t * MR * KC, A + i * p.sa.rs + pc * p.sa.cs, p.sa.rs, p.sa.cs,
                    int(std::min<int64_t>(MR, ic + mb - i)), kc, ik);
        }
        const T* bp = bbuf;
        if (bpre) {
          bp = bpre + (pc / kstep * bpre_panels + jv / NR) * NR * KC;
        } else {
          for (int64_t t = 0; t < np; ++t) {
            const int64_t v = jv + t * NR;
            ar.pack_b(bbuf + t * NR * KC, B + pc * p.sb.rs + col0(v) * p.sb.cs, p.sb.rs, p.sb.cs, kc, cols(v));
          }
        }
        // Every A panel (in L1) sweeps one block of B panels (in L2) before the next block.
        for (int64_t j0 = 0; j0 < np; j0 += ncb) {
          const int64_t j1 = std::min(np, j0 + ncb);
          for (int64_t ip = 0; ip < mp; ++ip) {
            const int64_t i = ic + ip * MR;
            const int m = int(std::min<int64_t>(MR, ic + mb - i));
            const T* a = abuf + ip * MR * KC;
            const T* a_next = ip + 1 < mp ? a + MR * KC : abuf;
            for (int64_t jp = j0; jp < j1; ++jp) {
              const int64_t v = jv + jp * NR;
              const int n = cols(v);
              ar.pick(ik, m, n)(kc, a, bp + jp * NR * KC, C + i * p.sc.rs + col0(v) * p.sc.cs, p.sc.rs, p.sc.cs,
                                p.alpha, beta, m, n, a_next);
            }
          }
        }
      }
    }
  }
}

// One thread's share of a multi-threaded product: a block of C's columns (when N >= M) or rows,
// whole micro-panels of them, thread t of nt taking the t-th of nt equal blocks. Each thread packs
// what its block reads, all of the other operand included, into its own buffers: the panels a
// core packs stay in its own L2, where the kernels read them. (Sharing one packed B between two
// cores, as an earlier version did, sent half of every B stream across the L3 mesh: 0.48 ms
// against 0.34 ms for 128x784x512 at 2 threads on a Xeon.) The tiles and their k order are those of
// the one-thread product, so the thread count cannot change the bits.
struct Split {
  bool by_cols;            // blocks of columns (N >= M) or of rows
  int64_t unit, extent;    // micro-panel width (nr or mr) and the dimension cut
  int64_t units() const { return (extent + unit - 1) / unit; }
};

template <class T>
Split split_of(const Problem<T>& p) {
  const bool by_cols = p.N >= p.M;
  return {by_cols, by_cols ? p.ar->nr : p.ar->mr, by_cols ? p.N : p.M};
}

template <class T>
Problem<T> thread_block(const Problem<T>& p, int t, int nt) {
  const Split sp = split_of(p);
  const int64_t units = sp.units(), extent = sp.extent;
  const int64_t e0 = std::min(extent, units * t / nt * sp.unit), e1 = std::min(extent, units * (t + 1) / nt * sp.unit);
  Problem<T> q = p;
  if (sp.by_cols) {
    q.C = p.C + e0 * p.sc.cs;
    q.B = p.B + e0 * p.sb.cs;
    q.N = e1 - e0;
  } else {
    q.C = p.C + e0 * p.sc.rs;
    q.A = p.A + e0 * p.sa.rs;
    q.M = e1 - e0;
  }
  return q;
}

// ---- the direct path ----------------------------------------------------------------------------

std::atomic<int> g_path{static_cast<int>(GemmPath::kAuto)};

// A stride whose rows all fall in the same few L1 sets (4 KiB apart): read in place, 12 rows of A
// or the K rows of a B panel would evict each other.
template <class T>
bool aliases(int64_t stride) {
  return stride != 0 && (stride < 0 ? -stride : stride) * int64_t(sizeof(T)) % 4096 == 0;
}

template <class T>
bool use_direct(const Problem<T>& p) {
  const GemmPath path = static_cast<GemmPath>(g_path.load(std::memory_order_relaxed));
  if (path == GemmPath::kPacked || !p.ar->direct[0][0][0][0] || p.sc.cs != 1) return false;
  if (p.sa.cs != 1 && p.sa.rs != 1) return false;  // A strided both ways: packing makes it contiguous
  if (path == GemmPath::kDirect) return true;
  const int64_t lda = p.sa.cs == 1 ? p.sa.rs : p.sa.cs;
  if (p.sa.cs == 1 && p.M > 1 && aliases<T>(lda)) return false;
  // Small products, and short ones of any width: with at most kDirectMaxRowTiles row tiles a packed
  // B panel would serve that few kernel calls (32x256x1024 at one thread: 133 GFLOP/s direct, 92
  // packed, on this project's Xeon).
  return (p.K <= kDirectMaxK && 2.0 * double(p.M) * double(p.N) * double(p.K) <= kDirectFlops) ||
         (p.K <= kDirectShortMaxK && p.M <= kDirectMaxRowTiles * p.ar->mr);
}

// Tiles [u0, u1) of matrix b by the direct kernels. Tile u is row tile u % mt of column panel
// u / mt, so consecutive tiles share a column panel of B, which stays in L1.
template <class T>
void direct_tiles(const Problem<T>& p, int64_t b, int64_t u0, int64_t u1) {
  const GemmArch<T>& ar = *p.ar;
  const int MR = ar.mr, NR = ar.nr, W = NR / 2;
  T* C = p.C + b * p.sc.bs;
  const T* A = p.A + b * p.sa.bs;
  const T* B = p.B + b * p.sb.bs;
  const bool arow = p.sa.cs == 1;
  const int64_t lda = arow ? p.sa.rs : p.sa.cs, mt = (p.M + MR - 1) / MR;
  const bool b_in_place = p.sb.cs == 1 && !(p.K > 1 && aliases<T>(p.sb.rs));
  T* bpanel = nullptr;  // B's column panel, packed (zero-padded to nr columns) when not read in place
  T* aedge = nullptr;   // A's short last row tile, copied and padded with zero rows
  int64_t packed = -1;
  for (int64_t u = u0; u < u1; ++u) {
    const int64_t jp = u / mt, it = u % mt, j0 = jp * NR, i0 = it * MR;
    const int n = int(std::min<int64_t>(NR, p.N - j0)), m = int(std::min<int64_t>(MR, p.M - i0));
    const T* bp = B + j0;
    int64_t ldb = p.sb.rs;
    if (!b_in_place) {
      if (!bpanel && !(bpanel = scratch<T>(1, size_t(NR) * p.K))) throw std::bad_alloc();
      if (packed != jp) ar.pack_b(bpanel, B + j0 * p.sb.cs, p.sb.rs, p.sb.cs, p.K, n);
      packed = jp, bp = bpanel, ldb = NR;
    }
    const int third = m <= MR / 3 ? 0 : m <= 2 * MR / 3 ? 1 : 2, rows = (third + 1) * MR / 3;
    const T* ap = A + i0 * p.sa.rs;
    int64_t la = lda;
    bool ar_rows = arow;
    if (m < rows) {  // the kernel reads `rows` rows of A: give it a padded copy of the last m
      if (!aedge) {
        if (!(aedge = scratch<T>(0, size_t(rows) * p.K))) throw std::bad_alloc();
        for (int i = 0; i < rows; ++i)
          for (int64_t k = 0; k < p.K; ++k) aedge[i * p.K + k] = i < m ? ap[i * p.sa.rs + k * p.sa.cs] : T(0);
      }
      ap = aedge, la = p.K, ar_rows = true;
    }
    ar.direct[ar_rows ? 0 : 1][third][n > W ? 1 : 0][n % W != 0](p.K, ap, la, bp, ldb, C + i0 * p.sc.rs + j0,
                                                                 p.sc.rs, p.alpha, p.beta, m, n);
  }
}

// The direct path over a batch: threads take whole matrices when there are enough of them, else
// runs of ~1/8 of a thread's share of tiles, both from an atomic counter (a thread that another
// process crowds out leaves its share to the others).
template <class T>
void gemm_direct(const Problem<T>& p, int64_t batch, int nt) {
  const int64_t tiles = (p.M + p.ar->mr - 1) / p.ar->mr * ((p.N + p.ar->nr - 1) / p.ar->nr);
  if (nt == 1) {
    for (int64_t b = 0; b < batch; ++b) direct_tiles(p, b, 0, tiles);
    return;
  }
#ifdef _OPENMP
  std::atomic<int64_t> next{0};
  std::atomic<bool> oom{false};
  const bool whole = batch >= 2 * nt;
  const int64_t units = whole ? batch : batch * tiles, run = whole ? 1 : std::max<int64_t>(1, units / (8 * nt));
#pragma omp parallel num_threads(nt)
  try {
    for (int64_t u = next.fetch_add(run); u < units && !oom; u = next.fetch_add(run)) {
      if (whole) {
        direct_tiles(p, u, 0, tiles);
        continue;
      }
      for (int64_t v = u, e = std::min(units, u + run); v < e;) {  // a run may span two matrices
        const int64_t b = v / tiles, v1 = std::min(e, (b + 1) * tiles);
        direct_tiles(p, b, v - b * tiles, v1 - b * tiles);
        v = v1;
      }
    }
  } catch (const std::bad_alloc&) {
    oom = true;
  }
  if (oom) throw std::bad_alloc();
#endif
}

// C = beta * C (beta == 0 writes zeros, whatever C held): K == 0 or alpha == 0.
template <class T>
void scale_c(T* C, MatStrides sc, GemmSize n, T beta) {
  for (int64_t b = 0; b < n.batch; ++b)
    for (int64_t i = 0; i < n.M; ++i) {
      T* row = C + b * sc.bs + i * sc.rs;
      for (int64_t j = 0; j < n.N; ++j) row[j * sc.cs] = beta == T(0) ? T(0) : beta * row[j * sc.cs];
    }
}

}  // namespace

void set_gemm_path(GemmPath path) { g_path.store(static_cast<int>(path)); }
GemmPath gemm_path() { return static_cast<GemmPath>(g_path.load(std::memory_order_relaxed)); }

namespace {

// The problem gemm() solves: a column-major C is computed as C^T = B^T A^T, whose rows are contiguous.
template <class T>
Problem<T> make_problem(T* C, MatStrides sc, const T* A, MatStrides sa, const T* B, MatStrides sb, GemmSize n,
                        T alpha, T beta) {
  if (sc.cs != 1 && sc.rs == 1) {
    std::swap(sc.rs, sc.cs);
    std::swap(sa.rs, sa.cs);
    std::swap(sb.rs, sb.cs);
    std::swap(A, B);
    std::swap(sa, sb);
    std::swap(n.M, n.N);
  }
  return Problem<T>{&arch_for<T>(isa()), C, sc, A, sa, B, sb, n.M, n.N, n.K, alpha, beta};
}

}  // namespace

template <class T>
GemmPath gemm_choice(MatStrides sc, MatStrides sa, MatStrides sb, GemmSize n) {
  const Problem<T> p = make_problem<T>(nullptr, sc, nullptr, sa, nullptr, sb, n, T(1), T(0));
  return use_direct(p) ? GemmPath::kDirect : GemmPath::kPacked;
}

template <class T>
void gemm(T* C, MatStrides sc, const T* A, MatStrides sa, const T* B, MatStrides sb, GemmSize n, T alpha, T beta,
          int threads) {
  if (n.batch <= 0 || n.M <= 0 || n.N <= 0) return;
  if (n.K <= 0 || alpha == T(0)) return scale_c(C, sc, n, beta);  // as in BLAS: A and B are not read
  const Problem<T> p = make_problem(C, sc, A, sa, B, sb, n, alpha, beta);

  int nt = threads > 0 ? threads : num_threads();
#ifdef _OPENMP
  if (omp_in_parallel()) nt = 1;  // already inside someone's team: never nest
#else
  nt = 1;
#endif
  const double flops = 2.0 * double(n.M) * double(n.N) * double(n.K);
  if (use_direct(p)) {
    nt = int(std::max(1.0, std::min(double(nt), flops * double(n.batch) / kDirectFlopsPerThread)));
    return gemm_direct(p, n.batch, nt);
  }
  nt = int(std::max(1.0, std::min(double(nt), flops * double(n.batch) / kFlopsPerThread)));

  // Threads splitting one product need panels to split: at most one thread per micro-panel.
  if (!(n.batch >= nt && flops < kBatchSplitFlops)) nt = int(std::min<int64_t>(nt, split_of(p).units()));

  if (nt == 1) {
    T* abuf = scratch<T>(0, p.abuf_elems());
    T* bbuf = scratch<T>(1, p.bbuf_elems());
    if (!abuf || !bbuf) throw std::bad_alloc();
    for (int64_t b = 0; b < n.batch; ++b) gemm_matrix(p, b, abuf, bbuf);
    return;
  }
#ifdef _OPENMP
  std::atomic<bool> oom{false};
  if (n.batch >= nt && flops < kBatchSplitFlops) {  // small matrices: whole ones, from a shared counter
    std::atomic<int64_t> next{0};
#pragma omp parallel num_threads(nt)
    {
      T* abuf = scratch<T>(0, p.abuf_elems());
      T* bbuf = scratch<T>(1, p.bbuf_elems());
      if (!abuf || !bbuf) oom = true;
      for (int64_t b = next++; b < n.batch && !oom; b = next++) gemm_matrix(p, b, abuf, bbuf);
    }
  } else {  // each thread its block of every matrix
#pragma omp parallel num_threads(nt)
    {
      const Problem<T> q = thread_block(p, omp_get_thread_num(), omp_get_num_threads());
      if (q.M > 0 && q.N > 0) {
        T* abuf = scratch<T>(0, q.abuf_elems());
        T* bbuf = scratch<T>(1, q.bbuf_elems());
        if (!abuf || !bbuf) oom = true;
        else
          for (int64_t b = 0; b < n.batch; ++b) gemm_matrix(q, b, abuf, bbuf);
      }
    }
  }
  if (oom) throw std::bad_alloc();
#endif
}

template <class T>
PackedB<T>::PackedB(const T* B, MatStrides sb, int64_t K, int64_t N) : K_(K), N_(N) {
  const GemmArch<T>& ar = *(arch_ = &arch_for<T>(isa()));
  if (K <= 0 || N <= 0) return;
  const int NR = ar.nr;
  const int64_t KC = ar.kc_max, kstep = slab_depth(K, KC), slabs = (K + kstep - 1) / kstep;
  panels_ = (N + NR - 1) / NR;
  // Panels start on cache lines, as in the scratch buffers.
  const size_t bytes = (size_t(slabs * panels_) * size_t(NR * KC) * sizeof(T) + 63) / 64 * 64;
  data_.reset(static_cast<T*>(std::aligned_alloc(64, bytes)));
  if (!data_) throw std::bad_alloc();
  for (int64_t s = 0; s < slabs; ++s) {
    const int64_t pc = s * kstep, kc = std::min(kstep, K - pc);
    for (int64_t j = 0; j < panels_; ++j)
      ar.pack_b(data_.get() + (s * panels_ + j) * NR * KC, B + pc * sb.rs + j * NR * sb.cs, sb.rs, sb.cs, kc,
                int(std::min<int64_t>(NR, N - j * NR)));
  }
}

template <class T>
void PackedB<T>::gemm(T* C, MatStrides sc, const T* A, MatStrides sa, int64_t M, T alpha, T beta) const {
  if (M <= 0 || N_ <= 0) return;
  const GemmSize n{1, M, N_, K_};
  if (K_ <= 0 || alpha == T(0)) return scale_c(C, sc, n, beta);
  if (sc.cs != 1) throw std::invalid_argument("PackedB::gemm: C's rows must be contiguous");
  const Problem<T> p{arch_, C, sc, A, sa, nullptr, MatStrides{0, 0, 0}, M, N_, K_, alpha, beta};
  T* abuf = scratch<T>(0, p.abuf_elems());
  if (!abuf) throw std::bad_alloc();
  gemm_matrix<T>(p, 0, abuf, nullptr, data_.get(), panels_);
}

template class PackedB<float>;
template class PackedB<double>;

template <class T>
void gemm_naive(T* C, MatStrides sc, const T* A, MatStrides sa, const T* B, MatStrides sb, GemmSize n, T alpha,
                T beta) {
  for (int64_t m = 0; m < n.batch; ++m)
    for (int64_t i = 0; i < n.M; ++i)
      for (int64_t j = 0; j < n.N; ++j) {
        double s = 0;
        for (int64_t k = 0; k < n.K; ++k)
          s += double(A[m * sa.bs + i * sa.rs + k * sa.cs]) * double(B[m * sb.bs + k * sb.rs + j * sb.cs]);
        T& c = C[m * sc.bs + i * sc.rs + j * sc.cs];
        c = T(alpha * s + (beta == T(0) ? 0.0 : double(beta) * double(c)));
      }
}

const char* gemm_backend() { return arch_for<float>(isa()).name; }

double fma_peak_gflops(int threads) {
  const Isa i = isa();
#ifdef NERVE_X86_KERNELS
  if (i == Isa::generic) return 0;
  const int nt = std::max(1, threads > 0 ? threads : num_threads());
  double total = 0;
#ifdef _OPENMP
#pragma omp parallel num_threads(nt) reduction(+ : total)
#endif
  total += i == Isa::avx512 ? fma_peak_avx512_thread(0.2) : fma_peak_avx2_thread(0.2);
  return total;
#else
  (void)i;
  (void)threads;
  return 0;
#endif
}

template void gemm<float>(float*, MatStrides, const float*, MatStrides, const float*, MatStrides, GemmSize, float,
                          float, int);
template void gemm<double>(double*, MatStrides, const double*, MatStrides, const double*, MatStrides, GemmSize,
                           double, double, int);
template GemmPath gemm_choice<float>(MatStrides, MatStrides, MatStrides, GemmSize);
template GemmPath gemm_choice<double>(MatStrides, MatStrides, MatStrides, GemmSize);
template void gemm_naive<float>(float*, MatStrides, const float*, MatStrides, const float*, MatStrides, GemmSize,
                                float, float);
template void gemm_naive<double>(double*, MatStrides, const double*, MatStrides, const double*, MatStrides,
                                 GemmSize, double, double);

}  // namespace nerve
