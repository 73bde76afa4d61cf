"""bench_activation.py — activations, nerve vs torch (and numpy where it has the op), forward and forward+backward.

    PYTHONPATH=python python benchmarks/bench_activation.py [--threads 1 2] [--repeat 15] [--quick]

Every op runs through its public API with autograd (nerve.nn.functional vs torch.nn.functional),
in one process, interleaved, medians: forward under no_grad (the output is allocated, as in a
model), forward+backward as op(x).backward(g) on a leaf that requires grad. Sizes: 16M values
(memory-bound, past every cache) and 256K (1 MiB: L2-resident). GB/s count the bytes an op must
move: forward reads x and writes y (8 bytes a value); forward+backward adds reading dy and the
saved tensor and writing dx (20 bytes a value).

The roof: numpy copying 16M floats into a preallocated array (np.copyto), and each kernel writing
into a preallocated out (nerve._C.cpu.activation_forward / _backward); "% copy" is the kernel's
GB/s over the copy's. The bar (issue 4): every op >= 1.0x torch at 2 threads forward and
forward+backward, geometric mean >= 1.2x, memory-bound kernels >= 80% of copy bandwidth at 16M.

Fairness: torch and nerve share one libgomp team, which spins after each parallel region; the
script re-executes itself with GOMP_SPINCOUNT=10000 (~1 ms of spinning) and pauses 5 ms before each
contender's batch (--settle), as bench_gemm.py does. Results: benchmarks/results/activation.{json,md}.
"""
from __future__ import annotations

import os
import sys

_SET = {"GOMP_SPINCOUNT": "10000", "OPENBLAS_THREAD_TIMEOUT": "20"}


def reexec_clean(script: str) -> None:
    """Re-executes the benchmark with the thread pools' spin times shortened (before numpy loads)."""
    if "--raw-env" in sys.argv or os.environ.get("NERVE_BENCH_CLEAN") == "1":
        return
    env = dict(os.environ)
    for k, v in _SET.items():
        env.setdefault(k, v)
    env["NERVE_BENCH_CLEAN"] = "1"
    os.execve(sys.executable, [sys.executable, script] + sys.argv[1:], env)


if __name__ == "__main__":
    reexec_clean(os.path.abspath(__file__))

import json  # noqa: E402
import math  # noqa: E402
import time  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
from common import Bench, RESULTS, machine_info, parse_args, write_atomic  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as TF  # noqa: E402

import nerve  # noqa: E402
import nerve.nn.functional as F  # noqa: E402
from nerve import _C  # noqa: E402

SIZES = [("16M", 1 << 24), ("256K", 1 << 18)]

# name, nerve fn, torch fn, numpy fn (forward) or None, kernel op, a, b, backward from the output
OPS = [
    ("relu", F.relu, TF.relu, lambda x: np.maximum(x, 0), "relu", 0.0, 0.0, True),
    ("leaky_relu", F.leaky_relu, TF.leaky_relu, lambda x: np.where(x > 0, x, x * np.float32(0.01)), "leaky_relu",
     0.01, 0.0, True),
    ("elu", F.elu, TF.elu, None, "elu", 1.0, 0.0, True),
    ("gelu", F.gelu, TF.gelu, None, "gelu", 0.0, 0.0, False),
    ("gelu tanh", lambda x: F.gelu(x, approximate="tanh"), lambda x: TF.gelu(x, approximate="tanh"), None,
     "gelu_tanh", 0.0, 0.0, False),
    ("silu", F.silu, TF.silu, None, "silu", 0.0, 0.0, False),
    ("sigmoid", F.sigmoid, torch.sigmoid, lambda x: 1 / (1 + np.exp(-x)), "sigmoid", 0.0, 0.0, True),
    ("tanh", F.tanh, torch.tanh, np.tanh, "tanh", 0.0, 0.0, True),
    ("softplus", F.softplus, TF.softplus, None, "softplus", 1.0, 20.0, False),
    ("hardtanh", F.hardtanh, TF.hardtanh, lambda x: np.clip(x, -1, 1), "hardtanh", -1.0, 1.0, True),
]
QUICK = {"relu", "gelu", "sigmoid"}


def contenders(fwd_only, nf, tf, npf, arrays, grad=None):
    """{'nerve': fn, 'torch': fn[, 'numpy': fn]} over the same input arrays (a tuple)."""
    if fwd_only:
        nx = [nerve.from_numpy(a) if isinstance(a, np.ndarray) else a for a in arrays]
        tx = [torch.from_numpy(a) if isinstance(a, np.ndarray) else a for a in arrays]

        def run_nerve():
            with nerve.no_grad():
                nf(*nx)

        def run_torch():
            with torch.no_grad():
                tf(*tx)
        fns = {"nerve": run_nerve, "torch": run_torch}
        if npf is not None:
            fns["numpy"] = lambda: npf(*arrays)
        return fns
    floats = [isinstance(a, np.ndarray) and a.dtype.kind == "f" for a in arrays]
    nx = [nerve.from_numpy(a).requires_grad_(f) if isinstance(a, np.ndarray) else a for a, f in zip(arrays, floats)]
    tx = [torch.from_numpy(a.copy()).requires_grad_(f) if isinstance(a, np.ndarray) else a
          for a, f in zip(arrays, floats)]
    ng = None if grad is None else nerve.from_numpy(grad)
    tg = None if grad is None else torch.from_numpy(grad)
    leaf_n = [t for t, f in zip(nx, floats) if f][:1]
    leaf_t = [t for t, f in zip(tx, floats) if f][:1]
    for t in nx[1:]:
        if isinstance(t, nerve.Tensor):
            t.requires_grad_(False)
    for t in tx[1:]:
        if isinstance(t, torch.Tensor):
            t.requires_grad_(False)

    def run_nerve():
        leaf_n[0].grad = None
        nf(*nx).backward(ng)

    def run_torch():
        leaf_t[0].grad = None
        tf(*tx).backward(tg)
    return {"nerve": run_nerve, "torch": run_torch}


def copy_roof(bench, n, label="copy 16M (np.copyto into out)"):
    """GB/s of numpy copying n floats into a preallocated array: the memory roof."""
    x = np.random.default_rng(0).standard_normal(n).astype(np.float32)
    out = np.empty_like(x)
    with bench.case(label, bytes=8.0 * n, kind="roof") as c:
        c.run("nerve", lambda: np.copyto(out, x))  # the lone contender is filed under the reference name
    return bench.rows[-1]["gbps"]["nerve"]


def settle_fn(args):
    return (lambda: time.sleep(args.settle)) if args.settle > 0 else None


def extra_args(p):
    p.add_argument("--settle", type=float, default=0.005, help="untimed pause before each batch (s)")
    p.add_argument("--raw-env", action="store_true", help="keep GOMP_SPINCOUNT as it is")


def summarize(rows, threads=2):
    """Geometric mean and minimum of nerve's speedup over torch at `threads` (op cases only)."""
    ratios = [r["ratio"]["torch"] for r in rows if r.get("threads") == threads and "torch" in r.get("ratio", {})]
    if not ratios:
        return None
    gm = math.exp(sum(math.log(v) for v in ratios) / len(ratios))
    return {"threads": threads, "cases": len(ratios), "geomean_vs_torch": gm, "min_vs_torch": min(ratios)}


def markdown(title, rows, summaries, loads) -> str:
    lines = [title, "", f"load average during the run (1 min): {', '.join(f'{v:.1f}' for v in loads)}", "",
             "| threads | case | nerve ms | nerve GB/s | torch ms | numpy ms | speedup vs torch | speedup vs numpy "
             "| % copy |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ms, g, ratio = r["ms"], r.get("gbps", {}), r.get("ratio", {})
        cells = [str(r["threads"]), r["case"], f"{ms['nerve']:.4g}", f"{g['nerve']:.1f}" if "nerve" in g else "",
                 f"{ms['torch']:.4g}" if "torch" in ms else "", f"{ms['numpy']:.4g}" if "numpy" in ms else "",
                 f"{ratio['torch']:.2f}x" if "torch" in ratio else "",
                 f"{ratio['numpy']:.2f}x" if "numpy" in ratio else "",
                 f"{r['pct_copy']:.0f}%" if "pct_copy" in r else ""]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    for s in summaries:
        if s:
            lines.append(f"{s['threads']} threads: geometric mean {s['geomean_vs_torch']:.2f}x torch over "
                         f"{s['cases']} cases, lowest {s['min_vs_torch']:.2f}x")
    return "\n".join(lines) + "\n"


def finish(stem, title, rows, loads, quick):
    """Saves results/<stem>.json and .md (with the summaries) and prints the bar's verdict."""
    summaries = [summarize(rows, t) for t in sorted({r["threads"] for r in rows})]
    if quick:  # same file names (bench_kernels.py reads them), marked as a smoke run
        title += " — QUICK RUN (--quick: fewer ops and repeats)"
    payload = {"benchmark": stem, "quick": quick, "machine": machine_info(), "load_average_1min": loads,
               "env": {k: os.environ.get(k) for k in _SET}, "summary": [s for s in summaries if s], "rows": rows}
    RESULTS.mkdir(parents=True, exist_ok=True)
    write_atomic(RESULTS / f"{stem}.json", json.dumps(payload, indent=1))
    write_atomic(RESULTS / f"{stem}.md", markdown(title, rows, summaries, loads))
    for s in summaries:
        if s:
            print(f"{s['threads']} threads: geomean {s['geomean_vs_torch']:.2f}x torch, min {s['min_vs_torch']:.2f}x "
                  f"({s['cases']} cases)")
    for r in rows:
        if r.get("threads") == 2 and r.get("ratio", {}).get("torch", 9) < 1.0:
            print(f"below the bar: {r['label']} {r['case']}: {r['ratio']['torch']:.2f}x torch")
        if "pct_copy" in r and r["pct_copy"] < 80 and r.get("threads") == 2:
            print(f"below the copy roof bar: {r['label']} {r['case']}: {r['pct_copy']:.0f}% of copy")
    print(f"wrote {RESULTS / (stem + '.md')}")


def kernel_roof_cases(bench, n, roof_gbps, ops):
    """Each kernel into a preallocated out at n values, as a fraction of the copy's GB/s."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal(n).astype(np.float32)
    g = rng.standard_normal(n).astype(np.float32)
    y, dx = np.empty_like(x), np.empty_like(x)
    cpu = _C.cpu
    for name, _, _, _, kop, a, b, fo in ops:
        cpu.activation_forward(y, x, kop, a, b, kop)
        s = y if fo else x
        with bench.case(f"{name} kernel fwd, out= {n >> 20}M", bytes=8.0 * n, kind="roof") as c:
            c.run("nerve", lambda: cpu.activation_forward(y, x, kop, a, b, kop))
        bench.rows[-1]["pct_copy"] = 100 * bench.rows[-1]["gbps"]["nerve"] / roof_gbps
        with bench.case(f"{name} kernel bwd, out= {n >> 20}M", bytes=12.0 * n, kind="roof") as c:
            c.run("nerve", lambda: cpu.activation_backward(dx, g, s, kop, a, b, fo, kop))
        bench.rows[-1]["pct_copy"] = 100 * bench.rows[-1]["gbps"]["nerve"] / roof_gbps


def main():
    args = parse_args(__doc__.splitlines()[0], extra_args)
    ops = [o for o in OPS if o[0] in QUICK] if args.quick else OPS
    rows, loads = [], [os.getloadavg()[0]]
    print(f"nerve isa {_C.isa()}, activation backend {_C.cpu.activation_backend()}; load {os.getloadavg()}",
          flush=True)
    for threads in args.threads:
        bench = Bench("activation", threads=threads, repeat=args.repeat, settle=settle_fn(args))
        roof = copy_roof(bench, 1 << 24)
        for label, n in SIZES:
            rng = np.random.default_rng(0)
            x = rng.standard_normal(n).astype(np.float32)
            g = rng.standard_normal(n).astype(np.float32)
            for name, nf, tf, npf, *_ in ops:
                for fwd_only in (True, False):
                    kind = "fwd" if fwd_only else "fwd+bwd"
                    with bench.case(f"{name} {kind} {label}", bytes=(8.0 if fwd_only else 20.0) * n) as c:
                        for lib, fn in contenders(fwd_only, nf, tf, npf, (x,), g).items():
                            c.run(lib, fn)
        kernel_roof_cases(bench, 1 << 24, roof, ops)
        rows += bench.rows
        loads.append(os.getloadavg()[0])
        print(f"--- {threads} thread(s) done; load {os.getloadavg()}", flush=True)
    finish("activation", "Activations (float32), nerve vs torch and numpy", rows, loads, args.quick)


if __name__ == "__main__":
    main()
