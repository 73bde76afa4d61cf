"""bench_norm.py — layer_norm and batch_norm, nerve vs torch, forward and forward+backward.

    python benchmarks/bench_norm.py [--threads 1 2] [--repeat 15] [--quick]

Both through their Python APIs with autograd (nerve.nn.functional vs torch.nn.functional), one
process, interleaved, medians. forward+backward computes the input, weight and bias gradients.
GB/s counts the bytes a fused kernel must move: forward reads x and writes y (2 N floats),
forward+backward also reads x and dy and writes dx (5 N). Forward cases also time a plain copy of
the input (numpy, into a preallocated array: 2 N bytes) and nerve's kernel alone (the _C call
into a preallocated output), and report both nerve's and the kernel's share of copy bandwidth
(nerve's op pays for allocating its output; the copy does not).

Bar (issue 4): >= 1.0x torch at 2 threads, forward and forward+backward; memory-bound kernels
>= 80% of copy bandwidth at 16M.
"""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from common import Bench, RESULTS, parse_args, write_atomic  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

import nerve  # noqa: E402
import nerve.nn.functional as F  # noqa: E402
from nerve import _C  # noqa: E402

CASES = [
    ("layer_norm (4096, 1024)", (4096, 1024), "ln"),
    ("batch_norm train (128, 64, 28, 28)", (128, 64, 28, 28), "bn"),
    ("batch_norm eval (128, 64, 28, 28)", (128, 64, 28, 28), "bn_eval"),
]


def contenders(kind, shape, fwd_only, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape, np.float32)
    g = rng.standard_normal(shape, np.float32)
    C = shape[1] if kind != "ln" else shape[-1]
    w, b = rng.uniform(0.5, 1.5, C).astype(np.float32), rng.standard_normal(C).astype(np.float32)
    nstats = [nerve.zeros(C), nerve.ones(C)]
    tstats = [torch.zeros(C), torch.ones(C)]

    def call(lib, stats, x_, w_, b_):
        f = lib.nn.functional if lib is torch else F
        if kind == "ln":
            return f.layer_norm(x_, (C,), w_, b_)
        return f.batch_norm(x_, *stats, w_, b_, training=kind == "bn")

    if fwd_only:
        nx, nw, nb = (nerve.from_numpy(a) for a in (x, w, b))
        tx, tw, tb = (torch.from_numpy(a) for a in (x, w, b))
        out = np.empty_like(x)

        def run_nerve():
            with nerve.no_grad():
                call(nerve, nstats, nx, nw, nb)

        def run_torch():
            with torch.no_grad():
                call(torch, tstats, tx, tw, tb)

        rows = int(np.prod(shape[:-1]))
        mean, rstd = np.empty(rows if kind == "ln" else C), np.empty(rows if kind == "ln" else C)
        rm, rv = np.zeros(C, np.float32), np.ones(C, np.float32)

        def run_kernel():  # the kernel alone, into a preallocated output
            if kind == "ln":
                _C.cpu.layer_norm_forward(out, mean, rstd, x, w, b, 1)
            else:
                _C.cpu.batch_norm_forward(out, mean, rstd, rm, rv, x, w, b, kind == "bn")
        return {"nerve": run_nerve, "torch": run_torch, "kernel": run_kernel, "copy": lambda: np.copyto(out, x)}
    nx, nw, nb = (nerve.from_numpy(a).requires_grad_(True) for a in (x, w, b))
    tx, tw, tb = (torch.from_numpy(a.copy()).requires_grad_(True) for a in (x, w, b))
    ng, tg = nerve.from_numpy(g), torch.from_numpy(g)

    def run_nerve():
        for t in (nx, nw, nb):
            t.grad = None
        call(nerve, nstats, nx, nw, nb).backward(ng)

    def run_torch():
        for t in (tx, tw, tb):
            t.grad = None
        call(torch, tstats, tx, tw, tb).backward(tg)
    return {"nerve": run_nerve, "torch": run_torch}


def add_copy_share(row, n_bytes):
    """Bandwidth of nerve's op and of its kernel alone as shares of the copy's (which moves 2 n_bytes)."""
    if "copy" in row["ms"]:
        copy_gbps = 2 * n_bytes / (row["ms"]["copy"] * 1e-3) / 1e9
        row["copy_gbps"] = copy_gbps
        row["pct_copy_bw"] = {k: 100 * row["gbps"][k] / copy_gbps for k in ("nerve", "kernel") if k in row["gbps"]}


def summary(rows, stem):
    loads = [r["loadavg"] for r in rows if "loadavg" in r]
    lines = ["", f"1-minute load average during the run: {min(loads)} to {max(loads)} (2 cores)", "",
             "| threads | case | nerve GB/s | kernel alone GB/s | copy GB/s | nerve % of copy | kernel % of copy |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        if "pct_copy_bw" in r:
            p = r["pct_copy_bw"]
            lines.append(f"| {r['threads']} | {r['case']} | {r['gbps']['nerve']:.1f} | {r['gbps'].get('kernel', 0):.1f} | "
                         f"{r['copy_gbps']:.1f} | {p['nerve']:.0f}% | {p.get('kernel', 0):.0f}% |")
    write_atomic(RESULTS / f"{stem}.md", (RESULTS / f"{stem}.md").read_text() + "\n".join(lines) + "\n")


def main():
    args = parse_args(__doc__.splitlines()[0])
    rows = []
    for threads in args.threads:
        bench = Bench("norm", threads=threads, repeat=args.repeat)
        for name, shape, kind in CASES:
            n_bytes = 4 * int(np.prod(shape))
            for fwd_only in (True, False):
                label = "fwd" if fwd_only else "fwd+bwd"
                with bench.case(f"{name} {label}", bytes=n_bytes * (2 if fwd_only else 5), bar=True,
                                loadavg=round(os.getloadavg()[0], 2)) as c:
                    for lib, fn in contenders(kind, shape, fwd_only).items():
                        c.run(lib, fn)
                add_copy_share(bench.rows[-1], n_bytes)
        rows += bench.rows
    bench.rows = rows
    bench.save()
    summary(rows, "norm")
    print(f"load average now: {os.getloadavg()}")
    for r in rows:
        if r["threads"] == 2 and r["ratio"]["torch"] < 1.0:
            print(f"below the bar: {r['label']} {r['case']}: {r['ratio']['torch']:.2f}x torch")


if __name__ == "__main__":
    main()
