// cuda_emu.h — the CUDA C++ that nerve's kernels use, for g++: compiles the unchanged csrc/cuda
// .cuh sources so tests can run every CUDA kernel on the CPU (see DESIGN.md, "Verifying CUDA
// kernels without a GPU"). Included through cuda_compat.h, never directly by kernel code.
//
// Model: each CUDA thread is a fiber that runs until its next barrier or warp intrinsic; a block's
// fibers run on one worker thread, blocks spread over workers (cuda_emu.cpp). __shared__ is
// per-worker storage, hence per-block. The scheduler reports as errors what a GPU would hang on
// or leave undefined: threads at different barriers, a return before a barrier others wait at,
// warp intrinsics whose named lanes never arrive, shuffles from a lane not taking part, and launch
// configurations a GPU rejects. Errors are thrown from the launch as nerve_emu::Error.
//
// What it cannot see: races beyond its schedule (forward or reverse thread order), coalescing,
// bank conflicts, speed; tensor cores, cp.async and inline PTX do not compile here.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <tuple>
#include <type_traits>
#include <utility>

// ---- built-in types -----------------------------------------------------------------------------

struct uint3 {
  unsigned x, y, z;
};

struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned vx = 1, unsigned vy = 1, unsigned vz = 1) : x(vx), y(vy), z(vz) {}
  constexpr dim3(uint3 v) : x(v.x), y(v.y), z(v.z) {}
};

#define NERVE_EMU_VEC2(T, name, align) \
  struct alignas(align) name { T x, y; }; \
  inline name make_##name(T x, T y) { return {x, y}; }
#define NERVE_EMU_VEC4(T, name, align) \
  struct alignas(align) name { T x, y, z, w; }; \
  inline name make_##name(T x, T y, T z, T w) { return {x, y, z, w}; }
NERVE_EMU_VEC2(float, float2, 8)
NERVE_EMU_VEC4(float, float4, 16)
NERVE_EMU_VEC2(double, double2, 16)
NERVE_EMU_VEC2(int, int2, 8)
NERVE_EMU_VEC4(int, int4, 16)
NERVE_EMU_VEC2(unsigned, uint2, 8)
NERVE_EMU_VEC4(unsigned, uint4, 16)
#undef NERVE_EMU_VEC2
#undef NERVE_EMU_VEC4

// ---- runtime stand-ins (launches are synchronous; streams are accepted and ignored) ---------------

enum cudaError_t {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorInvalidConfiguration = 9,
  cudaErrorInvalidDeviceFunction = 98,
  cudaErrorLaunchFailure = 719,
};
using cudaError = cudaError_t;
struct CUstream_st;
using cudaStream_t = CUstream_st*;
enum cudaFuncAttribute { cudaFuncAttributeMaxDynamicSharedMemorySize = 8 };
enum cudaDeviceAttr {
  cudaDevAttrMaxThreadsPerBlock = 1,
  cudaDevAttrMaxSharedMemoryPerBlock = 8,
  cudaDevAttrWarpSize = 10,
  cudaDevAttrMultiProcessorCount = 16,
  cudaDevAttrComputeCapabilityMajor = 75,
  cudaDevAttrComputeCapabilityMinor = 76,
  cudaDevAttrMaxSharedMemoryPerBlockOptin = 97,
};
enum cudaMemcpyKind { cudaMemcpyHostToHost, cudaMemcpyHostToDevice, cudaMemcpyDeviceToHost, cudaMemcpyDeviceToDevice,
                      cudaMemcpyDefault };

cudaError_t cudaGetLastError();
cudaError_t cudaPeekAtLastError();
const char* cudaGetErrorString(cudaError_t e);
const char* cudaGetErrorName(cudaError_t e);
cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device);
inline cudaError_t cudaGetDevice(int* d) { *d = 0; return cudaSuccess; }
inline cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }
inline cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }
inline cudaError_t cudaMemsetAsync(void* p, int v, size_t n, cudaStream_t = nullptr) {
  std::memset(p, v, n);
  return cudaSuccess;
}
inline cudaError_t cudaMemcpyAsync(void* d, const void* s, size_t n, cudaMemcpyKind, cudaStream_t = nullptr) {
  std::memmove(d, s, n);
  return cudaSuccess;
}

namespace nerve_emu {
cudaError_t set_max_dynamic_shared(const void* kernel, int bytes);
}
template <class... P>
cudaError_t cudaFuncSetAttribute(void (*kernel)(P...), cudaFuncAttribute attr, int value) {
  if (attr != cudaFuncAttributeMaxDynamicSharedMemorySize) return cudaErrorInvalidValue;
  return nerve_emu::set_max_dynamic_shared(reinterpret_cast<const void*>(kernel), value);
}

// ---- qualifiers -----------------------------------------------------------------------------------

// Kernels get internal linkage so a .cuh may be compiled into several emulator units, and so that
// AddressSanitizer puts redzones around their __shared__ arrays (it skips comdat and TLS globals).
#define __global__ static
#define __device__
#define __host__
#define __forceinline__ inline __attribute__((always_inline))
#define __launch_bounds__(...)
#define __constant__
#define __align__(n) __attribute__((aligned(n)))
// One block runs on a worker at a time, so per-worker storage is per-block storage. Under ASan
// the emulator runs one worker and makes shared arrays plain statics, which ASan guards.
#if defined(__SANITIZE_ADDRESS__)
#define __shared__ static
#else
#define __shared__ static thread_local
#endif

constexpr int warpSize = 32;

// ---- thread state (read by the built-in variables) -------------------------------------------------

namespace nerve_emu {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Block {
  uint3 idx;
  dim3 dim, grid;
  void* dynamic_shared;
};

// Where a fiber stopped and with what: filled by the intrinsics, read by the scheduler.
enum class Op : uint8_t {
  syncthreads, syncthreads_count, syncthreads_and, syncthreads_or,  // block barriers
  syncwarp, shfl_idx, shfl_up, shfl_down, shfl_xor, ballot, any, all  // warp collectives
};
struct Wait {
  Op op;
  const char* file;
  int line;
  unsigned mask;   // warp collectives: the lanes named
  int width;       // shuffles
  int lane_arg;    // shuffles: srcLane, delta or laneMask
  uint64_t value;  // shuffles: the bits sent; votes and barrier reductions: the predicate
};

struct Fiber {
  uint3 tid;
  int linear;  // threadIdx flattened, x fastest
  const Block* block;
  Wait wait;
  uint64_t result;  // what the collective returns to this thread
};

// The CUDA thread running on this OS thread (null outside a kernel).
inline thread_local Fiber* current = nullptr;

// Suspends the current fiber at `w` until the scheduler completes it; returns Fiber::result.
uint64_t suspend(const Wait& w);
[[noreturn]] void fail_here(const char* fmt, ...);

inline const char* base_name(const char* path) {
  const char* s = std::strrchr(path, '/');
  return s ? s + 1 : path;
}

inline Fiber& self() {
  if (!current) throw Error("[cuda-emu] a device intrinsic was called outside a kernel");
  return *current;
}

}  // namespace nerve_emu

#define threadIdx (static_cast<const uint3&>(::nerve_emu::current->tid))
#define blockIdx (static_cast<const uint3&>(::nerve_emu::current->block->idx))
#define blockDim (static_cast<const dim3&>(::nerve_emu::current->block->dim))
#define gridDim (static_cast<const dim3&>(::nerve_emu::current->block->grid))

// ---- barriers and warp intrinsics (the call site is recorded for error messages) -----------------

namespace nerve_emu {

inline uint64_t barrier(Op op, int pred, const char* file, int line) {
  return suspend(Wait{op, file, line, 0u, 0, 0, uint64_t(pred != 0)});
}

inline uint64_t warp_op(Op op, unsigned mask, uint64_t value, int lane_arg, int width, const char* file,
                        int line) {
  const int lane = self().linear & 31;
  if (!(mask >> lane & 1u))
    fail_here("thread %d (lane %d) calls a warp intrinsic (%s:%d) with mask 0x%08x, which leaves out its own lane",
              self().linear, lane, base_name(file), line, mask);
  if (width < 1 || width > 32 || (width & (width - 1)))
    fail_here("shuffle (%s:%d) with width %d; it must be a power of 2 in [1, 32]", base_name(file), line, width);
  return suspend(Wait{op, file, line, mask, width, lane_arg, value});
}

template <class T>
inline T shuffle(Op op, unsigned mask, T var, int lane_arg, int width, const char* file, int line) {
  static_assert(std::is_trivially_copyable<T>::value && sizeof(T) <= 8, "shuffles move up to 8 bytes");
  uint64_t bits = 0;
  std::memcpy(&bits, &var, sizeof(T));
  bits = warp_op(op, mask, bits, lane_arg, width, file, line);
  std::memcpy(&var, &bits, sizeof(T));
  return var;
}

}  // namespace nerve_emu

inline void __syncthreads(const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  nerve_emu::barrier(nerve_emu::Op::syncthreads, 0, file, line);
}
inline int __syncthreads_count(int pred, const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  return int(nerve_emu::barrier(nerve_emu::Op::syncthreads_count, pred, file, line));
}
inline int __syncthreads_and(int pred, const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  return int(nerve_emu::barrier(nerve_emu::Op::syncthreads_and, pred, file, line));
}
inline int __syncthreads_or(int pred, const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  return int(nerve_emu::barrier(nerve_emu::Op::syncthreads_or, pred, file, line));
}
inline void __syncwarp(unsigned mask = 0xffffffffu, const char* file = __builtin_FILE(),
                       int line = __builtin_LINE()) {
  nerve_emu::warp_op(nerve_emu::Op::syncwarp, mask, 0, 0, 32, file, line);
}

template <class T>
inline T __shfl_sync(unsigned mask, T var, int src_lane, int width = 32, const char* file = __builtin_FILE(),
                     int line = __builtin_LINE()) {
  return nerve_emu::shuffle(nerve_emu::Op::shfl_idx, mask, var, src_lane, width, file, line);
}
template <class T>
inline T __shfl_up_sync(unsigned mask, T var, unsigned delta, int width = 32, const char* file = __builtin_FILE(),
                        int line = __builtin_LINE()) {
  return nerve_emu::shuffle(nerve_emu::Op::shfl_up, mask, var, int(delta), width, file, line);
}
template <class T>
inline T __shfl_down_sync(unsigned mask, T var, unsigned delta, int width = 32, const char* file = __builtin_FILE(),
                          int line = __builtin_LINE()) {
  return nerve_emu::shuffle(nerve_emu::Op::shfl_down, mask, var, int(delta), width, file, line);
}
template <class T>
inline T __shfl_xor_sync(unsigned mask, T var, int lane_mask, int width = 32, const char* file = __builtin_FILE(),
                         int line = __builtin_LINE()) {
  return nerve_emu::shuffle(nerve_emu::Op::shfl_xor, mask, var, lane_mask, width, file, line);
}
inline unsigned __ballot_sync(unsigned mask, int pred, const char* file = __builtin_FILE(),
                              int line = __builtin_LINE()) {
  return unsigned(nerve_emu::warp_op(nerve_emu::Op::ballot, mask, pred != 0, 0, 32, file, line));
}
inline int __any_sync(unsigned mask, int pred, const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  return int(nerve_emu::warp_op(nerve_emu::Op::any, mask, pred != 0, 0, 32, file, line));
}
inline int __all_sync(unsigned mask, int pred, const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  return int(nerve_emu::warp_op(nerve_emu::Op::all, mask, pred != 0, 0, 32, file, line));
}

// ---- memory: fences, atomics (blocks run concurrently on workers, so atomics are real) --------------

inline void __threadfence() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
inline void __threadfence_block() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }

namespace nerve_emu {
template <class T>
using same_t = typename std::enable_if<true, T>::type;  // a parameter that takes part in no deduction
template <class T, class F>
inline T atomic_update(T* p, F f) {  // CAS loop for the operations GCC has no builtin for
  T old = __atomic_load_n(p, __ATOMIC_RELAXED);
  while (!__atomic_compare_exchange_n(p, &old, f(old), true, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) {
  }
  return old;
}
template <class T, class F>
inline T atomic_update_bits(T* p, F f) {  // floats: CAS on the bit pattern
  using U = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;
  U* q = reinterpret_cast<U*>(p);
  U old = __atomic_load_n(q, __ATOMIC_RELAXED), next;
  T v;
  do {
    std::memcpy(&v, &old, sizeof(T));
    v = f(v);
    std::memcpy(&next, &v, sizeof(T));
  } while (!__atomic_compare_exchange_n(q, &old, next, true, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED));
  std::memcpy(&v, &old, sizeof(T));
  return v;
}
}  // namespace nerve_emu

template <class T, class = std::enable_if_t<std::is_integral<T>::value>>
inline T atomicAdd(T* p, nerve_emu::same_t<T> v) { return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST); }
inline float atomicAdd(float* p, float v) { return nerve_emu::atomic_update_bits(p, [v](float o) { return o + v; }); }
inline double atomicAdd(double* p, double v) {
  return nerve_emu::atomic_update_bits(p, [v](double o) { return o + v; });
}
template <class T>
inline T atomicSub(T* p, nerve_emu::same_t<T> v) { return __atomic_fetch_sub(p, v, __ATOMIC_SEQ_CST); }
template <class T, class = std::enable_if_t<std::is_integral<T>::value>>
inline T atomicExch(T* p, nerve_emu::same_t<T> v) { return __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST); }
inline float atomicExch(float* p, float v) { return nerve_emu::atomic_update_bits(p, [v](float) { return v; }); }
template <class T>
inline T atomicMin(T* p, nerve_emu::same_t<T> v) {
  return nerve_emu::atomic_update(p, [v](T o) { return v < o ? v : o; });
}
template <class T>
inline T atomicMax(T* p, nerve_emu::same_t<T> v) {
  return nerve_emu::atomic_update(p, [v](T o) { return v > o ? v : o; });
}
template <class T>
inline T atomicAnd(T* p, nerve_emu::same_t<T> v) { return __atomic_fetch_and(p, v, __ATOMIC_SEQ_CST); }
template <class T>
inline T atomicOr(T* p, nerve_emu::same_t<T> v) { return __atomic_fetch_or(p, v, __ATOMIC_SEQ_CST); }
template <class T>
inline T atomicXor(T* p, nerve_emu::same_t<T> v) { return __atomic_fetch_xor(p, v, __ATOMIC_SEQ_CST); }
template <class T>
inline T atomicCAS(T* p, nerve_emu::same_t<T> compare, nerve_emu::same_t<T> v) {
  __atomic_compare_exchange_n(p, &compare, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
  return compare;  // the old value, whether or not it was swapped
}
inline unsigned atomicInc(unsigned* p, unsigned limit) {
  return nerve_emu::atomic_update(p, [limit](unsigned o) { return o >= limit ? 0u : o + 1; });
}
inline unsigned atomicDec(unsigned* p, unsigned limit) {
  return nerve_emu::atomic_update(p, [limit](unsigned o) { return (o == 0 || o > limit) ? limit : o - 1; });
}

template <class T>
inline T __ldg(const T* p) { return *p; }

// ---- math and bit intrinsics -----------------------------------------------------------------------

inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline double rsqrt(double x) { return 1.0 / std::sqrt(x); }
inline float __expf(float x) { return std::exp(x); }
inline float __logf(float x) { return std::log(x); }
inline float __log2f(float x) { return std::log2(x); }
inline float __powf(float x, float y) { return std::pow(x, y); }
inline float __sinf(float x) { return std::sin(x); }
inline float __cosf(float x) { return std::cos(x); }
inline float __tanf(float x) { return std::tan(x); }
inline void __sincosf(float x, float* s, float* c) { *s = std::sin(x); *c = std::cos(x); }
inline float __fdividef(float a, float b) { return a / b; }
inline float __frcp_rn(float x) { return 1.0f / x; }
inline float __fsqrt_rn(float x) { return std::sqrt(x); }
inline float __frsqrt_rn(float x) { return 1.0f / std::sqrt(x); }
inline float __fmaf_rn(float a, float b, float c) { return std::fma(a, b, c); }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __saturatef(float x) { return x < 0.f ? 0.f : (x > 1.f ? 1.f : (x == x ? x : 0.f)); }
inline int __float2int_rn(float x) { return int(std::nearbyint(x)); }
inline int __float2int_rz(float x) { return int(x); }
inline int __float2int_rd(float x) { return int(std::floor(x)); }
inline int __float2int_ru(float x) { return int(std::ceil(x)); }
inline unsigned __float2uint_rn(float x) { return unsigned(std::nearbyint(x)); }
inline float __int2float_rn(int x) { return float(x); }
inline float __uint2float_rn(unsigned x) { return float(x); }

inline int __float_as_int(float x) { int i; std::memcpy(&i, &x, 4); return i; }
inline unsigned __float_as_uint(float x) { unsigned i; std::memcpy(&i, &x, 4); return i; }
inline float __int_as_float(int i) { float x; std::memcpy(&x, &i, 4); return x; }
inline float __uint_as_float(unsigned i) { float x; std::memcpy(&x, &i, 4); return x; }
inline long long __double_as_longlong(double x) { long long i; std::memcpy(&i, &x, 8); return i; }
inline double __longlong_as_double(long long i) { double x; std::memcpy(&x, &i, 8); return x; }

inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
inline int __clz(int x) { return x ? __builtin_clz(unsigned(x)) : 32; }
inline int __clzll(long long x) { return x ? __builtin_clzll((unsigned long long)x) : 64; }
inline int __ffs(int x) { return __builtin_ffs(x); }
inline int __ffsll(long long x) { return __builtin_ffsll(x); }
inline unsigned __brev(unsigned x) {
  x = ((x >> 1) & 0x55555555u) | ((x & 0x55555555u) << 1);
  x = ((x >> 2) & 0x33333333u) | ((x & 0x33333333u) << 2);
  x = ((x >> 4) & 0x0f0f0f0fu) | ((x & 0x0f0f0f0fu) << 4);
  return __builtin_bswap32(x);
}
inline int __mul24(int a, int b) { return int(int64_t(a << 8 >> 8) * int64_t(b << 8 >> 8)); }
inline unsigned __umulhi(unsigned a, unsigned b) { return unsigned((uint64_t(a) * b) >> 32); }

// CUDA's device-side min/max overloads.
#define NERVE_EMU_MINMAX(T)                            \
  inline T min(T a, T b) { return b < a ? b : a; }     \
  inline T max(T a, T b) { return a < b ? b : a; }
NERVE_EMU_MINMAX(int)
NERVE_EMU_MINMAX(unsigned)
NERVE_EMU_MINMAX(long long)
NERVE_EMU_MINMAX(unsigned long long)
NERVE_EMU_MINMAX(float)
NERVE_EMU_MINMAX(double)
#undef NERVE_EMU_MINMAX

// ---- launches ----------------------------------------------------------------------------------------

namespace nerve_emu {

struct Launch {
  const char* kernel;  // its name as written at the launch, for messages
  const void* func;    // identity, for cudaFuncSetAttribute
  dim3 grid, block;
  size_t dynamic_shared;
  void (*body)(const void* call);  // runs the kernel for the current fiber
  const void* call;                // the kernel and its arguments
};

// Checks the configuration, runs every block to completion, throws Error on the first fault.
void run(const Launch& launch);

// Schedules (tests run both): threads of a block in index order, or in reverse.
enum class Order { forward, reverse };
void set_order(Order order);  // default: NERVE_EMU_ORDER=forward|reverse, else NERVE_EMU_REVERSE
Order order();
void set_workers(int n);      // OS threads running blocks; default NERVE_EMU_THREADS, else the cores
int workers();                // 1 under AddressSanitizer (shared arrays are plain statics there)

void* dynamic_shared();

// CUDA_LAUNCH(grid, block, smem, stream, kernel)(args...): arguments are converted to the kernel's
// parameter types once and copied into every thread, as a GPU passes them.
template <class... P>
struct Launcher {
  const char* name;
  void (*kernel)(P...);
  dim3 grid, block;
  size_t smem;

  template <class... A>
  void operator()(A&&... args) const {
    static_assert(sizeof...(A) == sizeof...(P), "kernel launched with the wrong number of arguments");
    struct Call {
      void (*kernel)(P...);
      std::tuple<std::decay_t<P>...> args;
    } call{kernel, std::tuple<std::decay_t<P>...>(std::forward<A>(args)...)};
    auto body = [](const void* c) {
      const Call& k = *static_cast<const Call*>(c);
      std::apply(k.kernel, k.args);
    };
    run(Launch{name, reinterpret_cast<const void*>(kernel), grid, block, smem, +body, &call});
  }
};

template <class... P>
Launcher<P...> launcher(const char* name, dim3 grid, dim3 block, size_t smem, cudaStream_t, void (*kernel)(P...)) {
  return {name, kernel, grid, block, smem};
}

}  // namespace nerve_emu

#define NERVE_EMU_LAUNCH(grid, block, smem, stream, ...) \
  ::nerve_emu::launcher(#__VA_ARGS__, (grid), (block), (smem), (stream), __VA_ARGS__)
#define NERVE_EMU_DYNAMIC_SHARED(type, name) type* name = static_cast<type*>(::nerve_emu::dynamic_shared())
