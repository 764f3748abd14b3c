"""`sam_rho`, the sharpness-aware option of every method: recipe key, run name, card citation."""

import pytest

from hf_unlearn.benchmarks import get_benchmark
from hf_unlearn.methods import SAM_PAPER
from hf_unlearn.naming import parse_run_name
from hf_unlearn.publish.citations import citations_for
from hf_unlearn.recipe import Recipe, RecipeError


def _recipe(**extra):
    return Recipe.from_dict({"model": "some/model", "method": "NPO", "num_train_epochs": 10, **extra})


def test_run_name_gains_rho_only_when_set_and_parses_back():
    assert _recipe().run_name == "forget10_NPO_lr1e-05_beta0.1_alpha1_epoch10"
    name = _recipe(sam_rho=0.1).run_name
    assert name == "forget10_NPO_lr1e-05_beta0.1_alpha1_epoch10_sam0.1"
    assert parse_run_name(name)["sam_rho"] == 0.1
    assert "sam_rho" not in parse_run_name("forget10_NPO_lr1e-05_beta0.1_alpha1_epoch10")


@pytest.mark.parametrize(("extra", "message"), [({"sam_rho": 0}, "sam_rho: must be > 0"), ({"sam_rho": -1}, "> 0")])
def test_rho_must_be_positive(extra, message):
    with pytest.raises(RecipeError, match=message):
        _recipe(**extra)


def test_methods_with_their_own_step_refuse_it():
    with pytest.raises(RecipeError, match="sam_rho: GRU replaces the optimizer step"):
        _recipe(method="GRU", sam_rho=0.1)


def test_card_cites_the_sam_paper_only_for_sam_runs():
    tofu = get_benchmark("tofu")
    assert SAM_PAPER.bibtex in citations_for(tofu, "NPO", sam=True)
    assert SAM_PAPER.bibtex not in citations_for(tofu, "NPO")


def test_finetuning_refuses_it():
    with pytest.raises(RecipeError, match="sam_rho: finetuning has no forget loss"):
        Recipe.from_dict({"model": "some/model", "task": "finetune", "sam_rho": 0.1})


def _deepspeed(stage: int, offload: str = "none"):
    from types import SimpleNamespace

    config = {"zero_optimization": {"stage": stage, "offload_optimizer": {"device": offload}}}
    plugin = SimpleNamespace(zero_stage=stage, deepspeed_config=config)
    return SimpleNamespace(
        is_deepspeed_enabled=True, accelerator=SimpleNamespace(state=SimpleNamespace(deepspeed_plugin=plugin))
    )


@pytest.mark.parametrize("what", ["sam_rho", "GRU"])
def test_deepspeed_runs_only_zero3_without_offload(what):
    """ZeRO-3 exposes each parameter's gradient partition (tests/integration/test_distributed_sharded.py trains
    SAM and GRU under it); stages 0-2 keep flat buffers of their own, and optimizer offload fills its gradient
    buffer only at the step's end: those are refused in one line."""
    from types import SimpleNamespace

    from hf_unlearn.trainers.two_pass import reject_unsupported_sharding

    for stage in (0, 1, 2):
        with pytest.raises(
            RecipeError, match=f"{what}: not supported with DeepSpeed ZeRO stage {stage}; use zero_stage 3"
        ):
            reject_unsupported_sharding(_deepspeed(stage), what)
    with pytest.raises(RecipeError, match=f"{what}: not supported with DeepSpeed's optimizer offload"):
        reject_unsupported_sharding(_deepspeed(3, offload="cpu"), what)
    reject_unsupported_sharding(_deepspeed(3), what)
    reject_unsupported_sharding(SimpleNamespace(is_deepspeed_enabled=False), what)
