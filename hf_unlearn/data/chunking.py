"""Raw text as open-unlearning's pretraining dataset reads it (MUSE): one token stream, fixed-length windows,
computed once per (documents, tokenizer, length) and cached on disk by that fingerprint.

open-unlearning joins the documents with a blank line, tokenizes the whole text without special tokens and cuts it
into `max_length`-token windows (stride = length); each window is then decoded back to a string and re-tokenized with
BOS at every access, which can shift a window by a few tokens and adds an empty last window when the length divides
exactly. Here the windows are the token slices themselves (`corpora.chunk_documents`), BOS prepended and masked in
the labels, no EOS, the tail kept as a shorter window and never an empty one.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from hf_unlearn.data.corpora import chunk_documents

#: Between two documents, as open-unlearning joins them.
JOINER = "\n\n"
#: Bumped whenever the windows a fingerprint maps to change, so older cache files are ignored.
CHUNK_VERSION = 1


def text_windows(docs: list[str], tokenizer, max_length: int) -> list[dict]:
    """Training windows of `docs`: `{"input_ids": [BOS] + w, "labels": [-100] + w}` for each `max_length`-token
    slice `w` of the joined text (no BOS when the tokenizer has none)."""
    ids = tokenizer(JOINER.join(docs), add_special_tokens=False)["input_ids"]
    return chunk_documents([ids], max_length, None, tokenizer.bos_token_id)


def tokenizer_identity(tokenizer) -> str:
    """What decides how a tokenizer splits text: its full serialisation when it has one (fast tokenizers)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    text = backend.to_str() if backend is not None else f"{type(tokenizer).__name__}:{tokenizer.name_or_path}"
    return hashlib.sha256(f"{text}|bos={tokenizer.bos_token_id}".encode()).hexdigest()


def fingerprint(docs: list[str], tokenizer, max_length: int) -> str:
    digest = hashlib.sha256(f"v{CHUNK_VERSION}|{max_length}|{tokenizer_identity(tokenizer)}".encode())
    for doc in docs:
        digest.update(hashlib.sha256(doc.encode()).digest())
    return digest.hexdigest()


def cache_dir() -> Path:
    from huggingface_hub import constants

    return Path(constants.HF_HOME) / "hf_unlearn" / "chunks"


def cached_text_windows(docs: list[str], tokenizer, max_length: int, folder: str | Path | None = None) -> list[dict]:
    """`text_windows`, read from the cache when these documents were already chunked for this tokenizer and
    length (a 4 MB corpus is tokenized once, not at every run); written there otherwise."""
    path = Path(folder or cache_dir()) / f"{fingerprint(docs, tokenizer, max_length)}.json"
    if path.is_file():
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):  # a partly written or damaged file: chunk again
            pass
    windows = text_windows(docs, tokenizer, max_length)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")  # processes of one run write in turn
        tmp.write_text(json.dumps(windows), encoding="utf-8")
        tmp.replace(path)
    except OSError:  # a read-only cache only costs the re-tokenization
        pass
    return windows
