// test_kernels.cpp — kernels that test the emulator itself, bound as nerve._C_emu.testing.*:
// correct kernels (shuffle reductions, votes, shared memory, atomics, dynamic shared memory) that
// must give right answers in both thread orders, and planted bugs it must report. Written as
// CUDA kernels are (cuda_compat.h only), but never built by nvcc.
#include "../bindings/views.h"
#include "../cuda/cuda_compat.h"

namespace nerve {
namespace {

constexpr unsigned kFull = 0xffffffffu;

// ---- kernels that are right -----------------------------------------------------------------------

__device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(kFull, v, o);
  return v;
}

// out[0] += sum(x): grid-stride partial sums, a shuffle reduction per warp, one shared slot per
// warp, the first warp reduces the slots, one atomicAdd per block. blockDim.x % 32 == 0.
__global__ void sum_kernel(float* out, const float* x, int n) {
  __shared__ float partial[32];
  float v = 0.f;
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) v += x[i];
  v = warp_sum(v);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = warp_sum(lane < int(blockDim.x >> 5) ? partial[lane] : 0.f);
    if (lane == 0) atomicAdd(out, v);
  }
}

// Per thread: ballot / any / all of x > 0 over its warp. A last, partial warp takes part too:
// lanes that do not exist count as exited.
__global__ void votes_kernel(int* ballot, int* any, int* all, const float* x, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  const int p = i < n && x[i] > 0.f;
  const unsigned b = __ballot_sync(kFull, p);
  const int a = __any_sync(kFull, p), l = __all_sync(kFull, p);
  if (i < n) ballot[i] = int(b), any[i] = a, all[i] = l;
}

// out rows: __shfl_sync from lane (7*lane+3)%32, __shfl_up_sync by 3, __shfl_down_sync by 3,
// __shfl_xor_sync with 5, and an inclusive scan by __shfl_up_sync, all within segments of `width`.
__global__ void shuffles_kernel(float* out, const float* x, int n, int width) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x, lane = threadIdx.x & 31;
  const float v = x[i];
  out[i] = __shfl_sync(kFull, v, (7 * lane + 3) % 32, width);
  out[n + i] = __shfl_up_sync(kFull, v, 3, width);
  out[2 * n + i] = __shfl_down_sync(kFull, v, 3, width);
  out[3 * n + i] = __shfl_xor_sync(kFull, v, 5, width);
  float s = v;
  for (int d = 1; d < width; d <<= 1) {
    const float t = __shfl_up_sync(kFull, s, d, width);
    if (lane % width >= d) s += t;
  }
  out[4 * n + i] = s;
}

// out[block] = (count, and, or) of x > 0 over the block's threads.
__global__ void block_votes_kernel(int* out, const float* x) {
  const int p = x[blockIdx.x * blockDim.x + threadIdx.x] > 0.f;
  const int c = __syncthreads_count(p), a = __syncthreads_and(p), o = __syncthreads_or(p);
  if (threadIdx.x == 0) out[3 * blockIdx.x] = c, out[3 * blockIdx.x + 1] = a, out[3 * blockIdx.x + 2] = o;
}

// counts[v] += occurrences of v in x: a shared histogram per block, merged with global atomics.
__global__ void histogram_kernel(int* counts, const int* x, int n, int bins) {
  __shared__ int hist[256];
  for (int b = threadIdx.x; b < bins; b += blockDim.x) hist[b] = 0;
  __syncthreads();
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) atomicAdd(&hist[x[i]], 1);
  __syncthreads();
  for (int b = threadIdx.x; b < bins; b += blockDim.x) atomicAdd(&counts[b], hist[b]);
}

// out[0] = max(x) by an atomicCAS loop on the float's bits; iout = (max, min) of int(x) by atomicMax/Min.
__global__ void extrema_kernel(float* out, int* iout, const float* x, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  int* bits = reinterpret_cast<int*>(out);
  int old = *bits;
  while (__int_as_float(old) < x[i]) {
    const int seen = atomicCAS(bits, old, __float_as_int(x[i]));
    if (seen == old) break;
    old = seen;
  }
  atomicMax(&iout[0], int(x[i]));
  atomicMin(&iout[1], int(x[i]));
}

// Each block reverses its slice of x through dynamic shared memory.
__global__ void reverse_kernel(float* out, const float* x) {
  CUDA_DYNAMIC_SHARED(float, s);
  const int t = threadIdx.x, base = blockIdx.x * blockDim.x;
  s[t] = x[base + t];
  __syncthreads();
  out[base + t] = s[blockDim.x - 1 - t];
}

__global__ void empty_kernel() {}

// ---- planted bugs ----------------------------------------------------------------------------------

// Reads a neighbour's shared slot; without the barrier it may read before the neighbour wrote.
__global__ void neighbour_kernel(float* out, const float* x, bool sync) {
  __shared__ float s[1024];
  const int t = threadIdx.x, i = blockIdx.x * blockDim.x + t;
  s[t] = x[i];
  if (sync) __syncthreads();
  out[i] = s[(t + 1) % blockDim.x];
}

// Half the block waits at one barrier, half at another.
__global__ void divergent_barrier_kernel(float* out) {
  const int t = threadIdx.x;
  if (t < 16) {
    __syncthreads();
    out[t] = 1.f;
  } else {
    __syncthreads();
    out[t] = 2.f;
  }
}

// Threads past the end return before the barrier the others wait at; `fixed` keeps them in.
__global__ void early_return_kernel(float* out, const float* x, int n, bool fixed) {
  __shared__ float s[1024];
  const int t = threadIdx.x, i = blockIdx.x * blockDim.x + t;
  if (!fixed && i >= n) return;
  s[t] = i < n ? x[i] : 0.f;
  __syncthreads();
  if (i < n) out[i] = s[blockDim.x - 1 - t];
}

// The low half-warp shuffles with a full mask, but the high half never comes to that shuffle.
__global__ void half_warp_kernel(float* out, const float* x, bool fixed) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x, lane = threadIdx.x & 31;
  float v = x[i];
  if (lane < 16) v += __shfl_down_sync(fixed ? 0x0000ffffu : kFull, v, 8, 16);
  v += __shfl_xor_sync(kFull, v, 16);
  out[i] = v;
}

// Lanes 8..15 read lanes 16..23, which have returned.
__global__ void shuffle_exited_kernel(float* out, const float* x) {
  const int lane = threadIdx.x & 31;
  if (lane >= 16) return;
  out[lane] = __shfl_down_sync(kFull, x[lane], 8);
}

__global__ void mask_without_self_kernel(float* out) {
  out[threadIdx.x] = __shfl_sync(0xfffffffeu, 1.f, 1);
}

// One past the end of a shared array, and of a global one: for AddressSanitizer to catch.
__global__ void shared_overflow_kernel(float* out) {
  __shared__ float s[64];
  s[threadIdx.x + 1] = 1.f;
  __syncthreads();
  out[threadIdx.x] = s[threadIdx.x];
}

__global__ void global_overflow_kernel(float* out) { out[threadIdx.x + 1] = 1.f; }

// ---- bindings -----------------------------------------------------------------------------------------

template <class T>
T* arr(py::handle a, const char* op, const char* name, int64_t min_size) {
  TensorView v = host_view(a, op, name);
  expect_dtype(v, dtype_of<T>(), op, name);
  expect_contiguous(v, op, name);
  NERVE_CHECK(v.numel() >= min_size, op, name, " needs at least ", min_size, " elements, got ", v.numel());
  return v.ptr<T>();
}

int64_t size_of(py::handle a) { return host_view(a, "testing", "x").numel(); }

dim3 to_dim3(py::tuple t) {
  unsigned d[3] = {1, 1, 1};
  for (size_t i = 0; i < t.size() && i < 3; ++i) d[i] = t[i].cast<unsigned>();
  return dim3(d[0], d[1], d[2]);
}

// Runs f with the GIL released; the emulator's errors propagate as exceptions.
template <class F>
void launch(F&& f) {
  py::gil_scoped_release release;
  f();
}

}  // namespace

void init_emu_testing(py::module_& m) {
  m.def("sum", [](py::object out, py::object x, unsigned blocks, unsigned threads) {
    const int n = int(size_of(x));
    float* o = arr<float>(out, "sum", "out", 1);
    const float* p = arr<float>(x, "sum", "x", n);
    launch([&] { CUDA_LAUNCH(blocks, threads, 0, nullptr, sum_kernel)(o, p, n); });
  });
  m.def("votes", [](py::object ballot, py::object any, py::object all, py::object x, unsigned threads) {
    const int n = int(size_of(x));
    int *b = arr<int>(ballot, "votes", "ballot", n), *a = arr<int>(any, "votes", "any", n),
        *l = arr<int>(all, "votes", "all", n);
    const float* p = arr<float>(x, "votes", "x", n);
    launch([&] { CUDA_LAUNCH(cuda::ceil_div(n, threads), threads, 0, nullptr, votes_kernel)(b, a, l, p, n); });
  });
  m.def("shuffles", [](py::object out, py::object x, int width, unsigned threads) {
    const int n = int(size_of(x));
    NERVE_CHECK(n % threads == 0, "shuffles", "len(x) must be a multiple of threads");
    float* o = arr<float>(out, "shuffles", "out", 5 * int64_t(n));
    const float* p = arr<float>(x, "shuffles", "x", n);
    launch([&] { CUDA_LAUNCH(n / threads, threads, 0, nullptr, shuffles_kernel)(o, p, n, width); });
  });
  m.def("block_votes", [](py::object out, py::object x, unsigned threads) {
    const int n = int(size_of(x));
    NERVE_CHECK(n % threads == 0, "block_votes", "len(x) must be a multiple of threads");
    int* o = arr<int>(out, "block_votes", "out", 3 * int64_t(n / threads));
    const float* p = arr<float>(x, "block_votes", "x", n);
    launch([&] { CUDA_LAUNCH(n / threads, threads, 0, nullptr, block_votes_kernel)(o, p); });
  });
  m.def("histogram", [](py::object counts, py::object x, unsigned blocks, unsigned threads) {
    const int n = int(size_of(x)), bins = int(size_of(counts));
    NERVE_CHECK(bins <= 256, "histogram", "at most 256 bins");
    int* c = arr<int>(counts, "histogram", "counts", bins);
    const int* p = arr<int>(x, "histogram", "x", n);
    for (int i = 0; i < n; ++i) NERVE_CHECK(p[i] >= 0 && p[i] < bins, "histogram", "value out of range");
    launch([&] { CUDA_LAUNCH(blocks, threads, 0, nullptr, histogram_kernel)(c, p, n, bins); });
  });
  m.def("extrema", [](py::object out, py::object iout, py::object x, unsigned threads) {
    const int n = int(size_of(x));
    float* o = arr<float>(out, "extrema", "out", 1);
    int* io = arr<int>(iout, "extrema", "iout", 2);
    const float* p = arr<float>(x, "extrema", "x", n);
    launch([&] { CUDA_LAUNCH(cuda::ceil_div(n, threads), threads, 0, nullptr, extrema_kernel)(o, io, p, n); });
  });
  m.def("reverse", [](py::object out, py::object x, unsigned threads, size_t smem, int max_dynamic_shared) {
    const int n = int(size_of(x));
    NERVE_CHECK(n % threads == 0, "reverse", "len(x) must be a multiple of threads");
    NERVE_CHECK(smem >= threads * sizeof(float), "reverse", "smem must hold a float per thread");
    float* o = arr<float>(out, "reverse", "out", n);
    const float* p = arr<float>(x, "reverse", "x", n);
    launch([&] {
      if (max_dynamic_shared >= 0) {
        cudaError_t e = cudaFuncSetAttribute(reverse_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                             max_dynamic_shared);
        if (e != cudaSuccess) cuda::check_last("reverse");
      }
      CUDA_LAUNCH(n / threads, threads, smem, nullptr, reverse_kernel)(o, p);
    });
  }, py::arg("out"), py::arg("x"), py::arg("threads"), py::arg("smem"), py::arg("max_dynamic_shared") = -1);
  m.def("launch", [](py::tuple grid, py::tuple block, size_t smem) {
    const dim3 g = to_dim3(grid), b = to_dim3(block);
    launch([&] { CUDA_LAUNCH(g, b, smem, nullptr, empty_kernel)(); });
  }, py::arg("grid"), py::arg("block"), py::arg("smem") = 0);

  m.def("neighbour", [](py::object out, py::object x, unsigned threads, bool sync) {
    const int n = int(size_of(x));
    NERVE_CHECK(n % threads == 0 && threads <= 1024, "neighbour", "len(x) must be a multiple of threads");
    float* o = arr<float>(out, "neighbour", "out", n);
    const float* p = arr<float>(x, "neighbour", "x", n);
    launch([&] { CUDA_LAUNCH(n / threads, threads, 0, nullptr, neighbour_kernel)(o, p, sync); });
  });
  m.def("divergent_barrier", [](py::object out) {
    float* o = arr<float>(out, "divergent_barrier", "out", 32);
    launch([&] { CUDA_LAUNCH(1, 32, 0, nullptr, divergent_barrier_kernel)(o); });
  });
  m.def("early_return", [](py::object out, py::object x, unsigned threads, bool fixed) {
    const int n = int(size_of(x));
    NERVE_CHECK(threads <= 1024, "early_return", "at most 1024 threads");
    float* o = arr<float>(out, "early_return", "out", n);
    const float* p = arr<float>(x, "early_return", "x", n);
    launch([&] { CUDA_LAUNCH(cuda::ceil_div(n, threads), threads, 0, nullptr, early_return_kernel)(o, p, n, fixed); });
  });
  m.def("half_warp", [](py::object out, py::object x, bool fixed) {
    float* o = arr<float>(out, "half_warp", "out", 64);
    const float* p = arr<float>(x, "half_warp", "x", 64);
    launch([&] { CUDA_LAUNCH(2, 32, 0, nullptr, half_warp_kernel)(o, p, fixed); });
  });
  m.def("shuffle_exited", [](py::object out, py::object x) {
    float* o = arr<float>(out, "shuffle_exited", "out", 16);
    const float* p = arr<float>(x, "shuffle_exited", "x", 16);
    launch([&] { CUDA_LAUNCH(1, 32, 0, nullptr, shuffle_exited_kernel)(o, p); });
  });
  m.def("mask_without_self", [](py::object out) {
    float* o = arr<float>(out, "mask_without_self", "out", 32);
    launch([&] { CUDA_LAUNCH(1, 32, 0, nullptr, mask_without_self_kernel)(o); });
  });
  // Out-of-bounds writes corrupt memory unless AddressSanitizer stops the process first.
  m.def("shared_overflow", [](py::object out) {
#ifndef NERVE_ASAN
    fail("shared_overflow", "runs only in the NERVE_ASAN build");
#endif
    float* o = arr<float>(out, "shared_overflow", "out", 64);
    launch([&] { CUDA_LAUNCH(1, 64, 0, nullptr, shared_overflow_kernel)(o); });
  });
  m.def("global_overflow", [](py::object out) {
#ifndef NERVE_ASAN
    fail("global_overflow", "runs only in the NERVE_ASAN build");
#endif
    const int n = int(size_of(out));
    float* o = arr<float>(out, "global_overflow", "out", n);
    launch([&] { CUDA_LAUNCH(1, n, 0, nullptr, global_overflow_kernel)(o); });
  });
}

}  // namespace nerve
