"""A tiny GPT (causal self-attention) on Shakespeare's plays, with samples of generated text.

    python -m nerve.examples.tiny_transformer [--minutes 18] [--layers 2] [--d-model 128]

Token + learned position embeddings, 2 pre-norm Transformer blocks (d_model 128, 4 heads, feed-
forward 512, GELU; no dropout: training sees less than one pass over the text) with causal
attention through nerve's fused attention kernel, a final LayerNorm and a Linear over the 79
characters; AdamW on random 64-character windows of the plays (nerve.data.datasets.Shakespeare,
the last tenth of every play held out). Expected: validation loss <= 1.6 nats per character
(2.3 bits) within 20 minutes on 2 cores; stops once there, exits with status 1 if it does not get
there. Ends with a sample of generated play text. (Measured on the shared machine, one thread,
load average 16-22: 1.631 after 14 minutes, 1246 steps; the 18-minute default budget is the
margin for such load; a quiet machine gets there in a fraction of it.)
"""
from __future__ import annotations

import argparse

import nerve
from nerve.data.datasets import Shakespeare
from nerve.examples.charlm import TinyGPT, pick_threads, report, sample, train

EXPECTED_VAL_LOSS = 1.6  # nats per character


def main(argv=None, exit_on_miss: bool = True):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=18.0, help="training time budget")
    p.add_argument("--max-steps", type=int, default=None)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--d-model", type=int, default=128)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--block-size", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--dropout", type=float, default=0.0)
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
    model = TinyGPT(train_data.vocab_size, args.block_size, args.d_model, args.heads, args.layers,
                    4 * args.d_model, args.dropout)
    print(f"{train_data}, {val_data.split_name}: {len(val_data.data)} characters; model: "
          f"{sum(q.numel() for q in model.parameters())} parameters, {nerve.get_num_threads()} threads", flush=True)
    result = train(model, train_data, val_data, minutes=args.minutes, max_steps=args.max_steps,
                   batch_size=args.batch_size, lr=args.lr, target=args.target, weight_decay=0.01,
                   seed=args.seed, log=lambda s: print(s, flush=True))
    return report("tiny_transformer", result, args.target, sample(model, train_data), exit_on_miss)


if __name__ == "__main__":
    main()
