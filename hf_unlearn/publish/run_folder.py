"""Reading a finished run folder: run info, the saved recipe, training logs and evaluation summaries."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from hf_unlearn.publish.errors import PublishError
from hf_unlearn.recipe import Recipe, RecipeError

RUN_INFO = "run_info.json"
RECIPE_FILE = "recipe.yaml"
TRAINER_STATE = "trainer_state.json"
EVAL_DIR = "evals"
SUMMARY_FILE = "TOFU_SUMMARY.json"
EVAL_FILE = "TOFU_EVAL.json"
COMPARISON_FILE = "comparison.json"


@dataclass
class RunFolder:
    path: Path
    info: dict
    recipe: Recipe
    recipe_text: str
    log_history: list = field(default_factory=list)
    summary: dict | None = None
    eval_full: dict | None = None
    comparison: dict | None = None

    @property
    def is_unlearning(self) -> bool:
        return self.recipe["task"] == "unlearn"

    def eval_files(self) -> list[Path]:
        folder = self.path / EVAL_DIR
        return [folder / name for name in (SUMMARY_FILE, EVAL_FILE, COMPARISON_FILE) if (folder / name).is_file()]


def _read_json(path: Path, what: str):
    try:
        return json.loads(path.read_text(encoding="utf-8"), parse_constant=lambda c: math.nan)
    except (OSError, ValueError) as err:
        raise PublishError(f"{what}: {path} could not be read ({err})") from None


def _optional_json(path: Path):
    return _read_json(path, "evaluation results") if path.is_file() else None


def load_run(run_dir: str | Path) -> RunFolder:
    """The run folder's metadata; refuses anything but a finished run (a half-written model must not go out)."""
    path = Path(run_dir).expanduser()
    if not path.is_dir():
        raise PublishError(f"run folder: no such folder {path}")
    info_path = path / RUN_INFO
    if not info_path.is_file():
        raise PublishError(
            f"unfinished run: {path} has no {RUN_INFO} (training did not complete); finish or re-run it first"
        )
    info = _read_json(info_path, "run info")
    if info.get("finished") is not True:
        raise PublishError(f"unfinished run: {info_path} does not say finished: true; finish or re-run it first")
    recipe_path = path / RECIPE_FILE
    if not recipe_path.is_file():
        raise PublishError(f"run folder: {path} has no {RECIPE_FILE}, so the card can't state how it was made")
    recipe_text = recipe_path.read_text(encoding="utf-8")
    try:
        recipe = Recipe.from_dict(yaml.safe_load(recipe_text) or {}, source=recipe_path)
    except (RecipeError, yaml.YAMLError) as err:
        raise PublishError(f"run folder: {recipe_path} is not a valid recipe ({err})") from None
    state_path = path / TRAINER_STATE
    log_history = _read_json(state_path, "trainer state").get("log_history", []) if state_path.is_file() else []
    evals = path / EVAL_DIR
    return RunFolder(
        path=path,
        info=info,
        recipe=recipe,
        recipe_text=recipe_text,
        log_history=log_history,
        summary=_optional_json(evals / SUMMARY_FILE),
        eval_full=_optional_json(evals / EVAL_FILE),
        comparison=_optional_json(evals / COMPARISON_FILE),
    )
