"""lm-evaluation-harness as a library: score an in-memory model on its tasks, and read the summary back.

The harness (optional extra `hf-unlearn[wmdp]`) does the prompting and scoring; this module only hands it the
model object (no second load: it works right after training, in the same process), the task settings open-unlearning
uses (`system_instruction: None`, `apply_chat_template: False`, each task's own few-shot count, WMDP's 0), and local
task folders (`include_path`), and turns its results into open-unlearning's summary keys (`<task>/<metric>`).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from hf_unlearn.errors import UserError

#: What `simple_evaluate` is called with besides the model, tasks and limit (open-unlearning's `lm_eval.yaml`).
SIMPLE_EVALUATE_ARGS = {"system_instruction": None, "apply_chat_template": False, "log_samples": True}


MISSING = "WMDP evaluation needs lm-evaluation-harness: pip install 'hf-unlearn[wmdp]' (or pip install lm-eval)"


class HarnessMissingError(UserError, ImportError):
    """lm-evaluation-harness is not installed."""


def harness_version() -> str:
    """The installed lm-evaluation-harness version (it is part of the results' fingerprint)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("lm-eval")
    except PackageNotFoundError:
        raise HarnessMissingError(MISSING) from None


@lru_cache(maxsize=4)
def task_manager(include_path: str | None):
    """The harness's task index, with a folder of the user's own task YAMLs when given. Indexing every task
    definition of the harness takes seconds, so a process builds it once (the run and its target model share it)."""
    try:
        from lm_eval.tasks import TaskManager
    except ImportError:
        raise HarnessMissingError(MISSING) from None
    if include_path and not Path(include_path).expanduser().is_dir():
        raise UserError(f"eval.include_path: no such folder {include_path}")
    return TaskManager(include_path=str(Path(include_path).expanduser()) if include_path else None)


def run_tasks(model, tokenizer, tasks: list[str], include_path: str | None, batch_size: int, limit: int | None):
    """`lm_eval.simple_evaluate` on `model` itself (wrapped, not reloaded), in eval mode; returns its results."""
    manager = task_manager(include_path)
    import lm_eval
    from lm_eval.models.huggingface import HFLM

    unknown = [t for t in tasks if t not in manager.all_tasks]
    if unknown:
        raise UserError(f"eval.tasks: unknown lm-eval task(s) {', '.join(unknown)} (see `lm-eval ls tasks`)")
    was_training = model.training
    model.eval()
    try:
        lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=batch_size)
        return lm_eval.simple_evaluate(
            model=lm, tasks=list(tasks), task_manager=manager, limit=limit, **SIMPLE_EVALUATE_ARGS
        )
    finally:
        model.train(was_training)


def summarize(results: dict, tasks: list[str]) -> dict[str, float]:
    """`<task>/<metric>` -> value for each task asked for: a group's aggregate (MMLU) when the task is a group,
    else the task's own; the harness's `,none` filter suffix and `alias` dropped (open-unlearning's keys)."""
    out: dict[str, float] = {}
    for task in tasks:
        values = results.get("groups", {}).get(task) or results["results"][task]
        for name, value in values.items():
            if name == "alias" or not isinstance(value, (int, float)) or isinstance(value, bool):
                continue
            out[f"{task}/{name.split(',')[0]}"] = float(value)
    return out
