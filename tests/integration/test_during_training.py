"""Evaluation during training and checkpoint selection on the tiny model: the metrics are logged per epoch, the
kept checkpoint is the one the rule picks from the logged trajectory, and the export holds its weights.

These tests check the mechanics (the selection equals the rule applied to what was logged), never which epoch
wins: that depends on the machine's floating-point trajectory.
"""

import json

import torch
from helpers.distributed import REPO
from safetensors.torch import load_file

from hf_unlearn.pipeline import train
from hf_unlearn.publish import publish_run
from hf_unlearn.recipe import load_recipe
from hf_unlearn.selection import select, start_utility, trajectory

RECIPE = REPO / "recipes" / "tiny" / "forget01_GradDiff_lr0.0005_alpha5_epoch10.yaml"
EPOCHS = 3


def selecting_overrides(tiny_dir, out, **extra) -> dict:
    """3 epochs of 2 steps; the untrained tiny model doubles as the retain reference (forget quality needs one)."""
    return {
        "model": str(tiny_dir),
        "output_dir": str(out),
        "num_train_epochs": EPOCHS,
        "learning_rate": 5e-3,
        "warmup_epochs": 0,
        "data.forget_limit": 8,
        "data.retain_limit": 8,
        "effective_batch_size": 4,
        "per_device_train_batch_size": 4,
        "logging_steps": 1,
        "eval.enabled": False,
        "eval.max_new_tokens": 4,
        "eval.retain_model": str(tiny_dir),
        "eval.during_training": {"every": "epoch", "limit": 4},
        "select_checkpoint": {"rule": "pareto_knee", "keep": "best"},
        **extra,
    }


def check_selection(run_dir, rule="pareto_knee") -> dict:
    """The run's kept weights are those of the checkpoint the rule picks from its logged trajectory."""
    state = json.loads((run_dir / "trainer_state.json").read_text())
    points = trajectory(state["log_history"])
    assert [p.epoch for p in points if p.step > 0] == [1.0, 2.0, 3.0]
    for point in points:
        assert {"forget_quality", "model_utility", "forget_truth_ratio", "forget_Q_A_Prob"} <= set(point.metrics)
    expected = select(points, rule, start_utility=start_utility(points))
    info = json.loads((run_dir / "run_info.json").read_text())
    record = info["selection"]
    assert record["rule"] == rule and record["selected_step"] == expected.point.step
    assert record["reason"] == expected.reason and "because" in record["description"]
    assert len(info["during_training"]["trajectory"]) == len(points)
    chosen = load_file(run_dir / f"checkpoint-{expected.point.step}" / "model.safetensors")
    export = publish_run(run_dir, dry_run=True).export_dir
    published = load_file(export / "model.safetensors")
    for name, tensor in published.items():
        assert torch.equal(tensor, chosen[name].to(tensor.dtype)), name
    card = (export / "README.md").read_text()
    assert f"Rule `{rule}`: {record['description']}" in card and "evaluated during training" in card
    return record


def test_keep_best_loads_the_selected_earlier_checkpoint(tmp_path, tiny_dir, monkeypatch):
    """Whatever the rule picks, an earlier point's weights replace the last ones (here the rule is made to pick
    epoch 1, so the load path runs on every machine)."""
    from hf_unlearn import during_training
    from hf_unlearn.selection import Selection

    monkeypatch.setattr(during_training, "select", lambda points, rule, **kw: Selection(points[0], "the first"))
    run_dir = train(load_recipe(RECIPE, selecting_overrides(tiny_dir, tmp_path / "run"))).output_dir
    info = json.loads((run_dir / "run_info.json").read_text())
    assert info["selection"]["selected_step"] == 2 and info["selection"]["kept_step"] == 2
    assert info["selection"]["description"].startswith(f"selected at epoch 1 of {EPOCHS} because")
    saved = load_file(run_dir / "model.safetensors")
    first = load_file(run_dir / "checkpoint-2" / "model.safetensors")
    last = load_file(run_dir / f"checkpoint-{2 * EPOCHS}" / "model.safetensors")
    assert all(torch.equal(saved[n], first[n].to(saved[n].dtype)) for n in saved)
    assert not all(torch.equal(saved[n], last[n].to(saved[n].dtype)) for n in saved)


DRIVER = """
import json, sys
from hf_unlearn.pipeline import train
from hf_unlearn.recipe import load_recipe
train(load_recipe(sys.argv[1], json.loads(sys.argv[2])))
"""


def test_one_and_two_processes_select_by_the_rule(tmp_path, tiny_dir):
    """One process, then DDP: metrics logged per epoch, the selection is the rule applied to the logged trajectory
    and the export holds its weights; under DDP every process evaluates, none hangs, and the selection is the same
    as one process's (the trajectories agree to rounding)."""
    import subprocess
    import sys

    from helpers.distributed import subprocess_env

    one = train(load_recipe(RECIPE, selecting_overrides(tiny_dir, tmp_path / "one"))).output_dir
    assert check_selection(one)["final_step"] == 2 * EPOCHS
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    overrides = selecting_overrides(tiny_dir, tmp_path / "two", per_device_train_batch_size=2)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(driver)]
    result = subprocess.run(
        [*cmd, str(RECIPE), json.dumps(overrides)], env=subprocess_env(), capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    two = tmp_path / "two"
    assert json.loads((two / "run_info.json").read_text())["world_size"] == 2
    record = check_selection(two)
    assert record["selected_step"] == json.loads((one / "run_info.json").read_text())["selection"]["selected_step"]
    for a, b in zip(trajectory(_log(one)), trajectory(_log(two)), strict=True):
        assert a.step == b.step
        for key in ("model_utility", "forget_Q_A_Prob"):
            assert abs(a.metrics[key] - b.metrics[key]) <= 1e-3 * max(1.0, abs(a.metrics[key])), key


def _log(run_dir) -> list[dict]:
    return json.loads((run_dir / "trainer_state.json").read_text())["log_history"]
