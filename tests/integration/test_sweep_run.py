"""`hf-unlearn sweep GRID --run` on tiny grids: a chained pair and an independent point, two at a time (the chained
point waits for its predecessor), an interrupted point resumed, a second invocation skipping every point, a changed
non-name key refused and then rerun with --overwrite, a failed point reported with its log; the submitit local
executor runs the same grids through the Slurm submission path, chained points in order too."""

import csv
import json
import subprocess
import sys

import pytest
import yaml
from helpers.distributed import subprocess_env

CHAIN_LRS = [1e-4, 2e-4]
LONE_LR = 3e-4


def base(tiny_dir, **changes):
    return {
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
        **changes,
    }


def write_grids(folder, tiny_dir, **lone_changes):
    """chain.yaml: two points, the second starting from the first's run folder; lone.yaml: one more point."""
    chain = {"description": "chained", "base": base(tiny_dir), "grid": {"learning_rate": CHAIN_LRS}, "chain": True}
    lone = {"description": "alone", "base": base(tiny_dir, **lone_changes), "grid": {"learning_rate": [LONE_LR]}}
    paths = folder / "chain.yaml", folder / "lone.yaml"
    for path, grid in zip(paths, (chain, lone), strict=True):
        path.write_text(yaml.safe_dump(grid))
    return paths


def names(cwd):
    """(chain head, chained point, lone point) run names, as the written recipes name them."""
    recipes = sorted((cwd / "recipes").glob("*.yaml"), key=lambda p: yaml.safe_load(p.read_text())["learning_rate"])
    return [p.stem for p in recipes]


def sweep(cwd, grids, *extra, rc=0):
    cmd = [sys.executable, "-m", "hf_unlearn.cli", "sweep", *map(str, grids), "--out", "recipes", "--run", *extra]
    result = subprocess.run(cmd, cwd=cwd, env=subprocess_env(), capture_output=True, text=True, timeout=600)
    logs = "".join(log.read_text()[-2000:] for log in (cwd / "sweep_logs").glob("*.log"))
    assert result.returncode == rc, result.stdout[-2000:] + result.stderr[-2000:] + logs
    return result.stdout + result.stderr


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


def summary(run_dir):
    return json.loads((run_dir / "evals" / "TOFU_SUMMARY.json").read_text())


def assert_chain_ran_in_order(out, cwd, head, chained):
    """The chained point started only after its predecessor was done, from the predecessor's run folder."""
    assert out.index(f"[sweep] done: {head}") < out.index(f"[sweep] started: {chained}"), out
    info = json.loads((cwd / "saves" / "unlearn" / chained / "run_info.json").read_text())
    assert info["base_model"] == f"saves/unlearn/{head}"


def assert_leaderboard(out, cwd, expected):
    """leaderboard.csv holds each finished run with the values its evaluation computed; the printed top rows are
    the leaderboard's."""
    rows = list(csv.DictReader((cwd / "leaderboard" / "leaderboard.csv").open()))
    assert sorted(r["run"] for r in rows) == sorted(expected)
    for row in rows:
        value = summary(cwd / "saves" / "unlearn" / row["run"])["forget_Q_A_Prob"]
        assert float(row["forget_Q_A_Prob"]) == value and 0.0 < value < 1.0
    assert len({r["forget_Q_A_Prob"] for r in rows}) == len(rows)  # three learning rates, three results
    table = (cwd / "leaderboard" / "leaderboard.md").read_text().splitlines()
    assert "\n".join(table[:5]) in out  # header, separator and the three rows, as printed after the last point


def test_local_sweep_two_at_a_time_in_chain_order_resumes_skips_and_refuses_stale(tmp_path, tiny_dir, monkeypatch):
    grids = write_grids(tmp_path, tiny_dir)
    subprocess.run(
        [sys.executable, "-m", "hf_unlearn.cli", "sweep", *map(str, grids), "--out", "recipes"],
        cwd=tmp_path,
        env=subprocess_env(),
        check=True,
    )
    head, chained, lone = names(tmp_path)
    monkeypatch.chdir(tmp_path)
    interrupt_after_first_save(tmp_path / "recipes" / f"{head}.yaml")
    killed = tmp_path / "saves" / "unlearn" / head
    assert (killed / "checkpoint-1").is_dir() and not (killed / "run_info.json").exists()

    out = sweep(tmp_path, grids, "--max-parallel", "2")
    assert "3 points: 0 finished, 3 to run (1 resumed)" in out
    # two at once: the chain's head and the lone point; the chained point waits for its head
    assert "[sweep] 0/3 done, 2 running, 0 failed, 1 waiting" in out
    assert "3 running" not in out
    assert_chain_ran_in_order(out, tmp_path, head, chained)
    assert "[sweep] 3/3 done, 0 running, 0 failed" in out
    assert len(run_dirs(tmp_path)) == 3 and all(finished(d) for d in run_dirs(tmp_path))
    log = (tmp_path / "sweep_logs" / f"{head}.log").read_text()
    assert f"train recipes/{head}.yaml --resume" in log
    assert_leaderboard(out, tmp_path, [head, chained, lone])

    stamps = {d: (d / "run_info.json").stat().st_mtime_ns for d in run_dirs(tmp_path)}
    again = sweep(tmp_path, grids)
    assert "3 points: 3 finished, 0 to run" in again
    assert {d: (d / "run_info.json").stat().st_mtime_ns for d in run_dirs(tmp_path)} == stamps

    # max_steps is not in the run name: the lone point's folder now holds a run of another recipe
    grids = write_grids(tmp_path, tiny_dir, max_steps=1)
    refused = sweep(tmp_path, grids, rc=2)
    assert (
        f"[sweep] {lone}: saves/unlearn/{lone} holds a finished run of another recipe (max_steps: 2 -> 1)" in refused
    )
    assert "error: 1 point(s) would train over a finished run" in refused and "--overwrite" in refused
    assert {d: (d / "run_info.json").stat().st_mtime_ns for d in run_dirs(tmp_path)} == stamps

    rerun = sweep(tmp_path, grids, "--overwrite")
    assert "3 points: 2 finished, 1 to run (0 resumed, 1 replacing a finished run)" in rerun
    lone_dir = tmp_path / "saves" / "unlearn" / lone
    assert json.loads((lone_dir / "run_info.json").read_text())["global_steps"] == 1
    assert not (lone_dir / "checkpoint-2").exists()  # the old run's checkpoint did not survive
    assert yaml.safe_load((lone_dir / "recipe.yaml").read_text())["max_steps"] == 1
    assert {d: (d / "run_info.json").stat().st_mtime_ns for d in run_dirs(tmp_path) if d != lone_dir} == {
        d: t for d, t in stamps.items() if d != lone_dir
    }


def test_failed_points_are_reported_with_their_logs(tmp_path, tiny_dir):
    """A point that fails is listed with its log; the point chained to it is not run (its model will not exist)."""
    grids = write_grids(tmp_path, tiny_dir)
    chain = yaml.safe_load(grids[0].read_text())
    chain["base"]["model"] = str(tmp_path / "no-such-model")
    grids[0].write_text(yaml.safe_dump(chain))
    out = sweep(tmp_path, grids[:1], "--max-parallel", "2", rc=1)
    head, chained = names(tmp_path)
    log = tmp_path / "sweep_logs" / f"{head}.log"
    assert f"[sweep]   failed: {head} (log: sweep_logs/{head}.log)" in out
    assert "no-such-model' is not a local folder" in log.read_text()
    assert f"[sweep]   failed: {chained} (not run: it starts from {head}, which failed)" in out
    assert not (tmp_path / "sweep_logs" / f"{chained}.log").exists()
    assert "[sweep] 0/2 done, 0 running, 2 failed, 0 waiting" in out


def test_submitit_local_executor_runs_the_grid_in_chain_order(tmp_path, tiny_dir):
    grids = write_grids(tmp_path, tiny_dir)
    out = sweep(tmp_path, grids, "--launcher", "submitit-local")
    head, chained, lone = names(tmp_path)
    assert "[sweep] 3/3 done, 0 running, 0 failed" in out
    assert "[sweep] 0/3 done, 2 running, 0 failed, 1 waiting" in out  # submitted: the head and the lone point
    assert_chain_ran_in_order(out, tmp_path, head, chained)
    for name in (head, chained, lone):
        info = json.loads((tmp_path / "saves" / "unlearn" / name / "run_info.json").read_text())
        assert info["finished"] and info["global_steps"] == 2
    assert_leaderboard(out, tmp_path, [head, chained, lone])
