"""bench_train_step.py — one training step (forward, loss, backward, optimizer step), nerve vs torch.

    python benchmarks/bench_train_step.py [--threads 1 2] [--repeat 15] [--quick] [--no-memory]

Cases (issue 6): (a) MLP 784-512-256-10 ReLU, batch 128, cross-entropy, SGD lr 0.01 momentum 0.9;
(b) LeNet-like CNN on 1x28x28: conv 32 3x3, ReLU, max pool 2, conv 64 3x3, ReLU, max pool 2, linear 128,
linear 10 (as the issue specifies it); batch 128, cross-entropy, Adam lr 1e-3. Both libraries start from the same weights and
step on the same fixed batch, in one process, interleaved, medians; ms/step and samples/s. Peak RSS:
each library alone in a fresh process (VmHWM from /proc: ru_maxrss would survive exec) for 20 steps,
reported as the growth over the process's peak before the first step.

Bar (issue 6): (a) and (b) <= 1.0x torch's time per step at 1 and at 2 threads; peak RSS <= torch's.
torch here at 2 threads when the issue was written: (a) 3.5 ms/step, (b) 55.8 ms/step.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from common import Bench, RESULTS, parse_args, write_atomic  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

import nerve  # noqa: E402
from nerve.examples.models import lenet_like, mlp_benchmark  # noqa: E402

BATCH = 128
CASES = {
    "mlp": ("(a) MLP 784-512-256-10, SGD momentum", mlp_benchmark, (BATCH, 784)),
    "cnn": ("(b) LeNet-like CNN 1x28x28, Adam", lenet_like, (BATCH, 1, 28, 28)),
}


def make_batch(shape, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random(shape, dtype=np.float32), rng.integers(0, 10, shape[0]).astype(np.int64)


def nerve_step(case):
    """A closure running one nerve training step, and the model (weights copied to torch by torch_step)."""
    _, build, shape = CASES[case]
    nerve.manual_seed(0)
    model = build()
    x, y = make_batch(shape)
    nx, ny = nerve.from_numpy(x), nerve.from_numpy(y)
    if case == "mlp":
        opt = nerve.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    else:
        opt = nerve.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nerve.nn.CrossEntropyLoss()

    def step():
        opt.zero_grad()
        loss = loss_fn(model(nx), ny)
        loss.backward()
        opt.step()
        return loss
    return step, model


def torch_step(case, nerve_model=None):
    _, build, shape = CASES[case]
    torch.manual_seed(0)
    model = build(torch.nn)
    if nerve_model is not None:
        model.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in nerve_model.state_dict().items()})
    x, y = make_batch(shape)
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)
    if case == "mlp":
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    else:
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step():
        opt.zero_grad()
        loss = loss_fn(model(tx), ty)
        loss.backward()
        opt.step()
        return loss
    return step


def check_same_losses(case, steps=3):
    """Both libraries follow the same trajectory from the same weights (a benchmark of different work is void)."""
    ns, model = nerve_step(case)
    ts = torch_step(case, model)
    for i in range(steps):
        a, b = float(ns().item()), float(ts().item())
        if not abs(a - b) <= 1e-3 * max(1.0, abs(b)):
            raise SystemExit(f"[bench_train_step] {case}: step {i} loss nerve {a:.6f} vs torch {b:.6f}: "
                             f"the two steps do not compute the same thing")


def peak_rss_growth(lib, case, threads, steps=20):
    code = f"""
import sys
sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r})
import nerve, torch
nerve.set_num_threads({threads}); torch.set_num_threads({threads})
from bench_train_step import nerve_step, torch_step
def hwm():
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmHWM"))
step = nerve_step({case!r})[0] if {lib!r} == "nerve" else torch_step({case!r})
before = hwm()
for _ in range({steps}):
    step()
print((hwm() - before) / 1024)
"""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    out = subprocess.check_output([sys.executable, "-c", code], text=True, env=env)
    return float(out.strip().splitlines()[-1])


def main():
    args = parse_args(__doc__.splitlines()[0], lambda p: p.add_argument(
        "--no-memory", action="store_true", help="skip the peak-RSS subprocesses"))
    print(f"load average {os.getloadavg()}", flush=True)
    for case in CASES:
        check_same_losses(case)
    rows = []
    for threads in args.threads:
        bench = Bench("train_step", threads=threads, repeat=args.repeat, min_time=0.05)
        for case, (name, _, _) in CASES.items():
            ns, model = nerve_step(case)
            ts = torch_step(case, model)
            with bench.case(name) as c:
                c.run("nerve", ns)
                c.run("torch", ts)
            row = bench.rows[-1]
            row["samples_per_s"] = {k: BATCH / (v / 1e3) for k, v in row["ms"].items()}
            row["load_average"] = os.getloadavg()
        rows += bench.rows
    bench.rows = rows
    path = bench.save()
    payload = json.loads(path.read_text())
    table = "\n| threads | case | nerve samples/s | torch samples/s |\n|---|---|---|---|\n"
    table += "".join(f"| {r['threads']} | {r['case']} | {r['samples_per_s']['nerve']:.0f} | "
                     f"{r['samples_per_s']['torch']:.0f} |\n" for r in rows)
    if not args.no_memory:
        mem = []
        for case, (name, _, _) in CASES.items():
            m = {lib: peak_rss_growth(lib, case, max(args.threads)) for lib in ("nerve", "torch")}
            print(f"peak RSS growth over 20 steps, {name}: nerve {m['nerve']:.1f} MB, torch {m['torch']:.1f} MB")
            mem.append({"case": name, "threads": max(args.threads), "peak_rss_growth_mb": m})
        payload["memory"] = mem
        table += (f"\n| case ({max(args.threads)} threads, 20 steps) | nerve peak RSS growth MB | "
                  f"torch peak RSS growth MB |\n|---|---|---|\n")
        table += "".join(f"| {r['case']} | {r['peak_rss_growth_mb']['nerve']:.1f} | "
                         f"{r['peak_rss_growth_mb']['torch']:.1f} |\n" for r in mem)
    payload["load_average_end"] = os.getloadavg()
    write_atomic(path, json.dumps(payload, indent=1))
    write_atomic(RESULTS / "train_step.md", (RESULTS / "train_step.md").read_text() + table)
    print(table)
    for r in rows:
        if r["ratio"]["torch"] < 1.0:
            print(f"below the bar: {r['label']} {r['case']}: {r['ratio']['torch']:.2f}x torch")
    print(f"load average {os.getloadavg()}")


if __name__ == "__main__":
    main()
