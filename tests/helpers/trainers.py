"""Shared by the tests that drive method trainers directly: fp32 models, one-step trainer settings, batches."""

from pathlib import Path

import torch
from transformers import AutoModelForCausalLM


def float_model(path):
    return AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)


def one_step_args(tmp_path: Path, **overrides) -> dict:
    """TrainingArguments for one plain step on CPU: constant lr, no warm-up, no decay, nothing saved."""
    return {
        "output_dir": str(tmp_path / "out"),
        "per_device_train_batch_size": 8,
        "gradient_accumulation_steps": 1,
        "max_steps": 1,
        "learning_rate": 1e-3,
        "lr_scheduler_type": "constant",
        "warmup_steps": 0,
        "weight_decay": 0.0,
        "use_cpu": True,
        "report_to": "none",
        "save_strategy": "no",
        "seed": 0,
        "disable_tqdm": True,
        **overrides,
    }


def first_batch(trainer, n: int = 4) -> dict:
    """The collated first `n` items of the trainer's dataset."""
    return trainer.data_collator([trainer.train_dataset[i] for i in range(n)])
