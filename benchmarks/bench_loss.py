"""bench_loss.py — losses, nerve vs torch (and numpy where it composes one), forward and forward+backward.

    PYTHONPATH=python python benchmarks/bench_loss.py [--threads 1 2] [--repeat 15] [--quick]

cross_entropy (fused log-softmax + NLL; class indices), nll_loss after log_softmax, on (4096, 1024)
and (128, 10); mse_loss, l1_loss, binary_cross_entropy, binary_cross_entropy_with_logits at 16M
and 256K values; all with reduction='mean', through the public APIs with autograd, interleaved,
medians (method and environment: bench_activation.py). GB/s: cross_entropy reads the logits once
forward (4 bytes a value) and twice plus a gradient write backward (16 bytes a value in all); the
pointwise losses read input and target forward (8 bytes) and again, writing the gradient,
backward (20 bytes in all). Results: benchmarks/results/loss.{json,md}.
"""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from bench_activation import reexec_clean  # noqa: E402

if __name__ == "__main__":
    reexec_clean(os.path.abspath(__file__))

from bench_activation import contenders, copy_roof, extra_args, finish, settle_fn  # noqa: E402
from common import Bench, parse_args  # noqa: E402

import numpy as np  # noqa: E402
import torch.nn.functional as TF  # noqa: E402

import nerve.nn.functional as F  # noqa: E402
from nerve import _C  # noqa: E402

CLASS_SHAPES = [(4096, 1024), (128, 10)]
SIZES = [("16M", 1 << 24), ("256K", 1 << 18)]


def np_cross_entropy(x, t):
    z = x - x.max(axis=1, keepdims=True)
    lse = np.log(np.exp(z).sum(axis=1))
    return (lse - z[np.arange(len(t)), t]).mean()


POINT = [
    ("mse_loss", F.mse_loss, TF.mse_loss, lambda x, t: np.mean(np.square(x - t)), False),
    ("l1_loss", F.l1_loss, TF.l1_loss, lambda x, t: np.mean(np.abs(x - t)), False),
    ("binary_cross_entropy", F.binary_cross_entropy, TF.binary_cross_entropy,
     lambda x, t: -np.mean(t * np.log(x) + (1 - t) * np.log1p(-x)), True),
    ("binary_cross_entropy_with_logits", F.binary_cross_entropy_with_logits, TF.binary_cross_entropy_with_logits,
     lambda x, t: np.mean((1 - t) * x + np.logaddexp(0, -x)), False),
]
QUICK = {"mse_loss", "binary_cross_entropy_with_logits"}


def main():
    args = parse_args(__doc__.splitlines()[0], extra_args)
    point = [p for p in POINT if p[0] in QUICK] if args.quick else POINT
    rows, loads = [], [os.getloadavg()[0]]
    print(f"nerve isa {_C.isa()}, loss backend {_C.cpu.loss_backend()}; load {os.getloadavg()}", flush=True)
    for threads in args.threads:
        bench = Bench("loss", threads=threads, repeat=args.repeat, settle=settle_fn(args))
        copy_roof(bench, 1 << 24)
        for shape in CLASS_SHAPES:
            rng = np.random.default_rng(0)
            x = rng.standard_normal(shape).astype(np.float32)
            t = rng.integers(0, shape[1], shape[0]).astype(np.int64)
            n = x.size
            cases = [("cross_entropy", F.cross_entropy, TF.cross_entropy, np_cross_entropy),
                     ("nll_loss(log_softmax)", lambda a, b: F.nll_loss(F.log_softmax(a, 1), b),
                      lambda a, b: TF.nll_loss(TF.log_softmax(a, 1), b), None)]
            for name, nf, tf, npf in cases[:1] if args.quick else cases:
                for fwd_only in (True, False):
                    kind = "fwd" if fwd_only else "fwd+bwd"
                    with bench.case(f"{name} {kind} {shape}", bytes=(4.0 if fwd_only else 16.0) * n) as c:
                        for lib, fn in contenders(fwd_only, nf, tf, npf, (x, t)).items():
                            c.run(lib, fn)
        for label, n in SIZES:
            rng = np.random.default_rng(1)
            for name, nf, tf, npf, probs in point:
                x = (rng.random(n) * 0.98 + 0.01).astype(np.float32) if probs else rng.standard_normal(n).astype(
                    np.float32)
                t = rng.random(n).astype(np.float32)
                for fwd_only in (True, False):
                    kind = "fwd" if fwd_only else "fwd+bwd"
                    with bench.case(f"{name} {kind} {label}", bytes=(8.0 if fwd_only else 20.0) * n) as c:
                        for lib, fn in contenders(fwd_only, nf, tf, npf, (x, t)).items():
                            c.run(lib, fn)
        rows += bench.rows
        loads.append(os.getloadavg()[0])
        print(f"--- {threads} thread(s) done; load {os.getloadavg()}", flush=True)
    finish("loss", "Losses (float32, reduction='mean'), nerve vs torch and numpy", rows, loads, args.quick)


if __name__ == "__main__":
    main()
