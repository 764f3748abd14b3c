"""Shared by the multi-process tests: small SGD overrides, the subprocess environment, weight comparisons."""

import json
import os
from pathlib import Path

import torch
from safetensors.torch import load_file

REPO = Path(__file__).resolve().parent.parent
UNLEARN = REPO / "recipes" / "tiny" / "forget01_GradDiff_lr0.0005_alpha5_epoch10.yaml"
NPO = REPO / "recipes" / "tofu" / "forget10_NPO_lr1e-05_beta0.1_alpha1_epoch5.yaml"


def sgd_overrides(model: Path, out: Path, **extra) -> dict:
    """Plain SGD makes the update proportional to the gradient, so any scale error would show (Adam hides it)."""
    return {
        "model": str(model),
        "output_dir": str(out),
        "data.forget_limit": 16,
        "data.retain_limit": 16,
        "effective_batch_size": 8,
        "per_device_train_batch_size": 8,
        "optim": "sgd",
        "learning_rate": 0.05,
        "lr_scheduler_type": "constant",
        "warmup_epochs": 0,
        "weight_decay": 0.0,
        "max_steps": 4,
        "logging_steps": 1,
        **extra,
    }


def subprocess_env() -> dict:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}


def weights(run_dir: Path) -> dict:
    return load_file(str(run_dir / "model.safetensors"))


def assert_same_weights(a: dict, b: dict, exact: bool = False) -> None:
    assert a.keys() == b.keys()
    for name in a:
        if exact:
            assert torch.equal(a[name], b[name]), name
        else:  # bf16 files: one rounding step of difference from reduction order is fine
            torch.testing.assert_close(a[name].float(), b[name].float(), rtol=1e-2, atol=1e-4, msg=name)


def max_change(after: dict, before: dict) -> float:
    return max(float((after[k].float() - before[k].float()).abs().max()) for k in after)


def run_info(run_dir: Path) -> dict:
    return json.loads((run_dir / "run_info.json").read_text())
