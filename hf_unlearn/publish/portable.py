"""The one rule for this machine's paths in anything published: a Hub id where one is known, else `./<name>`.

A run folder's files name local folders (the base model, the retain model, the evaluator's model and log paths,
a LoRA adapter's base). Published, such paths mean nothing to a reader, leak the trainer's file layout and break
loading elsewhere. A local folder that hf-unlearn itself published (it holds hub.json) becomes its Hub id; any
other local path becomes `./<its last component>`: put your copy there to rerun or load.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from hf_unlearn.layout import ADAPTER_CONFIG
from hf_unlearn.publish.hub_record import hub_base_model, is_hub_id, published_repo_id


def is_local_path(value, named_as_path: bool = False) -> bool:
    """Whether a string names a local file or folder.

    Absolute (other than `/` itself), home- and `./`-relative strings do; another relative one does when it exists
    and either holds a `/` or sits under a key known to hold paths (`named_as_path`). Under such a key, a relative
    path with a `/` that cannot be a Hub id (`demo_runs/finetune/x`) counts even where it does not exist (publishing
    from another directory). Free text (anything with white space), Hub ids and split names are left alone.
    """
    if not isinstance(value, str) or not value or value == "tiny" or any(c.isspace() for c in value):
        return False
    if value.startswith(("./", "../")) or value in (".", ".."):
        return True
    path = Path(value).expanduser()
    if path.is_absolute():
        return len(path.parts) > 1
    if named_as_path and "/" in value and not is_hub_id(value):
        return True
    return ("/" in value or named_as_path) and path.exists()


def portable_path(value: str) -> tuple[str, str]:
    """(what to publish instead of the local path `value`, a note saying what it was)."""
    folder = Path(value).expanduser()
    hub_id = published_repo_id(folder) if folder.is_dir() else None
    if hub_id:
        return hub_id, f"was the local copy of {hub_id}"
    name = f"./{Path(os.path.abspath(folder)).name}"
    return name, f"was a local path, now {name}"


def adapter_base(run) -> str:
    """The base model a published LoRA adapter of `run` (a RunFolder) names: the Hub id of the run's base (a Hub
    id in the recipe, or the repo hf-unlearn published a local base to), else the recorded local base as
    `./<name>`, where a user must put a copy of it."""
    hub_id = hub_base_model(str(run.info.get("base_model") or run.recipe["model"]))
    if hub_id:
        return hub_id
    config = run.path / run.lora["adapter_dir"] / ADAPTER_CONFIG
    recorded = json.loads(config.read_text(encoding="utf-8")).get("base_model_name_or_path") or ""
    return portable_path(recorded)[0] if is_local_path(recorded) else recorded


def portable_tree(tree, where: str = "") -> tuple[object, list[str]]:
    """A JSON-like tree with every local path replaced by `portable_path`, and one note per replacement."""
    notes: list[str] = []
    if isinstance(tree, dict):
        out = {}
        for key, value in tree.items():
            out[key], found = portable_tree(value, f"{where}.{key}" if where else str(key))
            notes += found
        return out, notes
    if isinstance(tree, list):
        items = [portable_tree(value, f"{where}[{i}]") for i, value in enumerate(tree)]
        return [item for item, _ in items], [note for _, found in items for note in found]
    if is_local_path(tree):
        new, note = portable_path(tree)
        return new, [f"{where}: {note}"] if new != tree else []
    return tree, notes


def make_json_portable(path: Path) -> list[str]:
    """Rewrite a JSON file in place without local paths (untouched when it holds none); the notes of what changed."""
    portable, notes = portable_tree(json.loads(path.read_text(encoding="utf-8")))
    if notes:
        path.write_text(json.dumps(portable, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return notes
