"""The robustness suite of a run folder: what its recipe says (benchmark, evaluation settings, retain model, the
model unlearning started from), for `hf-unlearn attack RUN_DIR` and for `eval.robustness` after training."""

from __future__ import annotations

from dataclasses import fields, replace
from pathlib import Path

import yaml

from hf_unlearn.errors import UserError
from hf_unlearn.layout import RECIPE_FILE, ROBUSTNESS_DIR
from hf_unlearn.recipe import Recipe, RecipeError
from hf_unlearn.robustness.suite import check_request, run_suite


def run_recipe_of(folder: str | Path) -> Recipe | None:
    """The recipe a run folder was trained with, None for a plain model folder or Hub id."""
    path = Path(folder) / RECIPE_FILE
    if not path.is_file():
        return None
    return Recipe.from_dict(yaml.safe_load(path.read_text(encoding="utf-8")) or {}, source=path)


def with_command_line(settings, from_args, given: set[str]):
    """A run's evaluation settings with what the command line set taken from `from_args` (the same benchmark's
    settings built from the command line; `given`: the options it set, named like the settings' fields). A field
    whose default derives from a given one (the settings' `derived_from`) follows it: `--forget-split forget05` on
    a forget10 run also measures against holdout05 unless `--holdout-split` says otherwise."""
    chosen = {f.name for f in fields(settings)} & given
    chosen |= {name for name, source in getattr(settings, "derived_from", {}).items() if source in chosen}
    return replace(settings, **{name: getattr(from_args, name) for name in chosen})


def default_options(recipe: Recipe, attacks: list[str], options: dict) -> dict:
    """The quantization diagnostic compares with the model unlearning started from, when it is a local folder."""
    out = {name: dict(values) for name, values in options.items()}
    if "quantize" in attacks and Path(recipe["model"]).is_dir():
        out.setdefault("quantize", {}).setdefault("original_model", recipe["model"])
    return out


def check_recipe(recipe: Recipe) -> None:
    """`eval.robustness` and its options, checked as a recipe error naming the key (the recipe schema cannot
    import the attack registry: the relearning attack runs recipes itself)."""
    attacks = recipe["eval.robustness"]
    if not attacks:
        if recipe["eval.robustness_options"]:
            raise RecipeError("eval.robustness_options: set eval.robustness to the attacks they are for")
        return
    options = recipe["eval.robustness_options"] or {}
    keys = ("eval.robustness", "eval.retain_model", "eval.robustness_options")
    try:
        check_request(recipe.benchmark, attacks, recipe["eval.retain_model"], options, keys)
    except UserError as err:
        raise RecipeError(str(err)) from None


def robustness_stage(recipe: Recipe, run_dir: Path, progress: bool = True) -> dict | None:
    """`eval.robustness` after training: the suite on the run folder, into <run_dir>/robustness/."""
    attacks = recipe["eval.robustness"]
    if not attacks:
        return None
    result = run_suite(
        recipe.benchmark,
        str(run_dir),
        attacks,
        run_dir / ROBUSTNESS_DIR,
        recipe.benchmark.eval_settings(recipe),
        retain_model=recipe["eval.retain_model"],
        options=default_options(recipe, attacks, recipe["eval.robustness_options"] or {}),
        progress=progress,
    )
    return result
