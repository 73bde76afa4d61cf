"""bench_softmax.py — softmax and log_softmax, nerve vs torch, forward and forward+backward.

    PYTHONPATH=python python benchmarks/bench_softmax.py [--threads 1 2] [--repeat 15] [--quick]

Shapes (issue 4): (4096, 1024) and (128, 10) over the last dim, plus (64, 128, 32) over dim 1 (the
column walk: softmax over a non-last dim without a transposed copy). Through the public APIs with
autograd, interleaved, medians (see bench_activation.py for the method and the environment). GB/s
count 8 bytes a value forward (read x, write y) and 20 forward+backward. numpy has no softmax: its
three-pass composition (max, exp, divide) is timed as the numpy column for the 2-D shapes.
Results: benchmarks/results/softmax.{json,md}.
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

SHAPES = [((4096, 1024), -1), ((128, 10), -1), ((64, 128, 32), 1)]


def np_softmax(x, dim):
    e = np.exp(x - x.max(axis=dim, keepdims=True))
    return e / e.sum(axis=dim, keepdims=True)


def np_log_softmax(x, dim):
    z = x - x.max(axis=dim, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=dim, keepdims=True))


def main():
    args = parse_args(__doc__.splitlines()[0], extra_args)
    shapes = SHAPES[:2] if args.quick else SHAPES
    rows, loads = [], [os.getloadavg()[0]]
    print(f"nerve isa {_C.isa()}, softmax backend {_C.cpu.softmax_backend()}; load {os.getloadavg()}", flush=True)
    for threads in args.threads:
        bench = Bench("softmax", threads=threads, repeat=args.repeat, settle=settle_fn(args))
        copy_roof(bench, 1 << 22, "copy 4M (np.copyto into out)")
        for shape, dim in shapes:
            rng = np.random.default_rng(0)
            x = rng.standard_normal(shape).astype(np.float32)
            g = rng.standard_normal(shape).astype(np.float32)
            n = x.size
            for name, nf, tf, npf in [("softmax", F.softmax, TF.softmax, np_softmax),
                                      ("log_softmax", F.log_softmax, TF.log_softmax, np_log_softmax)]:
                for fwd_only in (True, False):
                    kind = "fwd" if fwd_only else "fwd+bwd"
                    fns = contenders(fwd_only, lambda a: nf(a, dim), lambda a: tf(a, dim),
                                     (lambda a: npf(a, dim)) if len(shape) == 2 else None, (x,), g)
                    with bench.case(f"{name} {kind} {shape} dim={dim}", bytes=(8.0 if fwd_only else 20.0) * n) as c:
                        for lib, fn in fns.items():
                            c.run(lib, fn)
        rows += bench.rows
        loads.append(os.getloadavg()[0])
        print(f"--- {threads} thread(s) done; load {os.getloadavg()}", flush=True)
    finish("softmax", "Softmax and log-softmax (float32), nerve vs torch", rows, loads, args.quick)


if __name__ == "__main__":
    main()
