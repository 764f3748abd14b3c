"""Run folders without weights, as the card, the exporter and the leaderboard read them."""

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
