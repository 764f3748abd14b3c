"""The recipe as published: what someone else can rerun, without this machine's paths.

The run folder's recipe.yaml is the resolved recipe verbatim, so it names local folders (`model: /home/me/...`,
`output_dir: ...`). Published, each local path follows `portable.portable_path` (a Hub id where hf-unlearn
published the folder, else `./<name>`), `output_dir` goes back to its default, and a header comment lists what
changed. The card's hyper-parameter table shows the same values.
"""

from __future__ import annotations

import yaml

from hf_unlearn.publish.portable import is_local_path, portable_path
from hf_unlearn.recipe import Recipe

#: Keys that may hold a local path (a model folder, an evaluation log, a data file or folder).
PATH_KEYS = (
    "model", "tokenizer", "eval.retain_model", "eval.gibberish_model", "eval.retain_logs", "eval.holdout_file",
    "data.source", "alternates", "data.forget_file", "eval.include_path",
)  # fmt: skip


def _set(tree: dict, dotted: str, value) -> None:
    *parents, leaf = dotted.split(".")
    for part in parents:
        tree = tree[part]
    tree[leaf] = value


def portable_settings(recipe: Recipe) -> tuple[dict, list[str]]:
    """{dotted key: published value} for every setting that names this machine, and one note per change."""
    values: dict = {}
    notes: list[str] = []
    if recipe["output_dir"] is not None:
        values["output_dir"] = None
        notes.append("output_dir: reset to the default (saves/<task>/<run name>)")
    for key in PATH_KEYS:
        if is_local_path(recipe[key], named_as_path=True):
            new, note = portable_path(recipe[key])
            if new != recipe[key]:
                values[key] = new
                notes.append(f"{key}: {note}")
    options, changed = _portable_options(recipe["eval.robustness_options"] or {})
    if changed:
        values["eval.robustness_options"] = options
        notes.extend(f"eval.robustness_options.{key}: {note}" for key, note in changed)
    return values, notes


def _portable_options(options: dict) -> tuple[dict, list[tuple[str, str]]]:
    """Attack options (e.g. quantize's original_model) with their local paths made portable too."""
    out, changed = {}, []
    for attack, settings in options.items():
        out[attack] = dict(settings)
        for key, value in settings.items():
            if isinstance(value, str) and is_local_path(value, named_as_path=True):
                new, note = portable_path(value)
                if new != value:
                    out[attack][key] = new
                    changed.append((f"{attack}.{key}", note))
    return out, changed


def portable_recipe_text(recipe: Recipe) -> str:
    """recipe.yaml for the Hub: local paths replaced (see the module docstring), with a comment saying which."""
    tree = recipe.to_yaml_dict()
    values, notes = portable_settings(recipe)
    for key, value in values.items():
        _set(tree, key, value)
    header = ""
    if notes:
        lines = ["# hf-unlearn: this published copy differs from the run's recipe in local paths only"]
        header = "\n".join(lines + [f"# - {note}" for note in notes]) + "\n"
    return header + yaml.safe_dump(tree, sort_keys=False)
