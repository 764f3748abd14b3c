"""`hf-unlearn sweep GRID --run` on a 3-point tiny grid: every point finishes, an interrupted one is resumed, a second
invocation does nothing; the submitit local executor runs the same grid through the Slurm submission path."""

import json
import subprocess
import sys

import pytest
import yaml
from helpers.distributed import subprocess_env

LRS = [1e-4, 2e-4, 3e-4]


def write_grid(folder, tiny_dir):
    grid = {
        "description": "tiny sweep test",
        "base": {
            "model": str(tiny_dir),
            "model_name": "tiny-llama",
            "method": "GradDiff",
            "forget_split": "forget01",
            "num_train_epochs": 1,
            "max_steps": 2,
            "effective_batch_size": 4,
            "per_device_train_batch_size": 4,
            "warmup_epochs": 0,
            "save_strategy": "steps",
            "save_steps": 1,
            "data": {"source": "bundled", "forget_limit": 8, "retain_limit": 8},
            "eval": {
                "limit": 4,
                "max_new_tokens": 4,
                "compare_target": False,
                "metrics": "forget_Q_A_Prob",
            },
        },
        "grid": {"learning_rate": LRS},
    }
    path = folder / "grid.yaml"
    path.write_text(yaml.safe_dump(grid))
    return path


def sweep(cwd, grid, *extra):
    cmd = [sys.executable, "-m", "hf_unlearn.cli", "sweep", str(grid), "--out", "recipes", "--run", *extra]
    result = subprocess.run(cmd, cwd=cwd, env=subprocess_env(), capture_output=True, text=True, timeout=600)
    logs = "".join(log.read_text()[-2000:] for log in (cwd / "sweep_logs").glob("*.log"))
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:] + logs
    return result.stdout


def run_dirs(cwd):
    return sorted((cwd / "saves" / "unlearn").iterdir())


def finished(run_dir):
    return json.loads((run_dir / "run_info.json").read_text())["finished"]


class Interrupt(Exception):
    pass


def interrupt_after_first_save(recipe_path):
    """Train a point until its first checkpoint is saved, then stop it as a kill would (no run_info.json)."""
    from transformers import TrainerCallback

    from hf_unlearn.pipeline import train
    from hf_unlearn.recipe import load_recipe

    class Stop(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):
            raise Interrupt

    with pytest.raises(Interrupt):
        train(load_recipe(recipe_path), callbacks=[Stop()])


def test_local_sweep_runs_resumes_and_skips(tmp_path, tiny_dir, monkeypatch):
    grid = write_grid(tmp_path, tiny_dir)
    subprocess.run(
        [sys.executable, "-m", "hf_unlearn.cli", "sweep", str(grid), "--out", "recipes"],
        cwd=tmp_path,
        env=subprocess_env(),
        check=True,
    )
    first = sorted((tmp_path / "recipes").glob("*.yaml"))[0]
    monkeypatch.chdir(tmp_path)
    interrupt_after_first_save(first)
    killed = tmp_path / "saves" / "unlearn" / first.stem
    assert (killed / "checkpoint-1").is_dir() and not (killed / "run_info.json").exists()

    out = sweep(tmp_path, grid)
    assert "3 points: 0 finished, 3 to run (1 resumed)" in out
    assert "[sweep] 3/3 done, 0 running, 0 failed" in out
    assert len(run_dirs(tmp_path)) == 3 and all(finished(d) for d in run_dirs(tmp_path))
    log = (tmp_path / "sweep_logs" / f"{first.stem}.log").read_text()
    assert f"train recipes/{first.name} --resume" in log
    assert (tmp_path / "leaderboard" / "leaderboard.md").read_text().count(first.stem.split("_lr")[0]) == 3

    stamps = {d: (d / "run_info.json").stat().st_mtime_ns for d in run_dirs(tmp_path)}
    again = sweep(tmp_path, grid)
    assert "3 points: 3 finished, 0 to run" in again
    assert {d: (d / "run_info.json").stat().st_mtime_ns for d in run_dirs(tmp_path)} == stamps


def test_submitit_local_executor_runs_the_grid(tmp_path, tiny_dir):
    grid = write_grid(tmp_path, tiny_dir)
    out = sweep(tmp_path, grid, "--launcher", "submitit-local")
    assert "[sweep] 3/3 done, 0 running, 0 failed" in out
    assert len(run_dirs(tmp_path)) == 3 and all(finished(d) for d in run_dirs(tmp_path))
    assert list((tmp_path / "sweep_logs" / "submitit").iterdir())  # submitit's own job files
