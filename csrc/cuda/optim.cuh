// optim.cuh — CUDA optimizer updates (SGD, Adam/AdamW, RMSprop, Adagrad) and their launchers;
// compiled by nvcc (optim.cu) and by g++ under the emulator (tests).
//
// One thread per element in a grid-stride loop, applying the very rule the CPU loops apply
// (csrc/cpu/optim_update.h, torch's single-tensor formulas); neighbouring threads touch
// neighbouring elements, so every load and store is coalesced. Options are template flags, as on
// the CPU. A call updates a list of tensors with one launch each; the scalars (bias corrections)
// are computed on the host per tensor.
#pragma once
#include "../cpu/optim_update.h"
#include "cuda_compat.h"

namespace nerve::cuda {

constexpr int kOptimThreads = 256;
constexpr long long kOptimMaxBlocks = 4096;  // grid-stride beyond this: plenty to fill any GPU

// kernels

template <class T, bool kWd, bool kMomentum, bool kInit, bool kNesterov>
__global__ void sgd_kernel(SgdTensor<T> t, SgdScalars<T> s) {
  const long long stride = (long long)blockDim.x * gridDim.x;
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < t.n; i += stride)
    sgd_element<T, kWd, kMomentum, kInit, kNesterov>(t.param, t.momentum_buffer, t.grad, i, s);
}

template <class T, bool kWd, bool kDecoupled, bool kAmsgrad>
__global__ void adam_kernel(AdamTensor<T> t, AdamScalars<T> s) {
  const long long stride = (long long)blockDim.x * gridDim.x;
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < t.n; i += stride)
    adam_element<T, kWd, kDecoupled, kAmsgrad>(t.param, t.exp_avg, t.exp_avg_sq, t.max_exp_avg_sq, t.grad, i, s);
}

template <class T, bool kWd, bool kCentered, bool kMomentum>
__global__ void rmsprop_kernel(RmspropTensor<T> t, RmspropScalars<T> s) {
  const long long stride = (long long)blockDim.x * gridDim.x;
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < t.n; i += stride)
    rmsprop_element<T, kWd, kCentered, kMomentum>(t.param, t.square_avg, t.grad_avg, t.momentum_buffer, t.grad, i, s);
}

template <class T, bool kWd>
__global__ void adagrad_kernel(AdagradTensor<T> t, AdagradScalars<T> s) {
  const long long stride = (long long)blockDim.x * gridDim.x;
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < t.n; i += stride)
    adagrad_element<T, kWd>(t.param, t.sum, t.grad, i, s);
}

// launchers

inline unsigned optim_blocks(long long n) {
  const long long b = (n + kOptimThreads - 1) / kOptimThreads;
  return static_cast<unsigned>(b < kOptimMaxBlocks ? b : kOptimMaxBlocks);
}

template <class T>
void sgd_launch(const SgdTensor<T>* ts, int64_t count, const SgdOptions& o, cudaStream_t stream) {
  const SgdScalars<T> s = sgd_scalars<T>(o);
  for (int64_t k = 0; k < count; ++k) {
    const SgdTensor<T> t = ts[k];
    if (t.n <= 0) continue;
    with_flag(s.has_weight_decay, [&](auto wd) {
      with_flag(s.has_momentum, [&](auto mom) {
        with_flag(t.init_buffer, [&](auto init) {
          with_flag(s.nesterov, [&](auto nest) {
            constexpr bool kMom = decltype(mom)::value;
            CUDA_LAUNCH(optim_blocks(t.n), kOptimThreads, 0, stream,
                        sgd_kernel<T, decltype(wd)::value, kMom, kMom && decltype(init)::value,
                                   kMom && decltype(nest)::value>)(t, s);
          });
        });
      });
    });
  }
  check_last("sgd");
}

template <class T>
void adam_launch(const AdamTensor<T>* ts, int64_t count, const AdamOptions& o, cudaStream_t stream) {
  for (int64_t k = 0; k < count; ++k) {
    const AdamTensor<T> t = ts[k];
    if (t.n <= 0) continue;
    const AdamScalars<T> s = adam_scalars<T>(o, t.step);
    with_flag(s.has_weight_decay, [&](auto wd) {
      with_flag(s.decoupled, [&](auto dec) {
        with_flag(s.amsgrad, [&](auto ams) {
          constexpr bool kWd = decltype(wd)::value;
          CUDA_LAUNCH(optim_blocks(t.n), kOptimThreads, 0, stream,
                      adam_kernel<T, kWd, kWd && decltype(dec)::value, decltype(ams)::value>)(t, s);
        });
      });
    });
  }
  check_last("adam");
}

template <class T>
void rmsprop_launch(const RmspropTensor<T>* ts, int64_t count, const RmspropOptions& o, cudaStream_t stream) {
  const RmspropScalars<T> s = rmsprop_scalars<T>(o);
  for (int64_t k = 0; k < count; ++k) {
    const RmspropTensor<T> t = ts[k];
    if (t.n <= 0) continue;
    with_flag(s.has_weight_decay, [&](auto wd) {
      with_flag(s.centered, [&](auto cen) {
        with_flag(s.has_momentum, [&](auto mom) {
          CUDA_LAUNCH(optim_blocks(t.n), kOptimThreads, 0, stream,
                      rmsprop_kernel<T, decltype(wd)::value, decltype(cen)::value, decltype(mom)::value>)(t, s);
        });
      });
    });
  }
  check_last("rmsprop");
}

template <class T>
void adagrad_launch(const AdagradTensor<T>* ts, int64_t count, const AdagradOptions& o, cudaStream_t stream) {
  for (int64_t k = 0; k < count; ++k) {
    const AdagradTensor<T> t = ts[k];
    if (t.n <= 0) continue;
    const AdagradScalars<T> s = adagrad_scalars<T>(o, t.step);
    with_flag(s.has_weight_decay, [&](auto wd) {
      CUDA_LAUNCH(optim_blocks(t.n), kOptimThreads, 0, stream, adagrad_kernel<T, decltype(wd)::value>)(t, s);
    });
  }
  check_last("adagrad");
}

}  // namespace nerve::cuda
