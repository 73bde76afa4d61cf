"""nerve.train — the Keras-shaped training loop: fit, evaluate, predict, History, callbacks, metrics."""
from .fit import fit, evaluate, predict, Trainer  # noqa: F401
from .history import History  # noqa: F401
from .callbacks import (Callback, LambdaCallback, EarlyStopping, ModelCheckpoint, LRSchedulerCallback,  # noqa: F401
                        CSVLogger)
from .metrics import Metric, Accuracy, BinaryAccuracy, MeanAbsoluteError, MeanSquaredError  # noqa: F401
from . import callbacks, metrics  # noqa: F401
