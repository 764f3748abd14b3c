"""Run folders without weights, as the card, the exporter, the leaderboard and the finished-run rule read them."""

import json
from pathlib import Path

import yaml

from hf_unlearn.publish.license import LicenseInfo
from hf_unlearn.recipe import Recipe

LOGS = [
    {"step": 1, "forget_nll": 2.0, "retain_loss": 1.5, "loss": 1.0},
    {"step": 2, "forget_nll": float("nan"), "retain_loss": 1.25},
    {"step": 3, "forget_nll": 4.0, "retain_loss": 1.0},
    {"step": 3, "train_loss": 1.1, "train_runtime": 3.0},
]
OTHER = LicenseInfo("other", "not found", "The base model's licence could not be determined.")


def make_run(folder: Path, recipe: dict, evals: dict | None = None, logs=LOGS, **info) -> Path:
    """A run folder with everything the card reads (no weights: the card never opens them)."""
    folder.mkdir(parents=True)
    resolved = Recipe.from_dict(recipe)
    (folder / "recipe.yaml").write_text(yaml.safe_dump(resolved.to_yaml_dict(), sort_keys=False))
    run_info = {
        "run_name": resolved.run_name,
        "task": resolved["task"],
        "base_model": resolved["model"],
        "tokenizer": resolved["model"],
        "world_size": 2,
        "gradient_accumulation_steps": 2,
        "warmup_steps": 6,
        "global_steps": 30,
        "wall_time_s": 754.0,
        "hardware": "NVIDIA H100 80GB HBM3",
        "versions": {"hf-unlearn": "0.1.0", "transformers": "5.23.0"},
        "data_sizes": {"forget": 200, "retain": 3800} if resolved["task"] == "unlearn" else {"train": 3960},
        "data_fingerprint": {"forget": "aaaa", "retain": "bbbb"} if resolved["task"] == "unlearn" else {"train": "cc"},
        "finished": True,
        **info,
    }
    (folder / "run_info.json").write_text(json.dumps(run_info))
    (folder / "trainer_state.json").write_text(json.dumps({"log_history": logs}))
    if evals:
        (folder / "evals").mkdir()
        for name, data in evals.items():
            (folder / "evals" / name).write_text(json.dumps(data))
    return folder


#: A small unlearning recipe (tiny model, bundled data); max_steps and seed are not part of its run name.
RAW = {
    "model": "tiny",
    "method": "GradDiff",
    "forget_split": "forget01",
    "max_steps": 2,
    "data": {"source": "bundled", "forget_limit": 8},
}


def finished_run(run_dir: Path, recipe: Recipe, finished: bool = True) -> Path:
    """What training leaves: the resolved recipe and run_info.json (plus a checkpoint and an eval file)."""
    (run_dir / "checkpoint-2").mkdir(parents=True)
    (run_dir / "evals").mkdir()
    (run_dir / "evals" / "TOFU_SUMMARY.json").write_text("{}")
    (run_dir / "recipe.yaml").write_text(yaml.safe_dump(recipe.to_yaml_dict(), sort_keys=False))
    if finished:
        (run_dir / "run_info.json").write_text(json.dumps({"finished": True}))
    return run_dir


def write_recipe(path: Path, raw: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(raw))
    return path
