"""bench_seq.py — training steps of sequence models, nerve vs torch, interleaved in one process.

    PYTHONPATH=python python benchmarks/bench_seq.py [--threads 1 2] [--repeat 15] [--quick] [--cases lstm transformer]

Cases (issue 9):
  lstm         nn.LSTM(128, 256), input (seq 64, batch 32, 128)
  transformer  nn.TransformerEncoderLayer(d_model 128, nhead 4, dim_feedforward 512, batch_first), input
               (batch 32, seq 64, 128), training mode (dropout 0.1 as the layer's default)
A step is forward, backward of a fixed random upstream gradient through the output (output.backward(g)),
an Adam step (lr 1e-3) and zero_grad, for both libraries with the same weights (torch's, loaded
through state_dict). Extra rows time the forward alone and forward+backward (no optimizer). Bar:
nerve's step <= 1.0x torch's time at 2 threads and 1 thread (ratio column: torch ms / nerve ms >= 1).
Results: benchmarks/results/seq.{json,md}; the load average is printed and saved with them.
"""
from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
os.environ.setdefault("GOMP_SPINCOUNT", "10000")  # an idle OpenMP team must not spin through the peer's turn
from common import Bench, parse_args  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

import nerve  # noqa: E402
import nerve.nn as nn  # noqa: E402
import nerve.optim  # noqa: E402


def copy_weights(tm, nm):
    nm.load_state_dict({k: nerve.from_numpy(v.detach().numpy().copy()) for k, v in tm.state_dict().items()})


def lstm_models():
    torch.manual_seed(0)
    tm = torch.nn.LSTM(128, 256)
    nm = nn.LSTM(128, 256)
    x = np.random.default_rng(0).standard_normal((64, 32, 128)).astype(np.float32)
    g = np.random.default_rng(1).standard_normal((64, 32, 256)).astype(np.float32)
    return tm, nm, x, g, (lambda m, x: m(x)[0])


def transformer_models():
    torch.manual_seed(0)
    tm = torch.nn.TransformerEncoderLayer(128, 4, 512, batch_first=True)
    nm = nn.TransformerEncoderLayer(128, 4, 512, batch_first=True)
    x = np.random.default_rng(0).standard_normal((32, 64, 128)).astype(np.float32)
    g = np.random.default_rng(1).standard_normal((32, 64, 128)).astype(np.float32)
    return tm, nm, x, g, (lambda m, x: m(x))


CASES = {"lstm": ("LSTM 1x256, in 128, seq 64, batch 32", lstm_models),
         "transformer": ("TransformerEncoderLayer 128/4/512, seq 64, batch 32", transformer_models)}


def contenders(kind, tm, nm, x, g, run):
    copy_weights(tm, nm)
    tm.train(), nm.train()
    tx, tg = torch.from_numpy(x), torch.from_numpy(g)
    nx, ng = nerve.from_numpy(x), nerve.from_numpy(g)
    topt = torch.optim.Adam(tm.parameters(), lr=1e-3)
    nopt = nerve.optim.Adam(nm.parameters(), lr=1e-3)
    if kind == "forward":
        def t_fn():
            with torch.no_grad():
                run(tm, tx)

        def n_fn():
            with nerve.no_grad():
                run(nm, nx)
    elif kind == "fwd+bwd":
        def t_fn():
            run(tm, tx).backward(tg)
            tm.zero_grad(set_to_none=True)

        def n_fn():
            run(nm, nx).backward(ng)
            nm.zero_grad(set_to_none=True)
    else:
        def t_fn():
            run(tm, tx).backward(tg)
            topt.step()
            topt.zero_grad(set_to_none=True)

        def n_fn():
            run(nm, nx).backward(ng)
            nopt.step()
            nopt.zero_grad(set_to_none=True)
    return {"nerve": n_fn, "torch": t_fn}


def main():
    args = parse_args(__doc__.splitlines()[0], lambda p: p.add_argument("--cases", nargs="+", default=list(CASES)))
    load0 = os.getloadavg()
    print(f"nerve {nerve.__version__}, torch {torch.__version__}, isa {nerve._C.isa()}, load average {load0}",
          flush=True)
    settle = lambda: time.sleep(0.003)  # noqa: E731  (lets the other library's idle threads go to sleep)
    rows = []
    for threads in args.threads:
        bench = Bench("seq", threads=threads, repeat=args.repeat, min_time=0.1, settle=settle)
        for key in args.cases:
            label, make = CASES[key]
            kinds = ["step"] if args.quick else ["step", "fwd+bwd", "forward"]
            for kind in kinds:
                tm, nm, x, g, run = make()
                name = f"{label}: {'train step (Adam)' if kind == 'step' else kind}"
                with bench.case(name, load=os.getloadavg()[0]) as case:
                    for who, fn in contenders(kind, tm, nm, x, g, run).items():
                        case.run(who, fn)
        rows += bench.rows
        last = bench
    last.rows = rows
    path = last.save("seq")
    print(f"load average before {load0}, after {os.getloadavg()}; wrote {path}")


if __name__ == "__main__":
    main()
