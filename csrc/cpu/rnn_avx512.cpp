// rnn_avx512.cpp — the fused RNN / LSTM / GRU cell passes of rnn_cells.h compiled with AVX512 flags
// (the loops vectorise to 16-wide float; rnn.cpp uses this table when isa() says so).
#include "rnn_cells.h"

namespace nerve {

const RnnCellKernels<float>& rnn_cells_avx512_f32() {
  static const RnnCellKernels<float> k = make_rnn_cell_kernels<float>();
  return k;
}

}  // namespace nerve
