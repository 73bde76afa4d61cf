"""bench_fashion_mnist.py — time per training epoch on Fashion-MNIST: nerve.fit vs the same model and loop in torch.

    python benchmarks/bench_fashion_mnist.py [--threads 1 2] [--repeat 5] [--quick] [--slice 6000] [--models mlp cnn]

The models are those of `nerve train` (nerve.examples.models: mlp = 784-512-256-10 with dropout, cnn = two
conv+BN+ReLU+pool blocks, dense 128 with dropout), built in both libraries from the same weights. Each
contender trains one epoch over the same equal-sized slice of the training set (shuffled, batch 128,
cross-entropy, Adam lr 1e-3, no augmentation), and the slices are interleaved (nerve, torch, torch, nerve, ...)
so that load from other processes hits both alike; medians. nerve's side is the whole `nerve.fit` call
(DataLoader with the batched fast path, metrics, no progress bar); torch's is the loop a torch user writes
for in-memory data: index a shuffled batch, forward, loss, zero_grad, backward, step, loss.item(), accuracy.
Seconds per full epoch are the slice time scaled by 60000 / slice.

Bar (issue 7): nerve's epoch time <= 1.0x torch's (speedup >= 1.0x).
"""
from __future__ import annotations

import json
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from common import Bench, RESULTS, parse_args, write_atomic  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

import nerve  # noqa: E402
from nerve.examples import models  # noqa: E402

BATCH = 128
FULL = 60000


def load_slice(n, root=None):
    from nerve.data.datasets import FashionMNIST
    ds = FashionMNIST(root, train=True)
    x = (ds.data.numpy()[:n] - 0.2860) / 0.3530
    return np.ascontiguousarray(x, dtype=np.float32), ds.targets.numpy()[:n].copy()


def contenders(name, x, y):
    build = models.mlp if name == "mlp" else models.cnn
    nerve.manual_seed(0)
    nm = build(lib=nerve.nn)
    tm = build(lib=torch.nn)
    tm.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in nm.state_dict().items()})
    nopt = nerve.optim.Adam(nm.parameters(), lr=1e-3)
    topt = torch.optim.Adam(tm.parameters(), lr=1e-3)
    nx, ny = nerve.from_numpy(x), nerve.from_numpy(y)
    nloss, tloss = nerve.nn.CrossEntropyLoss(), torch.nn.CrossEntropyLoss()
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)
    gen = torch.Generator().manual_seed(0)

    def run_nerve():
        nerve.fit(nm, (nx, ny), loss=nloss, optimizer=nopt, epochs=1, batch_size=BATCH, verbose=0, seed=0)

    def run_torch():
        tm.train()
        perm = torch.randperm(len(ty), generator=gen)
        total, correct = 0.0, 0
        for i in range(0, len(ty), BATCH):
            idx = perm[i:i + BATCH]
            xb, yb = tx[idx], ty[idx]
            out = tm(xb)
            loss = tloss(out, yb)
            topt.zero_grad()
            loss.backward()
            topt.step()
            total += loss.item() * len(yb)
            correct += int((out.argmax(1) == yb).sum().item())
        return total, correct
    return {"nerve": run_nerve, "torch": run_torch}


def main():
    def extra(p):
        p.add_argument("--slice", type=int, default=6000, help="training images per timed epoch slice")
        p.add_argument("--models", nargs="+", default=["mlp", "cnn"], choices=["mlp", "cnn"])
        p.add_argument("--root", default=None)
    args = parse_args(__doc__.splitlines()[0], extra)
    if args.quick:
        args.slice = min(args.slice, 2048)
    repeat = args.repeat if args.repeat != 15 else 5  # an epoch slice is long: 5 rounds unless asked
    x, y = load_slice(args.slice, args.root)
    print(f"slice of {len(y)} images, batch {BATCH}; load average {os.getloadavg()}", flush=True)
    rows = []
    for threads in args.threads:
        bench = Bench("fashion_mnist", threads=threads, repeat=repeat, min_time=0.0)
        for name in args.models:
            fns = contenders(name, x, y)
            with bench.case(f"{name} epoch slice ({len(y)} images)") as c:
                for k, fn in fns.items():
                    c.run(k, fn)
            row = bench.rows[-1]
            row["seconds_per_epoch"] = {k: v / 1e3 * FULL / len(y) for k, v in row["ms"].items()}
            row["load_average"] = os.getloadavg()
            print(f"  -> per full epoch: nerve {row['seconds_per_epoch']['nerve']:.1f} s, torch "
                  f"{row['seconds_per_epoch']['torch']:.1f} s (load average {row['load_average'][0]:.1f})",
                  flush=True)
        rows += bench.rows
    bench.rows = rows
    path = bench.save()
    payload = json.loads(path.read_text())
    payload["slice"] = len(y)
    write_atomic(path, json.dumps(payload, indent=1))
    table = "\n| threads | model | nerve s/epoch | torch s/epoch | load average |\n|---|---|---|---|---|\n"
    table += "".join(f"| {r['threads']} | {r['case'].split()[0]} | {r['seconds_per_epoch']['nerve']:.1f} | "
                     f"{r['seconds_per_epoch']['torch']:.1f} | {r['load_average'][0]:.1f} |\n" for r in rows)
    write_atomic(RESULTS / "fashion_mnist.md", (RESULTS / "fashion_mnist.md").read_text() + table)
    print(table)
    for r in rows:
        if r["ratio"]["torch"] < 1.0:
            print(f"below the bar: {r['label']} {r['case']}: {r['ratio']['torch']:.2f}x torch")


if __name__ == "__main__":
    main()
