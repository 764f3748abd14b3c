"""Is a run folder's finished run the run of this recipe? One rule for `hf-unlearn train`, the sweep and the demo.

A run folder is finished when its run_info.json says so, and it is *this recipe's* run only when the recipe it
recorded (recipe.yaml, every key resolved) equals the recipe's resolved keys. A key that is not part of the run name
(`max_steps`, `seed`, data limits, evaluation settings) changes the run as much as one that is, so comparing names or
folders would let a 2-step smoke test stand in for the real run. Paths compare by where they point, so `./x/` and
the absolute path of `x` are the same model; `output_dir` is not compared (it names the folder being compared).

A finished run of another recipe is never replaced silently: the caller stops with one line naming the keys that
differ, unless the user asks to overwrite, which deletes what the folder holds (weights, checkpoints, evals,
robustness results, export) before training starts, so nothing of the old run is left to be read as the new one's.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import yaml

from hf_unlearn.errors import UserError
from hf_unlearn.layout import CHECKPOINT_PREFIX, RECIPE_FILE, RUN_INFO
from hf_unlearn.recipe import SCHEMA, Recipe, allowed_keys, flatten

#: Differing keys named in the one-line message before "and N more".
SHOWN_DIFFERENCES = 3
OVERWRITE_HINT = "pass --overwrite to delete it and train there, or write this run elsewhere (output_dir)"


class OtherRecipeError(UserError):
    """The run folder holds a finished run of another recipe, and overwriting it was not asked for."""


def is_finished(run_dir: str | Path) -> bool:
    try:
        return bool(json.loads((Path(run_dir) / RUN_INFO).read_text()).get("finished"))
    except (OSError, ValueError, AttributeError):
        return False


def normal_path(value):
    """Where a string points, when it is a path: existing paths resolved, others normalised (`x/` = `x`)."""
    if not isinstance(value, str) or not value:
        return value
    path = Path(value).expanduser()
    return str(path.resolve()) if path.exists() else os.path.normpath(str(path))


def _default(recipe: Recipe, key: str):
    """What an older recipe.yaml without `key` ran with: the key's default (a key added since then)."""
    if key in SCHEMA:
        return SCHEMA[key].default
    if recipe["task"] == "unlearn" and key in recipe.method_spec.params:
        return recipe.method_spec.params[key].default
    return None


def recorded_recipe(run_dir: str | Path) -> dict | None:
    """The run folder's recipe.yaml as flat dotted keys, or None when there is none (or it is unreadable)."""
    try:
        raw = yaml.safe_load((Path(run_dir) / RECIPE_FILE).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None
    return flatten(raw) if isinstance(raw, dict) else None


def differences(recipe: Recipe, run_dir: str | Path) -> list[str]:
    """`key: recorded -> now` for every resolved key whose recorded value differs ([] when the recipes are equal)."""
    recorded = recorded_recipe(run_dir)
    if recorded is None:
        return [f"no readable {RECIPE_FILE}"]
    now = flatten(recipe.to_yaml_dict())
    known = set(allowed_keys())  # a key removed from the schema since the run no longer means anything
    out = []
    for key in [*now, *(k for k in recorded if k not in now)]:
        if key == "output_dir" or key not in known:
            continue
        before = recorded.get(key, _default(recipe, key))
        after = now.get(key, _default(recipe, key))
        if normal_path(before) != normal_path(after):
            out.append(f"{key}: {before!r} -> {after!r}")
    return out


def describe(found: list[str]) -> str:
    shown = ", ".join(found[:SHOWN_DIFFERENCES])
    more = len(found) - SHOWN_DIFFERENCES
    return shown + (f" and {more} more" if more > 0 else "")


def finished_with(recipe: Recipe, run_dir: str | Path) -> bool:
    """The folder holds a finished run of exactly this recipe (reused by the sweep and the demo)."""
    return is_finished(run_dir) and not differences(recipe, run_dir)


def stale_message(run_dir: str | Path, found: list[str]) -> str:
    return f"{run_dir} holds a finished run of another recipe ({describe(found)})"


def prepare_run_folder(recipe: Recipe, overwrite: bool = False, resume: bool = False, main: bool = True) -> None:
    """Before training: refuse to train over a finished run of another recipe unless `overwrite`; with `overwrite`,
    empty the folder first (on the main process only, `main`), so the new run leaves no file of the old one.

    A finished run of the same recipe is trained again in place, as before; an unfinished folder (an interrupted
    run, resumable with `resume`) is left to the trainer.
    """
    if overwrite and resume:
        raise UserError("--overwrite and --resume: choose one (--overwrite deletes the checkpoints --resume needs)")
    run_dir = Path(recipe.output_dir)
    if not is_finished(run_dir):
        if overwrite and main and _left_by_a_run(run_dir):
            _clear(recipe, run_dir)
        return
    found = differences(recipe, run_dir)
    if found and not overwrite:
        raise OtherRecipeError(f"{stale_message(run_dir, found)}: {OVERWRITE_HINT}")
    if overwrite and main:
        _clear(recipe, run_dir)


def _left_by_a_run(run_dir: Path) -> bool:
    """An unfinished folder is emptied only when a run wrote it (checkpoints, recipe, run info), never a folder of
    the user's that output_dir happens to name."""
    return (
        (run_dir / RECIPE_FILE).is_file()
        or (run_dir / RUN_INFO).is_file()
        or any(run_dir.glob(f"{CHECKPOINT_PREFIX}*"))
    )


def _clear(recipe: Recipe, run_dir: Path) -> None:
    """Delete the run folder, after checking that neither the working directory nor any path the recipe reads lies
    inside it (a chain whose model is its own output folder would otherwise lose its starting model)."""
    inside = Path(normal_path(str(run_dir)))
    cwd = Path.cwd().resolve()
    if cwd == inside or inside in cwd.parents:
        raise UserError(f"output_dir: {run_dir} holds the working directory; --overwrite deletes only a run folder")
    for key, value in flatten(recipe.to_yaml_dict()).items():
        if key == "output_dir" or not isinstance(value, str) or not Path(value).expanduser().exists():
            continue
        target = Path(normal_path(value))
        if target == inside or inside in target.parents:
            raise UserError(
                f"{key}: '{value}' lies inside {run_dir}, which --overwrite would delete; copy it out first"
            )
    print(f"[hf-unlearn] --overwrite: deleting {run_dir} (the earlier run's weights, checkpoints, evals, export)")
    shutil.rmtree(run_dir)
