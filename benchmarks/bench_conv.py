"""bench_conv.py — convolution and pooling, nerve vs torch (oneDNN), forward and forward+backward.

    python benchmarks/bench_conv.py [--threads 1 2] [--repeat 15] [--quick] [--memory] [--cpu-time]
    python benchmarks/bench_conv.py --device cuda [--quick]   # nerve's CUDA kernels vs torch.cuda (cuDNN)

Both run through their Python APIs with autograd (nerve.nn.functional vs torch.nn.functional) in
one process, interleaved, medians. forward+backward computes the input, weight and bias gradients
(pools: the input gradient). GFLOP/s counts the direct algorithm's multiply-adds: forward
2*N*K*OH*OW*(C/groups)*R*S, forward+backward three times that. --memory also reports each
library's peak resident memory growth for one forward+backward of every conv case (subprocesses).

Bar (issue 5): forward and forward+backward >= 1.0x torch on the five 3x3 shapes, at 1 and 2 threads.

--device cuda runs the same cases on the GPU (cupy arrays; every call synchronized before the clock
stops) against torch.cuda with cuDNN when torch has CUDA, and writes results/conv_cuda.{json,md}
with the GPU's name. Bar (issue 8): >= 0.8x cuDNN. Without a usable GPU it exits with a message.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from common import Bench, RESULTS, parse_args, write_atomic  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

import nerve  # noqa: E402
import nerve.nn.functional as F  # noqa: E402



def peak_gflops(threads):
    """The machine's float32 FMA roof for `threads` threads, as nerve's probe measures it (best of 3)."""
    return max(nerve._C.cpu.fma_peak_gflops(threads) for _ in range(3))


# (name, N, C, H, K, kernel, stride, padding, groups); the first five carry the bar.
CONVS = [
    ("N64 C1 28² → 32", 64, 1, 28, 32, 3, 1, 1, 1),
    ("N64 C32 28² → 64", 64, 32, 28, 64, 3, 1, 1, 1),
    ("N32 C64 56² → 64", 32, 64, 56, 64, 3, 1, 1, 1),
    ("N32 C3 32² → 64", 32, 3, 32, 64, 3, 1, 1, 1),
    ("N16 C256 14² → 256", 16, 256, 14, 256, 3, 1, 1, 1),
    ("stride 2: N32 C64 56² → 128", 32, 64, 56, 128, 3, 2, 1, 1),
    ("1x1: N32 C64 56² → 256", 32, 64, 56, 256, 1, 1, 0, 1),
    ("depthwise: N32 C128 56²", 32, 128, 56, 128, 3, 1, 1, 128),
]

POOL_SHAPE = (128, 32, 28, 28)
POOLS = [
    ("max_pool2d 2x2", lambda f, x: f.max_pool2d(x, 2)),
    ("max_pool2d 3x3 s2 p1", lambda f, x: f.max_pool2d(x, 3, 2, 1)),
    ("avg_pool2d 2x2", lambda f, x: f.avg_pool2d(x, 2)),
    ("avg_pool2d 3x3 s1 p1", lambda f, x: f.avg_pool2d(x, 3, 1, 1)),
    ("adaptive_avg_pool2d 1", lambda f, x: f.adaptive_avg_pool2d(x, 1)),
    ("adaptive_max_pool2d 7", lambda f, x: f.adaptive_max_pool2d(x, 7)),
]


def conv_arrays(N, C, H, K, k, stride, pad, groups, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, C, H, H), np.float32)
    w = (rng.standard_normal((K, C // groups, k, k), np.float32) * 0.1).astype(np.float32)
    b = rng.standard_normal(K, np.float32)
    OH = (H + 2 * pad - k) // stride + 1
    g = rng.standard_normal((N, K, OH, OH), np.float32)
    return x, w, b, g


def contenders(fwd_only, x, w, b, g, stride, pad, groups):
    """{'nerve': fn, 'torch': fn} for a forward (no graph) or a forward+backward."""
    kw = dict(stride=stride, padding=pad, groups=groups)
    if fwd_only:
        nx, nw, nb = (nerve.from_numpy(a) for a in (x, w, b))
        tx, tw, tb = (torch.from_numpy(a) for a in (x, w, b))

        def run_nerve():
            with nerve.no_grad():
                F.conv2d(nx, nw, nb, **kw)

        def run_torch():
            with torch.no_grad():
                torch.nn.functional.conv2d(tx, tw, tb, **kw)
        return {"nerve": run_nerve, "torch": run_torch}
    nx, nw, nb = (nerve.from_numpy(a).requires_grad_(True) for a in (x, w, b))
    tx, tw, tb = (torch.from_numpy(a.copy()).requires_grad_(True) for a in (x, w, b))
    ng, tg = nerve.from_numpy(g), torch.from_numpy(g)

    def run_nerve():
        for t in (nx, nw, nb):
            t.grad = None
        F.conv2d(nx, nw, nb, **kw).backward(ng)

    def run_torch():
        for t in (tx, tw, tb):
            t.grad = None
        torch.nn.functional.conv2d(tx, tw, tb, **kw).backward(tg)
    return {"nerve": run_nerve, "torch": run_torch}


def pool_contenders(fwd_only, fn, x):
    if fwd_only:
        nx, tx = nerve.from_numpy(x), torch.from_numpy(x)

        def run_nerve():
            with nerve.no_grad():
                fn(F, nx)

        def run_torch():
            with torch.no_grad():
                fn(torch.nn.functional, tx)
        return {"nerve": run_nerve, "torch": run_torch}
    nx, tx = nerve.from_numpy(x).requires_grad_(True), torch.from_numpy(x.copy()).requires_grad_(True)
    ny, ty = fn(F, nx), fn(torch.nn.functional, tx)
    ng, tg = nerve.ones(*ny.shape), torch.ones(*ty.shape)

    def run_nerve():
        nx.grad = None
        fn(F, nx).backward(ng)

    def run_torch():
        tx.grad = None
        fn(torch.nn.functional, tx).backward(tg)
    return {"nerve": run_nerve, "torch": run_torch}


def peak_rss_growth(lib, case):
    """Peak RSS growth (MB) of one forward+backward of `case` in a fresh process running only `lib`.

    Reads VmHWM from /proc: getrusage's ru_maxrss survives exec, so a child of this (large) process
    would report the parent's peak."""
    code = f"""
import sys, numpy as np
sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r})
from bench_conv import CONVS, conv_arrays, contenders
import nerve, torch
def hwm():
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmHWM"))
nerve.set_num_threads(1); torch.set_num_threads(1)
name, N, C, H, K, k, s, p, g = CONVS[{case}]
arrays = conv_arrays(N, C, H, K, k, s, p, g)
fns = contenders(False, *arrays, s, p, g)
before = hwm()
fns[{lib!r}]()
print((hwm() - before) / 1024)
"""
    return float(subprocess.check_output([sys.executable, "-c", code], text=True).strip().splitlines()[-1])


def cuda_contenders(fwd_only, run, x, w, b, g, stride, pad, groups, torch_cuda):
    """Like contenders(), on the GPU: nerve's CUDA kernels, and torch.cuda (cuDNN) when present."""
    kw = dict(stride=stride, padding=pad, groups=groups)
    nx, nw, nb = (nerve.tensor(a, device="cuda", requires_grad=not fwd_only) for a in (x, w, b))
    fns = {}
    if fwd_only:
        def run_nerve():
            with nerve.no_grad():
                run(F, nx, nw, nb, kw)
    else:
        ng = nerve.tensor(g, device="cuda")

        def run_nerve():
            for t in (nx, nw, nb):
                t.grad = None
            run(F, nx, nw, nb, kw).backward(ng)
    fns["nerve"] = run_nerve
    if torch_cuda:
        tx, tw, tb = (torch.tensor(a, device="cuda", requires_grad=not fwd_only) for a in (x, w, b))
        if fwd_only:
            def run_torch():
                with torch.no_grad():
                    run(torch.nn.functional, tx, tw, tb, kw)
        else:
            tg = torch.tensor(g, device="cuda")

            def run_torch():
                for t in (tx, tw, tb):
                    t.grad = None
                run(torch.nn.functional, tx, tw, tb, kw).backward(tg)
        fns["torch"] = run_torch
    return fns


def main_cuda(args):
    """--device cuda: conv and pool cases on the GPU; results/conv_cuda.{json,md}."""
    from nerve.backend import cuda as backend_cuda
    try:
        backend_cuda.require("bench_conv --device cuda")
    except RuntimeError as e:
        raise SystemExit(str(e))
    cp = backend_cuda.cupy()
    torch_cuda = torch.cuda.is_available()
    if torch_cuda:
        torch.backends.cudnn.benchmark = True  # cuDNN at its best: the algorithm tuned per shape

    def sync():
        cp.cuda.get_current_stream().synchronize()
        if torch_cuda:
            torch.cuda.synchronize()

    gpu = nerve.cuda.get_device_name()
    peers = f"torch {torch.__version__} cuDNN {torch.backends.cudnn.version()}" if torch_cuda else \
        "none (torch has no CUDA here: nerve alone)"
    print(f"GPU: {gpu}; peers: {peers}", flush=True)
    bench = Bench("conv_cuda", repeat=args.repeat, sync=sync, label=gpu)
    conv = lambda f, x, w, b, kw: f.conv2d(x, w, b, **kw)  # noqa: E731
    for i, (name, N, C, H, K, k, s, p, g) in enumerate(CONVS[:5] if args.quick else CONVS):
        arrays = conv_arrays(N, C, H, K, k, s, p, g)
        OH = (H + 2 * p - k) // s + 1
        flops = 2.0 * N * K * OH * OH * (C // g) * k * k
        for fwd_only in (True, False):
            label = "fwd" if fwd_only else "fwd+bwd"
            with bench.case(f"conv {label} {name}", flops=flops * (1 if fwd_only else 3), bar=i < 5) as c:
                for lib, fn in cuda_contenders(fwd_only, conv, *arrays, s, p, g, torch_cuda).items():
                    c.run(lib, fn)
    x = np.random.default_rng(0).standard_normal(POOL_SHAPE, np.float32)
    for name, fn in POOLS:
        for fwd_only in (True, False):
            label = "fwd" if fwd_only else "fwd+bwd"
            nx = nerve.tensor(x, device="cuda", requires_grad=not fwd_only)
            ng = nerve.ones(*fn(F, nx).shape, device="cuda")
            fns = {"nerve": (lambda: fn(F, nx)) if fwd_only else (lambda: fn(F, nx).backward(ng))}
            if torch_cuda:
                tx = torch.tensor(x, device="cuda", requires_grad=not fwd_only)
                tg = torch.ones(*fn(torch.nn.functional, tx).shape, device="cuda")
                fns["torch"] = (lambda: fn(torch.nn.functional, tx)) if fwd_only else \
                    (lambda: fn(torch.nn.functional, tx).backward(tg))
            with bench.case(f"{name} {label} {POOL_SHAPE}", bytes=x.nbytes * (1 if fwd_only else 2)) as c:
                for lib, f in fns.items():
                    c.run(lib, f)
    path = bench.save()
    payload = json.loads(path.read_text())
    payload.update(gpu=gpu, peers=peers, load_average=os.getloadavg())
    write_atomic(path, json.dumps(payload, indent=1))
    write_atomic(RESULTS / "conv_cuda.md", f"Convolution and pooling on {gpu} (float32; peers: {peers})\n\n"
                 + (RESULTS / "conv_cuda.md").read_text())
    # ratio = torch time / nerve time, so >= 0.8 means at least 0.8x cuDNN's speed
    for r in bench.rows:
        if r.get("bar") and "torch" in r.get("ratio", {}) and r["ratio"]["torch"] < 0.8:
            print(f"below the bar: {r['case']}: {r['ratio']['torch']:.2f}x cuDNN")


def main():
    args = parse_args(__doc__.splitlines()[0], lambda p: (p.add_argument(
        "--memory", action="store_true", help="also measure peak RSS growth per conv case (subprocesses)"),
        p.add_argument("--cpu-time", action="store_true",
                       help="time 1-thread cases by the calling thread's CPU time (a shared, busy machine)")))
    if args.device == "cuda":
        return main_cuda(args)
    convs = CONVS[:5] if args.quick else CONVS
    rows, loads = [], [os.getloadavg()[0]]
    for threads in args.threads:
        cpu = args.cpu_time and threads == 1  # one thread: every contender runs on this one
        bench = Bench("conv", threads=threads, repeat=args.repeat, peak_gflops=peak_gflops(threads),
                      clock=time.thread_time if cpu else None, label="1 thread (CPU time)" if cpu else None)
        for i, (name, N, C, H, K, k, s, p, g) in enumerate(convs):
            arrays = conv_arrays(N, C, H, K, k, s, p, g)
            OH = (H + 2 * p - k) // s + 1
            flops = 2.0 * N * K * OH * OH * (C // g) * k * k
            for fwd_only in (True, False):
                label = "fwd" if fwd_only else "fwd+bwd"
                with bench.case(f"conv {label} {name}", flops=flops * (1 if fwd_only else 3), bar=i < 5) as c:
                    for lib, fn in contenders(fwd_only, *arrays, s, p, g).items():
                        c.run(lib, fn)
        x = np.random.default_rng(0).standard_normal(POOL_SHAPE, np.float32)
        for name, fn in POOLS:
            for fwd_only in (True, False):
                label = "fwd" if fwd_only else "fwd+bwd"
                with bench.case(f"{name} {label} {POOL_SHAPE}", bytes=x.nbytes * (1 if fwd_only else 2)) as c:
                    for lib, f in pool_contenders(fwd_only, fn, x).items():
                        c.run(lib, f)
        rows += bench.rows
        loads.append(os.getloadavg()[0])
    bench.rows = rows
    path = bench.save()
    payload = json.loads(path.read_text())
    payload["load_average_1min"] = loads
    write_atomic(path, json.dumps(payload, indent=1))
    write_atomic(RESULTS / "conv.md", (RESULTS / "conv.md").read_text() +
                 f"\n1-minute load average during the run: {min(loads):.1f} to {max(loads):.1f} ({os.cpu_count()} CPUs)."
                 + (" 1-thread times are the calling thread's CPU time (--cpu-time), 2-thread times wall time.\n"
                    if args.cpu_time else " Times are wall time.\n"))
    if args.memory:
        mem = []
        for i, case in enumerate(convs):
            m = {lib: peak_rss_growth(lib, i) for lib in ("nerve", "torch")}
            print(f"peak RSS growth, fwd+bwd {case[0]}: nerve {m['nerve']:.0f} MB, torch {m['torch']:.0f} MB")
            mem.append({"case": case[0], "peak_rss_growth_mb": m})
        payload = json.loads(path.read_text())
        payload["memory"] = mem
        write_atomic(path, json.dumps(payload, indent=1))
        table = "\n| fwd+bwd case (1 thread) | nerve peak RSS growth MB | torch peak RSS growth MB |\n|---|---|---|\n"
        table += "".join(f"| {r['case']} | {r['peak_rss_growth_mb']['nerve']:.0f} | "
                         f"{r['peak_rss_growth_mb']['torch']:.0f} |\n" for r in mem)
        write_atomic(RESULTS / "conv.md", (RESULTS / "conv.md").read_text() + table)
    fails = [r for r in rows if r.get("bar") and r["ratio"]["torch"] < 1.0]
    for r in fails:
        print(f"below the bar: {r['label']} {r['case']}: {r['ratio']['torch']:.2f}x torch")


if __name__ == "__main__":
    main()
