"""bench_embedding.py — embedding lookup, nerve vs torch, forward and forward+backward.

    python benchmarks/bench_embedding.py [--threads 1 2] [--repeat 15] [--quick]

Both through their Python APIs with autograd, one process, interleaved, medians. A 50k x 256
float32 table (51 MB) looked up by 32 x 64 indices (512K output values), by 1024 indices (256K)
and by 65536 indices (16M). forward+backward produces the dense (50k, 256) weight gradient, as
torch's default (sparse=False) does. GB/s counts the output-sized traffic: forward reads the
looked-up rows and writes the output (2 n D floats), backward also reads dy and adds it into the
gradient rows (4 n D in all); the gradient's zero fill is not counted (nerve asks calloc for it, so
rows no index touches cost nothing; torch fills them). Forward cases also time a plain copy of
an output-sized array (2 n D) and the kernel alone (into a preallocated output) and report both
shares of that bandwidth.

Bar (issue 4): >= 1.0x torch at 2 threads.
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

V, D = 50_000, 256
CASES = [("32x64 indices (512K)", (32, 64)), ("1024 indices (256K)", (1024,)), ("65536 indices (16M)", (65536,))]


def contenders(ishape, fwd_only):
    rng = np.random.default_rng(0)
    w = rng.standard_normal((V, D), np.float32)
    ix = rng.integers(0, V, ishape)
    nix, tix = nerve.from_numpy(ix), torch.from_numpy(ix)
    if fwd_only:
        nw, tw = nerve.from_numpy(w), torch.from_numpy(w)
        src, out = rng.standard_normal(ishape + (D,), np.float32), np.empty(ishape + (D,), np.float32)

        def run_nerve():
            with nerve.no_grad():
                F.embedding(nix, nw)

        def run_torch():
            with torch.no_grad():
                torch.nn.functional.embedding(tix, tw)
        return {"nerve": run_nerve, "torch": run_torch, "kernel": lambda: _C.cpu.embedding_forward(out, w, ix),
                "copy": lambda: np.copyto(out, src)}
    g = rng.standard_normal(ishape + (D,), np.float32)
    nw, tw = nerve.from_numpy(w).requires_grad_(True), torch.from_numpy(w.copy()).requires_grad_(True)
    ng, tg = nerve.from_numpy(g), torch.from_numpy(g)

    def run_nerve():
        nw.grad = None
        F.embedding(nix, nw).backward(ng)

    def run_torch():
        tw.grad = None
        torch.nn.functional.embedding(tix, tw).backward(tg)
    return {"nerve": run_nerve, "torch": run_torch}


def main():
    args = parse_args(__doc__.splitlines()[0])
    rows = []
    for threads in args.threads:
        bench = Bench("embedding", threads=threads, repeat=args.repeat)
        for name, ishape in CASES:
            out_bytes = 4 * int(np.prod(ishape)) * D
            for fwd_only in (True, False):
                label = "fwd" if fwd_only else "fwd+bwd"
                with bench.case(f"embedding {V}x{D} {label} {name}", bytes=out_bytes * (2 if fwd_only else 4),
                                bar=True, loadavg=round(os.getloadavg()[0], 2)) as c:
                    for lib, fn in contenders(ishape, fwd_only).items():
                        c.run(lib, fn)
                add_copy_share(bench.rows[-1], out_bytes)
        rows += bench.rows
    bench.rows = rows
    bench.save()
    summary(rows, "embedding")
    print(f"load average now: {os.getloadavg()}")
    for r in rows:
        if r["threads"] == 2 and r["ratio"]["torch"] < 1.0:
            print(f"below the bar: {r['label']} {r['case']}: {r['ratio']['torch']:.2f}x torch")


if __name__ == "__main__":
    main()
