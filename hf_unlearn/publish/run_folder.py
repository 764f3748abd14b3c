"""Reading a finished run folder: run info, the saved recipe, training logs and evaluation summaries."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from hf_unlearn.benchmarks import Benchmark
from hf_unlearn.evaluation.fingerprint import model_fingerprint
from hf_unlearn.layout import (
    COMPARISON_FILE,
    EVAL_META,
    EVALS_DIR,
    RECIPE_FILE,
    ROBUSTNESS_DIR,
    ROBUSTNESS_FILE,
    RUN_INFO,
    TRAINER_STATE,
)
from hf_unlearn.publish.errors import PublishError
from hf_unlearn.recipe import Recipe, RecipeError


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
    eval_meta: dict | None = None
    #: the robustness suite's results (`hf-unlearn attack`, eval.robustness), when the run was attacked
    robustness: dict | None = None
    #: why evaluation files found in the run folder are not used (they describe other weights), or None
    stale_evals: str | None = None

    @property
    def benchmark(self) -> Benchmark:
        return self.recipe.benchmark

    @property
    def is_unlearning(self) -> bool:
        return self.recipe["task"] == "unlearn"

    @property
    def lora(self) -> dict | None:
        """LoRA settings of the run (`run_info.json`), or None for full finetuning."""
        return self.info.get("peft")

    @property
    def publishes_adapter(self) -> bool:
        """LoRA runs publish merged BF16 weights unless the recipe says `publish.merge_adapter: false`."""
        return bool(self.lora) and not self.recipe.get("publish.merge_adapter", True)

    @property
    def eval_forget_split(self) -> str | None:
        """The forget split the evaluator says it used (eval_meta.json), if it says."""
        return ((self.eval_meta or {}).get("settings") or {}).get("forget_split")

    def eval_files(self) -> list[Path]:
        if self.stale_evals:
            return []
        folder = self.path / EVALS_DIR
        names = (self.benchmark.summary_file, self.benchmark.eval_file, COMPARISON_FILE, EVAL_META)
        return [folder / name for name in names if (folder / name).is_file()]


def stale_reason(run_dir: Path, meta: dict | None) -> str | None:
    """Why the evaluation results do not describe the run's weights, or None when they do (or can't be checked).

    The evaluator stores the sha256 of the weights it scored; results computed before the model changed (a
    re-run into the same folder) must not be published as this model's.
    """
    recorded = (meta or {}).get("model_sha256")
    if not recorded:
        return None
    if model_fingerprint(run_dir) != recorded:
        return f"{EVALS_DIR}/{EVAL_META} records other weights than the run folder's (model_sha256 differs)"
    return None


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
    evals = path / EVALS_DIR
    meta = _optional_json(evals / EVAL_META)
    stale = stale_reason(path, meta)
    robustness = _optional_json(path / ROBUSTNESS_DIR / ROBUSTNESS_FILE)
    if stale:
        return RunFolder(
            path, info, recipe, recipe_text, log_history, eval_meta=meta, stale_evals=stale, robustness=robustness
        )
    return RunFolder(
        path=path,
        info=info,
        recipe=recipe,
        recipe_text=recipe_text,
        log_history=log_history,
        summary=_optional_json(evals / recipe.benchmark.summary_file),
        eval_full=_optional_json(evals / recipe.benchmark.eval_file),
        comparison=_optional_json(evals / COMPARISON_FILE),
        eval_meta=meta,
        robustness=robustness,
    )
