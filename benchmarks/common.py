"""common.py — the one timing helper every nerve benchmark uses.

Rules it enforces (see STYLE.md): warm up, time many runs, report medians; compare peers in the
same process with their runs interleaved (A, B, C, A, B, C, ...) so that a noisy neighbour slows
every contender alike; report GFLOP/s or GB/s and, where known, the fraction of machine peak;
write results as JSON next to a markdown table.

    from common import Bench
    bench = Bench("gemm", threads=2)
    with bench.case("512x512x512", flops=2 * 512**3) as case:
        case.run("nerve", lambda: nerve_fn())
        case.run("numpy", lambda: np_fn())
    bench.save()          # benchmarks/results/gemm.json and gemm.md
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional

RESULTS = Path(__file__).resolve().parent / "results"


def set_threads(n: int) -> None:
    """Sets the thread count of nerve, torch and numpy's BLAS (when each is importable)."""
    os.environ["OMP_NUM_THREADS"] = str(n)
    try:
        import nerve
        nerve.set_num_threads(n)
    except ImportError:
        pass
    try:
        import torch
        torch.set_num_threads(n)
    except ImportError:
        pass
    try:
        from threadpoolctl import threadpool_limits
        threadpool_limits(n)
    except ImportError:
        pass


def time_interleaved(fns: Dict[str, Callable[[], object]], *, repeat: int = 15, warmup: int = 3,
                     min_time: float = 0.02, sync: Optional[Callable[[], None]] = None,
                     settle: Optional[Callable[[], None]] = None,
                     clock: Callable[[], float] = time.perf_counter) -> Dict[str, List[float]]:
    """Times each callable, interleaved, and returns per-call seconds for each of `repeat` rounds.

    A round calls each function `inner` times in a row (inner is chosen during warm-up so one
    round of the slowest-changing function lasts at least min_time) and records the mean call.
    `settle`, when given, runs untimed before each contender's batch (e.g. a pause that lets the
    previous contender's spinning worker threads go to sleep). `clock` is wall time by default;
    time.thread_time measures single-threaded contenders on a machine other processes share.
    """
    sync = sync or (lambda: None)
    settle = settle or (lambda: None)
    inner = {}
    for name, fn in fns.items():
        for _ in range(warmup):
            fn()
        sync()
        t0 = clock()
        fn()
        sync()
        dt = max(clock() - t0, 1e-7)
        inner[name] = max(1, int(min_time / dt))
    times: Dict[str, List[float]] = {name: [] for name in fns}
    for r in range(repeat):
        order = list(fns.items())
        if r % 2:
            order.reverse()  # neither contender always runs right after the other
        for name, fn in order:
            n = inner[name]
            settle()
            sync()
            t0 = clock()
            for _ in range(n):
                fn()
            sync()
            times[name].append((clock() - t0) / n)
    return times


@dataclass
class Case:
    name: str
    flops: Optional[float] = None
    bytes: Optional[float] = None
    fns: Dict[str, Callable[[], object]] = field(default_factory=dict)
    medians: Dict[str, float] = field(default_factory=dict)
    extra: Dict[str, object] = field(default_factory=dict)

    def run(self, contender: str, fn: Callable[[], object]) -> None:
        self.fns[contender] = fn

    def row(self, peak_gflops: Optional[float]) -> dict:
        out = {"case": self.name, "ms": {k: v * 1e3 for k, v in self.medians.items()}}
        if self.flops:
            out["gflops"] = {k: self.flops / v / 1e9 for k, v in self.medians.items()}
            if peak_gflops:
                out["pct_peak"] = {k: 100 * g / peak_gflops for k, g in out["gflops"].items()}
        if self.bytes:
            out["gbps"] = {k: self.bytes / v / 1e9 for k, v in self.medians.items()}
        out.update(self.extra)
        return out


class Bench:
    """A named group of cases, timed with time_interleaved and saved as JSON + markdown."""

    def __init__(self, name: str, *, threads: Optional[int] = None, peak_gflops: Optional[float] = None,
                 repeat: int = 15, min_time: float = 0.02, reference: str = "nerve", sync=None,
                 label: Optional[str] = None, quiet: bool = False, settle=None, clock=None):
        self.name, self.threads, self.peak = name, threads, peak_gflops
        self.repeat, self.min_time, self.reference, self.sync = repeat, min_time, reference, sync
        self.settle = settle
        self.clock = clock or time.perf_counter
        self.label = label or (f"{threads} thread{'s' if threads != 1 else ''}" if threads else "")
        self.quiet = quiet
        self.rows: List[dict] = []
        if threads:
            set_threads(threads)

    @contextlib.contextmanager
    def case(self, name: str, *, flops: Optional[float] = None, bytes: Optional[float] = None, **extra):
        c = Case(name, flops, bytes, extra=extra)
        yield c
        times = time_interleaved(c.fns, repeat=self.repeat, min_time=self.min_time, sync=self.sync,
                                 settle=self.settle, clock=self.clock)
        c.medians = {k: statistics.median(v) for k, v in times.items()}
        row = c.row(self.peak)
        row["threads"] = self.threads
        row["label"] = self.label
        ref = c.medians.get(self.reference)
        if ref:
            row["ratio"] = {k: v / ref for k, v in c.medians.items() if k != self.reference}
        self.rows.append(row)
        if not self.quiet:
            print(format_row(row, self.reference), flush=True)

    def save(self, stem: Optional[str] = None) -> Path:
        """Writes results/<stem>.json (machine-readable) and results/<stem>.md (a table)."""
        RESULTS.mkdir(parents=True, exist_ok=True)
        stem = stem or self.name
        meta = machine_info()
        payload = {"benchmark": self.name, "machine": meta, "rows": self.rows}
        write_atomic(RESULTS / f"{stem}.json", json.dumps(payload, indent=1))
        write_atomic(RESULTS / f"{stem}.md", markdown_table(self.rows, self.reference))
        return RESULTS / f"{stem}.json"


def format_row(row: dict, reference: str) -> str:
    parts = [f"{row['label']:>10} {row['case']:<34}"]
    for k, ms in row["ms"].items():
        s = f"{k} {fmt_ms(ms)} ms"
        if "gflops" in row:
            s += f" {row['gflops'][k]:7.1f} GF/s"
            if "pct_peak" in row:
                s += f" ({row['pct_peak'][k]:4.0f}%)"
        if "gbps" in row:
            s += f" {row['gbps'][k]:6.1f} GB/s"
        parts.append(s)
    if "ratio" in row:
        parts.append("speedup " + " ".join(f"vs {k} {v:.2f}x" for k, v in row["ratio"].items()))
    return " | ".join(parts)


def fmt_ms(ms: float) -> str:
    """4 significant digits: 0.003812 ms and 1234 ms both stay readable."""
    return f"{ms:.4g}"


def markdown_table(rows: List[dict], reference: str) -> str:
    """One line per case: times of every contender and nerve's speedup over each peer."""
    if not rows:
        return ""
    peers = [k for k in rows[0]["ms"] if k != reference]
    head = ["threads", "case", f"{reference} ms"] + [f"{p} ms" for p in peers] + [f"speedup vs {p}" for p in peers]
    has_gf = any("gflops" in r for r in rows)
    if has_gf:
        head.insert(3, f"{reference} GFLOP/s")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [str(r.get("threads") or ""), r["case"], fmt_ms(r["ms"].get(reference, float("nan")))]
        if has_gf:
            cells.append(f"{r['gflops'][reference]:.1f}" if "gflops" in r and reference in r["gflops"] else "")
        cells += [fmt_ms(r["ms"][p]) if p in r["ms"] else "" for p in peers]
        cells += [f"{r['ratio'][p]:.2f}x" if p in r.get("ratio", {}) else "" for p in peers]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def machine_info() -> dict:
    info = {"python": sys.version.split()[0], "platform": platform.platform(), "cpus": os.cpu_count(),
            "time": time.strftime("%Y-%m-%d %H:%M:%S")}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    for mod in ("nerve", "numpy", "torch"):
        try:
            info[mod] = __import__(mod).__version__
        except Exception:
            pass
    return info


def write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def parse_args(description: str, extra: Optional[Callable[[argparse.ArgumentParser], None]] = None):
    """Shared flags: --threads 1 2, --repeat, --quick, --device cpu|cuda."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--repeat", type=int, default=15)
    p.add_argument("--quick", action="store_true", help="fewer repeats and cases (smoke test)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    if extra:
        extra(p)
    args = p.parse_args()
    if args.quick:
        args.repeat = 3
    return args
