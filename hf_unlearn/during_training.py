"""Evaluation during training and checkpoint selection, as a `TrainerCallback` and what `pipeline.train` does after.

The model being trained is evaluated in memory (`Benchmark.evaluate_in_memory`) every epoch or every N steps; the
metrics go into the Trainer's log (`eval_<metric>`: trainer_state.json and every logger the Trainer reports to).
With `select_checkpoint.rule`, each evaluation also saves a checkpoint (the Trainer's own save, so sharded weights
are gathered the way it gathers them) and, after training, the rule picks one from the logged trajectory; its
weights are loaded back into the trained model (the Trainer's best-model loader) before the run folder is written.
Every process evaluates the same items, so the forward passes of a sharded model stay in step and none waits.
"""

from __future__ import annotations

import logging
from pathlib import Path

from transformers import TrainerCallback

from hf_unlearn.layout import CHECKPOINT_PREFIX
from hf_unlearn.selection import LOG_PREFIX, Selection, describe, select, start_utility, trajectory

logger = logging.getLogger(__name__)


class DuringTrainingEval(TrainerCallback):
    """Evaluates the trained model at the recipe's points; `bind(trainer)` before training (logging goes through
    `Trainer.log`)."""

    def __init__(self, recipe, tokenizer, settings, reference) -> None:
        self.recipe = recipe
        self.tokenizer = tokenizer
        self.settings = settings
        self.reference = reference
        every = recipe["eval.during_training.every"]
        self.every_steps = None if every == "epoch" else int(every)
        self.selecting = recipe["select_checkpoint.rule"] is not None
        self.trainer = None

    def bind(self, trainer) -> None:
        self.trainer = trainer

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        if self.recipe["select_checkpoint.rule"] == "utility_ratio" and state.global_step == 0:
            self._evaluate(model, control)  # the starting model's utility: the rule's bound is relative to it

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if self.every_steps and state.global_step % self.every_steps == 0:
            self._evaluate(model, control)

    def on_epoch_end(self, args, state, control, model=None, **kwargs):
        if self.every_steps is None:
            self._evaluate(model, control)

    def _evaluate(self, model, control) -> None:
        summary = self.recipe.benchmark.evaluate_in_memory(model, self.tokenizer, self.settings, self.reference)
        logs = {
            f"{LOG_PREFIX}{key}": float(value)
            for key, value in summary.items()
            if isinstance(value, (int, float)) and not isinstance(value, bool)
        }
        self.trainer.log(logs)
        if self.trainer.state.global_step > 0:
            control.should_save = control.should_save or self.selecting
            bound = self.recipe["select_checkpoint.stop_below"]
            utility = logs.get(f"{LOG_PREFIX}model_utility")
            if bound is not None and utility is not None and utility < bound:
                logger.warning(
                    "model utility %.4g fell below select_checkpoint.stop_below %g: stopping", utility, bound
                )
                control.should_training_stop = True


def choose(recipe, log_history: list[dict]) -> Selection:
    """The recipe's rule applied to the logged trajectory (the same on every process: all logged the same)."""
    points = trajectory(log_history)
    return select(
        points,
        recipe["select_checkpoint.rule"],
        min_utility=recipe["select_checkpoint.min_utility"],
        min_utility_ratio=recipe["select_checkpoint.min_utility_ratio"],
        start_utility=start_utility(points),
    )


def apply_selection(recipe, trainer, output_dir: Path) -> dict:
    """Pick the checkpoint, load its weights into the trained model when `keep: best`, and return the record for
    run_info.json."""
    selection = choose(recipe, trainer.state.log_history)
    step = _same_on_every_process(selection.point.step)
    final = trainer.state.global_step
    keep = recipe["select_checkpoint.keep"]
    if keep == "best" and step != final:
        trainer.state.best_model_checkpoint = str(output_dir / f"{CHECKPOINT_PREFIX}{step}")
        trainer._load_best_model()  # the Trainer's loader: plain, PEFT, FSDP and DeepSpeed checkpoints alike
    epochs = recipe["num_train_epochs"] if recipe["max_steps"] <= 0 else None
    return {
        "rule": recipe["select_checkpoint.rule"],
        "keep": keep,
        "min_utility": recipe["select_checkpoint.min_utility"],
        "min_utility_ratio": recipe["select_checkpoint.min_utility_ratio"],
        "stop_below": recipe["select_checkpoint.stop_below"],
        "selected_step": step,
        "selected_epoch": selection.point.epoch,
        "final_step": final,
        "kept_step": step if keep == "best" else final,
        "reason": selection.reason,
        "description": describe(selection.point, final, epochs, selection.reason),
    }


def trajectory_record(recipe, log_history: list[dict]) -> dict:
    """The during-training evaluation's settings and every evaluated point, for run_info.json."""
    return {
        "every": recipe["eval.during_training.every"],
        "metrics": recipe["eval.during_training.metrics"],
        "limit": recipe["eval.during_training.limit"],
        "trajectory": [{"step": p.step, "epoch": p.epoch, **p.metrics} for p in trajectory(log_history)],
    }


def _same_on_every_process(step: int) -> int:
    """The main process's choice, so a rounding difference between processes can't make them load different
    checkpoints (a collective load would then hang)."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return step
    box = [step]
    dist.broadcast_object_list(box, src=0)
    return int(box[0])
