// cpu_features.h — run-time ISA detection. Kernels compiled for several ISAs (files named
// *_avx512.cpp, *_avx2.cpp get those flags from CMake) pick one at run time with isa().
// NERVE_ISA=avx512|avx2|generic caps the choice, so tests can exercise every path on one machine.
#pragma once

namespace nerve {

enum class Isa { generic = 0, avx2 = 1, avx512 = 2 };

struct CpuFeatures {
  bool avx2 = false, fma = false, avx512f = false, avx512bw = false, avx512dq = false, avx512vl = false;
};

const CpuFeatures& cpu_features();  // what the processor and OS support
Isa isa();                          // the best ISA usable, capped by NERVE_ISA / set_isa
void set_isa(Isa cap);              // cap (for tests); never raises the best available ISA
const char* isa_name(Isa isa);

}  // namespace nerve
