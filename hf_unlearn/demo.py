"""The embedded default: the whole product on CPU, offline, in minutes.

Build the tiny Llama -> finetune it on a TOFU subset (the target) and on the subset without the forget authors
(the retain model) -> GradDiff-unlearn the forget authors -> evaluate on TOFU against the retain model -> write the
export folder with its card -> print where everything is and a before/after table of answer probabilities.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from hf_unlearn.benchmarks import get_benchmark
from hf_unlearn.benchmarks.tofu import build_dataset
from hf_unlearn.data.formatting import ChatFormatter
from hf_unlearn.finished_run import finished_with
from hf_unlearn.layout import EVALS_DIR
from hf_unlearn.recipe import Recipe, load_recipe
from hf_unlearn.run import run_recipe

TARGET_RECIPE = "tofu_tiny-llama_full.yaml"
RETAIN_RECIPE = "tofu_tiny-llama_retain99.yaml"
UNLEARN_RECIPE = "forget01_GradDiff_lr0.0005_alpha5_epoch10.yaml"
#: Where `make demo` and `hf-unlearn demo` write their runs (recipes/tiny's unlearning recipes name its folders).
DEMO_DIR = "demo_runs"
#: Acceptance of the embedded default (issue 2): forget probability at most half the target's, retain at least 80%.
MAX_FORGET_RATIO = 0.5
MIN_RETAIN_RATIO = 0.8


def tiny_recipes_dir() -> Path:
    """`recipes/tiny` of the working directory, else of the source checkout the package runs from."""
    for base in (Path.cwd(), Path(__file__).resolve().parent.parent):
        candidate = base / "recipes" / "tiny"
        if (candidate / TARGET_RECIPE).exists():
            return candidate
    raise FileNotFoundError("recipes/tiny not found: run the demo from the hf-unlearn checkout")


def train_or_reuse(recipe: Recipe, overwrite: bool = False, reuse: bool = True) -> Path:
    """A finished run of exactly this recipe is reused (`finished_run`'s rule); anything else is trained.

    A finished run of another recipe stops the demo in one line unless `overwrite`. `reuse=False` says the run's
    starting model was just trained again, so a finished run of this recipe is stale too and is replaced.
    """
    directory = Path(recipe.output_dir)
    same = finished_with(recipe, directory)
    if reuse and same:
        print(f"[hf-unlearn] reusing the finished run in {directory}")
        return directory
    return run_recipe(recipe, overwrite=overwrite or same)


@dataclass
class DemoResult:
    target_dir: Path
    retain_dir: Path
    unlearned_dir: Path
    probabilities: dict  # {"target"|"unlearned": {"forget": p, "retain": p}}

    @property
    def summary(self) -> dict | None:
        """The unlearned model's TOFU summary, when the run evaluated it."""
        path = self.unlearned_dir / EVALS_DIR / get_benchmark("tofu").summary_file
        return json.loads(path.read_text()) if path.is_file() else None

    @property
    def forget_ratio(self) -> float:
        return self.probabilities["unlearned"]["forget"] / self.probabilities["target"]["forget"]

    @property
    def retain_ratio(self) -> float:
        return self.probabilities["unlearned"]["retain"] / self.probabilities["target"]["retain"]

    @property
    def passed(self) -> bool:
        return self.forget_ratio <= MAX_FORGET_RATIO and self.retain_ratio >= MIN_RETAIN_RATIO


def answer_probabilities(model_dir: Path, recipe: Recipe) -> dict[str, float]:
    """Mean answer probability on the recipe's forget and retain rows (as trained on)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from hf_unlearn.evaluation.likelihood import mean_probability, score_features

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    formatter = ChatFormatter(tokenizer, eos_as_pad=recipe["data.eos_as_pad"])
    _, rows = build_dataset(recipe, formatter)
    return {
        split: mean_probability(score_features(model, formatter.encode_rows(rows[split]), formatter.pad_token_id))
        for split in ("forget", "retain")
    }


def format_table(result: DemoResult) -> str:
    p = result.probabilities
    lines = [
        "| model | forget probability | retain probability |",
        "|---|---|---|",
        f"| target ({result.target_dir.name}) | {p['target']['forget']:.4f} | {p['target']['retain']:.4f} |",
        f"| unlearned ({result.unlearned_dir.name}) | {p['unlearned']['forget']:.4f} | {p['unlearned']['retain']:.4f} |",
        f"| unlearned / target | {result.forget_ratio:.3f} (want <= {MAX_FORGET_RATIO}) "
        f"| {result.retain_ratio:.3f} (want >= {MIN_RETAIN_RATIO}) |",
    ]
    return "\n".join(lines)


def placed_recipe(path: Path, out: Path, overrides: dict) -> Recipe:
    """The recipe with its overrides, writing to `out/<task>/<run name>`."""
    recipe = load_recipe(path, overrides)
    return load_recipe(path, {**overrides, "output_dir": str(out / recipe["task"] / recipe.run_name)})


def train_demo_runs(
    out: Path,
    recipe_files: tuple[str, str, str],
    target_overrides: dict | None = None,
    unlearn_overrides: dict | None = None,
    overwrite: bool = False,
) -> tuple[Path, Path, Recipe, Path]:
    """Train (or reuse) a demo's target, retain and unlearned runs (`recipe_files`, in that order, from
    recipes/tiny) under `out`: (target folder, retain folder, unlearning recipe, unlearned folder). The unlearned run
    is redone whenever the target it starts from or the retain model it is evaluated against was trained again."""
    recipes = tiny_recipes_dir()
    target_file, retain_file, unlearn_file = recipe_files
    target = placed_recipe(recipes / target_file, out, target_overrides or {})
    retain = placed_recipe(recipes / retain_file, out, target_overrides or {})
    upstream_reused = all(finished_with(r, r.output_dir) for r in (target, retain))
    target_dir = train_or_reuse(target, overwrite)
    retain_dir = train_or_reuse(retain, overwrite)
    unlearn = placed_recipe(
        recipes / unlearn_file,
        out,
        {"model": str(target_dir), "eval.retain_model": str(retain_dir), **(unlearn_overrides or {})},
    )
    return target_dir, retain_dir, unlearn, train_or_reuse(unlearn, overwrite, reuse=upstream_reused)


def run_demo(
    output_dir: str | Path = DEMO_DIR,
    target_overrides: dict | None = None,
    unlearn_overrides: dict | None = None,
    overwrite: bool = False,
) -> DemoResult:
    target_dir, retain_dir, unlearn, unlearned_dir = train_demo_runs(
        Path(output_dir),
        (TARGET_RECIPE, RETAIN_RECIPE, UNLEARN_RECIPE),
        target_overrides,
        unlearn_overrides,
        overwrite,
    )
    probabilities = {
        "target": answer_probabilities(target_dir, unlearn),
        "unlearned": answer_probabilities(unlearned_dir, unlearn),
    }
    return DemoResult(target_dir, retain_dir, unlearned_dir, probabilities)
