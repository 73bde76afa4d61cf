"""cli.py — the `nerve` command: `nerve info` (build and machine facts), `nerve train` (train a model on
Fashion-MNIST or scikit-learn's digits), `nerve bench` (the kernel benchmarks vs torch); subcommands
register themselves in SUBCOMMANDS."""
from __future__ import annotations

import argparse
import sys


def _info(args) -> int:
    import nerve
    nerve.show_config()
    return 0


def _train_args(p) -> None:
    from .examples.fashion_mnist import add_arguments
    add_arguments(p, dataset_positional=True)


def _train(args) -> int:
    from .examples.fashion_mnist import run
    result = run(args)
    if args.expect is not None and result["test_accuracy"] < args.expect:
        print(f"FAILED: test accuracy {result['test_accuracy']:.4f} is below --expect {args.expect}", file=sys.stderr)
        return 1
    return 0


def _bench_args(p) -> None:
    from .bench import add_arguments
    add_arguments(p)


def _bench(args) -> int:
    from .bench import run
    return run(args)


# name -> (help, add_arguments(parser), run(args) -> exit code)
SUBCOMMANDS = {
    "info": ("print version, compiler, threads, ISA and CUDA status", lambda p: None, _info),
    "train": ("train an MLP or CNN on fashion-mnist (or digits): progress bar, test accuracy, weights, curves",
              _train_args, _train),
    "bench": ("run the kernel and training benchmarks against torch and print their tables", _bench_args, _bench),
}


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:2] == ["train", "shakespeare"]:  # the character-level language models (train_shakespeare.py)
        from .train_shakespeare import main as train_shakespeare
        return train_shakespeare(argv[2:])
    parser = argparse.ArgumentParser(prog="nerve", description="nerve: deep learning on hand-written kernels")
    sub = parser.add_subparsers(dest="command", metavar="command")
    for name, (help_, add_args, _) in SUBCOMMANDS.items():
        add_args(sub.add_parser(name, help=help_, description=help_))
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    return SUBCOMMANDS[args.command][2](args)


if __name__ == "__main__":
    sys.exit(main())
