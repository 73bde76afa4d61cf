"""cli.py — the `nerve` command: `nerve info` (build and machine facts); more subcommands register
themselves in SUBCOMMANDS (train, bench)."""
from __future__ import annotations

import argparse
import sys


def _info(args) -> int:
    import nerve
    nerve.show_config()
    return 0


# name -> (help, add_arguments(parser), run(args) -> exit code)
SUBCOMMANDS = {
    "info": ("print version, compiler, threads, ISA and CUDA status", lambda p: None, _info),
}


def main(argv=None) -> int:
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
