// conv_direct.h — internal: the "flat row" direct convolution shared by conv.cpp (drivers),
// conv_avx512.cpp (micro-kernels) and conv_winograd_avx512.cpp (which reuses the GEMM micro-tile).
//
// A convolution of one image reads its input through a zero-padded copy xflat (C planes of Hp x Wp,
// one after another; strided convolutions split each into phase planes, see Flat in conv.cpp).
// Output position (oh, ow) is computed at flat position p = oh*Wp + ow, and tap (c, r, s) is then a
// fixed offset boff from p: the convolution becomes a GEMM whose B operand is read straight from
// xflat, no im2col. Positions with ow >= OW (the last Wp - OW of every row) are computed and dropped
// at the store; that waste is (Wp - OW) / Wp, small for the usual kernel sizes.
#pragma once
#include <cstdint>

#include "conv.h"

namespace nerve::conv_direct {

// Scratch that outlives the call, one set per calling thread (the GIL is released, so Python
// threads may convolve at once). Fresh multi-MB vectors would come from mmap and be page-faulted
// in on every call; these grow to the largest request and stay. Contents are garbage.
// Slots: 0-2 the direct drivers, 3-4 Winograd (which may run inside backward_input's use of slot 2).
constexpr int kScratchSlots = 5;
float* scratch(int slot, int64_t n);
int thread_index();  // omp_get_thread_num(), 0 without OpenMP

// Winograd F(m x m, 3x3), m = 2 or 4 (conv_winograd_avx512.cpp): 3x3, stride 1, no dilation, one
// group, enough channels and images to pay for the transforms. y gets the whole convolution (+ bias).
bool winograd_suits(const Conv2dShape& s, int threads);
void winograd_forward_avx512(float* y /* (N,K,OH,OW) */, const float* x /* (N,C,H,W) */,
                             const float* w /* (K,C,3,3) */, const float* bias, const Conv2dShape& s, int m);
// dw (K,C,3,3) += the weight gradient, through the same transforms (dU = sum over tiles of
// (A dY A^T) .* (B^T x B), dw = G^T dU G).
void winograd_backward_weight_avx512(float* dw, const float* dy /* (N,K,OH,OW) */, const float* x /* (N,C,H,W) */,
                                     const Conv2dShape& s, int m);

constexpr int kMr = 8;   // output channels per forward tile
constexpr int kNv = 3;   // 16-float vectors per forward tile: kNp flat positions
constexpr int kNp = 16 * kNv;
constexpr int kWk = 4;   // output channels per weight-gradient tile
constexpr int kWt = 6;   // taps per weight-gradient tile

// One image-group of a stride-1 convolution.
struct FlatConv {
  const float* apack;    // (ceil(Kg/kMr), depth, kMr) weights; rows past Kg are zero
  const int64_t* boff;   // (depth) offset of tap t = (c, r, s) in xflat
  int64_t depth;         // Cg * R * S
  int64_t Kg;            // output channels of the group
  int64_t Wp, OW;        // padded row width, output row width
  int64_t Pv;            // flat positions OH * Wp
  int64_t ystride;       // OH * OW, between output channels
};

// y[k, oh*OW + ow] = (accumulate ? y : 0) + bias[k] + sum_t apack[k/kMr, t, k%kMr] * xflat[boff[t] + p]
// for every k < Kg and flat position p = oh*Wp + ow in [p0, p0 + np) with ow < OW; np <= kNp.
// bias may be null. Reads xflat up to boff[depth-1] + p0 + kNp.
void forward_panel_avx512(const FlatConv& fc, const float* xflat, float* y /* (Kg, OH*OW) */, const float* bias,
                          int64_t p0, int64_t np, bool accumulate);

// part[i*part_ks + 16*j + lane] += sum_{v < nvec} dyf[i*dyf_ks + 16*v + lane] * xflat[boff[j] + 16*v + lane]
// for i < mk <= kWk, j < nt <= kWt, with the x load masked by mask[v] (bit `lane` set: flat position
// 16*v + lane is an output). dyf is dy of mk channels of one image in flat layout (zeros where no
// output lies); part holds per-lane partial sums, reduced across lanes by the caller. Flat
// positions along the vector: for Kg < 16 or shallow taps, where transposing dy would dominate.
void weight_tile_avx512(float* part, int64_t part_ks, const float* dyf, int64_t dyf_ks, const float* xflat,
                        const int64_t* boff, const uint16_t* mask, int64_t nvec, int mk, int nt);

// Weight gradient with output channels along the vector, for Kg >= 16 (no final reductions), and
// the GEMMs of the Winograd path: a micro-tile of broadcast rows times vector columns,
// dwt[t*ldw + k] (+)= sum_{p0 <= p < p1} xb[boff[t] + p*ldx] * dyt[p*ldy + k] for t < mt, k < 16*nv;
// mt <= 12 when nv <= 2, else mt <= 6; `accumulate` adds to dwt instead of overwriting it.
void weight_tile_k_avx512(float* dwt, int64_t ldw, const float* dyt, int64_t ldy, const float* xb,
                          const int64_t* boff, int64_t ldx, int64_t p0, int64_t p1, int mt, int nv, bool accumulate);

// dyt[(oh*Wp + ow)*ldt + k] = dy[k*ystride + oh*OW + ow] for k < Kg, ow < OW, oh in [oh0, oh1), and zero
// for k in [Kg, ldt) and for the positions ow in [OW, Wp): dy transposed onto the flat positions.
void transpose_dy_avx512(float* dyt, int64_t ldt, const float* dy, int64_t ystride, int64_t Kg, int64_t OW,
                         int64_t Wp, int64_t oh0, int64_t oh1);

}  // namespace nerve::conv_direct
