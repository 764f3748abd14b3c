"""Cheap checks of a model folder's files, run before anything loads them.

A truncated download or an interrupted save otherwise surfaces deep inside `from_pretrained` as a traceback
(`SafetensorError: invalid header length`, `Unrecognized model ... model_type`); these checks read only the file
headers, so a bad folder fails in milliseconds with one line naming the file and what to do.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

from hf_unlearn.errors import UserError

#: Files any one of which makes a folder a tokenizer folder (fast, SentencePiece, BPE, WordPiece, tiktoken).
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json", "vocab.txt", "tokenizer_config.json")


class ModelUnavailableError(UserError, RuntimeError):
    """The model (or tokenizer) can't be had: offline without a local copy, a missing path, or broken files."""


def _safetensors_problem(path: Path) -> str | None:
    """Why a .safetensors file can't be loaded (from its header and size alone), or None when it looks whole."""
    size = path.stat().st_size
    with open(path, "rb") as handle:
        head = handle.read(8)
        if len(head) < 8:
            return f"only {size} bytes"
        (header_len,) = struct.unpack("<Q", head)
        if header_len > size - 8:
            return "invalid header length"
        try:
            header = json.loads(handle.read(header_len))
            ends = [meta["data_offsets"][1] for name, meta in header.items() if name != "__metadata__"]
        except (ValueError, TypeError, KeyError, IndexError, AttributeError):
            return "unreadable header"
    if 8 + header_len + max(ends, default=0) > size:
        return "its tensors run past the end of the file"
    return None


def check_model_folder(folder: str | Path, key: str = "model") -> None:
    """A local model folder must hold config.json and whole weight files; Hub ids are left to the Hub."""
    folder = Path(folder)
    if not folder.is_dir():
        return
    if not (folder / "config.json").is_file() and not (folder / "adapter_config.json").is_file():
        raise ModelUnavailableError(
            f"{key}: {folder} has no config.json: point {key} at a complete model folder (config.json + weights)"
        )
    for path in sorted(folder.glob("*.safetensors")):
        problem = _safetensors_problem(path)
        if problem:
            raise ModelUnavailableError(
                f"{key}: {path} is truncated or corrupt ({problem}): download or save the model again "
                "(or re-run the training that wrote it)"
            )


def check_tokenizer_folder(folder: str | Path, key: str = "tokenizer") -> None:
    """A local tokenizer folder must hold tokenizer files; say which setting picks another one."""
    folder = Path(folder)
    if folder.is_dir() and not any((folder / name).is_file() for name in TOKENIZER_FILES):
        raise ModelUnavailableError(
            f"{key}: {folder} has no tokenizer files ({', '.join(TOKENIZER_FILES[:2])}): copy them there, or point "
            "the tokenizer (recipe key tokenizer, eval --tokenizer) at a folder or Hub id that has them"
        )
