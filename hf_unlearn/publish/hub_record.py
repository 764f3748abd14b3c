"""What a run folder records about where it was published (hub.json), and models named by Hub id.

The card's `base_model`, the published recipe and the licence lineage all ask the same question of a local
folder: was it itself published by hf-unlearn, and as which repo?
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from hf_unlearn.layout import HUB_RECORD

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def published_repo_id(folder: Path) -> str | None:
    """The Hub repo a local run folder was published to (its hub.json), or None."""
    record = folder / HUB_RECORD
    return json.loads(record.read_text()).get("repo_id") if record.is_file() else None


def is_hub_id(value: str) -> bool:
    """Whether `value` has the form of a Hub repo id (ORG/NAME)."""
    return bool(_HUB_ID.match(value))


def hub_base_model(model: str | None) -> str | None:
    """The base model as a Hub repo id, for the card's `base_model` metadata; None for local-only models.

    A local folder counts when it was itself published by hf-unlearn (it then holds hub.json).
    """
    if not model or model == "tiny":
        return None
    folder = Path(model).expanduser()
    if folder.is_dir():
        return published_repo_id(folder)
    return model if is_hub_id(model) else None
