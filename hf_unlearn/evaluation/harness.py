"""lm-evaluation-harness as a library: score an in-memory model on its tasks, and read the summary back.

The harness (optional extra `hf-unlearn[wmdp]`) does the prompting and scoring; this module only hands it the
model object (no second load: it works right after training, in the same process), the task settings open-unlearning
uses (`system_instruction: None`, `apply_chat_template: False`, each task's own few-shot count, WMDP's 0), the
references' `add_bos_token`, and local task folders (`include_path`), and turns its results into open-unlearning's
summary keys (`<task>/<metric>`). The tasks (and their datasets) load before any model does, so a dataset that
can't be had stops the evaluation in one line, before minutes of model loading.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from hf_unlearn.errors import UserError, first_line, hub_refusal

#: What `simple_evaluate` is called with besides the model, tasks and limit (open-unlearning's `lm_eval.yaml`).
SIMPLE_EVALUATE_ARGS = {"system_instruction": None, "apply_chat_template": False, "log_samples": True}


MISSING = "WMDP evaluation needs lm-evaluation-harness: pip install 'hf-unlearn[wmdp]' (or pip install lm-eval)"


class HarnessMissingError(UserError, ImportError):
    """lm-evaluation-harness is not installed."""


class TaskDataError(UserError, OSError):
    """A task's dataset can't be had (offline without a cached copy, gated, missing, no network)."""


def harness_version() -> str:
    """The installed lm-evaluation-harness version (it is part of the results' fingerprint)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("lm-eval")
    except PackageNotFoundError:
        raise HarnessMissingError(MISSING) from None


def reference_add_bos_token(model_type: str | None) -> bool:
    """Whether the references' harness put BOS before each prompt: lm-eval 0.4.2 (the WMDP paper's) and 0.4.8
    (open-unlearning's) score a causal LM without special tokens (`add_bos_token=False`), except a Gemma model, for
    which they force it on. Later versions (0.4.13) follow the tokenizer's default instead, BOS for Llama and
    Mistral tokenizers, which moves every WMDP and MMLU score."""
    return "gemma" in (model_type or "")


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


def dataset_message(task: str, err: BaseException) -> str:
    """One line for a task whose dataset failed to load: which dataset, why (as the Hub said), what to do."""
    text = first_line(err)
    quoted = re.search(r"'([\w.-]+(?:/[\w.-]+)?)'", text)  # the repo id datasets quotes (not "Couldn't")
    dataset = f"dataset {quoted.group(1)}" if quoted else "dataset"
    where = f"eval.tasks: lm-eval task {task} needs the {dataset}"
    kind = hub_refusal(err)
    if kind == "offline":
        return (
            f"{where}, which is not in the local cache, and offline mode is on: connect and unset HF_HUB_OFFLINE "
            "once to download it, or name other tasks (eval.tasks / --tasks)"
        )
    if kind == "gated":
        return f"{where}, which is gated on the Hub: request access on its page and log in (`hf auth login`)"
    return f"{where}, which could not be loaded ({text}): check the connection or the task's dataset settings"


def load_tasks(tasks: list[str], include_path: str | None) -> list:
    """The tasks, their datasets loaded, before any model is: unknown names and datasets that can't be had fail
    here in one line. Returns what `simple_evaluate` takes: the loaded task and group objects where the harness can
    take them (no second load), else the names."""
    manager = task_manager(include_path)
    unknown = [t for t in tasks if t not in manager.all_tasks]
    if unknown:
        raise UserError(f"eval.tasks: unknown lm-eval task(s) {', '.join(unknown)} (see `lm-eval ls tasks`)")
    out: list = []
    for task in tasks:
        try:
            if not hasattr(manager, "load"):  # older harness: load to check, hand over the name
                from lm_eval.tasks import get_task_dict

                get_task_dict([task], manager)
                out.append(task)
                continue
            loaded = manager.load([task])
        except OSError as err:  # datasets' and the Hub's errors (offline, gated, missing, network) are OSErrors
            raise TaskDataError(dataset_message(task, err)) from None
        out.append(loaded["groups"].get(task) or loaded["tasks"].get(task) or task)
    return out


def run_tasks(
    model,
    tokenizer,
    tasks: list,
    include_path: str | None,
    batch_size: int,
    limit: int | None,
    add_bos_token: bool,
):
    """`lm_eval.simple_evaluate` on `model` itself (wrapped, not reloaded), in eval mode; returns its results.
    `tasks` come from `load_tasks`."""
    manager = task_manager(include_path)
    import lm_eval
    from lm_eval.models.huggingface import HFLM

    was_training = model.training
    model.eval()
    try:
        lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=batch_size, add_bos_token=add_bos_token)
        return lm_eval.simple_evaluate(
            model=lm, tasks=list(tasks), task_manager=manager, limit=limit, **SIMPLE_EVALUATE_ARGS
        )
    finally:
        model.train(was_training)


def summarize(results: dict, tasks: list[str], subtasks: tuple[str, ...] = ()) -> dict[str, float]:
    """`<task>/<metric>` -> value for each task asked for: a group's aggregate (MMLU) when the task is a group,
    else the task's own; the harness's `,none` filter suffix and `alias` dropped (open-unlearning's keys). Then
    each of `subtasks` the results hold (members of a group asked for, such as MMLU's subjects)."""
    out: dict[str, float] = {}
    scored = results.get("results", {})
    for task in [*tasks, *(s for s in subtasks if s in scored and s not in tasks)]:
        values = results.get("groups", {}).get(task) or scored[task]
        for name, value in values.items():
            if name == "alias" or not isinstance(value, (int, float)) or isinstance(value, bool):
                continue
            out[f"{task}/{name.split(',')[0]}"] = float(value)
    return out
