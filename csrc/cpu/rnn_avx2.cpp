// rnn_avx2.cpp — the fused RNN / LSTM / GRU cell passes of rnn_cells.h compiled with AVX2 flags
// (the loops vectorise to 8-wide float; rnn.cpp uses this table when isa() says so).
#include "rnn_cells.h"

namespace nerve {

const RnnCellKernels<float>& rnn_cells_avx2_f32() {
  static const RnnCellKernels<float> k = make_rnn_cell_kernels<float>();
  return k;
}

}  // namespace nerve
