"""bench_kernels.py — every non-GEMM kernel family against torch, and one summary.

Runs benchmarks/bench_<stem>.py for each family (each writes results/<stem>.json and .md), then
writes results/kernels.md: per family and thread count, the number of cases, the geometric mean
and the minimum of nerve's speedup over torch (torch time / nerve time, medians of interleaved
runs), and the case that is slowest relative to torch.

    python benchmarks/bench_kernels.py                 # all families, 1 and 2 threads
    python benchmarks/bench_kernels.py --quick         # smoke run
    python benchmarks/bench_kernels.py --only softmax loss
"""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
from pathlib import Path

from common import RESULTS, write_atomic

HERE = Path(__file__).resolve().parent
FAMILIES = ["activation", "softmax", "loss", "norm", "dropout", "embedding", "optim"]


def summarize(stems) -> str:
    lines = ["| family | threads | cases | geo-mean speedup vs torch | min | slowest case |", "|---|---|---|---|---|---|"]
    all_ratios = {}
    for stem in stems:
        path = RESULTS / f"{stem}.json"
        if not path.exists():
            lines.append(f"| {stem} | | 0 | not run | | |")
            continue
        rows = json.loads(path.read_text())["rows"]
        by_threads = {}
        for r in rows:
            ratio = r.get("ratio", {}).get("torch")
            if ratio:
                by_threads.setdefault(r.get("threads"), []).append((ratio, r["case"]))
        for threads, items in sorted(by_threads.items(), key=lambda kv: str(kv[0])):
            gm = math.exp(sum(math.log(x) for x, _ in items) / len(items))
            worst = min(items)
            all_ratios.setdefault(threads, []).extend(x for x, _ in items)
            lines.append(f"| {stem} | {threads} | {len(items)} | {gm:.2f}x | {worst[0]:.2f}x | {worst[1]} |")
    for threads, xs in sorted(all_ratios.items(), key=lambda kv: str(kv[0])):
        gm = math.exp(sum(math.log(x) for x in xs) / len(xs))
        lines.append(f"| **all** | {threads} | {len(xs)} | **{gm:.2f}x** | {min(xs):.2f}x | |")
    return "\n".join(lines) + "\n"


def _absolute_pythonpath() -> dict:
    """The environment for the family scripts, which run from benchmarks/: a relative PYTHONPATH
    (the README's `PYTHONPATH=python`) is resolved against the caller's directory first."""
    env = dict(os.environ)
    if env.get("PYTHONPATH"):
        env["PYTHONPATH"] = os.pathsep.join(str(Path(q).resolve()) for q in env["PYTHONPATH"].split(os.pathsep) if q)
    return env


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", nargs="+", choices=FAMILIES, default=FAMILIES)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--summary-only", action="store_true", help="rebuild results/kernels.md from existing JSON")
    args = p.parse_args()
    failed = []
    if not args.summary_only:
        for stem in args.only:
            script = HERE / f"bench_{stem}.py"
            if not script.exists():
                print(f"== {stem}: no {script.name}", file=sys.stderr)
                failed.append(stem)
                continue
            cmd = [sys.executable, str(script), "--threads", *map(str, args.threads)] + (["--quick"] if args.quick else [])
            print("==", " ".join(cmd[1:]), f"(load {os.getloadavg()[0]:.1f})", flush=True)
            if subprocess.run(cmd, cwd=HERE, env=_absolute_pythonpath()).returncode != 0:
                failed.append(stem)
    table = summarize(args.only)
    write_atomic(RESULTS / "kernels.md", table)
    print(table)
    if failed:
        print("failed or missing:", ", ".join(failed), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
