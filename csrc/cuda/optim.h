// optim.h — host entries of the CUDA optimizer updates: the contract of csrc/cpu/optim.h (same
// tensors, options and formulas) over device pointers, launched on `stream` (a cudaStream_t).
#pragma once
#include "../cpu/optim.h"

namespace nerve::cuda {

template <class T> void sgd_update(const SgdTensor<T>* tensors, int64_t count, const SgdOptions& o, void* stream);
template <class T> void adam_update(const AdamTensor<T>* tensors, int64_t count, const AdamOptions& o, void* stream);
template <class T>
void rmsprop_update(const RmspropTensor<T>* tensors, int64_t count, const RmspropOptions& o, void* stream);
template <class T>
void adagrad_update(const AdagradTensor<T>* tensors, int64_t count, const AdagradOptions& o, void* stream);

}  // namespace nerve::cuda
