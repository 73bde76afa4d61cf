// no_cuda/optim.cpp — stands in for the entry points of csrc/cuda/optim.h when nerve is built
// without CUDA: each raises "[op] nerve was built without CUDA" (not_built, csrc/cuda/runtime.h).
#include "../optim.h"
#include "../runtime.h"

namespace nerve::cuda {

template <class T>
void sgd_update(const SgdTensor<T>*, int64_t, const SgdOptions&, void*) {
  not_built("sgd");
}
template <class T>
void adam_update(const AdamTensor<T>*, int64_t, const AdamOptions&, void*) {
  not_built("adam");
}
template <class T>
void rmsprop_update(const RmspropTensor<T>*, int64_t, const RmspropOptions&, void*) {
  not_built("rmsprop");
}
template <class T>
void adagrad_update(const AdagradTensor<T>*, int64_t, const AdagradOptions&, void*) {
  not_built("adagrad");
}
#define NERVE_NO_CUDA_OPTIM(T)                                                                   \
  template void sgd_update<T>(const SgdTensor<T>*, int64_t, const SgdOptions&, void*);           \
  template void adam_update<T>(const AdamTensor<T>*, int64_t, const AdamOptions&, void*);        \
  template void rmsprop_update<T>(const RmspropTensor<T>*, int64_t, const RmspropOptions&, void*); \
  template void adagrad_update<T>(const AdagradTensor<T>*, int64_t, const AdagradOptions&, void*);
NERVE_NO_CUDA_OPTIM(float)
NERVE_NO_CUDA_OPTIM(double)
#undef NERVE_NO_CUDA_OPTIM

}  // namespace nerve::cuda
