"""The sweep's plan and launch checks: a point is done only when its folder holds a finished run of its recipe
(stale otherwise), chained points depend on their predecessor, and the Slurm launcher without Slurm is one line.
No training: run folders are written as training leaves them."""

import os
from pathlib import Path

import yaml
from helpers.runs import RAW, finished_run, write_recipe

from hf_unlearn.cli import main
from hf_unlearn.recipe import load_recipe
from hf_unlearn.sweep_runner import check_launcher, command, plan


def test_plan_marks_stale_points_and_keeps_identical_ones_done(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    same = write_recipe(tmp_path / "recipes" / "a.yaml", {**RAW, "learning_rate": 1e-4})
    changed = write_recipe(tmp_path / "recipes" / "b.yaml", {**RAW, "learning_rate": 2e-4, "max_steps": 3})
    fresh = write_recipe(tmp_path / "recipes" / "c.yaml", {**RAW, "learning_rate": 3e-4})
    cut = write_recipe(tmp_path / "recipes" / "d.yaml", {**RAW, "learning_rate": 4e-4})
    for path, raw in ((same, {}), (changed, {"max_steps": 2})):
        recipe = load_recipe(path, raw)
        finished_run(Path(recipe.output_dir), recipe)
    finished_run(Path(load_recipe(cut).output_dir), load_recipe(cut), finished=False)
    points = plan([same, changed, fresh, cut], tmp_path / "logs")
    assert [p.state for p in points] == ["done", "stale", "pending", "pending"]
    assert [p.resume for p in points] == [False, False, False, True]
    assert "holds a finished run of another recipe (max_steps: 2 -> 3)" in points[1].note
    points[1].overwrite = True
    assert command(points[1])[-2:] == [str(changed), "--overwrite"] and command(points[3])[-1] == "--resume"


def test_chained_points_wait_on_their_predecessor(tmp_path, monkeypatch):
    """A point whose model is another point's run folder (chain: true) depends on it; a finished one is stale when
    the point it starts from runs again."""
    monkeypatch.chdir(tmp_path)
    first = write_recipe(tmp_path / "r" / "a.yaml", {**RAW, "learning_rate": 1e-4})
    head = load_recipe(first)
    second = write_recipe(tmp_path / "r" / "b.yaml", {**RAW, "learning_rate": 2e-4, "model": head.output_dir + "/"})
    third = write_recipe(tmp_path / "r" / "c.yaml", {**RAW, "learning_rate": 3e-4})
    points = plan([first, second, third], tmp_path / "logs")
    assert [p.after for p in points] == [None, points[0], None]
    finished_run(Path(load_recipe(second).output_dir), load_recipe(second))
    points = plan([first, second, third], tmp_path / "logs")
    assert [p.state for p in points] == ["pending", "stale", "pending"]
    assert points[1].note.endswith(f"started from {head.run_name}'s model, which is trained again")
    finished_run(Path(head.output_dir), head)
    assert [p.state for p in plan([first, second, third], tmp_path / "logs")] == ["done", "done", "pending"]


def test_slurm_launcher_without_slurm_is_one_line_before_anything(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))  # no sbatch, no srun
    grid = tmp_path / "grid.yaml"
    grid.write_text(yaml.safe_dump({"base": {**RAW}, "grid": {"learning_rate": [1e-4]}}))
    out = tmp_path / "recipes"
    assert main(["sweep", str(grid), "--out", str(out), "--run", "--launcher", "slurm"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --launcher slurm: Slurm was not found") and err.count("\n") == 1
    assert "--launcher local" in err and not out.exists()  # nothing written, nothing submitted
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    for name in ("sbatch", "srun"):
        (fake_bin / name).write_text("#!/bin/sh\n")
        os.chmod(fake_bin / name, 0o755)
    monkeypatch.setenv("PATH", str(fake_bin))
    check_launcher("slurm")  # found: no error
    check_launcher("local")
