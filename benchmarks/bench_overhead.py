"""bench_overhead.py — per-op Python overhead: a 1-element add, with and without an autograd graph,
nerve vs torch vs numpy (all in one process, interleaved, medians), plus `import nerve` time.

    python benchmarks/bench_overhead.py [--repeat 15]

Bar (issue 2): with a graph, nerve <= 2x torch's time per op; import <= 0.5 s without cupy.
"""
from __future__ import annotations

import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from common import Bench, parse_args  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

import nerve  # noqa: E402


def import_time(runs: int = 5) -> float:
    code = "import time; t=time.perf_counter(); import nerve; print(time.perf_counter()-t)"
    times = [float(subprocess.check_output([sys.executable, "-c", code], text=True)) for _ in range(runs)]
    return sorted(times)[len(times) // 2]


def main():
    args = parse_args(__doc__.splitlines()[0])
    bench = Bench("overhead", threads=1, repeat=args.repeat, min_time=0.05, label="1 thread")
    a, b = nerve.ones(1), nerve.ones(1)
    ag = nerve.ones(1, requires_grad=True)
    ta, tb = torch.ones(1), torch.ones(1)
    tg = torch.ones(1, requires_grad=True)
    na = np.ones(1, np.float32)
    with bench.case("add, no graph") as c:
        c.run("nerve", lambda: a + b)
        c.run("torch", lambda: ta + tb)
        c.run("numpy", lambda: na + na)
    with bench.case("add, recording a graph") as c:
        c.run("nerve", lambda: ag + b)
        c.run("torch", lambda: tg + tb)
    with bench.case("add + backward (1-element)") as c:
        c.run("nerve", lambda: (ag + b).backward(nerve.ones(1)))
        c.run("torch", lambda: (tg + tb).backward(torch.ones(1)))
    t_import = import_time()
    bench.rows.append({"case": "import nerve (whole import, ms)", "ms": {"nerve": t_import * 1e3}, "threads": 1,
                       "label": "1 thread"})
    print(f"import nerve: {t_import:.3f} s")
    for row in bench.rows:
        if "ratio" in row and "torch" in row["ratio"]:
            print(f"{row['case']}: nerve / torch time = {1 / row['ratio']['torch']:.2f}x")
    bench.save()


if __name__ == "__main__":
    main()
