"""One recipe, end to end: train, then the later stages the recipe asks for. Used by `recipes/run.py` and
`hf-unlearn train`."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from hf_unlearn.evaluation import stage
from hf_unlearn.finished_run import prepare_run_folder
from hf_unlearn.pipeline import train
from hf_unlearn.publish import PublishError, publish_run
from hf_unlearn.recipe import Recipe
from hf_unlearn.robustness.stage import check_recipe, robustness_stage

logger = logging.getLogger(__name__)


def run_recipe(recipe: Recipe, resume: bool = False, overwrite: bool = False) -> Path:
    """Train the recipe's model and return the run folder.

    A finished run of another recipe in the run folder stops it before anything loads, unless `overwrite`, which
    empties the folder first (`finished_run.prepare_run_folder`).
    """
    check_recipe(recipe)  # attack names and options fail before training, not after
    prepare_run_folder(recipe, overwrite=overwrite, resume=resume, main=is_main_process())
    result = train(recipe, resume=resume)
    leave_distributed()
    if not is_main_process():
        return result.output_dir
    logger.info("run %s finished in %.1fs: %s", recipe.run_name, result.wall_time_s, result.output_dir)
    print(f"[hf-unlearn] {recipe.run_name}: model saved to {result.output_dir}")
    evaluation_stage(recipe, Path(result.output_dir), result.loaded)
    if recipe["task"] == "unlearn":
        robustness_stage(recipe, Path(result.output_dir))
    publish_stage(recipe, Path(result.output_dir))
    return result.output_dir


def is_main_process() -> bool:
    return os.environ.get("RANK", "0") == "0"


def leave_distributed() -> None:
    """Training is over: wait for every process (the main one writes the run folder), then drop the process group
    and DeepSpeed's global config, so the later stages run on the main process as a plain program.

    Left in place, ZeRO-3's config makes every later `from_pretrained` (evaluation, export) partition the model
    across processes that have already left, and an undestroyed group can abort the interpreter at exit.
    """
    import torch.distributed as dist
    from transformers.integrations.deepspeed import unset_hf_deepspeed_config

    unset_hf_deepspeed_config()
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def evaluation_stage(recipe: Recipe, run_dir: Path, loaded=None) -> None:
    """After training, main process only: the benchmark's metrics of the unlearned model into <run_dir>/evals/
    (eval.enabled); `loaded` is the model and tokenizer training left in memory (see `pipeline.train`)."""
    if recipe["task"] != "unlearn" or not recipe["eval.enabled"] or not is_main_process():
        return
    stage.evaluate_run(recipe, run_dir, loaded=loaded)


def publish_stage(recipe: Recipe, run_dir: Path) -> None:
    """Last stage, main process only: push the run (push_to_hub), or just write its export folder.

    A push failure is raised (the run folder is complete; `hf-unlearn publish RUN_DIR` retries it); without
    push_to_hub an export problem (e.g. non-finite weights) is reported but does not fail the run.
    """
    if not is_main_process():
        return
    if recipe["push_to_hub"]:
        result = publish_run(run_dir)
        print(f"[hf-unlearn] published {result.repo_id}: {result.commit_url}")
        return
    try:
        result = publish_run(run_dir, dry_run=True)
    except PublishError as err:
        logger.warning("[hf-unlearn] no export folder written: %s", err)
        return
    print(f"[hf-unlearn] export folder (push_to_hub is off): {result.export_dir}")
