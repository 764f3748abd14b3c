"""Sub-commands of the `hf-unlearn` console script, one module each."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable

from hf_unlearn.recipe import SCHEMA


class _Absent(list):
    """Stands for "not on the command line" while `CommandParser` finds which options were given (a list, so
    that an `append` option can add to it)."""


class CommandParser(argparse.ArgumentParser):
    """A sub-command's parser whose options can depend on an earlier choice on the same command line
    (`hf-unlearn eval --benchmark muse` has MUSE's options only). Before parsing, each of `option_hooks` gets the
    parser and the command line, and adds the options that line chose; `--help` then lists them too.

    The parsed namespace's `given` is the set of option destinations the command line set itself (not left at
    their defaults), so a command can let them override another source of settings (`attack RUN_DIR`: the run's
    recipe); its `error_options` (destination -> option) are the settings errors name by their option
    (`command_line_message`), every option unless the command narrows them.

    Arguments the parser does not know stop the command with its own usage (not the top-level one), unless it
    takes recipe overrides (`takes_overrides`); each of `hint_hooks` gets the parser, the command line and those
    arguments, and may say what was meant (`eval --corpus` without `--benchmark muse`)."""

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
        parsed.given = self._given(argv)
        parsed.error_options = {
            a.dest: max(a.option_strings, key=len) for a in self._actions if a.option_strings and a.dest != "help"
        }
        return parsed, extra

    def _given(self, argv: list[str]) -> set[str]:
        """Destinations the command line sets: argparse leaves a destination already in the namespace alone unless
        an argument sets it, so one parse from a namespace of placeholders tells (abbreviations and `--opt=value`
        included)."""
        dests = {a.dest for a in self._actions if a.dest is not argparse.SUPPRESS and a.option_strings}
        placeholders = {dest: _Absent() for dest in dests}
        parsed, _ = super().parse_known_args(argv, argparse.Namespace(**placeholders))
        return {dest for dest in dests if getattr(parsed, dest) is not placeholders[dest]}


def command_line_message(message: str, options: dict[str, str]) -> str:
    """An error in the words of the command line it came from: the recipe keys and settings fields that `options`
    (destination -> option) set are named by their option (`data.source: ... or set data.source to a local copy`
    becomes `--data-source: ... or set --data-source to a local copy`). A key with a dot or underscore is replaced
    wherever it stands; a one-word key (`limit`, `tokenizer`) only as the message's leading `key:`."""
    names = dict(options)
    for key in SCHEMA:
        parts = key.split(".")
        for dest in (key.replace(".", "_"), parts[-1] if len(parts) == 2 else None):
            if dest in options:
                names.setdefault(key, options[dest])
                break
    for name in sorted(names, key=len, reverse=True):
        option = names[name]
        if "." in name or "_" in name:
            message = re.sub(rf"(?<![\w./-]){re.escape(name)}(?![\w/-]|\.\w)", option, message)
        elif message.startswith(f"{name}:"):
            message = option + message[len(name) :]
    return message
