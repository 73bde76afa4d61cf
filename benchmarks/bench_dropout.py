"""bench_dropout.py — dropout (p = 0.5, training), nerve vs torch, forward and forward+backward.

    python benchmarks/bench_dropout.py [--threads 1 2] [--repeat 15] [--quick]

Both through their Python APIs with autograd, one process, interleaved, medians, at 16M elements
(far past the caches) and 256K (L2-sized). GB/s counts what the op must move: forward reads x and
writes y (2 N floats; nerve also writes a 1-bit mask), forward+backward also reads dy and writes
dx (4 N). Forward cases also time a plain copy (numpy, 2 N) and the kernel alone (into a
preallocated output, writing the mask too) and report both shares of copy bandwidth.

Bar (issue 4): >= 1.0x torch at 2 threads; >= 80% of copy bandwidth at 16M.
"""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from common import Bench, parse_args  # noqa: E402
from bench_norm import add_copy_share, summary  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

import nerve  # noqa: E402
import nerve.nn.functional as F  # noqa: E402
from nerve import _C  # noqa: E402

SIZES = [("16M", 1 << 24), ("256K", 1 << 18)]


def contenders(n, fwd_only, p=0.5):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(n, np.float32)
    if fwd_only:
        nx, tx = nerve.from_numpy(x), torch.from_numpy(x)
        out = np.empty_like(x)

        def run_nerve():
            with nerve.no_grad():
                F.dropout(nx, p)

        def run_torch():
            with torch.no_grad():
                torch.nn.functional.dropout(tx, p)
        mask = np.empty((n + 63) // 64 * 8, np.uint8)
        return {"nerve": run_nerve, "torch": run_torch,
                "kernel": lambda: _C.cpu.dropout_forward(out, mask, x, p, 12345), "copy": lambda: np.copyto(out, x)}
    g = rng.standard_normal(n, np.float32)
    nx, tx = nerve.from_numpy(x).requires_grad_(True), torch.from_numpy(x.copy()).requires_grad_(True)
    ng, tg = nerve.from_numpy(g), torch.from_numpy(g)

    def run_nerve():
        nx.grad = None
        F.dropout(nx, p).backward(ng)

    def run_torch():
        tx.grad = None
        torch.nn.functional.dropout(tx, p).backward(tg)
    return {"nerve": run_nerve, "torch": run_torch}


def main():
    args = parse_args(__doc__.splitlines()[0])
    rows = []
    for threads in args.threads:
        bench = Bench("dropout", threads=threads, repeat=args.repeat)
        for name, n in SIZES:
            for fwd_only in (True, False):
                label = "fwd" if fwd_only else "fwd+bwd"
                with bench.case(f"dropout {label} {name}", bytes=4 * n * (2 if fwd_only else 4), bar=True,
                                loadavg=round(os.getloadavg()[0], 2)) as c:
                    for lib, fn in contenders(n, fwd_only).items():
                        c.run(lib, fn)
                add_copy_share(bench.rows[-1], 4 * n)
        rows += bench.rows
    bench.rows = rows
    bench.save()
    summary(rows, "dropout")
    print(f"load average now: {os.getloadavg()}")
    for r in rows:
        if r["threads"] == 2 and r["ratio"]["torch"] < 1.0:
            print(f"below the bar: {r['label']} {r['case']}: {r['ratio']['torch']:.2f}x torch")


if __name__ == "__main__":
    main()
