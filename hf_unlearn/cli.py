"""The `hf-unlearn` console script. Each module of `hf_unlearn.commands` adds one sub-command."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import pkgutil
import sys
import textwrap
import time

from hf_unlearn import commands, errors
from hf_unlearn.benchmarks import BENCHMARKS
from hf_unlearn.methods import METHODS
from hf_unlearn.recipe import SCHEMA
from hf_unlearn.run import is_main_process

INTRO = """\
Machine unlearning for LLMs with Hugging Face Transformers: make a model forget part of its training data while
keeping the rest, measure how well it forgot and whether attacks bring the knowledge back, and share the result."""


def description() -> str:
    """The top-level help's text. Benchmarks and methods come from their registries, so a new one is listed
    without touching this file (`tests/unit/test_cli_help.py` registers one to check)."""
    width = max(len(name) for name in BENCHMARKS)
    benchmarks = [f"  {b.name:<{width}}  {b.title}: {b.summary}" for b in BENCHMARKS.values()]
    names = ", ".join(sorted(METHODS, key=str.lower))
    methods = textwrap.fill(names, width=116, initial_indent="  ", subsequent_indent="  ")
    return "\n".join(
        [
            INTRO,
            "",
            f"benchmarks (recipe key `benchmark`, option --benchmark; default {SCHEMA['benchmark'].default}):",
            *benchmarks,
            "",
            f"{len(METHODS)} unlearning methods (recipe key `method`; default {SCHEMA['method'].default}):",
            methods,
        ]
    )


EPILOG = """\
example workflow (TOFU forget10 on Llama-3.2-1B-Instruct, GradDiff):
  hf-unlearn train recipes/tofu/forget10_GradDiff_lr2e-05_alpha5_epoch5.yaml
  hf-unlearn eval saves/unlearn/forget10_GradDiff_lr2e-05_alpha5_epoch5 --forget-split forget10 \\
      --retain-model open-unlearning/tofu_Llama-3.2-1B-Instruct_retain90 --output-dir evals/graddiff
  hf-unlearn publish saves/unlearn/forget10_GradDiff_lr2e-05_alpha5_epoch5 --org my-org

'hf-unlearn COMMAND --help' explains each command. Bad input stops with one line 'error: ...' and exit status 2.
"""


def command_modules() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(commands.__path__))


def command_names() -> list[str]:
    """The sub-commands, one per module (`altpo_data.py` adds `altpo-data`)."""
    return [name.replace("_", "-") for name in command_modules()]


def _formatter(prog: str) -> argparse.HelpFormatter:
    """The description as written, and the command list wide enough to keep each command's help on one line."""
    return argparse.RawDescriptionHelpFormatter(prog, max_help_position=16, width=118)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hf-unlearn",
        description=description(),
        epilog=EPILOG,
        formatter_class=_formatter,
    )
    sub = parser.add_subparsers(
        title="commands", dest="command", required=True, metavar="COMMAND", parser_class=commands.CommandParser
    )
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
    except errors.UserError as err:
        return _fail(commands.command_line_message(errors.first_line(err), getattr(args, "error_options", {})))
    except OSError as err:  # a write the command did not wrap: still one line when the user can fix it
        message = errors.file_system_message(err)
        if message is None:
            raise
        return _fail(message)


#: Seconds another process of a launch waits before printing its error: the main one finds the same error, prints
#: it, and the launcher stops the others meanwhile (torchrun checks its workers every 0.1 s).
OTHER_PROCESS_GRACE_S = 10.0


def _fail(message: str) -> int:
    """One line on stderr, exit status 2. Under a multi-process launch every process finds the same input error:
    the main one prints it, so the user reads it once (above the launcher's own report). Another process waits
    first, and prints its own error, naming itself, only if the launcher has not stopped it by then (the error
    was not the main process's too)."""
    if not is_main_process():
        time.sleep(OTHER_PROCESS_GRACE_S)
        message = f"(process {os.environ.get('RANK')}) {message}"
    print(f"error: {message}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
