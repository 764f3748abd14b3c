"""PDU kill-and-resume: the dual variable lambda_r is checkpointed, so a resumed run ends where the uninterrupted one
does. The kill is real (a subprocess `os._exit`s right after a checkpoint is written)."""

import json
import subprocess
import sys
import textwrap

import pytest
from helpers.distributed import REPO, assert_same_weights, sgd_overrides, subprocess_env, weights

from hf_unlearn.pipeline import train
from hf_unlearn.recipe import load_recipe

PDU = REPO / "recipes" / "tofu" / "forget10_PDU_lr1e-05_eps0.3_step1_alpha100_epoch10.yaml"
ALPHA = 1.0

KILLER = textwrap.dedent(
    """
    import json, os, sys
    from transformers import TrainerCallback
    from hf_unlearn.pipeline import train
    from hf_unlearn.recipe import load_recipe

    class Kill(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):
            if state.global_step == int(sys.argv[3]):
                os._exit(137)

    train(load_recipe(sys.argv[1], json.loads(sys.argv[2])), callbacks=[Kill()])
    """
)


def _pdu_overrides(tiny_dir, out, **extra) -> dict:
    """16 rows, 2 steps an epoch, 6 steps; eps 0 keeps the retain loss above the bound, so lambda_r rises."""
    pdu = {"alpha": ALPHA, "dual_step_size": 0.5, "retain_loss_eps": 0.0, "dual_update_upon": "step"}
    tiny = {"tokenizer": str(tiny_dir), "model_name": "tiny-llama", "data.source": "bundled", "bf16": False}
    ckpt = {"save_strategy": "steps", "save_total_limit": 1, "max_steps": 6}
    return sgd_overrides(tiny_dir, out, **{**tiny, **ckpt, **pdu, **extra})


def _logged(state: dict) -> dict[int, float]:
    return {h["step"]: h["retain_preference"] for h in state["log_history"] if "retain_preference" in h}


@pytest.mark.parametrize(
    ("extra", "kill_at"),
    [
        # lambda_r moves every step from the start; the kill lands mid-epoch
        ({"dual_warmup_epochs": 0, "save_steps": 3}, 3),
        # the warm-up ends at the end of epoch 1, which comes after the step-2 checkpoint is written
        ({"dual_warmup_epochs": 1, "save_steps": 2}, 2),
        # the epoch-1 dual update also comes after the step-2 checkpoint
        ({"dual_warmup_epochs": 0, "dual_update_upon": "epoch", "save_steps": 2}, 2),
    ],
    ids=["step", "warmup-ends-at-checkpoint", "epoch-update-at-checkpoint"],
)
def test_pdu_kill_and_resume_matches_uninterrupted(tmp_path, tiny_dir, extra, kill_at):
    straight = train(load_recipe(PDU, _pdu_overrides(tiny_dir, tmp_path / "straight", **extra))).output_dir
    straight_log = _logged(json.loads((straight / "trainer_state.json").read_text()))
    assert sorted(straight_log) == [1, 2, 3, 4, 5, 6]
    assert straight_log[6] != ALPHA, "lambda_r never moved: the comparison would be vacuous"

    out = tmp_path / "killed"
    driver = tmp_path / "killer.py"
    driver.write_text(KILLER)
    overrides = _pdu_overrides(tiny_dir, out, **extra)
    killed = subprocess.run(
        [sys.executable, str(driver), str(PDU), json.dumps(overrides), str(kill_at)],
        env=subprocess_env(),
        capture_output=True,
        timeout=600,
    )
    assert killed.returncode == 137, killed.stderr[-3000:]
    saved = json.loads((out / f"checkpoint-{kill_at}" / "trainer_state.json").read_text())
    dual = saved["stateful_callbacks"]["PDUDualState"]["args"]
    if extra["dual_warmup_epochs"] == 0 and extra.get("dual_update_upon") != "epoch":
        # the checkpoint holds the lambda_r the next step uses, which is not alpha: restarting at alpha would differ
        assert dual["retain_preference"] == pytest.approx(straight_log[kill_at + 1], rel=1e-6)
        assert dual["retain_preference"] != ALPHA and dual["dual_updates_enabled"]
    else:
        # saved before the epoch end that moves lambda_r (or ends the warm-up): resuming must run that epoch end
        assert dual["retain_preference"] == ALPHA and dual["last_epoch_end"] == 0.0
        assert straight_log[kill_at + 2] != ALPHA

    resumed = train(load_recipe(PDU, overrides), resume=True).output_dir
    assert _logged(json.loads((resumed / "trainer_state.json").read_text())) == straight_log
    assert_same_weights(weights(straight), weights(resumed), exact=True)
