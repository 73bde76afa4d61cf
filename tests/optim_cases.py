"""optim_cases.py — shared by test_optim.py and test_optim_cuda.py: the update-kernel cases and a
driver that builds random parameters, gradients and state for them and calls a kernel module
(nerve._C.cpu, nerve._C_emu or nerve._C.cuda) with them.
"""
import numpy as np

# (kernel, hyper-parameters): every template flag of every optimizer is on in some case.
KERNEL_CASES = [
    ("sgd", dict(lr=0.1)),
    ("sgd", dict(lr=0.1, weight_decay=0.05, maximize=True)),
    ("sgd", dict(lr=0.1, momentum=0.9)),
    ("sgd", dict(lr=0.1, momentum=0.9, dampening=0.5, weight_decay=0.01)),
    ("sgd", dict(lr=0.1, momentum=0.9, nesterov=True, maximize=True)),
    ("adam", dict(lr=1e-2)),
    ("adam", dict(lr=1e-2, amsgrad=True, weight_decay=0.1)),
    ("adam", dict(lr=1e-2, weight_decay=0.1, decoupled_weight_decay=True, maximize=True)),
    ("adam", dict(lr=1e-2, beta1=0.3, beta2=0.5, eps=1e-3, amsgrad=True, weight_decay=0.1,
                  decoupled_weight_decay=True)),
    ("rmsprop", dict(lr=1e-2)),
    ("rmsprop", dict(lr=1e-2, centered=True, momentum=0.9)),
    ("rmsprop", dict(lr=1e-2, alpha=0.3, centered=True, weight_decay=0.1, maximize=True)),
    ("rmsprop", dict(lr=1e-2, momentum=0.5, weight_decay=0.1)),
    ("adagrad", dict(lr=0.1)),
    ("adagrad", dict(lr=0.1, lr_decay=0.1, weight_decay=0.1, eps=1e-3, maximize=True)),
]


def case_id(case):
    name, hyper = case
    return name + "-" + "-".join(f"{k}={v}" for k, v in hyper.items())


def make_state(name, hyper, sizes, dtype, seed=0):
    """Random params, grads and state lists for `sizes` (one tensor each), as the kernels take them."""
    rng = np.random.default_rng(seed)

    def r(n, positive=False):
        a = rng.standard_normal(n)
        return (np.abs(a) + 0.1 if positive else a).astype(dtype)

    st = {"params": [r(n) for n in sizes], "grads": [r(n) for n in sizes]}
    if name == "sgd":
        st["momentum_buffers"] = [r(n) for n in sizes] if hyper.get("momentum", 0) else []
        st["init_buffers"] = [bool(i % 2) for i in range(len(sizes))]
    elif name == "adam":
        st["exp_avgs"] = [r(n) for n in sizes]
        st["exp_avg_sqs"] = [r(n, True) for n in sizes]
        st["max_exp_avg_sqs"] = [r(n, True) for n in sizes] if hyper.get("amsgrad") else []
        st["steps"] = [float(rng.integers(1, 40)) for _ in sizes]
    elif name == "rmsprop":
        ga = [r(n) for n in sizes]
        st["grad_avgs"] = ga if hyper.get("centered") else []
        st["square_avgs"] = [g * g + r(n, True) for g, n in zip(ga, sizes)]  # >= grad_avg^2: sqrt stays real
        st["momentum_buffers"] = [r(n) for n in sizes] if hyper.get("momentum", 0) else []
    else:
        st["state_sums"] = [r(n, True) for n in sizes]
        st["steps"] = [float(rng.integers(1, 40)) for _ in sizes]
    return st


ORDER = {
    "sgd": ("params", "momentum_buffers", "grads"),
    "adam": ("params", "exp_avgs", "exp_avg_sqs", "max_exp_avg_sqs", "grads", "steps"),
    "rmsprop": ("params", "square_avgs", "grad_avgs", "momentum_buffers", "grads"),
    "adagrad": ("params", "state_sums", "grads", "steps"),
}


def call(mod, name, st, hyper, put=lambda a: a, **extra):
    """mod.<name>_update on the arrays of st (moved with put); returns the arrays it was given."""
    args = [[put(a) for a in st[k]] if k != "steps" else st[k] for k in ORDER[name]]
    kw = dict(hyper, **extra)
    if name == "sgd":
        kw["init_buffers"] = st["init_buffers"]
    getattr(mod, name + "_update")(*args, **kw)
    return dict(zip(ORDER[name], args))


def written(name, arrays):
    """The lists a kernel writes (params and state), by name."""
    return {k: v for k, v in arrays.items() if k not in ("grads", "steps")}
