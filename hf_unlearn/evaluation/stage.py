"""The evaluation stage of a recipe run: the unlearned model into `<run_dir>/evals/`, plus the comparison rows.

`<run_dir>/evals/` holds the unlearned model's result files (the benchmark's eval and summary files, and
eval_meta.json); with a retain model, its results go to `evals/retain/`; the starting (target) model's to
`evals/target/`. `evals/comparison.json` = {"target": summary or null, "retain": summary or null} is what the model
card shows next to the unlearned row.
"""

from __future__ import annotations

import gc
from pathlib import Path

from hf_unlearn.evaluation.store import write_json
from hf_unlearn.layout import COMPARISON_FILE, EVALS_DIR, TARGET_SUBDIR


def evaluate_run(recipe, run_dir: str | Path, progress: bool = True, loaded=None):
    """Evaluate a finished unlearning run (and its reference rows) on its benchmark, as the recipe's `eval.*` keys
    say. `loaded`: the (model, tokenizer) training left in memory, for a benchmark that evaluates it there."""
    gc.collect()
    benchmark = recipe.benchmark
    run_dir = Path(run_dir)
    evals = run_dir / EVALS_DIR
    settings = benchmark.eval_settings(recipe)
    result = benchmark.evaluate(
        str(run_dir),
        evals,
        settings,
        retain_logs=recipe["eval.retain_logs"],
        retain_model=recipe["eval.retain_model"],
        progress=progress,
        loaded=loaded,
    )
    target = None
    if recipe["eval.compare_target"]:
        target = benchmark.evaluate(
            recipe["model"],
            evals / TARGET_SUBDIR,
            settings,
            retain_logs=result.meta.get("retain_logs"),
            progress=progress,
            echo=False,
        )
        print(f"[hf-unlearn] target model results: {target.output_dir} ({'reused' if target.reused else 'new'})")
    retain_summary = benchmark.retain_summary(result, settings)
    if target is not None or retain_summary is not None:
        comparison = {"target": target.summary if target else None, "retain": retain_summary}
        write_json(evals / COMPARISON_FILE, comparison)
    return result
