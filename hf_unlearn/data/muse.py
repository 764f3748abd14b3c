"""MUSE's data (Shi et al. 2024): the News and Books datasets on the Hub, their configs, splits and columns.

MUSE is distributed only through the Hub (`muse-bench/MUSE-News`, `muse-bench/MUSE-Books`; Books is Harry Potter
text, so nothing of it is bundled). Every config is read through the one `datasets.load_dataset(path, name=config,
split=split)` call, from the Hub id or from a local folder laid out like the Hub repo (a README.md whose YAML
header lists the configs' data files): that is how tests and the demo run offline on a synthetic corpus in the same
schema (`muse_synthetic.py`).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hf_unlearn.errors import UserError

CORPORA = ("news", "books")
HUB_IDS = {"news": "muse-bench/MUSE-News", "books": "muse-bench/MUSE-Books"}
#: `source` values that mean the Hub (`auto` is every benchmark's recipe default).
HUB_SOURCES = ("hub", "auto")
#: How the corpora are written in names (run names, OU's `data_split`).
TITLES = {"news": "News", "books": "Books"}

TEXT = ("text",)
#: config -> its columns (all strings).
COLUMNS: dict[str, tuple[str, ...]] = {
    "raw": TEXT,
    "verbmem": ("prompt", "gt"),
    "knowmem": ("question", "answer"),
    "privleak": TEXT,
    "scal": TEXT,
    "sust": TEXT,
    "train": TEXT,
}
_FOLDS = ("forget_1", "forget_2", "forget_3", "forget_4")
_COMMON = {
    "raw": ("forget", "retain1", "retain2", "holdout"),
    "verbmem": ("forget",),
    "knowmem": ("forget_qa", "retain_qa", "forget_qa_icl", "retain_qa_icl"),
    "privleak": ("forget", "retain", "holdout"),
    "train": ("forget", "retain1", "retain2"),
}
#: corpus -> config -> its splits. Books has no scalability / sustainability folds.
SPLITS: dict[str, dict[str, tuple[str, ...]]] = {
    "news": {**_COMMON, "scal": _FOLDS, "sust": _FOLDS},
    "books": dict(_COMMON),
}


class MuseDataError(UserError, ValueError):
    """A MUSE config/split that cannot be had (offline, missing, wrong schema)."""


def dataset_name(corpus: str, source: str = "hub") -> str:
    """What the error messages call the dataset: its Hub id, or the local folder standing in for it."""
    return HUB_IDS[corpus] if source == "hub" else f"{source} (local copy of {HUB_IDS[corpus]})"


def check_split(corpus: str, config: str, split: str) -> None:
    """ValueError naming the corpus, config or split MUSE does not have."""
    if corpus not in SPLITS:
        raise MuseDataError(f"data.corpus: '{corpus}' is not a MUSE corpus; allowed: {', '.join(CORPORA)}")
    configs = SPLITS[corpus]
    if config not in configs:
        raise MuseDataError(f"MUSE {TITLES[corpus]} has no config '{config}'; it has: {', '.join(configs)}")
    if split not in configs[config]:
        allowed = ", ".join(configs[config])
        raise MuseDataError(f"MUSE {TITLES[corpus]} {config} has no split '{split}'; it has: {allowed}")


def load_split(corpus: str, config: str, split: str, source: str = "hub") -> list[dict]:
    """Rows of one MUSE split with exactly the Hub's columns; `source` is "hub" ("auto") or a local folder in the Hub
    repo's layout. Anything that stops the load (offline and not cached, no such folder, a missing column) is a
    one-line error naming the dataset."""
    check_split(corpus, config, split)
    if source in HUB_SOURCES:
        source = "hub"
    name = dataset_name(corpus, source)
    if source == "hub":
        path = HUB_IDS[corpus]
    else:
        folder = Path(source).expanduser()
        if not (folder / "README.md").is_file():
            raise MuseDataError(
                f"data.source: {folder} is not a MUSE dataset folder (no README.md listing its configs); "
                f"use 'hub' for {HUB_IDS[corpus]}"
            )
        path = str(folder)
    from huggingface_hub import constants

    try:
        names, rows = _load_rows(path, config, split, local=source != "hub")
    except Exception as err:  # offline, missing and network errors come in many types
        if source == "hub" and constants.HF_HUB_OFFLINE:
            raise MuseDataError(
                f"data.source: MUSE dataset {name} ({config}/{split}) is not cached and offline mode is on: "
                "connect and unset HF_HUB_OFFLINE, or set data.source to a local copy"
            ) from None
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise MuseDataError(
            f"data.source: MUSE dataset {name} ({config}/{split}) could not be loaded: {reason}"
        ) from None
    columns = COLUMNS[config]
    missing = [c for c in columns if c not in names]
    if missing:
        raise MuseDataError(
            f"data.source: MUSE dataset {name} ({config}/{split}) has no column '{missing[0]}' "
            f"(expected {', '.join(columns)}; an old revision of the dataset?)"
        )
    return [{c: row[c] for c in columns} for row in rows]


def _load_rows(path: str, config: str, split: str, local: bool) -> tuple[list[str], list[dict]]:
    """The split's column names and rows. A local folder is read through a throwaway cache: `datasets` keys a local
    folder's cache by the folder's name, so a cached copy would hand back the rows of another folder of that name
    or of this one before it was rewritten."""
    from datasets import load_dataset

    if not local:
        rows = load_dataset(path, name=config, split=split)
        return rows.column_names, list(rows)
    with tempfile.TemporaryDirectory(prefix="hf_unlearn_muse_") as cache:
        rows = load_dataset(path, name=config, split=split, cache_dir=cache)
        return rows.column_names, list(rows)
