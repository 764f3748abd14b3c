"""Absolute paths of this machine in an export folder: any, not only the roots a test knows about."""

from __future__ import annotations

import re
from pathlib import Path

from hf_unlearn.publish.export import TOKENIZER_FILES

#: `/a/b...` not preceded by a character that makes it a URL, a relative path or part of a word (`https://x/y`,
#: `./run`, `evals/x.json`, `u/|u|`), a home-relative path (`~/data/x`), or a Windows drive path (`C:\...`).
ABSOLUTE_PATH = re.compile(r"(?<![\w.:/~-])~?/(?:[\w.+@-]+/)+[\w.+@-]*|\b[A-Za-z]:\\[\w.]")
#: Files that hold no path by construction: weights, images, and tokenizer files (their strings are tokens).
NOT_TEXT = (".safetensors", ".bin", ".png")


def absolute_paths(export: Path) -> list[tuple[str, str]]:
    """(file, path found) for every absolute path in a text file of `export`."""
    found = []
    for path in sorted(p for p in export.rglob("*") if p.is_file()):
        if path.suffix in NOT_TEXT or path.name in TOKENIZER_FILES:
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        found += [(str(path.relative_to(export)), m.group(0)) for m in ABSOLUTE_PATH.finditer(text)]
    return found
