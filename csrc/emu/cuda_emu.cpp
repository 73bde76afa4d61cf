// cuda_emu.cpp — the emulator's scheduler: fibers, blocks on worker threads, error reports.
//
// A block runs on one OS thread. Each CUDA thread is a fiber with its own stack; the scheduler
// sweeps the fibers in thread order (or reverse), resuming each ready one until it stops at a
// barrier, a warp collective, or returns. After a sweep it completes the warp collectives whose
// lanes have all arrived; when nothing can move it either releases a __syncthreads that every
// live thread reached at the same call site, or reports what is wrong. Switching fibers is a
// hand-written x86-64 stack switch (ucontext elsewhere), annotated for AddressSanitizer.
#include "cuda_emu.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#define NERVE_EMU_ASAN 1
#else
#define NERVE_EMU_ASAN 0
#endif

#if !defined(__x86_64__)
#include <ucontext.h>
#endif

namespace nerve_emu {
namespace {

// ---- limits of the GPUs nerve targets (sm_75 ... sm_90; the smallest where they differ) --------------

constexpr unsigned kMaxThreads = 1024;
constexpr unsigned kMaxBlock[3] = {1024, 1024, 64};
constexpr unsigned kMaxGrid[3] = {2147483647u, 65535, 65535};
constexpr int kDefaultDynamicShared = 48 * 1024;  // without cudaFuncSetAttribute
constexpr int kMaxDynamicShared = 64 * 1024;      // opt-in limit of sm_75
constexpr int kMultiProcessors = 8;               // what cudaDevAttrMultiProcessorCount reports

// ---- settings ------------------------------------------------------------------------------------------

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoi(v) : fallback;
}

Order initial_order() {
  const char* v = std::getenv("NERVE_EMU_ORDER");
  if (v && std::string(v) == "reverse") return Order::reverse;
  if (v && std::string(v) == "forward") return Order::forward;
#ifdef NERVE_EMU_REVERSE
  return Order::reverse;
#else
  return Order::forward;
#endif
}

std::atomic<Order> g_order{initial_order()};
std::atomic<int> g_workers{std::max(1, env_int("NERVE_EMU_THREADS", int(std::thread::hardware_concurrency())))};

std::mutex g_attr_mutex;
std::unordered_map<const void*, int> g_max_dynamic_shared;  // kernel -> cudaFuncSetAttribute value

thread_local cudaError_t t_last_error = cudaSuccess;

// ---- context switch ------------------------------------------------------------------------------------

#if defined(__x86_64__)
// nerve_emu_switch(save, to): pushes the callee-saved registers, stores the stack pointer in *save,
// loads `to` and pops the registers saved there. A new fiber's stack is laid out to "return" into
// fiber_main. Floating-point control state is not switched: kernels never change it.
extern "C" void nerve_emu_switch(void** save, void* to);
asm(R"(
  .text
  .globl nerve_emu_switch
  .hidden nerve_emu_switch
  .type nerve_emu_switch, @function
nerve_emu_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size nerve_emu_switch, .-nerve_emu_switch
)");

struct Context {
  void* sp = nullptr;
};
void make_context(Context* c, char* stack, size_t size, void (*entry)()) {
  auto top = reinterpret_cast<uintptr_t>(stack + size) & ~uintptr_t(15);
  auto* frame = reinterpret_cast<void**>(top - 64);  // r15 r14 r13 r12 rbx rbp, entry, 0 (its return address)
  std::fill(frame, frame + 8, nullptr);
  frame[6] = reinterpret_cast<void*>(entry);
  c->sp = frame;
}
inline void switch_context(Context* from, Context* to) { nerve_emu_switch(&from->sp, to->sp); }
#else
struct Context {
  ucontext_t uc;
};
void make_context(Context* c, char* stack, size_t size, void (*entry)()) {
  getcontext(&c->uc);
  c->uc.uc_stack.ss_sp = stack;
  c->uc.uc_stack.ss_size = size;
  c->uc.uc_link = nullptr;
  makecontext(&c->uc, entry, 0);
}
inline void switch_context(Context* from, Context* to) { swapcontext(&from->uc, &to->uc); }
#endif

// ---- fibers and their stacks -------------------------------------------------------------------------

enum class State : uint8_t { ready, barrier, warp, done, failed };

struct Slot : Fiber {
  Context ctx;
  State state = State::ready;
  char* stack = nullptr;
  size_t stack_size = 0;
  std::string error;
  void* fake_stack = nullptr;  // ASan's fake stack while switched out
};

// Stacks for up to kMaxThreads fibers in one reservation; each below a guard page so an overflow
// faults instead of corrupting its neighbour. Pages are touched only when used.
class Stacks {
 public:
  Stacks() {
    const size_t page = size_t(sysconf(_SC_PAGESIZE));
    size_ = size_t(env_int("NERVE_EMU_STACK_KB", NERVE_EMU_ASAN ? 256 : 64)) * 1024;
    size_ = (size_ + page - 1) / page * page;
    stride_ = size_ + page;
    void* p = mmap(nullptr, stride_ * kMaxThreads, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) throw Error("[cuda-emu] cannot reserve fiber stacks");
    base_ = static_cast<char*>(p);
  }
  ~Stacks() { munmap(base_, stride_ * kMaxThreads); }
  Stacks(const Stacks&) = delete;
  Stacks& operator=(const Stacks&) = delete;

  // Stack i, made usable on first request. Stacks are staggered by a cache line each so that
  // the fibers' hot frames do not all map to the same cache sets.
  char* get(unsigned i) {
    while (ready_ <= i) {
      if (mprotect(base_ + ready_ * stride_ + (stride_ - size_), size_, PROT_READ | PROT_WRITE) != 0)
        throw Error("[cuda-emu] cannot map a fiber stack");
      ++ready_;
    }
    return base_ + i * stride_ + (stride_ - size_);
  }
  size_t usable(unsigned i) const { return size_ - (i % 32) * 64; }
  void unpoison() {
#if NERVE_EMU_ASAN
    for (unsigned i = 0; i < ready_; ++i) ASAN_UNPOISON_MEMORY_REGION(base_ + i * stride_ + (stride_ - size_), size_);
#endif
  }

 private:
  char* base_ = nullptr;
  size_t size_ = 0, stride_ = 0;
  unsigned ready_ = 0;
};

// ---- messages ------------------------------------------------------------------------------------------

const char* op_name(Op op) {
  switch (op) {
    case Op::syncthreads: return "__syncthreads";
    case Op::syncthreads_count: return "__syncthreads_count";
    case Op::syncthreads_and: return "__syncthreads_and";
    case Op::syncthreads_or: return "__syncthreads_or";
    case Op::syncwarp: return "__syncwarp";
    case Op::shfl_idx: return "__shfl_sync";
    case Op::shfl_up: return "__shfl_up_sync";
    case Op::shfl_down: return "__shfl_down_sync";
    case Op::shfl_xor: return "__shfl_xor_sync";
    case Op::ballot: return "__ballot_sync";
    case Op::any: return "__any_sync";
    default: return "__all_sync";
  }
}

std::string format(const char* fmt, va_list ap) {
  char buf[1024];
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  return buf;
}

std::string strf(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  std::string s = format(fmt, ap);
  va_end(ap);
  return s;
}

std::string where(const Wait& w) {
  std::string s = op_name(w.op);
  if (w.op >= Op::syncwarp) s += strf(" with mask 0x%08x", w.mask);
  return s + " (" + base_name(w.file) + ":" + std::to_string(w.line) + ")";
}

bool same_site(const Wait& a, const Wait& b) {
  return a.op == b.op && a.line == b.line && (a.file == b.file || std::strcmp(a.file, b.file) == 0);
}

// "0-15, 32-47" from ascending thread indices.
std::string ranges(const std::vector<int>& ids) {
  std::string s;
  for (size_t i = 0; i < ids.size();) {
    size_t j = i;
    while (j + 1 < ids.size() && ids[j + 1] == ids[j] + 1) ++j;
    if (!s.empty()) s += ", ";
    s += std::to_string(ids[i]);
    if (j > i) s += "-" + std::to_string(ids[j]);
    i = j + 1;
  }
  return s;
}

// ---- one worker: runs blocks, one at a time, as fibers -------------------------------------------------

void fiber_main();

class Worker {
 public:
  Worker() : slots_(kMaxThreads) {}

  // Runs block `b` of `launch` to completion; throws Error describing the first fault.
  void run_block(const Launch& launch, uint3 b, void* dynamic_shared) {
    launch_ = &launch;
    block_ = Block{b, launch.block, launch.grid, dynamic_shared};
    n_ = int(launch.block.x * launch.block.y * launch.block.z);
    if (abandoned_) stacks_.unpoison();  // frames left by a faulted block would trip ASan
    abandoned_ = true;
    for (int i = 0; i < n_; ++i) {
      Slot& s = slots_[i];
      s.tid = uint3{unsigned(i) % block_.dim.x, unsigned(i) / block_.dim.x % block_.dim.y,
                    unsigned(i) / (block_.dim.x * block_.dim.y)};
      s.linear = i;
      s.block = &block_;
      s.state = State::ready;
      s.fake_stack = nullptr;
      s.stack = stacks_.get(unsigned(i));
      s.stack_size = stacks_.usable(unsigned(i));
      make_context(&s.ctx, s.stack, s.stack_size, fiber_main);
    }
    n_done_ = 0;
    const bool reverse = g_order.load(std::memory_order_relaxed) == Order::reverse;
    for (;;) {
      bool moved = false;
      for (int k = 0; k < n_; ++k) {
        Slot& s = slots_[reverse ? n_ - 1 - k : k];
        if (s.state != State::ready) continue;
        resume(s);
        moved = true;
      }
      moved |= complete_warp_collectives();
      if (n_done_ == n_) break;
      if (!moved) release_barrier_or_fail();
    }
    abandoned_ = false;
  }

  const Launch* launch() const { return launch_; }

  // Called on a fiber: back to the scheduler; returns when resumed.
  void yield(Slot& s, bool final) {
    start_switch(final ? nullptr : &s.fake_stack, sched_stack_bottom_, sched_stack_size_);
    switch_context(&s.ctx, &sched_);
    finish_switch(s.fake_stack, &sched_stack_bottom_, &sched_stack_size_);
  }
  void entered(Slot& s) { finish_switch(s.fake_stack, &sched_stack_bottom_, &sched_stack_size_); }
  void finished() { ++n_done_; }

 private:
  static void start_switch(void** fake, const void* bottom, size_t size) {
#if NERVE_EMU_ASAN
    __sanitizer_start_switch_fiber(fake, bottom, size);
#else
    (void)fake, (void)bottom, (void)size;
#endif
  }
  static void finish_switch(void* fake, const void** bottom, size_t* size) {
#if NERVE_EMU_ASAN
    __sanitizer_finish_switch_fiber(fake, bottom, size);
#else
    (void)fake, (void)bottom, (void)size;
#endif
  }

  void resume(Slot& s) {
    current = &s;
    void* fake = nullptr;
    start_switch(&fake, s.stack, s.stack_size);
    switch_context(&sched_, &s.ctx);
    finish_switch(fake, nullptr, nullptr);
    current = nullptr;
    if (s.state == State::failed) throw Error(s.error);
  }

  bool exists(int t) const { return t < n_; }
  bool live(int t) const { return t < n_ && slots_[t].state != State::done; }

  // Completes every warp collective whose named, live lanes have all arrived at a matching call.
  bool complete_warp_collectives() {
    bool woke = false;
    for (int t = 0; t < n_; ++t) {
      Slot& s = slots_[t];
      if (s.state != State::warp) continue;
      const int warp0 = t & ~31;
      const unsigned mask = s.wait.mask;
      bool all_here = true;
      for (int l = 0; l < 32 && all_here; ++l) {
        const int u = warp0 + l;
        if (!(mask >> l & 1u) || !live(u)) continue;  // exited lanes are not waited for (sm_70+)
        const Wait& w = slots_[u].wait;
        all_here = slots_[u].state == State::warp && w.op == s.wait.op && w.mask == mask &&
                   w.width == s.wait.width && (w.op == Op::syncwarp || same_site(w, s.wait));
      }
      if (!all_here) continue;
      finish_warp_collective(warp0, s.wait);
      woke = true;
    }
    return woke;
  }

  void finish_warp_collective(int warp0, const Wait& w) {
    unsigned here = 0;  // lanes taking part
    for (int l = 0; l < 32; ++l)
      if ((w.mask >> l & 1u) && live(warp0 + l)) here |= 1u << l;
    unsigned votes = 0;
    for (int l = 0; l < 32; ++l)
      if ((here >> l & 1u) && slots_[warp0 + l].wait.value) votes |= 1u << l;
    for (int l = 0; l < 32; ++l) {
      if (!(here >> l & 1u)) continue;
      Slot& s = slots_[warp0 + l];
      switch (w.op) {
        case Op::ballot: s.result = votes; break;
        case Op::any: s.result = votes != 0; break;
        case Op::all: s.result = votes == here; break;
        case Op::syncwarp: s.result = 0; break;
        default: s.result = slots_[warp0 + source_lane(l, s.wait, here, warp0)].wait.value;
      }
    }
    for (int l = 0; l < 32; ++l)
      if (here >> l & 1u) slots_[warp0 + l].state = State::ready;
  }

  // The lane a shuffle reads, as PTX shfl.sync defines it (segments of `width` lanes; a source
  // outside the segment reads the lane's own value). Reading a lane that takes no part is undefined
  // on a GPU and an error here.
  int source_lane(int lane, const Wait& w, unsigned here, int warp0) const {
    const int seg = 32 - w.width, b = w.lane_arg & 31;
    const int clamp = w.op == Op::shfl_up ? 0 : 31;
    const int max_lane = (lane & seg) | (clamp & ~seg), min_lane = lane & seg;
    int j = lane;
    bool in = false;
    switch (w.op) {
      case Op::shfl_idx: j = min_lane | (b & ~seg); in = j <= max_lane; break;
      case Op::shfl_up: j = lane - b; in = j >= max_lane; break;
      case Op::shfl_down: j = lane + b; in = j <= max_lane; break;
      default: j = lane ^ b; in = j <= max_lane; break;
    }
    if (!in) j = lane;
    if (!(here >> j & 1u)) {
      const int t = warp0 + j;
      const char* why = !exists(t) ? "does not exist in this block"
                         : !(w.mask >> j & 1u) ? "is not in the mask"
                                               : "has exited";
      throw Error(strf("thread %d reads lane %d in %s, which %s", warp0 + lane, j, where(w).c_str(), why));
    }
    return j;
  }

  // Nothing can run: every live thread waits. Either they all wait at one __syncthreads, which
  // is released, or the block would hang (or be undefined) on a GPU.
  void release_barrier_or_fail() {
    const Slot* first = nullptr;
    bool one_barrier = true;
    for (int t = 0; t < n_; ++t) {
      const Slot& s = slots_[t];
      if (s.state == State::done) continue;
      if (s.state != State::barrier) one_barrier = false;
      else if (!first) first = &s;
      else if (!same_site(s.wait, first->wait)) one_barrier = false;
    }
    if (!one_barrier || n_done_ > 0) throw Error(describe_stall());
    uint64_t count = 0;
    for (int t = 0; t < n_; ++t) count += slots_[t].wait.value;
    for (int t = 0; t < n_; ++t) {
      Slot& s = slots_[t];
      switch (s.wait.op) {
        case Op::syncthreads_count: s.result = count; break;
        case Op::syncthreads_and: s.result = count == uint64_t(n_); break;
        case Op::syncthreads_or: s.result = count > 0; break;
        default: s.result = 0;
      }
      s.state = State::ready;
    }
  }

  std::string describe_stall() const {
    std::vector<std::pair<std::string, std::vector<int>>> groups;  // in order of first thread
    bool barrier = false, warp = false, done = false;
    for (int t = 0; t < n_; ++t) {
      const Slot& s = slots_[t];
      std::string what = s.state == State::done ? "have returned" : "wait at " + where(s.wait);
      barrier |= s.state == State::barrier;
      warp |= s.state == State::warp;
      done |= s.state == State::done;
      auto g = std::find_if(groups.begin(), groups.end(), [&](const auto& x) { return x.first == what; });
      if (g == groups.end()) groups.push_back({what, {t}});
      else g->second.push_back(t);
    }
    std::string msg = warp      ? "warp deadlock (lanes named in a warp intrinsic's mask never arrive): "
                      : !done   ? "barrier divergence (threads wait at different barriers): "
                      : barrier ? "early return before a barrier (threads exited while others wait): "
                                : "stall: ";
    for (size_t i = 0; i < groups.size(); ++i)
      msg += (i ? "; threads " : "threads ") + ranges(groups[i].second) + " " + groups[i].first;
    return msg;
  }

  std::vector<Slot> slots_;
  Stacks stacks_;
  Context sched_;
  const void* sched_stack_bottom_ = nullptr;
  size_t sched_stack_size_ = 0;
  const Launch* launch_ = nullptr;
  Block block_{};
  int n_ = 0, n_done_ = 0;
  bool abandoned_ = false;
};

thread_local std::unique_ptr<Worker> t_worker;

Worker& this_worker() {
  if (!t_worker) t_worker = std::make_unique<Worker>();
  return *t_worker;
}

void fiber_main() {
  Slot& s = *static_cast<Slot*>(current);
  Worker& w = this_worker();
  w.entered(s);
  try {
    w.launch()->body(w.launch()->call);
    s.state = State::done;
    w.finished();
  } catch (const std::exception& e) {
    s.error = e.what();
    s.state = State::failed;
  }
  w.yield(s, true);
  std::abort();  // a finished fiber is never resumed
}

// ---- a grid: blocks handed out to the calling thread and a pool of helpers -------------------------------

struct Grid {
  const Launch* launch;
  uint64_t blocks;
  std::atomic<uint64_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex error_mutex;
  std::string error;

  void work() {
    Worker& w = this_worker();
    const dim3 g = launch->grid;
    // Exactly the bytes asked for, on the heap: ASan catches an access past them.
    const size_t bytes = launch->dynamic_shared;
    auto free = [](char* p) { operator delete[](p, std::align_val_t(128)); };
    std::unique_ptr<char, decltype(free)> shared(
        static_cast<char*>(operator new[](std::max<size_t>(bytes, 1), std::align_val_t(128))), free);
    for (uint64_t i; !failed.load(std::memory_order_relaxed) && (i = next.fetch_add(1)) < blocks;) {
      const uint3 b{unsigned(i % g.x), unsigned(i / g.x % g.y), unsigned(i / (uint64_t(g.x) * g.y))};
      std::memset(shared.get(), 0xff, bytes);  // uninitialised shared memory reads as NaN / -1
      try {
        w.run_block(*launch, b, shared.get());
      } catch (const std::exception& e) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!failed.exchange(true)) error = strf("block (%u,%u,%u): ", b.x, b.y, b.z) + e.what();
      }
    }
  }
};

class Pool {
 public:
  // Runs grid.work() on the caller and on `helpers` pool threads; returns when all are done.
  void run(Grid& grid, int helpers) {
    {
      std::unique_lock<std::mutex> lock(m_);
      while (int(threads_.size()) < helpers) threads_.emplace_back([this] { loop(); });
      grid_ = &grid;
      wanted_ = helpers;
      pending_ = helpers;
      ++generation_;
    }
    work_.notify_all();
    grid.work();
    std::unique_lock<std::mutex> lock(m_);
    done_.wait(lock, [&] { return pending_ == 0; });
    grid_ = nullptr;
  }

 private:
  void loop() {
    uint64_t seen = 0;
    for (;;) {
      Grid* g;
      {
        std::unique_lock<std::mutex> lock(m_);
        work_.wait(lock, [&] { return generation_ != seen && wanted_ > 0; });
        seen = generation_;
        --wanted_;
        g = grid_;
      }
      g->work();
      std::lock_guard<std::mutex> lock(m_);
      if (--pending_ == 0) done_.notify_all();
    }
  }

  std::mutex m_;
  std::condition_variable work_, done_;
  std::vector<std::thread> threads_;
  Grid* grid_ = nullptr;
  uint64_t generation_ = 0;
  int wanted_ = 0, pending_ = 0;
};

std::string launch_name(const Launch& l) {
  return strf("[cuda-emu] %s<<<(%u,%u,%u), (%u,%u,%u), %zu>>>", l.kernel, l.grid.x, l.grid.y, l.grid.z, l.block.x,
              l.block.y, l.block.z, l.dynamic_shared);
}

void check_config(const Launch& l) {
  const unsigned b[3] = {l.block.x, l.block.y, l.block.z}, g[3] = {l.grid.x, l.grid.y, l.grid.z};
  const char* axis = "xyz";
  auto bad = [&](const std::string& why) {  // thrown, so no sticky error is left for the next launch
    throw Error(launch_name(l) + ": invalid configuration argument: " + why);
  };
  for (int d = 0; d < 3; ++d) {
    if (b[d] == 0 || b[d] > kMaxBlock[d]) bad(strf("blockDim.%c = %u, allowed 1..%u", axis[d], b[d], kMaxBlock[d]));
    if (g[d] == 0 || g[d] > kMaxGrid[d]) bad(strf("gridDim.%c = %u, allowed 1..%u", axis[d], g[d], kMaxGrid[d]));
  }
  const uint64_t threads = uint64_t(b[0]) * b[1] * b[2];
  if (threads > kMaxThreads)
    bad(strf("%llu threads per block, the limit is %u", (unsigned long long)threads, kMaxThreads));
  int limit = kDefaultDynamicShared;
  {
    std::lock_guard<std::mutex> lock(g_attr_mutex);
    auto it = g_max_dynamic_shared.find(l.func);
    if (it != g_max_dynamic_shared.end()) limit = std::max(limit, it->second);
  }
  if (l.dynamic_shared > size_t(limit))
    bad(strf("%zu bytes of dynamic shared memory, the limit is %d%s", l.dynamic_shared, limit,
             limit == kDefaultDynamicShared ? " (raise it with cudaFuncSetAttribute)" : ""));
}

}  // namespace

// ---- the interface cuda_emu.h declares -------------------------------------------------------------------

void set_order(Order o) { g_order = o; }
Order order() { return g_order; }
void set_workers(int n) { g_workers = std::max(1, n); }
int workers() { return NERVE_EMU_ASAN ? 1 : g_workers.load(); }

uint64_t suspend(const Wait& w) {
  Slot& s = *static_cast<Slot*>(&self());
  s.wait = w;
  s.state = w.op <= Op::syncthreads_or ? State::barrier : State::warp;
  this_worker().yield(s, false);
  return s.result;
}

void fail_here(const char* fmt, ...) {
  Slot& s = *static_cast<Slot*>(&self());
  va_list ap;
  va_start(ap, fmt);
  s.error = format(fmt, ap);
  va_end(ap);
  s.state = State::failed;
  this_worker().yield(s, true);
  std::abort();
}

void* dynamic_shared() { return self().block->dynamic_shared; }

cudaError_t set_max_dynamic_shared(const void* kernel, int bytes) {
  if (bytes < 0 || bytes > kMaxDynamicShared) return t_last_error = cudaErrorInvalidValue;
  std::lock_guard<std::mutex> lock(g_attr_mutex);
  g_max_dynamic_shared[kernel] = bytes;
  return cudaSuccess;
}

void run(const Launch& launch) {
  if (current) throw Error(launch_name(launch) + ": kernels cannot launch kernels here");
  check_config(launch);
  static std::mutex one_grid_at_a_time;
  static Pool* pool = new Pool;  // never destroyed: its threads sleep through process exit
  std::lock_guard<std::mutex> lock(one_grid_at_a_time);
  Grid grid;
  grid.launch = &launch;
  grid.blocks = uint64_t(launch.grid.x) * launch.grid.y * launch.grid.z;
  const int helpers = int(std::min<uint64_t>(uint64_t(workers()), grid.blocks)) - 1;
  if (helpers > 0) pool->run(grid, helpers);
  else grid.work();
  if (grid.failed) throw Error(launch_name(launch) + " " + grid.error);
}

}  // namespace nerve_emu

// ---- CUDA runtime stand-ins --------------------------------------------------------------------------------

cudaError_t cudaGetLastError() {
  cudaError_t e = nerve_emu::t_last_error;
  nerve_emu::t_last_error = cudaSuccess;
  return e;
}

cudaError_t cudaPeekAtLastError() { return nerve_emu::t_last_error; }

const char* cudaGetErrorName(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidDeviceFunction: return "cudaErrorInvalidDeviceFunction";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
  }
  return "cudaErrorUnknown";
}

const char* cudaGetErrorString(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidDeviceFunction: return "invalid device function";
    case cudaErrorLaunchFailure: return "unspecified launch failure";
  }
  return "unknown error";
}

cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int) {
  switch (attr) {
    case cudaDevAttrMaxThreadsPerBlock: *value = int(nerve_emu::kMaxThreads); break;
    case cudaDevAttrMaxSharedMemoryPerBlock: *value = nerve_emu::kDefaultDynamicShared; break;
    case cudaDevAttrWarpSize: *value = 32; break;
    case cudaDevAttrMultiProcessorCount: *value = nerve_emu::kMultiProcessors; break;
    case cudaDevAttrComputeCapabilityMajor: *value = 7; break;
    case cudaDevAttrComputeCapabilityMinor: *value = 5; break;
    case cudaDevAttrMaxSharedMemoryPerBlockOptin: *value = nerve_emu::kMaxDynamicShared; break;
    default: return nerve_emu::t_last_error = cudaErrorInvalidValue;
  }
  return cudaSuccess;
}
