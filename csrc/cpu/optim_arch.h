// optim_arch.h — what a per-ISA optimizer back end hands the driver in optim.cpp (internal to
// csrc/cpu/optim*.cpp): one function per optimizer that updates elements [begin, end) of one
// tensor with the scalars the driver computed for it.
#pragma once
#include <cstdint>

#include "optim_update.h"

namespace nerve {

template <class T>
struct OptimSpans {
  const char* name;
  void (*sgd)(const SgdTensor<T>& t, int64_t begin, int64_t end, const SgdScalars<T>& s);
  void (*adam)(const AdamTensor<T>& t, int64_t begin, int64_t end, const AdamScalars<T>& s);
  void (*rmsprop)(const RmspropTensor<T>& t, int64_t begin, int64_t end, const RmspropScalars<T>& s);
  void (*adagrad)(const AdagradTensor<T>& t, int64_t begin, int64_t end, const AdagradScalars<T>& s);
};

// Back ends. The AVX ones exist only on x86-64 builds (NERVE_X86_KERNELS).
const OptimSpans<float>& optim_spans_generic_f32();
const OptimSpans<double>& optim_spans_generic_f64();
const OptimSpans<float>& optim_spans_avx2_f32();
const OptimSpans<double>& optim_spans_avx2_f64();
const OptimSpans<float>& optim_spans_avx512_f32();
const OptimSpans<double>& optim_spans_avx512_f64();

}  // namespace nerve
