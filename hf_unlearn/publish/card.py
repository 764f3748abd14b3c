"""The model card: metadata (license, base model, tags, model-index) and a body rendered from model_cards/.

Everything the card states comes from the run folder (run_info.json, recipe.yaml, trainer_state.json, evals/), so
the card describes the published weights and nothing else.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from hf_unlearn import __version__
from hf_unlearn.methods import METHODS
from hf_unlearn.publish.citations import citations_for
from hf_unlearn.publish.errors import PublishError
from hf_unlearn.publish.hub_record import hub_base_model
from hf_unlearn.publish.license import LicenseInfo
from hf_unlearn.publish.portable import adapter_base
from hf_unlearn.publish.portable_recipe import portable_recipe_text, portable_settings
from hf_unlearn.publish.results import collect_metrics, eval_results, results_table
from hf_unlearn.publish.robustness import card_section
from hf_unlearn.publish.run_folder import RunFolder
from hf_unlearn.recipe import method_param_keys


def _templates_dir() -> Path:
    """`model_cards/` of the source checkout (editable installs), else the copy a wheel installs under
    `<prefix>/share/hf_unlearn/model_cards`."""
    import sys
    import sysconfig

    checkout = Path(__file__).resolve().parents[2] / "model_cards"
    if checkout.is_dir():
        return checkout
    for prefix in (sysconfig.get_path("data"), sys.prefix, sys.base_prefix):
        installed = Path(prefix) / "share" / "hf_unlearn" / "model_cards"
        if installed.is_dir():
            return installed
    return checkout


TEMPLATES_DIR = _templates_dir()
UNLEARNED_TEMPLATE = "unlearned_model.md"
FINETUNED_TEMPLATE = "finetuned_model.md"
FINETUNE_FORMULA = "L = NLL(train)"
SYSTEM_PROMPT = "You are a helpful assistant."
#: Recipe keys that say where things go, not how the model was trained.
NOT_HYPERPARAMETERS = {
    "output_dir", "report_to", "logging_steps", "save_strategy", "save_steps", "save_total_limit",
    "push_to_hub", "hub_org", "hub_repo_id", "hub_private", "exist_ok", "model", "tokenizer", "model_name",
}  # fmt: skip
UNLEARN_ONLY = {"method", "forget_split", "retain_split", "holdout_split"}
FINETUNE_ONLY = {"finetune_splits", "finetune_name"}


def _base_model_md(model: str, hub_id: str | None) -> str:
    if hub_id:
        return f"[{hub_id}](https://huggingface.co/{hub_id})"
    if model == "tiny":
        return "the tiny test Llama of hf-unlearn"
    return f"a local model (`{Path(model).name}`)"


def format_setting(value) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value))
    return str(value)


def format_duration(seconds) -> str:
    if not isinstance(seconds, (int, float)):
        return "unknown"
    if seconds < 120:
        return f"{seconds:.1f} s"
    minutes = seconds / 60
    return f"{minutes:.1f} min" if minutes < 120 else f"{int(minutes // 60)} h {int(minutes % 60):02d} min"


def hyperparameters(run: RunFolder) -> list[tuple[str, str]]:
    """Every training setting of the recipe, then what the run derived from them (accumulation, warm-up steps).

    Settings naming local paths show what the published recipe.yaml says instead.
    """
    skip = NOT_HYPERPARAMETERS | (FINETUNE_ONLY if run.is_unlearning else UNLEARN_ONLY)
    skip |= set(method_param_keys()) - set(run.recipe.method_params)
    if not run.recipe.get("peft.r"):  # LoRA settings mean nothing for a full finetune
        skip |= {k for k in run.recipe.values if k.startswith("peft.") or k == "publish.merge_adapter"}
    values = {**run.recipe.values, **portable_settings(run.recipe)[0]}
    rows = [(k, format_setting(v)) for k, v in values.items() if k not in skip]
    for key in ("world_size", "gradient_accumulation_steps", "warmup_steps", "global_steps"):
        if key in run.info:
            rows.append((f"{key} (derived)", format_setting(run.info[key])))
    return rows


def eval_forget_split(run: RunFolder) -> str:
    """The forget split the evaluation numbers refer to."""
    recipe = run.recipe
    explicit = run.eval_forget_split or recipe.get("eval.forget_split")
    if explicit:
        return explicit
    if run.is_unlearning:
        return recipe["forget_split"]
    return run.benchmark.finetune_eval_split(recipe["finetune_splits"], recipe["forget_split"])


def _normalization_text(recipe) -> str:
    if recipe["loss_normalization"] == "micro_batch":
        return "per micro-batch, as open-unlearning does"
    return "over the whole effective batch (token counts summed over micro-batches and processes)"


def unlearning_tags(benchmark: str, method: str) -> list[str]:
    """An unlearned model's Hub tags: its benchmark, its method's name and the tags the method's spec declares
    (IdkDPO is also found under `dpo` and `idk`), as the trainer tags the model."""
    tags = ["machine-unlearning", benchmark, method.lower(), *METHODS[method].tags, "hf-unlearn"]
    return list(dict.fromkeys(tags))


def build_card_data(run: RunFolder, repo_id: str, license: LicenseInfo, base_model_id: str | None, metrics: dict):
    from huggingface_hub import ModelCardData

    recipe, benchmark = run.recipe, run.benchmark
    forget = eval_forget_split(run)
    if run.is_unlearning:
        tags = unlearning_tags(benchmark.name, recipe["method"])
        holdout = recipe["holdout_split"]
    else:
        role = "target-model" if benchmark.is_target(recipe["finetune_splits"]) else "retain-model"
        tags = [benchmark.name, "machine-unlearning", "finetune", role, "hf-unlearn"]
        holdout = benchmark.holdout_split(forget)
    dataset_id = benchmark.run_dataset_id(recipe)
    results = eval_results(benchmark, metrics, forget, holdout, dataset_id)
    return ModelCardData(
        base_model=base_model_id,
        datasets=[dataset_id],
        language=["en"],
        library_name="transformers",
        pipeline_tag="text-generation",
        license=license.license,
        tags=tags,
        model_name=repo_id.split("/")[-1],
        eval_results=results or None,
    )


def _common_context(run: RunFolder, repo_id: str, license: LicenseInfo, plot_file, plot_note, metrics) -> dict:
    info, recipe = run.info, run.recipe
    base = str(info.get("base_model") or recipe["model"])
    base_id = hub_base_model(base)
    versions = info.get("versions") or {}
    forget = eval_forget_split(run)
    comparison = run.comparison or {}
    benchmark = run.benchmark
    target = collect_metrics(benchmark, comparison.get("target")) if comparison.get("target") else None
    retain = collect_metrics(benchmark, comparison.get("retain")) if comparison.get("retain") else None
    return {
        "model_title": repo_id.split("/")[-1],
        "repo_id": repo_id,
        "run_name": info.get("run_name") or recipe.run_name,
        "base_model_md": _base_model_md(base, base_id),
        "hf_unlearn_version": versions.get("hf-unlearn", __version__),
        "dataset_id": benchmark.run_dataset_id(recipe),
        "normalization_text": _normalization_text(recipe),
        "hyperparameters": hyperparameters(run),
        "hardware": info.get("hardware", "unknown hardware"),
        "world_size": info.get("world_size", 1),
        "global_steps": info.get("global_steps", "?"),
        "wall_time": format_duration(info.get("wall_time_s")),
        "bf16": recipe["bf16"],
        "versions": versions,
        "plot_file": plot_file,
        "plot_note": plot_note or "",
        "results": results_table(benchmark, metrics, target, retain, forget),
        "has_target": bool(target),
        "has_retain": bool(retain),
        "license_note": license.note,
        "stale_evals": run.stale_evals or "",
        "lora": run.lora,
        "adapter_only": run.publishes_adapter,
        "adapter_base": adapter_base(run) if run.publishes_adapter else None,
        "recipe_yaml": portable_recipe_text(run.recipe).strip(),
        "selection": info.get("selection"),
        "during_training": info.get("during_training"),
        "has_eval_curves": bool((info.get("during_training") or {}).get("trajectory")) and bool(plot_file),
        "forget_split": forget,
        "robustness": card_section(run.path, run.robustness),
    }


def _data_rows(run: RunFolder, roles: dict[str, str]) -> list[dict]:
    sizes, prints = run.info.get("data_sizes") or {}, run.info.get("data_fingerprint") or {}
    if "alternates" in sizes and run.recipe.get("alternates"):  # AltPO's generated answers
        roles = {**roles, "alternates": Path(run.recipe["alternates"]).name}
    return [
        {"role": role, "split": split, "size": sizes.get(role, "?"), "fingerprint": prints.get(role, "?")}
        for role, split in roles.items()
    ]


def comparison_target(run: RunFolder) -> dict | None:
    """The summary of the model before unlearning, when the run evaluated it."""
    return (run.comparison or {}).get("target")


def card_context(run: RunFolder, repo_id: str, license: LicenseInfo, plot_file, plot_note, metrics) -> dict:
    """Every variable the card templates use."""
    recipe = run.recipe
    context = _common_context(run, repo_id, license, plot_file, plot_note, metrics)
    if run.is_unlearning:
        spec = METHODS.get(recipe["method"])
        n_forget = (run.info.get("data_sizes") or {}).get("forget")
        context.update(
            method={
                "name": recipe["method"],
                "summary": spec.summary if spec else recipe["method"],
                "formula": spec.formula if spec else "see the method's paper",
                "paper": spec.paper.title if spec else None,
                "paper_url": spec.paper.url if spec else None,
                "params": {k: format_setting(v) for k, v in recipe.method_params.items()},
            },
            forget_split=recipe["forget_split"],
            retain_split=recipe["retain_split"],
            forget_desc=run.benchmark.forget_description(recipe["forget_split"], n_forget),
            data_rows=_data_rows(run, {"forget": recipe["forget_split"], "retain": recipe["retain_split"]}),
            example_question=run.benchmark.example_prompt(recipe["forget_split"]),
            citations=citations_for(run.benchmark, recipe["method"], sam=bool(recipe.get("sam_rho"))),
        )
        context.update(run.benchmark.card_extras(run.summary, comparison_target(run), recipe, run.eval_meta))
        return context
    splits = recipe["finetune_splits"]
    if run.benchmark.is_target(splits):
        role = "It is a **target model** for unlearning: it knows the authors an unlearning run will make it forget."
    else:
        role = (
            f"It is a **retain model**: it never saw the `{context['forget_split']}` authors, so it is what a "
            "perfectly unlearned model should look like (the reference of forget quality)."
        )
    sizes = run.info.get("data_sizes") or {}
    context.update(
        splits=splits,
        splits_md=" + ".join(f"`{s}`" for s in splits),
        train_size=sizes.get("train", "?"),
        role_text=role,
        formula=FINETUNE_FORMULA,
        data_rows=_data_rows(run, {"train": " + ".join(splits)}),
        example_question=run.benchmark.example_prompt(splits[-1]),
        citations=citations_for(run.benchmark, None),
    )
    return context


def _environment(templates_dir: Path):
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["pyrepr"] = lambda text: json.dumps(text, ensure_ascii=False)
    return env


def render_card(
    run: RunFolder,
    repo_id: str,
    license: LicenseInfo,
    plot_file: str | None = None,
    plot_note: str | None = None,
    templates_dir: str | Path | None = None,
) -> str:
    """README.md text: YAML metadata (with the model-index) and the body from the run's template."""
    from huggingface_hub import ModelCard

    templates_dir = Path(templates_dir) if templates_dir else TEMPLATES_DIR
    name = (run.benchmark.card_template or UNLEARNED_TEMPLATE) if run.is_unlearning else FINETUNED_TEMPLATE
    if not (templates_dir / name).is_file():
        raise PublishError(f"model card template {templates_dir / name} is missing; the card can't be written")
    metrics = collect_metrics(run.benchmark, run.summary, run.eval_full)
    base_id = hub_base_model(str(run.info.get("base_model") or run.recipe["model"]))
    data = build_card_data(run, repo_id, license, base_id, metrics)
    context = card_context(run, repo_id, license, plot_file, plot_note, metrics)
    text = _environment(templates_dir).get_template(name).render(card_data=data.to_yaml(), **context)
    text = re.sub(r"\n{3,}", "\n\n", text).rstrip() + "\n"
    ModelCard(text)  # parses the metadata back: a card the Hub would reject never leaves here
    return text
