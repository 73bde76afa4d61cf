"""bench_gemm.py — nerve's SGEMM against numpy (OpenBLAS) and torch (MKL), interleaved in one process.

    PYTHONPATH=python python benchmarks/bench_gemm.py            # 1 and 2 threads, every shape
    PYTHONPATH=python python benchmarks/bench_gemm.py --quick    # a smoke run
    PYTHONPATH=python python benchmarks/bench_gemm.py --cpu-time # 1 thread timed in CPU time (busy machine)
    PYTHONPATH=python python benchmarks/bench_gemm.py --device cuda [--quick]   # vs cuBLAS (cupy), torch.cuda

Shapes are M x K x N (C is M x N); TN means A is stored transposed (A = stored.T), NT that B is.
Each contender writes into a preallocated out array (nerve: _C.cpu.gemm(out, a, b); numpy:
np.matmul(a, b, out=); torch: torch.mm / torch.bmm(out=)) on the same memory. Reported: GFLOP/s,
% of the FMA peak that nerve's own probe measures on this machine, and nerve's speed relative to
the faster peer (> 1 means nerve is faster). Results: benchmarks/results/gemm.{json,md}. The roof
is the best of several probes (gemm_peak_avx512.cpp: register-only FMA chains and the micro-kernel's
own load/broadcast/FMA mix, timed in thread CPU time).

Fairness, handled before numpy is imported (the script re-executes itself with a clean environment):
- OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE, if set, are removed: they pin OpenBLAS to a slower kernel.
  The OpenBLAS kernel that ran is printed (threadpoolctl).
- Three thread pools share two cores here: OpenBLAS's workers and the libgomp team that torch and
  nerve share. Each keeps spinning after a call (OpenBLAS for 2^28 cycles, ~80 ms by default;
  libgomp for 300000 pauses, ~30 ms on this CPU), and a spinning pool halves the next contender's
  cores. So idle pools are sent to sleep sooner (OPENBLAS_THREAD_TIMEOUT=20 -> 2^20 cycles,
  ~0.3 ms; GOMP_SPINCOUNT=10000, ~1 ms) and each contender's batch starts after a short untimed
  pause (--settle, 5 ms). Back-to-back calls inside a batch are unaffected: no pool goes to sleep
  between them. Pass --raw-env to measure with the environment as it is.

--device cuda times nerve's CUDA SGEMM (_C.cuda.gemm on cupy arrays and cupy's current stream) against
cupy.matmul (cuBLAS) and torch.mm/bmm on CUDA (when torch has CUDA), each call synchronized before
the clock stops, and writes results/gemm_cuda.{json,md} with the GPU's name. Bar (issue 8): >= 0.8x
cuBLAS at 4096. Without a usable GPU it exits with a message.
"""
from __future__ import annotations

import os
import sys

_DROP = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
_SET = {"OPENBLAS_THREAD_TIMEOUT": "20", "GOMP_SPINCOUNT": "10000"}


def _reexec_clean() -> None:
    if "--raw-env" in sys.argv or os.environ.get("NERVE_BENCH_CLEAN") == "1":
        return
    if "numpy" in sys.modules:
        raise RuntimeError("bench_gemm must clean the environment before numpy is imported")
    env = {k: v for k, v in os.environ.items() if k not in _DROP}
    for k, v in _SET.items():
        env.setdefault(k, v)
    env["NERVE_BENCH_CLEAN"] = "1"
    os.execve(sys.executable, [sys.executable] + sys.argv, env)


_reexec_clean()

import json  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
try:
    from nerve import _C  # noqa: E402
except ImportError:  # running from a source checkout without PYTHONPATH
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))
    from nerve import _C  # noqa: E402
from common import RESULTS, Bench, parse_args, write_atomic  # noqa: E402

try:
    from threadpoolctl import threadpool_info, threadpool_limits
except ImportError:  # pip install threadpoolctl
    threadpool_info = threadpool_limits = None

# (label, M, K, N, A transposed, B transposed, batch)
SQUARE = [(f"{s}", s, s, s, False, False, 0) for s in (64, 128, 256, 512, 1024, 2048, 4096)]
TRAINING = [
    ("128x784x512", 128, 784, 512, False, False, 0),
    ("256x784x512", 256, 784, 512, False, False, 0),
    ("TN 784x256x512", 784, 256, 512, True, False, 0),
    ("NT 256x512x784", 256, 512, 784, False, True, 0),
    ("4096x1024x1024", 4096, 1024, 1024, False, False, 0),
    ("TN 4096x1024x1024", 4096, 1024, 1024, True, False, 0),
    ("NT 4096x1024x1024", 4096, 1024, 1024, False, True, 0),
]
BATCHED = [
    ("bmm 64 x 64x64x64", 64, 64, 64, False, False, 64),
    ("bmm 8 x 256x256x256", 256, 256, 256, False, False, 8),
]
QUICK = {"64", "256", "1024", "128x784x512", "NT 256x512x784", "bmm 64 x 64x64x64"}


def set_all_threads(n: int) -> None:
    """nerve, torch (and the libgomp team they share) and numpy's OpenBLAS, all to n threads."""
    os.environ["OMP_NUM_THREADS"] = str(n)
    _C.set_num_threads(n)
    torch.set_num_threads(n)
    if threadpool_limits is not None:
        threadpool_limits(n, user_api="blas")


def blas_report() -> str:
    parts = []
    if threadpool_info is not None:
        for p in threadpool_info():
            if p["internal_api"] == "openblas":
                parts.append(f"numpy: OpenBLAS {p.get('version')} kernel {p.get('architecture')} "
                             f"({p['num_threads']} threads)")
    else:
        parts.append("numpy: OpenBLAS kernel unknown (pip install threadpoolctl to report it)")
    mkl = torch.backends.mkl.is_available()
    parts.append(f"torch {torch.__version__}: {'MKL' if mkl else 'no MKL'}, {torch.get_num_threads()} threads")
    return "; ".join(parts)


def operands(rng, m, k, n, ta, tb, batch):
    lead = (batch,) if batch else ()
    a_store = rng.standard_normal(lead + ((k, m) if ta else (m, k)), dtype=np.float32)
    b_store = rng.standard_normal(lead + ((n, k) if tb else (k, n)), dtype=np.float32)
    t = (lambda x: np.swapaxes(x, -1, -2))
    a = t(a_store) if ta else a_store
    b = t(b_store) if tb else b_store
    return a, b


def add_case(bench: Bench, rng, label, m, k, n, ta, tb, batch):
    a, b = operands(rng, m, k, n, ta, tb, batch)
    shape = ((batch,) if batch else ()) + (m, n)
    c_nerve, c_numpy, c_torch = (np.empty(shape, np.float32) for _ in range(3))
    ta_, tb_, tc_ = torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(c_torch)
    mm = torch.bmm if batch else torch.mm
    flops = 2.0 * m * n * k * max(batch, 1)
    with bench.case(label, flops=flops) as case:
        case.run("nerve", lambda: _C.cpu.gemm(c_nerve, a, b))
        case.run("numpy", lambda: np.matmul(a, b, out=c_numpy))
        case.run("torch", lambda: mm(ta_, tb_, out=tc_))
    scale = np.abs(c_numpy).max() + 1e-30
    if not (np.abs(c_nerve - c_numpy).max() / scale < 1e-3 and np.abs(c_nerve - c_torch).max() / scale < 1e-3):
        raise AssertionError(f"{label}: nerve disagrees with numpy/torch")
    row = bench.rows[-1]
    best_peer = min(row["ms"]["numpy"], row["ms"]["torch"])
    row["vs_best_peer"] = best_peer / row["ms"]["nerve"]
    print(f"{'':>10} {'':<34} nerve / faster peer = {row['vs_best_peer']:.2f}x", flush=True)


def measure_peak(threads: int, tries: int = 4) -> float:
    set_all_threads(threads)
    best = 0.0
    for _ in range(tries):
        best = max(best, _C.cpu.fma_peak_gflops(threads))
        time.sleep(0.05)
    return best


def markdown(rows, peaks, info, loads=(), cpu_time=False) -> str:
    lines = [f"GEMM (float32) on {info}", "",
             (f"1-minute load average during the run: {min(loads):.1f} to {max(loads):.1f} "
              f"({os.cpu_count()} CPUs). " if loads else "") +
             ("1-thread times are the calling thread's CPU time (--cpu-time), 2-thread times wall time."
              if cpu_time else "Times are wall time."), "",
             "Shapes are M x K x N. GFLOP/s are medians of interleaved runs; % peak is of the FMA peak measured "
             "by nerve._C.cpu.fma_peak_gflops " + ", ".join(f"({t} thr: {p:.0f} GFLOP/s)" for t, p in peaks.items()) +
             "; the last column is nerve's speed over the faster of numpy and torch.", "",
             "| threads | shape | nerve GFLOP/s | nerve % peak | numpy GFLOP/s | torch GFLOP/s | nerve / best peer |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        g = r["gflops"]
        lines.append(f"| {r['threads']} | {r['case']} | {g['nerve']:.1f} | {r['pct_peak']['nerve']:.0f}% | "
                     f"{g['numpy']:.1f} | {g['torch']:.1f} | {r['vs_best_peer']:.2f}x |")
    return "\n".join(lines) + "\n"


def main_cuda(args, cases):
    """--device cuda: nerve's CUDA SGEMM vs cuBLAS (cupy) and torch.cuda; results/gemm_cuda.{json,md}."""
    import nerve
    from nerve.backend import cuda as backend_cuda
    try:
        backend_cuda.require("bench_gemm --device cuda")
    except RuntimeError as e:
        raise SystemExit(str(e))
    cp = backend_cuda.cupy()
    torch_cuda = torch.cuda.is_available()
    if torch_cuda:
        torch.backends.cuda.matmul.allow_tf32 = False  # FP32 against FP32

    def sync():
        cp.cuda.get_current_stream().synchronize()
        if torch_cuda:
            torch.cuda.synchronize()

    def on_gpu(x, to):  # keeps a transposed operand's strides (a view of a contiguous stored array)
        if x.flags.c_contiguous:
            return to(x)
        return to(np.ascontiguousarray(np.swapaxes(x, -1, -2))).swapaxes(-1, -2)

    gpu = nerve.cuda.get_device_name()
    peers = "cupy " + cp.__version__ + " (cuBLAS)" + (f", torch {torch.__version__}" if torch_cuda else "")
    print(f"GPU: {gpu}; peers: {peers}", flush=True)
    bench = Bench("gemm_cuda", repeat=args.repeat, sync=sync, label=gpu)
    gemm = backend_cuda.kernels().gemm  # _C.cuda.gemm on cupy's current stream, as nerve's matmul calls it
    rng = np.random.default_rng(0)
    for label, m, k, n, ta, tb, batch in cases:
        a, b = operands(rng, m, k, n, ta, tb, batch)
        shape = ((batch,) if batch else ()) + (m, n)
        da, db = on_gpu(a, cp.asarray), on_gpu(b, cp.asarray)
        c_nerve, c_cupy = cp.empty(shape, cp.float32), cp.empty(shape, cp.float32)
        fns = {"nerve": lambda: gemm(c_nerve, da, db),
               "cublas": lambda: cp.matmul(da, db, out=c_cupy)}
        if torch_cuda:
            to_torch = lambda x: torch.from_numpy(x).cuda()  # noqa: E731
            ta_, tb_ = on_gpu(a, to_torch), on_gpu(b, to_torch)
            tc_ = torch.empty(shape, device="cuda")
            mm = torch.bmm if batch else torch.mm
            fns["torch"] = lambda: mm(ta_, tb_, out=tc_)
        with bench.case(label, flops=2.0 * m * n * k * max(batch, 1), bar=label == "4096") as case:
            for name, fn in fns.items():
                case.run(name, fn)
        ref = cp.asnumpy(c_cupy)
        scale = np.abs(ref).max() + 1e-30
        if not np.abs(cp.asnumpy(c_nerve) - ref).max() / scale < 1e-3:
            raise AssertionError(f"{label}: nerve's CUDA GEMM disagrees with cuBLAS")
    stem = "gemm_cuda_quick" if args.quick else "gemm_cuda"
    path = bench.save(stem)
    payload = json.loads(path.read_text())
    payload.update(gpu=gpu, peers=peers)
    write_atomic(path, json.dumps(payload, indent=1))
    lines = [f"GEMM (float32) on {gpu}; peers: {peers}. GFLOP/s are medians of interleaved, synchronized runs; "
             "the last column is nerve's speed over cuBLAS's.", "",
             "| shape | nerve GFLOP/s | cuBLAS GFLOP/s | torch GFLOP/s | nerve / cuBLAS |", "|---|---|---|---|---|"]
    for r in bench.rows:
        g = r["gflops"]
        torch_gf = f"{g['torch']:.0f}" if "torch" in g else ""
        lines.append(f"| {r['case']} | {g['nerve']:.0f} | {g['cublas']:.0f} | {torch_gf} | "
                     f"{r['ratio']['cublas']:.2f}x |")
    write_atomic(RESULTS / f"{stem}.md", "\n".join(lines) + "\n")
    print((RESULTS / f"{stem}.md").read_text())
    for r in bench.rows:
        if r.get("bar") and r["ratio"]["cublas"] < 0.8:
            print(f"below the bar: {r['case']}: {r['ratio']['cublas']:.2f}x cuBLAS")


def main():
    args = parse_args(__doc__.splitlines()[0], extra=lambda p: (
        p.add_argument("--settle", type=float, default=0.005, help="untimed pause before each batch (s)"),
        p.add_argument("--raw-env", action="store_true", help="keep OPENBLAS_*/GOMP_* as they are"),
        p.add_argument("--shapes", nargs="*", help="only these case labels"),
        p.add_argument("--cpu-time", action="store_true",
                       help="time 1-thread cases by the calling thread's CPU time (a shared, busy machine)")))
    cases = SQUARE + TRAINING + BATCHED
    if args.quick:
        cases = [c for c in cases if c[0] in QUICK]
    if args.shapes:
        cases = [c for c in cases if c[0] in set(args.shapes)]
    if args.device == "cuda":
        return main_cuda(args, cases)
    print("env:", {k: os.environ.get(k) for k in _DROP + tuple(_SET)}, flush=True)
    print(f"nerve isa {_C.isa()}, backend {_C.cpu.gemm_backend()}", flush=True)

    settle = (lambda: time.sleep(args.settle)) if args.settle > 0 else None
    bench = Bench("gemm", repeat=args.repeat, settle=settle)
    # The roof is the best of several probes taken before and after each group of cases: a probe
    # that shares its core with another process reads low, and a low roof would flatter % peak.
    peaks = {t: measure_peak(t) for t in args.threads}
    loads = [os.getloadavg()[0]]
    rng = np.random.default_rng(0)
    for t in args.threads:
        set_all_threads(t)
        info = blas_report()
        print(f"--- {t} thread(s): FMA peak {peaks[t]:.1f} GFLOP/s so far; load {os.getloadavg()[0]:.1f}; {info}",
              flush=True)
        bench.threads, bench.peak = t, peaks[t]
        bench.label = f"{t} thread{'s' if t != 1 else ''}"
        # With one thread every contender runs on this thread, so its CPU time is the op's time
        # without the waits for a core that other processes cause.
        bench.clock = time.thread_time if args.cpu_time and t == 1 else time.perf_counter
        if bench.clock is time.thread_time:
            bench.label += " (CPU time)"
        first = len(bench.rows)
        for label, m, k, n, ta, tb, batch in cases:
            big = 2.0 * m * n * k * max(batch, 1) > 5e10
            bench.repeat = max(3, args.repeat // 2) if big else args.repeat
            add_case(bench, rng, label, m, k, n, ta, tb, batch)
        peaks[t] = max(peaks[t], measure_peak(t))
        loads.append(os.getloadavg()[0])
        for row in bench.rows[first:]:  # % of the final roof
            row["pct_peak"] = {k: 100 * g / peaks[t] for k, g in row["gflops"].items()}
    # The probe times itself in thread CPU time, so it reads the cores' roof even on a busy machine;
    # the timings do not: say so when other processes were running.
    if max(loads) > (os.cpu_count() or 1) + 0.5:
        print(f"WARNING: 1-minute load average up to {max(loads):.1f} on {os.cpu_count()} CPUs: other processes "
              "shared the cores; wall-clock numbers (2-thread ones most) are unreliable", flush=True)
    stem = "gemm_quick" if args.quick else "gemm"
    bench.save(stem)
    import json
    path = RESULTS / f"{stem}.json"
    payload = json.loads(path.read_text())
    payload["fma_peak_gflops"] = {str(t): p for t, p in peaks.items()}
    payload["peers"] = info
    payload["env"] = {k: os.environ.get(k) for k in _DROP + tuple(_SET)}
    payload["load_average_1min"] = loads
    payload["clock"] = "thread CPU time at 1 thread, wall time otherwise" if args.cpu_time else "wall time"
    write_atomic(path, json.dumps(payload, indent=1))
    write_atomic(RESULTS / f"{stem}.md", markdown(bench.rows, peaks, info, loads, args.cpu_time))
    print((RESULTS / f"{stem}.md").read_text())


if __name__ == "__main__":
    main()
