"""Fingerprints that tie stored results to exactly what produced them (weights, tokenizer, data, settings).

open-unlearning reuses any metric already present in an output folder (`overwrite: false`), so re-running into
an old folder silently returns stale numbers. Results here carry these hashes and are reused only on a match.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

WEIGHT_PATTERNS = ("*.safetensors", "*.bin", "*.pt", "*.gguf")
MODEL_FILES = ("config.json",)
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "tokenizer.model",
    "special_tokens_map.json",
    "chat_template.jinja",
    "chat_template.json",
    "vocab.json",
    "merges.txt",
)
_CACHE: dict[tuple, str] = {}


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file's bytes; cached by (path, size, mtime) within a process."""
    path = Path(path)
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _CACHE:
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 23), b""):
                digest.update(block)
        _CACHE[key] = digest.hexdigest()
    return _CACHE[key]


def _files_digest(files: list[Path], root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(sha256_file(path).encode())
    return digest.hexdigest()


def model_fingerprint(directory: str | Path) -> str:
    """sha256 over the weight files and config.json of a model folder."""
    directory = Path(directory)
    files = [p for pattern in WEIGHT_PATTERNS for p in directory.glob(pattern) if p.is_file()]
    if not files:
        raise FileNotFoundError(f"no weight files ({', '.join(WEIGHT_PATTERNS)}) in {directory}")
    files += [directory / name for name in MODEL_FILES if (directory / name).is_file()]
    return _files_digest(files, directory)


def tokenizer_fingerprint(directory: str | Path) -> str:
    """sha256 over the tokenizer files of a folder (vocabulary, special tokens, chat template)."""
    directory = Path(directory)
    return _files_digest([directory / n for n in TOKENIZER_FILES if (directory / n).is_file()], directory)


def classifier_fingerprint(directory: str | Path) -> str:
    """sha256 over a classifier folder's weights, config and tokenizer files (BERT-style vocab.txt included)."""
    directory = Path(directory)
    vocab = [directory / "vocab.txt"] if (directory / "vocab.txt").is_file() else []
    return combine(
        {
            "model": model_fingerprint(directory),
            "tokenizer": tokenizer_fingerprint(directory),
            "vocab": _files_digest(vocab, directory),
        }
    )


def rows_fingerprint(rows: list[dict]) -> str:
    digest = hashlib.sha256()
    for row in rows:
        digest.update(json.dumps(row, sort_keys=True, ensure_ascii=False).encode("utf-8"))
    return digest.hexdigest()


def combine(parts: dict) -> str:
    """One hash of a JSON-able dict (key order does not matter)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode("utf-8")).hexdigest()
