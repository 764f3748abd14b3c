"""Sub-commands of the `hf-unlearn` console script, one module each."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable


class CommandParser(argparse.ArgumentParser):
    """A sub-command's parser whose options can depend on an earlier choice on the same command line
    (`hf-unlearn eval --benchmark muse` has MUSE's options only). Before parsing, each of `option_hooks` gets the
    parser and the command line, and adds the options that line chose; `--help` then lists them too.

    Arguments the parser does not know stop the command with its own usage (not the top-level one),
    unless it takes recipe overrides (`takes_overrides`); each of `hint_hooks` gets the parser, the command line
    and those arguments, and may say what was meant (`eval --corpus` without `--benchmark muse`)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.option_hooks: list[Callable[[argparse.ArgumentParser, list[str]], None]] = []
        self.hint_hooks: list[Callable[[argparse.ArgumentParser, list[str], list[str]], str | None]] = []

    def parse_known_args(self, args=None, namespace=None):
        argv = sys.argv[1:] if args is None else list(args)
        for hook in self.option_hooks:
            hook(self, argv)
        parsed, extra = super().parse_known_args(argv, namespace)
        if extra and not self.get_default("takes_overrides"):
            hints = [hint for hook in self.hint_hooks if (hint := hook(self, argv, extra))]
            self.error("; ".join([f"unrecognized arguments: {' '.join(extra)}", *hints]))
        return parsed, extra
