"""nerve.optim — optimizers on fused update kernels, and learning-rate schedulers (torch.optim's API).

    opt = nerve.optim.Adam(model.parameters(), lr=1e-3)
    sched = nerve.optim.lr_scheduler.StepLR(opt, step_size=10, gamma=0.5)
    for x, y in data:
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()
    sched.step()

L1 regularisation, Keras' kernel_regularizer=l1(w) written the PyTorch way: add
`nerve.optim.l1_penalty(model.parameters(), w)` (w * sum |p|, differentiable) to the loss.
L2 is the optimizers' weight_decay (or l2_penalty, w * sum p^2, for a reported penalised loss).
"""
from .optimizer import Optimizer, required  # noqa: F401
from .sgd import SGD  # noqa: F401
from .adam import Adam, AdamW  # noqa: F401
from .rmsprop import RMSprop  # noqa: F401
from .adagrad import Adagrad  # noqa: F401
from .regularization import l1_penalty, l2_penalty  # noqa: F401
from . import lr_scheduler  # noqa: F401

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "l1_penalty", "l2_penalty", "lr_scheduler"]
