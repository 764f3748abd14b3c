"""Scale and robustness on CPU: two processes equal one, kill-and-resume equals uninterrupted, determinism."""

import json
import logging
import shutil
import subprocess
import sys
import textwrap

import pytest
import torch
from helpers.distributed import (
    NO_CLIPPING,
    NPO,
    REPO,
    UNLEARN,
    assert_same_update,
    assert_same_weights,
    fp32_weights,
    keep_fp32_weights,
    run_info,
    weights,
)
from helpers.distributed import sgd_overrides as _overrides
from helpers.distributed import subprocess_env as _env

from hf_unlearn.pipeline import _last_checkpoint, train
from hf_unlearn.recipe import load_recipe

DRIVER = textwrap.dedent(
    """
    import json, sys
    from helpers.distributed import keep_fp32_weights
    from hf_unlearn.pipeline import train
    from hf_unlearn.recipe import load_recipe
    with keep_fp32_weights():
        train(load_recipe(sys.argv[1], json.loads(sys.argv[2])), resume="--resume" in sys.argv)
    """
)


@pytest.mark.parametrize(
    ("recipe", "extra"),
    [
        (UNLEARN, {}),
        # a method with a frozen reference model, prepared by the trainer for the distributed setting
        (NPO, {"tokenizer": None, "model_name": "tiny-llama", "bf16": False, "data.source": "bundled"}),
        # GRU's own step: its accumulators swapped around DDP's reducer, the running average the same on both
        (UNLEARN, {"method": "GRU", "alpha": 1.0}),
    ],
    ids=["GradDiff", "NPO", "GRU"],
)
def test_two_processes_equal_one(tmp_path, tiny_dir, recipe, extra):
    extra = {**extra, "tokenizer": str(tiny_dir)} if "tokenizer" in extra else extra
    extra = {**extra, **NO_CLIPPING}
    with keep_fp32_weights():
        single = train(load_recipe(recipe, _overrides(tiny_dir, tmp_path / "one", **extra))).output_dir
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    overrides = _overrides(tiny_dir, tmp_path / "two", per_device_train_batch_size=4, **extra)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    result = subprocess.run(
        [*cmd, str(driver), str(recipe), json.dumps(overrides)],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    info = run_info(tmp_path / "two")
    assert info["world_size"] == 2 and info["gradient_accumulation_steps"] == 1
    assert info["distributed_type"] == "MULTI_CPU"
    assert run_info(single)["world_size"] == 1
    # fp32 updates relative to their size: rounding leaves ~1e-4; counts left un-reduced across processes ~1
    assert_same_update(fp32_weights(single), fp32_weights(tmp_path / "two"), weights(tiny_dir))
    assert_same_weights(weights(single), weights(tmp_path / "two"))  # and the saved BF16 files agree


class RecordWarnings(logging.Handler):
    """Collects a logger's warnings (transformers' loggers do not propagate to pytest's caplog)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_kill_and_resume_matches_uninterrupted(tmp_path, tiny_dir):
    ckpt = {"save_strategy": "steps", "save_steps": 2, "save_total_limit": 1, "max_steps": 6}
    straight = train(load_recipe(UNLEARN, _overrides(tiny_dir, tmp_path / "straight", **ckpt))).output_dir

    out = tmp_path / "killed"
    driver = tmp_path / "killer.py"
    # a callback hard-kills the process right after the step-4 checkpoint is written (no cleanup, like SIGKILL)
    driver.write_text(
        textwrap.dedent(
            """
            import json, os, sys
            from transformers import TrainerCallback
            from hf_unlearn.pipeline import train
            from hf_unlearn.recipe import load_recipe

            class Kill(TrainerCallback):
                def on_save(self, args, state, control, **kwargs):
                    if state.global_step == 4:
                        os._exit(137)

            train(load_recipe(sys.argv[1], json.loads(sys.argv[2])), callbacks=[Kill()])
            """
        )
    )
    overrides = _overrides(tiny_dir, out, **ckpt)
    killed = subprocess.run(
        [sys.executable, str(driver), str(UNLEARN), json.dumps(overrides)],
        env=_env(),
        capture_output=True,
        timeout=600,
    )
    assert killed.returncode == 137
    assert not (out / "model.safetensors").exists()
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-4"]  # save_total_limit bounds disk use
    # a checkpoint half-written when the kill came (no trainer_state.json yet) must be skipped
    partial = out / "checkpoint-5"
    shutil.copytree(out / "checkpoint-4", partial)
    (partial / "trainer_state.json").unlink()
    assert _last_checkpoint(out) == str(out / "checkpoint-4")

    trainer_log = logging.getLogger("transformers.trainer")
    warnings = RecordWarnings()
    trainer_log.addHandler(warnings)
    try:
        resumed = train(load_recipe(UNLEARN, overrides), resume=True).output_dir
    finally:
        trainer_log.removeHandler(warnings)
    # the tied output head is saved once, as the embedding: not a "missing key" of the checkpoint
    assert not [m for m in warnings.messages if "missing keys" in m], warnings.messages
    assert_same_weights(weights(straight), weights(resumed), exact=True)
    state = json.loads((resumed / "trainer_state.json").read_text())
    assert state["global_step"] == 6


def test_gru_resume_continues_the_running_retain_gradient(tmp_path, tiny_dir):
    """GRU's step projects off a running average of earlier steps' retain gradients: the checkpoint holds it, so a
    run resumed from step 2 ends with the uninterrupted run's weights (restarting it at zero would not)."""
    ckpt = {"method": "GRU", "alpha": 1.0, "save_strategy": "steps", "save_steps": 2, "max_steps": 4}
    straight = train(load_recipe(UNLEARN, _overrides(tiny_dir, tmp_path / "straight", **ckpt))).output_dir
    assert (straight / "checkpoint-2" / "gru_retain_average_0.pt").is_file()
    out = tmp_path / "resumed"
    out.mkdir()
    shutil.copytree(straight / "checkpoint-2", out / "checkpoint-2")
    resumed = train(load_recipe(UNLEARN, _overrides(tiny_dir, out, **ckpt)), resume=True).output_dir
    assert_same_weights(weights(straight), weights(resumed), exact=True)


def test_same_seed_same_loss_curve(tmp_path, tiny_dir):
    def curve(name, **extra):
        run = train(load_recipe(UNLEARN, _overrides(tiny_dir, tmp_path / name, **extra))).output_dir
        history = json.loads((run / "trainer_state.json").read_text())["log_history"]
        return [(h["forget_nll"], h["retain_loss"]) for h in history if "forget_nll" in h]

    first, second = curve("a"), curve("b")
    assert len(first) == 4 and first == second
    assert curve("c", seed=1) != first


def test_run_folder_records_provenance(tmp_path, tiny_dir):
    run = train(load_recipe(UNLEARN, _overrides(tiny_dir, tmp_path / "run", max_steps=1))).output_dir
    info = run_info(run)
    assert info["seed"] == 0 and info["finished"] is True
    assert {"torch", "transformers", "accelerate"} <= set(info["versions"])
    assert set(info["data_fingerprint"]) == {"forget", "retain"} and all(info["data_fingerprint"].values())
    saved = load_recipe(UNLEARN, _overrides(tiny_dir, tmp_path / "run", max_steps=1)).to_yaml_dict()
    import yaml

    assert yaml.safe_load((run / "recipe.yaml").read_text()) == saved
    assert json.loads((run / "config.json").read_text())["dtype"] == "bfloat16"
    assert all(t.dtype == torch.bfloat16 for t in weights(run).values())
    assert not (run / "training_args.bin").exists()


@pytest.mark.parametrize("name", ["full", "retain90", "retain95", "retain99"])
def test_finetune_recipes(name):
    recipe = load_recipe(REPO / "recipes" / "finetune" / f"tofu_Llama-3.2-1B-Instruct_{name}.yaml")
    assert recipe.run_name == f"tofu_Llama-3.2-1B-Instruct_{name}"
    assert recipe.repo_id("org") == f"org/tofu_Llama-3.2-1B-Instruct_{name}"
    assert (recipe["learning_rate"], recipe["num_train_epochs"], recipe["effective_batch_size"]) == (1e-5, 5, 32)
    assert (recipe["weight_decay"], recipe["warmup_epochs"]) == (0.01, 1.0)
    assert recipe["finetune_splits"] == [name]
