"""Recipe -> trained model folder. Each step is a function of its own.

recipe -> TrainingArguments (before any model loads, so ZeRO-3 can partition at load) -> tokenizer + model(s)
-> the benchmark's training data (splits -> features -> dataset, collator) -> trainer.train() -> BF16 save + run
metadata.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from hf_unlearn.layout import ADAPTER_CONFIG, ADAPTER_DIR, CHECKPOINT_PREFIX, RECIPE_FILE, RUN_INFO, TRAINER_STATE
from hf_unlearn.models import check_model_folder, load_model, load_tokenizer, resolve_model_path
from hf_unlearn.recipe import SCHEMA, Recipe, RecipeError

logger = logging.getLogger(__name__)


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def gradient_accumulation(recipe: Recipe, n_processes: int) -> int:
    """Accumulation steps that keep the recipe's effective batch whatever the number of processes."""
    per_step = recipe["per_device_train_batch_size"] * n_processes
    effective = recipe["effective_batch_size"]
    if effective % per_step:
        fits = [b for b in range(1, effective + 1) if effective % (b * n_processes) == 0]
        hint = f"; with {n_processes} processes use one of {fits}" if fits else ""
        raise RecipeError(
            f"per_device_train_batch_size: {recipe['per_device_train_batch_size']} x {n_processes} processes does "
            f"not divide effective_batch_size {effective}{hint}"
        )
    return effective // per_step


def warmup_steps(recipe: Recipe, n_train: int) -> int:
    """Warm-up in optimizer steps from `warmup_epochs`, counted with the real effective batch."""
    return int((recipe["warmup_epochs"] * n_train) // recipe["effective_batch_size"])


def trainer_class(recipe: Recipe):
    if recipe["task"] == "finetune":
        from hf_unlearn.trainers.finetune import FinetuneTrainer

        return FinetuneTrainer
    return recipe.method_spec.trainer_class()


def build_training_args(recipe: Recipe, n_train: int, output_dir: str | None = None):
    """The method's config dataclass, filled from the recipe.

    Recipe keys that set a `TrainingArguments` field as is say so in the schema (`Field.train_args`); only the
    settings derived from several keys or from the launch are spelled out here.
    """
    import torch

    cls = trainer_class(recipe).config_class
    kwargs = {arg: recipe[key] for key, spec in SCHEMA.items() for arg in spec.train_args}
    kwargs.update(
        output_dir=output_dir or recipe.output_dir,
        gradient_accumulation_steps=gradient_accumulation(recipe, world_size()),
        warmup_steps=warmup_steps(recipe, n_train),
        use_cpu=not torch.cuda.is_available(),
        save_only_model=False,
        eval_strategy="no",
        disable_tqdm=False,
        ddp_find_unused_parameters=False,
    )
    kwargs.update(recipe.method_params)
    return cls(**kwargs)


@dataclass
class TrainResult:
    output_dir: Path
    wall_time_s: float
    log_history: list
    #: (model, tokenizer) as training left them, kept only for a benchmark that evaluates in memory, on a single
    #: process without sharding (under DeepSpeed/FSDP or several processes each holds a part); else None
    loaded: tuple | None = None


def train(recipe: Recipe, resume: bool = False, callbacks: list | None = None) -> TrainResult:
    """Run one recipe's training and write the model folder (BF16 weights, tokenizer, recipe, run info).

    `resume` continues from the newest complete checkpoint in the run folder; `callbacks` are extra
    `TrainerCallback`s (monitoring, early stopping).
    """
    import torch

    from hf_unlearn.checkpoint import convert_to_bf16, fingerprint_rows, package_versions

    start = time.time()
    output_dir = Path(recipe.output_dir)
    model_path = resolve_model_path(recipe["model"])
    check_model_folder(model_path)
    tokenizer = load_tokenizer(recipe["tokenizer"] or recipe["model"], "tokenizer" if recipe["tokenizer"] else "model")
    data = recipe.benchmark.train_data(recipe, tokenizer)
    dataset, rows = data.dataset, data.rows
    during = None
    if recipe["eval.during_training.every"]:
        from hf_unlearn.during_training import DuringTrainingEval

        settings = recipe.benchmark.training_settings(recipe)
        # before the training arguments: under ZeRO-3 they make every later load partitioned
        during = DuringTrainingEval(recipe, tokenizer, settings, recipe.benchmark.training_reference(recipe, settings))
        callbacks = [*(callbacks or []), during]
    args = build_training_args(recipe, n_train=len(dataset))
    dtype = getattr(torch, recipe["model_dtype"])
    model = load_model(model_path, dtype)
    if recipe["peft.r"]:
        model = add_lora_adapter(model, recipe)
    ref_model = None
    cls = trainer_class(recipe)
    if cls.requires_reference(args) and not recipe["peft.r"]:
        ref_model = load_model(model_path, dtype)
    if tokenizer.pad_token_id is None or tokenizer.pad_token_id != data.pad_token_id:
        tokenizer.pad_token = tokenizer.convert_ids_to_tokens(data.pad_token_id)
    trainer = cls(
        model=model,
        args=args,
        ref_model=ref_model,
        benchmark=recipe.benchmark.name,
        train_dataset=dataset,
        data_collator=data.collator,
        processing_class=tokenizer,
        callbacks=callbacks,
    )
    checkpoint = _last_checkpoint(output_dir) if resume else None
    if resume and checkpoint is None:
        logger.warning("--resume: no checkpoint in %s, starting from scratch", output_dir)
    elif not resume and _last_checkpoint(output_dir):
        logger.warning(
            "%s holds checkpoints of an earlier run: starting over (pass --resume to continue it)", output_dir
        )
    if during is not None:
        during.bind(trainer)
    trainer.train(resume_from_checkpoint=checkpoint)
    selection = None
    if recipe["select_checkpoint.rule"]:
        from hf_unlearn.during_training import apply_selection

        selection = apply_selection(recipe, trainer, output_dir)
    if recipe["peft.r"]:
        trainer.save_model(str(output_dir / ADAPTER_DIR))
        if trainer.is_world_process_zero():
            local = recipe["model"] == "tiny" or Path(recipe["model"]).expanduser().is_dir()
            base_id = str(Path(model_path).resolve()) if local else recipe["model"]
            save_merged(model_path, output_dir, tokenizer, base_id)
    else:
        trainer.save_model(str(output_dir))
    trainer.save_state()
    wall = time.time() - start
    if trainer.is_world_process_zero():
        (output_dir / "training_args.bin").unlink(missing_ok=True)
        (output_dir / ADAPTER_DIR / "training_args.bin").unlink(missing_ok=True)
        tied = {} if recipe["peft.r"] else getattr(trainer.model, "all_tied_weights_keys", {})
        convert_to_bf16(output_dir, tied=tied)
        (output_dir / RECIPE_FILE).write_text(yaml.safe_dump(recipe.to_yaml_dict(), sort_keys=False))
        info = {
            "run_name": recipe.run_name,
            "task": recipe["task"],
            "method": recipe["method"] if recipe["task"] == "unlearn" else "Finetune",
            "base_model": recipe["model"],
            "tokenizer": recipe["tokenizer"] or recipe["model"],
            "model_name": recipe.model_name,
            "seed": recipe["seed"],
            "world_size": world_size(),
            "distributed_type": trainer.accelerator.distributed_type.value,
            "gradient_accumulation_steps": args.gradient_accumulation_steps,
            "warmup_steps": args.warmup_steps,
            "global_steps": trainer.state.global_step,
            "wall_time_s": round(wall, 2),
            "hardware": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU",
            "versions": package_versions(),
            "data_fingerprint": {name: fingerprint_rows(r) for name, r in rows.items()},
            "data_sizes": {name: len(r) for name, r in rows.items()},
            "peft": _peft_settings(recipe),
            "during_training": _during_training(recipe, trainer.state.log_history),
            "selection": selection,
            "finished": True,
        }
        (output_dir / RUN_INFO).write_text(json.dumps(info, indent=2) + "\n")
    whole = world_size() == 1 and trainer.accelerator.distributed_type.value == "NO"
    loaded = (trainer.model, tokenizer) if recipe.benchmark.evaluates_in_memory and whole else None
    return TrainResult(output_dir, wall, trainer.state.log_history, loaded)


def add_lora_adapter(model, recipe: Recipe):
    """Wrap the model with a LoRA adapter; only the adapter trains.

    The adapter's random initialisation is seeded from the recipe here: what the RNG went through before (a
    plain load, or ZeRO-3's partitioned one) would otherwise decide it, and the same recipe would train a
    different adapter under each launch setup.
    """
    from peft import LoraConfig, get_peft_model
    from transformers import set_seed

    targets = recipe["peft.target_modules"]
    config = LoraConfig(
        r=recipe["peft.r"],
        lora_alpha=recipe["peft.alpha"],
        lora_dropout=recipe["peft.dropout"],
        target_modules="all-linear" if targets == ["all-linear"] else targets,
        task_type="CAUSAL_LM",
    )
    set_seed(recipe["seed"])
    return get_peft_model(model, config)


def save_merged(base_path: str, output_dir: Path, tokenizer, base_id: str) -> None:
    """The run folder's model is the adapter merged into the base (what evaluation and users load); the
    adapter itself stays in `adapter/` (BF16), pointing at the base model's Hub id rather than a cache path.

    The merge starts from the saved adapter and a fresh copy of the base, not from the trained model object:
    under ZeRO-3 (and FSDP) that object holds only this process's shard of each weight, and merging it writes
    empty tensors. The saved adapter is complete however training was distributed.
    """
    from peft import PeftModel
    from transformers.integrations.deepspeed import unset_hf_deepspeed_config

    from hf_unlearn.checkpoint import convert_to_bf16

    adapter = output_dir / ADAPTER_DIR
    unset_hf_deepspeed_config()  # this load is the main process's alone; ZeRO-3 would partition it across all
    merged = PeftModel.from_pretrained(load_model(base_path), str(adapter)).merge_and_unload()
    merged.save_pretrained(str(output_dir))
    tokenizer.save_pretrained(str(output_dir))
    convert_to_bf16(adapter)
    config_path = adapter / ADAPTER_CONFIG
    config = json.loads(config_path.read_text())
    config["base_model_name_or_path"] = base_id
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def _during_training(recipe: Recipe, log_history: list[dict]) -> dict | None:
    if not recipe["eval.during_training.every"]:
        return None
    from hf_unlearn.during_training import trajectory_record

    return trajectory_record(recipe, log_history)


def _peft_settings(recipe: Recipe) -> dict | None:
    if not recipe["peft.r"]:
        return None
    return {
        "r": recipe["peft.r"],
        "alpha": recipe["peft.alpha"],
        "dropout": recipe["peft.dropout"],
        "target_modules": recipe["peft.target_modules"],
        "adapter_dir": ADAPTER_DIR,
        "merged": True,
    }


def _last_checkpoint(output_dir: Path) -> str | None:
    """The newest complete checkpoint. The Trainer writes `trainer_state.json` last, so a run killed while
    saving leaves a folder without a readable one: that folder is skipped, not resumed from."""
    if not output_dir.is_dir():
        return None
    found = []
    for folder in output_dir.glob(f"{CHECKPOINT_PREFIX}*"):
        try:
            step = int(folder.name.split("-", 1)[1])
            json.loads((folder / TRAINER_STATE).read_text())
        except (ValueError, OSError):
            logger.warning("skipping incomplete checkpoint %s", folder)
            continue
        found.append((step, folder))
    return str(max(found)[1]) if found else None
