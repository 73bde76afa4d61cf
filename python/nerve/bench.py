"""bench.py — `nerve bench`: runs the benchmarks of a source checkout (benchmarks/bench_*.py, each nerve vs
torch, interleaved, medians; results in benchmarks/results/) and prints their tables. Installed from a
wheel, without the benchmarks folder, it runs a small packaged subset in-process instead: GEMM, a 3x3
convolution and an MLP training step, nerve against torch (when installed) and numpy.
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path


def add_arguments(p) -> None:
    p.add_argument("names", nargs="*", help="benchmarks to run, e.g. gemm conv train_step (default: all)")
    p.add_argument("--dir", default=None, help="the benchmarks folder (default: the checkout's benchmarks/)")
    p.add_argument("--quick", action="store_true", help="fewer repeats and cases")
    p.add_argument("--threads", type=int, nargs="+", default=None, help="thread counts (default: 1 2)")
    p.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    p.add_argument("--packaged", action="store_true", help="run the packaged subset even in a checkout")


def find_dir(explicit=None):
    if explicit:
        return Path(explicit)
    here = Path(__file__).resolve().parent
    for cand in (here.parent.parent / "benchmarks", Path.cwd() / "benchmarks"):
        if (cand / "common.py").exists():
            return cand
    return None


def run(args) -> int:
    folder = None if args.packaged else find_dir(args.dir)
    if folder is None:
        if args.dir:
            print(f"[bench] no benchmarks in {args.dir}", file=sys.stderr)
            return 2
        return packaged(args)
    scripts = {p.stem[len("bench_"):]: p for p in sorted(folder.glob("bench_*.py"))}
    if args.list:
        for name, p in scripts.items():
            doc = p.read_text().split('"""')[1].strip().splitlines()[0] if '"""' in p.read_text() else ""
            print(f"{name:16s} {doc}")
        return 0
    # default: every benchmark once (bench_kernels.py only re-runs the family scripts and summarises them)
    names = args.names or [n for n in scripts if n != "kernels"]
    unknown = [n for n in names if n not in scripts]
    if unknown:
        print(f"[bench] unknown benchmark(s) {unknown}; available: {sorted(scripts)}", file=sys.stderr)
        return 2
    env = dict(os.environ)
    pkg_parent = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = pkg_parent + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    failed = []
    for name in names:
        cmd = [sys.executable, str(scripts[name])]
        if args.quick:
            cmd.append("--quick")
        if args.threads:
            cmd += ["--threads", *map(str, args.threads)]
        print(f"\n== {name}: {' '.join(cmd[1:])}  (load average {os.getloadavg()[0]:.1f})", flush=True)
        rc = subprocess.call(cmd, env=env, cwd=str(folder.parent))
        table = folder / "results" / f"{name}.md"
        if rc != 0:
            failed.append(name)
        elif table.exists():
            print(f"\n{table}:\n{table.read_text()}")
    if failed:
        print(f"[bench] failed: {failed}", file=sys.stderr)
        return 1
    return 0


def _time(fns, repeat, min_time=0.02):
    """Interleaved medians of seconds per call (the same rule as benchmarks/common.py)."""
    inner = {}
    for name, fn in fns.items():
        fn()
        t0 = time.perf_counter()
        fn()
        inner[name] = max(1, int(min_time / max(time.perf_counter() - t0, 1e-7)))
    times = {n: [] for n in fns}
    for r in range(repeat):
        order = list(fns.items())[::(-1 if r % 2 else 1)]
        for name, fn in order:
            t0 = time.perf_counter()
            for _ in range(inner[name]):
                fn()
            times[name].append((time.perf_counter() - t0) / inner[name])
    return {n: statistics.median(v) for n, v in times.items()}


def _cases():
    import numpy as np
    import nerve
    import nerve.nn.functional as F
    try:
        import torch
    except ImportError:
        torch = None
    rng = np.random.default_rng(0)
    a = rng.standard_normal((512, 512), np.float32)
    b = rng.standard_normal((512, 512), np.float32)
    na, nb = nerve.from_numpy(a), nerve.from_numpy(b)
    gemm = {"nerve": lambda: na @ nb, "numpy": lambda: a @ b}
    if torch is not None:
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        gemm["torch"] = lambda: ta @ tb
    yield "gemm 512x512x512", gemm

    x = rng.standard_normal((64, 32, 28, 28), np.float32)
    w = (rng.standard_normal((64, 32, 3, 3), np.float32) * 0.1).astype(np.float32)
    nx, nw = nerve.from_numpy(x), nerve.from_numpy(w)

    def conv_nerve():
        with nerve.no_grad():
            F.conv2d(nx, nw, padding=1)
    conv = {"nerve": conv_nerve}
    if torch is not None:
        tx, tw = torch.from_numpy(x), torch.from_numpy(w)

        def conv_torch():
            with torch.no_grad():
                torch.nn.functional.conv2d(tx, tw, padding=1)
        conv["torch"] = conv_torch
    yield "conv2d fwd N64 C32 28x28 -> 64, 3x3", conv

    from .examples.models import mlp_benchmark
    xb = rng.standard_normal((128, 784), np.float32)
    yb = rng.integers(0, 10, 128)
    model = mlp_benchmark()
    opt = nerve.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = nerve.nn.CrossEntropyLoss()
    nxb, nyb = nerve.from_numpy(xb), nerve.from_numpy(yb)

    def step_nerve():
        opt.zero_grad()
        loss_fn(model(nxb), nyb).backward()
        opt.step()
    step = {"nerve": step_nerve}
    if torch is not None:
        tm = mlp_benchmark(torch.nn)
        topt = torch.optim.SGD(tm.parameters(), lr=0.01, momentum=0.9)
        tl = torch.nn.CrossEntropyLoss()
        txb, tyb = torch.from_numpy(xb), torch.from_numpy(yb)

        def step_torch():
            topt.zero_grad()
            tl(tm(txb), tyb).backward()
            topt.step()
        step["torch"] = step_torch
    yield "train step MLP 784-512-256-10, batch 128", step


def packaged(args) -> int:
    import nerve
    repeat = 5 if args.quick else 15
    print(f"packaged benchmark subset (no benchmarks/ folder found); load average {os.getloadavg()[0]:.1f}")
    rows = []
    for threads in args.threads or [1, 2]:
        nerve.set_num_threads(threads)
        try:
            import torch
            torch.set_num_threads(threads)
        except ImportError:
            pass
        for name, fns in _cases():
            med = _time(fns, repeat)
            rows.append((threads, name, med))
    peers = sorted({p for _, _, m in rows for p in m if p != "nerve"})
    head = ["threads", "case", "nerve ms"] + [f"{p} ms" for p in peers] + [f"speedup vs {p}" for p in peers]
    print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    for threads, name, m in rows:
        cells = [str(threads), name, f"{m['nerve'] * 1e3:.4g}"]
        cells += [f"{m[p] * 1e3:.4g}" if p in m else "" for p in peers]
        cells += [f"{m[p] / m['nerve']:.2f}x" if p in m else "" for p in peers]
        print("| " + " | ".join(cells) + " |")
    return 0
