"""The recipe as published: what someone else can rerun, without this machine's paths.

The run folder's recipe.yaml is the resolved recipe verbatim, so it names local folders (`model: /home/me/...`,
`output_dir: ...`). Published, those paths mean nothing to a reader and leak the trainer's file layout. A local
model folder that was itself published by hf-unlearn becomes its Hub id; any other local path becomes `./<its last
component>` (put your copy there to rerun); `output_dir` goes back to its default. A header comment lists what
changed.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from hf_unlearn.publish.hub_record import hub_base_model
from hf_unlearn.recipe import Recipe

#: Keys that may hold a model: a local one may map back to its Hub id.
MODEL_KEYS = ("model", "tokenizer", "eval.retain_model", "eval.gibberish_model")
#: Keys that may hold other local paths.
PATH_KEYS = ("eval.retain_logs", "eval.holdout_file", "data.source")


def _is_local_path(value: str) -> bool:
    return value.startswith(("/", "~", ".")) or Path(value).expanduser().exists()


def _set(tree: dict, dotted: str, value) -> None:
    *parents, leaf = dotted.split(".")
    for part in parents:
        tree = tree[part]
    tree[leaf] = value


def portable_recipe_text(recipe: Recipe) -> str:
    """recipe.yaml for the Hub: local paths replaced (see the module docstring), with a comment saying which."""
    tree = recipe.to_yaml_dict()
    changes = []
    if recipe["output_dir"] is not None:
        _set(tree, "output_dir", None)
        changes.append("output_dir: reset to the default (saves/<task>/<run name>)")
    for key in MODEL_KEYS + PATH_KEYS:
        value = recipe[key]
        if not isinstance(value, str) or value == "tiny" or not _is_local_path(value):
            continue
        hub_id = hub_base_model(value) if key in MODEL_KEYS else None
        name = f"./{Path(value).expanduser().name}"
        _set(tree, key, hub_id or name)
        changes.append(f"{key}: " + (f"was the local copy of {hub_id}" if hub_id else f"was a local path, now {name}"))
    header = ""
    if changes:
        lines = ["# hf-unlearn: this published copy differs from the run's recipe in local paths only"]
        header = "\n".join(lines + [f"# - {change}" for change in changes]) + "\n"
    return header + yaml.safe_dump(tree, sort_keys=False)
