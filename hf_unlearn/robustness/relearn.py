"""The relearning attack: finetune the unlearned model on forget-set data, and the retain model identically as the
control (relearning also teaches; only a recovery beyond the control's counts).

Default: open-unlearning's meta-evaluation protocol (full finetune on the whole forget split, 1 epoch, lr 2e-5,
batch 8 x accumulation 4, no warm-up, no weight decay, linear decay, seed 42). Options: `steps` (a fixed budget),
`n_samples` (few-shot: the first n forget rows), `adapter: lora` (rank `lora_r`, alpha `lora_alpha`, lr 2e-4 unless
given), `curve_points` (evaluations over steps besides the start and the end). The finetune is a recipe generated
from these settings and run through the training pipeline; both models get the same recipe (data, order, seed),
which the record keeps with the data fingerprints and step counts of both runs.
"""

from __future__ import annotations

import json
from pathlib import Path

from hf_unlearn.errors import UserError
from hf_unlearn.layout import RELEARN_PLOT, RUN_INFO
from hf_unlearn.pipeline import train
from hf_unlearn.recipe import Recipe
from hf_unlearn.robustness.context import AttackContext, AttackRecord
from hf_unlearn.robustness.measure import knowledge_values, measure
from hf_unlearn.robustness.scores import relearn_entry

DEFAULTS = {
    "steps": None,
    "epochs": 1.0,
    "learning_rate": None,  # 2e-5 full, 2e-4 LoRA
    "batch_size": 8,
    "effective_batch_size": 32,
    "n_samples": None,
    "adapter": "none",
    "lora_r": 128,
    "lora_alpha": 16.0,
    "optim": "adamw_torch",
    "bf16": None,  # on CUDA
    "curve_points": 3,
}
ADAPTERS = ("none", "lora")
PLOT_FILE = RELEARN_PLOT


def relearn_settings(options: dict) -> dict:
    """The attack's settings from its options, checked (one-line errors naming the option)."""
    unknown = sorted(set(options) - set(DEFAULTS))
    if unknown:
        raise UserError(f"relearn: unknown option '{unknown[0]}'; allowed: {', '.join(DEFAULTS)}")
    out = {**DEFAULTS, **options}
    if out["adapter"] not in ADAPTERS:
        raise UserError(f"relearn: adapter must be one of {', '.join(ADAPTERS)}, got {out['adapter']}")
    if out["learning_rate"] is None:
        out["learning_rate"] = 2e-4 if out["adapter"] == "lora" else 2e-5
    if out["bf16"] is None:
        import torch

        out["bf16"] = torch.cuda.is_available()
    batch, effective = int(out["batch_size"]), int(out["effective_batch_size"])
    if effective % batch:
        raise UserError(f"relearn: batch_size {batch} does not divide effective_batch_size {effective}")
    return out


def finetune_values(ctx: AttackContext, settings: dict, model: str, output_dir: Path) -> dict:
    """The generated finetune recipe (dotted keys) for one model; only `model` and `output_dir` differ between the
    unlearned model and the control."""
    values = {
        "task": "finetune",
        "benchmark": ctx.benchmark.name,
        "model": model,
        "model_name": "relearn",
        "seed": ctx.seed,
        "learning_rate": float(settings["learning_rate"]),
        "num_train_epochs": float(settings["epochs"]),
        "max_steps": int(settings["steps"]) if settings["steps"] else -1,
        "effective_batch_size": int(settings["effective_batch_size"]),
        "per_device_train_batch_size": int(settings["batch_size"]),
        "weight_decay": 0.0,
        "warmup_epochs": 0.0,
        "lr_scheduler_type": "linear",
        "optim": settings["optim"],
        "bf16": bool(settings["bf16"]),
        "logging_steps": 1,
        "save_strategy": "no",
        "output_dir": str(output_dir),
        "data.forget_limit": settings["n_samples"],
        **ctx.benchmark.relearn_data(ctx.settings),
    }
    if settings["adapter"] == "lora":
        values.update({"peft.r": int(settings["lora_r"]), "peft.alpha": float(settings["lora_alpha"])})
    return values


def curve_steps(total: int, points: int) -> set[int]:
    """Evenly spaced steps strictly between 0 and `total` (the start and the end are measured from saved models)."""
    return {round(total * k / (points + 1)) for k in range(1, points + 1)} - {0, total}


def _recovery_callback(benchmark, settings, points: int, curve: list):
    from transformers import TrainerCallback

    class RecoveryCurve(TrainerCallback):
        """Measures the model being relearned, in memory, at a few steps."""

        steps: set[int] = set()

        def on_train_begin(self, args, state, control, **kwargs):
            self.steps = curve_steps(state.max_steps, points)

        def on_step_end(self, args, state, control, model=None, processing_class=None, **kwargs):
            if state.global_step in self.steps:
                summary = benchmark.evaluate_in_memory(model, processing_class, settings)
                curve.append({"step": state.global_step, **knowledge_values(benchmark, summary)})

    return RecoveryCurve()


def relearn_one(ctx: AttackContext, settings: dict, model: str, name: str, before: dict) -> dict:
    """Relearn one model; its curve (start, in-memory points, end) and its generated recipe and run facts."""
    output_dir = ctx.output_dir / name
    recipe = Recipe.from_dict(finetune_values(ctx, settings, model, output_dir))
    curve = [{"step": 0, **before}]
    result = train(
        recipe, callbacks=[_recovery_callback(ctx.benchmark, ctx.settings, settings["curve_points"], curve)]
    )
    info = json.loads((Path(result.output_dir) / RUN_INFO).read_text())
    after = knowledge_values(ctx.benchmark, measure(ctx.benchmark, str(result.output_dir), ctx.settings))
    curve.append({"step": info["global_steps"], **after})
    recipe_record = {k: v for k, v in recipe.values.items() if k not in ("model", "output_dir") and v is not None}
    run = {
        "model": model,
        "output_dir": str(result.output_dir),
        "global_steps": info["global_steps"],
        "data_fingerprint": info["data_fingerprint"],
        "data_sizes": info["data_sizes"],
        "recipe": recipe_record,
    }
    return {"after": after, "curve": curve, "run": run}


def write_plot(curves: dict[str, list[dict]], keys: list[str], path: Path) -> str | None:
    """Recovery curves, one panel per metric, model and control; returns why none was written, else None."""
    try:
        import matplotlib

        matplotlib.use("Agg", force=True)
        from matplotlib.figure import Figure
    except ImportError as err:
        return f"matplotlib could not be imported ({err})"
    cols = min(4, len(keys))
    rows = -(-len(keys) // cols)
    fig = Figure(figsize=(3.2 * cols, 2.6 * rows), dpi=100)
    for i, key in enumerate(keys):
        ax = fig.add_subplot(rows, cols, i + 1)
        for label, curve in curves.items():
            points = [(p["step"], p[key]) for p in curve if p.get(key) is not None]
            if points:
                ax.plot(*zip(*points, strict=True), marker="o", markersize=3, label=label)
        ax.set_title(key, fontsize=8)
        ax.tick_params(labelsize=7)
        if i == 0:
            ax.legend(fontsize=7)
    fig.supxlabel("relearning step", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    return None


def attack(ctx: AttackContext) -> AttackRecord:
    settings = relearn_settings(ctx.options)
    if ctx.retain_model is None or ctx.control_before is None:
        raise UserError("relearn: needs the retain model as its control (--retain-model)")
    model = relearn_one(ctx, settings, ctx.model, "model", ctx.before)
    control = relearn_one(ctx, settings, ctx.retain_model, "control", ctx.control_before)
    metrics = {
        m.key: relearn_entry(
            m, ctx.before.get(m.key), model["after"][m.key], ctx.control_before.get(m.key), control["after"][m.key]
        )
        for m in ctx.benchmark.knowledge_metrics
    }
    curves = {"model": model["curve"], "control": control["curve"]}
    keys = [k for k in model["after"] if any(p.get(k) is not None for c in curves.values() for p in c)]  # drawable
    plot_problem = write_plot(curves, keys, ctx.output_dir / PLOT_FILE)
    extra = {
        "curves": curves,
        "runs": {"model": model["run"], "control": control["run"]},
        "plot": None if plot_problem else f"{ctx.output_dir.name}/{PLOT_FILE}",
    }
    utility = ctx.benchmark.utility_metric
    if utility:
        extra["utility"] = {
            "before": ctx.before.get(utility),
            "after": model["after"][utility],
            "control_before": ctx.control_before.get(utility),
            "control_after": control["after"][utility],
        }
    if plot_problem:
        extra["plot_problem"] = plot_problem
    return AttackRecord(settings={**settings, "seed": ctx.seed}, metrics=metrics, extra=extra)


attack.needs_control = True
attack.check_options = relearn_settings
