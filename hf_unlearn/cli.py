"""The `hf-unlearn` console script. Each module of `hf_unlearn.commands` adds one sub-command."""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys

from hf_unlearn import commands, errors


def command_modules() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(commands.__path__))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hf-unlearn", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in command_modules():
        importlib.import_module(f"hf_unlearn.commands.{name}").add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "takes_overrides", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return args.func(args, extra)
    except errors.USER_ERRORS as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
