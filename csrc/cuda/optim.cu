// optim.cu — nvcc translation unit for the CUDA optimizer updates (kernels live in optim.cuh).
#include "optim.cuh"
#include "optim.h"

namespace nerve::cuda {

template <class T>
void sgd_update(const SgdTensor<T>* ts, int64_t count, const SgdOptions& o, void* stream) {
  sgd_launch(ts, count, o, static_cast<cudaStream_t>(stream));
}

template <class T>
void adam_update(const AdamTensor<T>* ts, int64_t count, const AdamOptions& o, void* stream) {
  adam_launch(ts, count, o, static_cast<cudaStream_t>(stream));
}

template <class T>
void rmsprop_update(const RmspropTensor<T>* ts, int64_t count, const RmspropOptions& o, void* stream) {
  rmsprop_launch(ts, count, o, static_cast<cudaStream_t>(stream));
}

template <class T>
void adagrad_update(const AdagradTensor<T>* ts, int64_t count, const AdagradOptions& o, void* stream) {
  adagrad_launch(ts, count, o, static_cast<cudaStream_t>(stream));
}

#define NERVE_INSTANTIATE_OPTIM_CUDA(T)                                                          \
  template void sgd_update<T>(const SgdTensor<T>*, int64_t, const SgdOptions&, void*);           \
  template void adam_update<T>(const AdamTensor<T>*, int64_t, const AdamOptions&, void*);        \
  template void rmsprop_update<T>(const RmspropTensor<T>*, int64_t, const RmspropOptions&, void*); \
  template void adagrad_update<T>(const AdagradTensor<T>*, int64_t, const AdagradOptions&, void*);
NERVE_INSTANTIATE_OPTIM_CUDA(float)
NERVE_INSTANTIATE_OPTIM_CUDA(double)
#undef NERVE_INSTANTIATE_OPTIM_CUDA

}  // namespace nerve::cuda
