// cpu_features.cpp — cpuid/xgetbv probing (x86-64); other architectures get the generic path.
#include "cpu_features.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

#if defined(__x86_64__) || defined(_M_X64)
#include <cpuid.h>
#define NERVE_X86 1
#endif

namespace nerve {
namespace {

CpuFeatures probe() {
  CpuFeatures f;
#ifdef NERVE_X86
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
  const bool osxsave = c & (1u << 27), fma = c & (1u << 12);
  if (!osxsave) return f;
  unsigned lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  const bool ymm_os = (lo & 0x6) == 0x6, zmm_os = (lo & 0xe6) == 0xe6;
  if (__get_cpuid_max(0, nullptr) < 7) return f;
  __cpuid_count(7, 0, a, b, c, d);
  f.fma = fma && ymm_os;
  f.avx2 = ymm_os && (b & (1u << 5));
  f.avx512f = zmm_os && (b & (1u << 16));
  f.avx512dq = zmm_os && (b & (1u << 17));
  f.avx512bw = zmm_os && (b & (1u << 30));
  f.avx512vl = zmm_os && (b & (1u << 31));
#endif
  return f;
}

Isa best(const CpuFeatures& f) {
  if (f.avx512f && f.avx512bw && f.avx512dq && f.avx512vl && f.fma) return Isa::avx512;
  if (f.avx2 && f.fma) return Isa::avx2;
  return Isa::generic;
}

Isa env_cap() {
  const char* e = std::getenv("NERVE_ISA");
  if (!e) return Isa::avx512;
  if (!std::strcmp(e, "generic")) return Isa::generic;
  if (!std::strcmp(e, "avx2")) return Isa::avx2;
  return Isa::avx512;
}

std::atomic<int>& cap() {
  static std::atomic<int> c{static_cast<int>(env_cap())};
  return c;
}

}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures f = probe();
  return f;
}

Isa isa() {
  const int b = static_cast<int>(best(cpu_features())), c = cap().load(std::memory_order_relaxed);
  return static_cast<Isa>(b < c ? b : c);
}

void set_isa(Isa c) { cap().store(static_cast<int>(c)); }

const char* isa_name(Isa i) {
  switch (i) {
    case Isa::avx512: return "avx512";
    case Isa::avx2: return "avx2";
    default: return "generic";
  }
}

}  // namespace nerve
