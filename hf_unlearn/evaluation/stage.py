"""The evaluation stage of a recipe run: the unlearned model into `<run_dir>/evals/`, plus the comparison rows.

`<run_dir>/evals/` holds the unlearned model's TOFU_EVAL.json / TOFU_SUMMARY.json / eval_meta.json; with a retain
model, its results go to `evals/retain/`; the starting (target) model's to `evals/target/`. `evals/comparison.json`
= {"target": summary or null, "retain": summary or null} is what the model card shows next to the unlearned row.
"""

from __future__ import annotations

import json
from pathlib import Path

from hf_unlearn.evaluation.evaluator import (
    SUMMARY_FILE,
    EvalResult,
    EvalSettings,
    evaluate,
    read_retain_logs,
    write_json,
)
from hf_unlearn.evaluation.suite import summary

EVALS_DIR = "evals"
COMPARISON_FILE = "comparison.json"
TARGET_SUBDIR = "target"


def settings_from_recipe(recipe) -> EvalSettings:
    """Evaluation settings of a run. Each model is read with its own tokenizer (the run folder saved the one it
    trained with), so the stage needs no Hub access for a tokenizer the recipe named by id."""
    return EvalSettings(
        forget_split=recipe["forget_split"],
        metrics=recipe["eval.metrics"],
        holdout_split=recipe["holdout_split"],
        holdout_file=recipe["eval.holdout_file"],
        data_source=recipe["data.source"],
        eos_as_pad=recipe["data.eos_as_pad"],
        max_new_tokens=recipe["eval.max_new_tokens"],
        limit=recipe["eval.limit"],
        batch_size=recipe["eval.batch_size"],
        generation_batch_size=recipe["eval.generation_batch_size"],
        gibberish_model=recipe["eval.gibberish_model"],
    )


def _retain_summary(result: EvalResult, settings: EvalSettings) -> dict | None:
    if result.retain is not None:
        return result.retain.summary
    logs_path = result.meta.get("retain_logs")
    if not logs_path:
        return None
    path = Path(logs_path)
    summary_path = (path if path.is_dir() else path.parent) / SUMMARY_FILE
    if summary_path.is_file():
        return json.loads(summary_path.read_text(encoding="utf-8"))
    logs, _ = read_retain_logs(path)
    return summary(logs, settings.metrics)


def evaluate_run(recipe, run_dir: str | Path, progress: bool = True) -> EvalResult:
    """Evaluate a finished unlearning run (and its reference rows) as the recipe's `eval.*` keys say."""
    import gc

    gc.collect()
    run_dir = Path(run_dir)
    evals = run_dir / EVALS_DIR
    settings = settings_from_recipe(recipe)
    result = evaluate(
        str(run_dir),
        evals,
        settings,
        retain_logs=recipe["eval.retain_logs"],
        retain_model=recipe["eval.retain_model"],
        progress=progress,
    )
    target = None
    if recipe["eval.compare_target"]:
        target = evaluate(
            recipe["model"],
            evals / TARGET_SUBDIR,
            settings,
            retain_logs=result.meta.get("retain_logs"),
            progress=progress,
            echo=False,
        )
        print(f"[hf-unlearn] target model results: {target.output_dir} ({'reused' if target.reused else 'new'})")
    retain_summary = _retain_summary(result, settings)
    if target is not None or retain_summary is not None:
        comparison = {"target": target.summary if target else None, "retain": retain_summary}
        write_json(evals / COMPARISON_FILE, comparison)
    return result
