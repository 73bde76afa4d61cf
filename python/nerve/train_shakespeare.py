"""train_shakespeare.py — `nerve train shakespeare --model lstm|transformer [options]`: trains one of
the character-level language models of nerve.examples (char_lstm, tiny_transformer) on
Shakespeare's plays, prints generated text, and exits with status 1 when the validation loss is
above the model's expected value (1.6 nats per character; --target changes it).

Options after --model are the example's own (see python -m nerve.examples.char_lstm --help), e.g.
    nerve train shakespeare --model transformer --minutes 10 --layers 4 --out runs/gpt
--threads sets the kernel threads; --out saves the weights (safetensors) and the vocabulary there.
"""
from __future__ import annotations

import argparse
import sys


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="nerve train shakespeare", description=__doc__.splitlines()[0],
                                add_help=False)
    p.add_argument("--model", choices=["lstm", "transformer"], default="lstm")
    p.add_argument("--threads", type=int, default=None,
                   help="kernel threads (default: all cores, or 1 when the load average exceeds the core count)")
    p.add_argument("--out", default=None, help="folder for model.safetensors and vocab.txt")
    p.add_argument("-h", "--help", action="store_true")
    args, rest = p.parse_known_args(argv)
    from .examples import char_lstm, tiny_transformer
    example = char_lstm if args.model == "lstm" else tiny_transformer
    if args.help:
        p.print_help()
        print(f"\noptions of --model {args.model}:")
        example.main(["--help"])
        return 0
    import nerve
    if args.threads:
        rest += ["--threads", str(args.threads)]
    try:
        result = example.main(rest, exit_on_miss=False)
    except SystemExit as e:  # argparse errors in the example's options
        return int(e.code or 0)
    if args.out:
        import os
        os.makedirs(args.out, exist_ok=True)
        nerve.save(result.model.state_dict(), os.path.join(args.out, "model.safetensors"))
        with open(os.path.join(args.out, "vocab.txt"), "w", encoding="utf-8") as f:
            f.write("".join(result.vocab))
        print(f"saved {args.out}/model.safetensors and vocab.txt")
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
