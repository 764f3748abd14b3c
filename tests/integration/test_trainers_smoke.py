"""One optimizer step of every method from a recipe, offline on the tiny target (the way GradDiff runs)."""

import json
import math
from pathlib import Path

import pytest
import torch
from helpers.altpo import handmade_alternates
from safetensors.torch import load_file

from hf_unlearn.methods import METHODS as REGISTERED
from hf_unlearn.pipeline import train
from hf_unlearn.recipe import Recipe, RecipeError

#: Every registered method: a new one is smoke-tested without being listed here.
METHODS = list(REGISTERED)
#: The tiny model has 4 layers; PDU's eps has no default (a method with a required parameter adds it here).
EXTRA = {"RMU": {"module_regex": r"model\.layers\.2"}, "PDU": {"retain_loss_eps": 0.3}}
#: Methods that read a data file of their own: a function writing one into the given folder.
DATA_FILES = {"AltPO": lambda folder: {"alternates": str(handmade_alternates(folder / "alternates.json"))}}


def _recipe(method, model, out, **extra):
    raw = {
        "model": str(model),
        "method": method,
        "forget_split": "forget01",
        "data": {"source": "bundled", "retain_limit": 16, "forget_limit": 8},
        "max_steps": 1,
        "effective_batch_size": 8,
        "per_device_train_batch_size": 4,
        "warmup_epochs": 0.0,
        "learning_rate": 1e-3,
        "logging_steps": 1,
        "output_dir": str(out),
        "bf16": False,
    }
    raw.update(EXTRA.get(method, {}))
    if method in DATA_FILES:
        raw.update(DATA_FILES[method](Path(out).parent))
    raw.update(extra)
    return Recipe.from_dict(raw)


@pytest.mark.parametrize("method", METHODS)
def test_one_step_from_a_recipe(method, tiny_target, tmp_path):
    recipe = _recipe(method, tiny_target, tmp_path / method)
    result = train(recipe)
    info = json.loads((result.output_dir / "run_info.json").read_text())
    assert info["method"] == method and info["run_name"] == recipe.run_name and info["global_steps"] == 1
    logged = result.log_history[0]
    assert math.isfinite(logged["loss"]) and logged["grad_norm"] > 0
    assert {"forget_loss", "forget_nll", "idk_nll"} & set(logged)
    before, after = (
        load_file(str(tiny_target / "model.safetensors")),
        load_file(str(result.output_dir / "model.safetensors")),
    )
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert changed, "one optimizer step changed no weight"


#: Every shape of forget/retain split: reference-free, reference, no retain term, alpha 0, activations, dual state,
#: nested pairs. (GradDiff's and NPO's exact SAM updates are checked in test_trainers_methods.py.)
SAM_METHODS = ["NPO", "CEU", "UNDIAL", "RMU", "PDU", "AltPO"]


@pytest.mark.parametrize("method", SAM_METHODS)
def test_sharpness_aware_step_from_a_recipe(method, tiny_target, tmp_path):
    """`sam_rho` with methods of every kind: the run is named for it and one step changes the weights."""
    recipe = _recipe(method, tiny_target, tmp_path / method, sam_rho=0.1)
    assert recipe.run_name.endswith("_sam0.1")
    result = train(recipe)
    logged = result.log_history[0]
    assert math.isfinite(logged["loss"]) and logged["grad_norm"] > 0
    after = load_file(str(result.output_dir / "model.safetensors"))
    before = load_file(str(tiny_target / "model.safetensors"))
    assert any(not torch.equal(before[k], after[k]) for k in before)


@pytest.mark.parametrize(("method", "term"), [("NPO", "log_ratio"), ("AltPO", "chosen_log_ratio")])
def test_precompute_ref_log_probs_from_a_recipe(method, term, tiny_target, tmp_path):
    live = train(_recipe(method, tiny_target, tmp_path / "live"))
    cached = train(_recipe(method, tiny_target, tmp_path / "cached", precompute_ref_log_probs=True))
    assert cached.log_history[0]["loss"] == pytest.approx(live.log_history[0]["loss"], rel=1e-5)
    assert cached.log_history[0][term] == pytest.approx(live.log_history[0][term], abs=1e-5)


@pytest.mark.parametrize(
    ("method", "extra", "message"),
    [
        ("RMU", {}, "RMU needs the reference model's full token distributions"),
        ("UNDIAL", {}, "UNDIAL needs the reference model's full token distributions"),
        ("GradDiff", {}, "or uses no reference; it works with NPO, IdkDPO"),
        ("NPO", {"retain_loss_type": "KL"}, "retain_loss_type KL needs the live reference"),
    ],
)
def test_precompute_rejected_where_it_cannot_work(method, extra, message, tmp_path):
    with pytest.raises(RecipeError, match=message):
        _recipe(method, "some/model", tmp_path, precompute_ref_log_probs=True, **extra)


def test_pdu_eps_is_required(tmp_path):
    with pytest.raises(RecipeError, match="retain_loss_eps: a value is required"):
        Recipe.from_dict({"model": "m", "method": "PDU"})
