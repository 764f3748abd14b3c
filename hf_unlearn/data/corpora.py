"""Raw-text corpora (WMDP's unlearning corpora): where each one comes from, how it loads, how it is chunked.

A corpus is a list of documents (strings). How training reads them (fixed-length windows of the joined documents,
or whole documents in order) is `schedules.py`'s job; `chunk_documents` cuts a token stream into windows.
Corpora load from a local folder of `<corpus>.jsonl` files (the layout of WMDP's zip archive), from a single file
given by the user, or from the Hub.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from hf_unlearn.errors import UserError, first_line, hub_refusal

GATED_BIO_REPO = "cais/wmdp-bio-forget-corpus"
ACCESS_HINT = (
    f"request access at https://huggingface.co/datasets/{GATED_BIO_REPO} and log in (`hf auth login` or HF_TOKEN), "
    "or pass a local copy with data.forget_file (JSON Lines with a `text` field)"
)


class CorpusError(UserError, ValueError):
    """A corpus that cannot be had (gated, offline, missing file, empty)."""


@dataclass(frozen=True)
class HubCorpus:
    """Where a corpus lives on the Hub; `gated` corpora need an access request first."""

    repo: str
    config: str | None
    split: str
    gated: bool = False


#: The corpora WMDP's recipes use, by the file name they have in WMDP's archive.
HUB_CORPORA: dict[str, HubCorpus] = {
    "bio-forget-corpus": HubCorpus(GATED_BIO_REPO, None, "train", gated=True),
    "bio-retain-corpus": HubCorpus("cais/wmdp-corpora", "bio-retain-corpus", "train"),
    "cyber-forget-corpus": HubCorpus("cais/wmdp-corpora", "cyber-forget-corpus", "train"),
    "cyber-retain-corpus": HubCorpus("cais/wmdp-corpora", "cyber-retain-corpus", "train"),
    "wikitext": HubCorpus("Salesforce/wikitext", "wikitext-2-raw-v1", "test"),
}


def parse_lines(lines: list[str]) -> list[str]:
    """Documents of a JSON Lines file (the `text` field) or of a plain-text file (one document per line).

    WMDP's bio forget corpus is JSON; its cyber files are plain lines. A line is decoded only when it is a JSON
    object with `text`, so a plain line that happens to be valid JSON (a number) stays text. Blank lines are
    dropped (the original RMU keeps documents longer than 0 characters).
    """
    docs = []
    for line in lines:
        line = line.rstrip("\n")
        if not line.strip():
            continue
        if line.lstrip().startswith("{"):
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                row = None
            if isinstance(row, dict) and isinstance(row.get("text"), str):
                line = row["text"]
        docs.append(line)
    return docs


def read_file(path: str | Path, key: str) -> list[str]:
    """Documents of a local corpus file; `key` is the setting that named it."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise CorpusError(f"{key}: no such file {path}")
    docs = parse_lines(path.read_text(encoding="utf-8").splitlines())
    if not docs:
        raise CorpusError(f"{key}: {path} holds no document (JSON Lines with a `text` field, or one per line)")
    return docs


def load_hub(name: str) -> list[str]:
    """Documents of a Hub corpus; a one-line error when it is offline, gated or missing. "Gated" is said only when
    the Hub says so: a network error loading the gated corpus is reported as what it is."""
    spec = HUB_CORPORA[name]
    from datasets import load_dataset
    from huggingface_hub import constants

    where = f"{spec.repo}" + (f" ({spec.config})" if spec.config else "")
    local = "pass a local copy with data.forget_file (JSON Lines with a `text` field)"
    if constants.HF_HUB_OFFLINE:
        if spec.gated:
            raise CorpusError(
                f"data.forget_file: {name} ({spec.repo}) needs the Hub and offline mode is on: {local}, or connect "
                f"(unset HF_HUB_OFFLINE) with an account granted access at https://huggingface.co/datasets/{spec.repo}"
            )
        hint = "connect and unset HF_HUB_OFFLINE, or set data.source to a folder"
        raise CorpusError(f"data.source: corpus {name} ({where}) needs the Hub and offline mode is on: {hint}")
    try:
        rows = load_dataset(spec.repo, spec.config, split=spec.split)
    except Exception as err:  # gated, missing and network errors come in many types
        if hub_refusal(err) == "gated":
            raise CorpusError(f"data.forget_file: {name} ({spec.repo}) is gated on the Hub: {ACCESS_HINT}") from None
        hint = f"; or {local}" if spec.gated else ""
        raise CorpusError(
            f"data.source: corpus {name} ({where}) could not be loaded: {first_line(err)}{hint}"
        ) from None
    return [text for text in rows["text"] if text]


def load_corpus(name: str, source: str = "auto", file: str | None = None) -> list[str]:
    """One corpus: from `file` when given, else `<source>/<name>.jsonl` when `source` is a folder, else the Hub."""
    if file:
        return read_file(file, "data.forget_file")
    if source not in ("auto", "hub"):
        folder = Path(source).expanduser()
        path = folder / f"{name}.jsonl"
        if not path.is_file():
            gated = name in HUB_CORPORA and HUB_CORPORA[name].gated
            hint = f": {ACCESS_HINT}" if gated else ""
            raise CorpusError(f"data.source: {folder} has no {name}.jsonl{hint}")
        return read_file(path, "data.source")
    return load_hub(name)


def chunk_documents(
    token_lists: list[list[int]], max_length: int, separator: int | None, bos: int | None = None
) -> list[dict]:
    """Fixed-length training windows of the concatenated documents: `max_length` tokens each, stride
    `max_length` (no overlap).

    Documents are joined with `separator` (the end-of-text token) so a window never reads two documents as one
    text; the last window keeps what is left (shorter, padded by the collator), and no window is empty (where
    open-unlearning's chunking adds an empty one when the length divides exactly). With `bos`, each window starts
    with it and its label is masked (-100): the model reads it and never predicts it; labels = input ids
    otherwise.
    """
    if max_length < 1:
        raise ValueError(f"max_length must be >= 1, got {max_length}")
    stream: list[int] = []
    for tokens in token_lists:
        if stream and separator is not None:
            stream.append(separator)
        stream.extend(tokens)
    windows = [stream[i : i + max_length] for i in range(0, len(stream), max_length)]
    head, masked = ([bos], [-100]) if bos is not None else ([], [])
    return [{"input_ids": head + list(w), "labels": masked + list(w)} for w in windows if w]
