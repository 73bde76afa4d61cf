"""bench_optim.py — one optimizer step over 10M float32 parameters, nerve vs torch.

    python benchmarks/bench_optim.py [--threads 1 2] [--repeat 15] [--quick]

Optimizers: Adam, AdamW and SGD with momentum, on one 10M-element tensor and on 100 tensors of
100k. Contenders, through their Python APIs: nerve (nerve.optim, one fused kernel call per
group), torch foreach=False (the single-tensor path), torch foreach=True and torch fused=True;
interleaved, medians. GB/s counts the bytes an update must move (Adam/AdamW: read param, grad,
exp_avg, exp_avg_sq, write param, exp_avg, exp_avg_sq = 28 B a parameter; SGD momentum: 20 B),
and each row gives nerve's share of the machine's copy bandwidth (torch's threaded copy_ of the
same 10M floats, 8 B an element, measured at the same thread count).

Bar (issue 4): >= 1.0x torch at 2 threads; near copy bandwidth (~19 GB/s here at 2 threads).
"""
from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from common import RESULTS, Bench, format_row, parse_args, write_atomic  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

import nerve  # noqa: E402
import nerve.nn  # noqa: E402

TOTAL = 10_000_000
LAYOUTS = [("1 x 10M", [TOTAL]), ("100 x 100k", [TOTAL // 100] * 100)]
OPTIMIZERS = [
    ("Adam", dict(lr=1e-4), 28),
    ("AdamW", dict(lr=1e-4, weight_decay=1e-2), 28),
    ("SGD momentum", dict(lr=1e-4, momentum=0.9), 20),
]
TORCH_MODES = {"torch": dict(foreach=False), "torch foreach": dict(foreach=True), "torch fused": dict(fused=True)}


def make_params(sizes, seed=0):
    rng = np.random.default_rng(seed)
    arrays = [(rng.standard_normal(n, np.float32), rng.standard_normal(n, np.float32)) for n in sizes]
    nparams = []
    for p, g in arrays:
        q = nerve.nn.Parameter(nerve.tensor(p.copy()))
        q.grad = nerve.tensor(g.copy())
        nparams.append(q)
    return arrays, nparams


def torch_params(arrays):
    out = []
    for p, g in arrays:
        q = torch.nn.Parameter(torch.tensor(p))
        q.grad = torch.tensor(g)
        out.append(q)
    return out


def contenders(opt_name, kw, sizes):
    cls = "SGD" if opt_name.startswith("SGD") else opt_name
    arrays, nparams = make_params(sizes)
    fns = {"nerve": getattr(nerve.optim, cls)(nparams, **kw).step}
    for label, mode in TORCH_MODES.items():
        try:
            fns[label] = getattr(torch.optim, cls)(torch_params(arrays), **kw, **mode).step
        except (RuntimeError, ValueError) as e:  # a mode this torch build lacks on the CPU
            print(f"skipping {label} for {opt_name}: {e}")
    return fns


def copy_contender():
    """torch's threaded copy_ of 10M floats (read + write, 8 B an element): the bandwidth yardstick,
    timed inside each case so it sees the same machine load as the optimizers."""
    src, dst = torch.randn(TOTAL), torch.empty(TOTAL)
    return lambda: dst.copy_(src)


def main():
    args = parse_args(__doc__.splitlines()[0], lambda p: p.add_argument(
        "--settle", type=float, default=0.005, help="untimed pause before each batch (s): lets the other "
        "library's OpenMP threads stop spinning"))
    layouts = LAYOUTS[:1] if args.quick else LAYOUTS
    optimizers = OPTIMIZERS[:1] + OPTIMIZERS[2:] if args.quick else OPTIMIZERS
    settle = (lambda: time.sleep(args.settle)) if args.settle > 0 else None
    rows = []
    print(f"load average {os.getloadavg()}, nerve optim back end {nerve._C.cpu.optim_backend()}", flush=True)
    for threads in args.threads:
        bench = Bench("optim", threads=threads, repeat=args.repeat, settle=settle, quiet=True)
        copy = copy_contender()
        for opt_name, kw, per_param in optimizers:
            for layout, sizes in layouts:
                with bench.case(f"{opt_name} step, {layout}", bytes=per_param * TOTAL) as c:
                    for name, fn in contenders(opt_name, kw, sizes).items():
                        c.run(name, fn)
                    c.run("copy", copy)
                row = bench.rows[-1]
                copy_ms = row["ms"].pop("copy")
                row["gbps"].pop("copy")
                row["ratio"].pop("copy")
                row["copy_gbps"] = 8 * TOTAL / (copy_ms * 1e-3) / 1e9
                row["pct_copy"] = 100 * row["gbps"]["nerve"] / row["copy_gbps"]
                print(format_row(row, "nerve") + f" | copy {row['copy_gbps']:.1f} GB/s", flush=True)
        rows += bench.rows
    bench.rows = rows
    bench.save()
    table = "\n| threads | case | nerve GB/s | copy GB/s | nerve % of copy |\n|---|---|---|---|---|\n"
    table += "".join(f"| {r['threads']} | {r['case']} | {r['gbps']['nerve']:.1f} | {r['copy_gbps']:.1f} | "
                     f"{r['pct_copy']:.0f}% |\n" for r in rows)
    load = os.getloadavg()
    table += f"\nload average after the run: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} ({os.cpu_count()} CPUs)\n"
    write_atomic(RESULTS / "optim.md", (RESULTS / "optim.md").read_text() + table)
    print(f"load average after the run {load}")
    for r in rows:
        worst = min(r["ratio"].values())
        flag = "" if r["threads"] != 2 or worst >= 1.0 else "  <- below the bar (1.0x torch at 2 threads)"
        print(f"{r['label']:>9} {r['case']:<30} nerve {r['gbps']['nerve']:5.1f} GB/s ({r['pct_copy']:3.0f}% of copy), "
              f"slowest peer ratio {worst:.2f}x{flag}")


if __name__ == "__main__":
    main()
