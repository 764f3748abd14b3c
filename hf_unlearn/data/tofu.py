"""TOFU splits: from the Hub (`locuslab/TOFU`) when reachable, else the copy bundled with the package.

The bundled copy keeps the whole product usable offline (CI, air-gapped clusters); the Hub stays the default
source so users get upstream fixes. The choice is said once per process, so logs show where numbers came from.
"""

from __future__ import annotations

import json
import logging
import os
from importlib import resources
from pathlib import Path

from hf_unlearn.errors import UserError

logger = logging.getLogger(__name__)

HUB_DATASET = "locuslab/TOFU"
FORGET_SPLITS = ("forget01", "forget05", "forget10")
RETAIN_SPLITS = ("retain99", "retain95", "retain90")
HOLDOUT_SPLITS = ("holdout01", "holdout05", "holdout10")
EVAL_SPLITS = tuple(f"{s}_perturbed" for s in FORGET_SPLITS) + (
    "retain_perturbed",
    "real_authors_perturbed",
    "world_facts_perturbed",
)
ALL_SPLITS = ("full",) + FORGET_SPLITS + RETAIN_SPLITS + HOLDOUT_SPLITS + EVAL_SPLITS
#: forget split -> the retain split that is its complement, and the holdout split of the same size.
RETAIN_OF = dict(zip(FORGET_SPLITS, RETAIN_SPLITS, strict=True))
HOLDOUT_OF = dict(zip(FORGET_SPLITS, HOLDOUT_SPLITS, strict=True))
SOURCES = ("auto", "hub", "bundled")

_announced: set[str] = set()


class SplitUnavailableError(UserError, RuntimeError):
    """A split the chosen source does not have (e.g. the holdout splits, which exist only on the Hub)."""


class DataFileError(UserError, ValueError):
    """A split file of a data folder that is empty or not JSON Lines."""


def bundled_dir() -> Path:
    """Folder of the TOFU JSON Lines shipped inside the package."""
    return Path(str(resources.files("hf_unlearn.data") / "tofu_data"))


def _read_jsonl(path: Path) -> list[dict]:
    rows = []
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as err:
                    raise DataFileError(
                        f"{path}:{number}: not valid JSON ({err.msg}); fix or replace the file"
                    ) from None
    return rows


def _hub_offline() -> bool:
    try:
        from huggingface_hub import constants

        return bool(constants.HF_HUB_OFFLINE)
    except ImportError:  # pragma: no cover - huggingface_hub is a dependency
        return os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0", "false", "False")


def _announce(message: str) -> None:
    if message not in _announced:
        _announced.add(message)
        logger.warning(message)


def _name_of(directory: Path) -> str:
    """A data folder as a message names it: what it is, never its path on this machine (such messages end up in
    published evaluation files as absent reasons)."""
    if directory.resolve() == bundled_dir().resolve():
        return "the copy bundled with hf_unlearn"
    return f"the data.source folder '{directory.name}'"


def _load_from_dir(directory: Path, split: str) -> list[dict]:
    path = directory / f"{split}.jsonl"
    if not path.exists():
        alt = directory / f"{split}.json"
        if alt.exists():
            text = alt.read_text(encoding="utf-8").strip()
            return _non_empty(json.loads(text) if text.startswith("[") else _read_jsonl(alt), alt)
        raise SplitUnavailableError(
            f"TOFU split '{split}' is not in {_name_of(directory)}"
            + (
                " (the holdout splits exist only on the Hub dataset locuslab/TOFU)"
                if split.startswith("holdout")
                else ""
            )
        )
    return _non_empty(_read_jsonl(path), path)


def _non_empty(rows: list[dict], path: Path) -> list[dict]:
    """An empty split would train on nothing (or divide by zero in a metric) far from the cause: stop here."""
    if not rows:
        raise DataFileError(f"{path} holds no rows: fill it, or set data.source to bundled or hub")
    return rows


def _load_from_hub(split: str) -> list[dict]:
    from datasets import load_dataset

    return list(load_dataset(HUB_DATASET, split, split="train"))


def load_split(split: str, source: str = "auto") -> list[dict]:
    """Rows of one TOFU split as a list of dicts.

    `source`: "hub", "bundled", "auto" (Hub, falling back to the bundled copy when offline or unreachable), or a
    directory holding `<split>.jsonl` files.
    """
    if source not in SOURCES:
        directory = Path(source).expanduser()
        if not directory.is_dir():
            raise DataFileError(f"data.source: '{source}' is neither one of {', '.join(SOURCES)} nor a directory")
        _announce(f"TOFU data: using the local directory {directory}")
        return _load_from_dir(directory, split)
    if source == "bundled" or (source == "auto" and _hub_offline()):
        if source == "auto":
            _announce("TOFU data: offline mode (HF_HUB_OFFLINE=1), using the copy bundled with hf_unlearn")
        else:
            _announce("TOFU data: using the copy bundled with hf_unlearn")
        return _load_from_dir(bundled_dir(), split)
    try:
        rows = _load_from_hub(split)
        _announce(f"TOFU data: using the Hub dataset {HUB_DATASET}")
        return rows
    except (ConnectionError, OSError) as err:
        if source == "hub":
            raise ConnectionError(
                f"could not load TOFU split '{split}' from the Hub ({HUB_DATASET}): {err}. "
                "Use data.source: bundled to run offline."
            ) from err
        _announce(
            f"TOFU data: the Hub dataset {HUB_DATASET} is unreachable ({type(err).__name__}), "
            "using the copy bundled with hf_unlearn"
        )
        return _load_from_dir(bundled_dir(), split)


def load_idk_answers() -> list[str]:
    """The refusal answers ("I don't know" style) used by IdkDPO / IdkNLL."""
    text = (bundled_dir() / "idontknow.txt").read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip()]
