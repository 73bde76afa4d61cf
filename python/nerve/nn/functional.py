"""nerve.nn.functional — torch.nn.functional's names, arguments and defaults on nerve's kernels.

Each line re-exports the public functions of one kernel family from nerve/ops/<stem>.py.
"""
from ..ops.linear import linear  # noqa: F401
from ..ops.conv import conv1d, conv2d, conv_transpose1d, conv_transpose2d  # noqa: F401
from ..ops.pool import (adaptive_avg_pool2d, adaptive_max_pool2d, avg_pool1d, avg_pool2d, max_pool1d,  # noqa: F401
                        max_pool2d)
from ..ops.activation import (elu, elu_, gelu, hardtanh, hardtanh_, leaky_relu, leaky_relu_, relu, relu_,  # noqa: F401
                              sigmoid, silu, softplus, tanh)
from ..ops.softmax import log_softmax, softmax  # noqa: F401
from ..ops.dropout import dropout  # noqa: F401
from ..ops.loss import (binary_cross_entropy, binary_cross_entropy_with_logits, cross_entropy, l1_loss,  # noqa: F401
                        mse_loss, nll_loss)
from ..ops.norm import batch_norm, group_norm, layer_norm  # noqa: F401
from ..ops.embedding import embedding  # noqa: F401
from ..ops.attention import multi_head_attention_forward, scaled_dot_product_attention  # noqa: F401
