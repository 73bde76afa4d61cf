"""nerve.nn.functional — torch.nn.functional's names, arguments and defaults on nerve's kernels.

Each line re-exports the public functions of one kernel family from nerve/ops/<stem>.py.
"""
from ..ops.linear import linear  # noqa: F401
