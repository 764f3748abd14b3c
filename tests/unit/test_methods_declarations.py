"""Each method is declared once, in its `MethodSpec`: no default, bound or choice lives in a second place.

The recipe and the trainer's config must agree on every hyper-parameter (same default, same values accepted, same
values rejected with the same message), every method must cite its paper, and the card must print that citation.
"""

import dataclasses

import pytest
from helpers.runs import OTHER, make_run

from hf_unlearn.benchmarks import get_benchmark
from hf_unlearn.methods import METHODS
from hf_unlearn.pipeline import build_training_args
from hf_unlearn.publish.card import render_card
from hf_unlearn.publish.citations import citations_for
from hf_unlearn.publish.run_folder import load_run
from hf_unlearn.recipe import SCHEMA, Recipe, RecipeError
from hf_unlearn.trainers.config import UnlearningConfig, method_config

#: Values the recipe and the config need besides the one under test (PDU's eps, AltPO's file have no default).
REQUIRED = {"PDU": {"retain_loss_eps": 0.5}, "AltPO": {"alternates": "alternates.json"}}
#: A parameter whose meaning depends on another's is tested where it has one (GRU's ga_gru has no retain weight).
CONTEXT = {("GRU", "alpha"): {"variant": "gd_gru"}}


def _param_cases():
    """(method, key, value, allowed): values at, just past and inside every bound and choice."""
    for name, spec in METHODS.items():
        for key, param in spec.params.items():
            if param.choices is not None:
                yield from ((name, key, choice, True) for choice in param.choices)
                yield name, key, "NoSuchChoice", False
            step = 1 if param.kind is int else 0.5
            if param.minimum is not None:
                yield name, key, param.kind(param.minimum), not param.exclusive_minimum
                yield name, key, param.kind(param.minimum - step), False
                inside = param.minimum + step if param.maximum is None else (param.minimum + param.maximum) / 2
                yield name, key, param.kind(inside), True
            if param.maximum is not None:
                yield name, key, param.kind(param.maximum), True
                yield name, key, param.kind(param.maximum + step), False


def _recipe_error(method: str, **values) -> str | None:
    try:
        Recipe.from_dict({"model": "m", "method": method, **REQUIRED.get(method, {}), **values})
    except RecipeError as err:
        return str(err)
    return None


def _config_error(method: str, tmp_path, **values) -> str | None:
    try:
        method_config(method)(output_dir=str(tmp_path), use_cpu=True, **{**REQUIRED.get(method, {}), **values})
    except ValueError as err:
        return str(err)
    return None


@pytest.mark.parametrize("method", list(METHODS))
def test_config_fields_are_the_spec_params(method):
    spec = METHODS[method]
    fields = {f.name: f for f in dataclasses.fields(method_config(method))}
    for key, param in spec.params.items():
        assert fields[key].default == param.default, key
        assert fields[key].metadata["help"] == param.help, key
    trainer = spec.trainer_class()
    assert trainer.config_class is method_config(method) and trainer.method_spec is spec


@pytest.mark.parametrize(("method", "key", "value", "allowed"), list(_param_cases()))
def test_recipe_and_config_enforce_the_same_bounds(method, key, value, allowed, tmp_path):
    values = {**CONTEXT.get((method, key), {}), key: value}
    from_recipe = _recipe_error(method, **values)
    from_config = _config_error(method, tmp_path, **values)
    assert from_recipe == from_config
    assert (from_recipe is None) == allowed, from_recipe


def test_the_case_list_covers_bounds_and_choices():
    cases = list(_param_cases())
    assert ("WGA", "beta", 0.0, True) in cases  # p^0 = 1: plain gradient ascent, a meaningful setting
    assert ("NPO", "beta", 0.0, False) in cases
    assert ("GradDiff", "retain_loss_type", "NoSuchChoice", False) in cases


def test_the_case_list_covers_upper_bounds():
    cases = list(_param_cases())
    assert ("GRU", "moving_avg", 1.0, True) in cases and ("GRU", "moving_avg", 1.5, False) in cases
    assert ("GRU", "moving_avg", 0.0, False) in cases and ("GRU", "moving_avg", 0.5, True) in cases


@pytest.mark.parametrize("alpha", [0.0, 2.0])
def test_a_retain_weight_without_a_retain_term_is_refused_by_both(alpha, tmp_path):
    """GRU's ga_gru steps with the rectified forget gradient alone: alpha would only change the run's name."""
    message = _recipe_error("GRU", alpha=alpha)
    assert message.startswith("alpha: GRU's variant ga_gru has no retain term to weight")
    assert message == _config_error("GRU", tmp_path, alpha=alpha)
    assert _recipe_error("GRU", alpha=alpha, variant="ga_gru+ce") is None


def test_wga_beta_zero_is_accepted_by_both(tmp_path):
    assert _recipe_error("WGA", beta=0) is None and _config_error("WGA", tmp_path, beta=0.0) is None
    assert _recipe_error("NPO", beta=0) == _config_error("NPO", tmp_path, beta=0.0) == "beta: must be > 0, got 0"


def test_a_required_param_is_required_by_both(tmp_path):
    message = "retain_loss_eps: a value is required (got null)"
    with pytest.raises(RecipeError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        Recipe.from_dict({"model": "m", "method": "PDU"})
    with pytest.raises(ValueError) as err:
        method_config("PDU")(output_dir=str(tmp_path), use_cpu=True)
    assert str(err.value) == message


def test_training_keys_come_from_the_schema(tmp_path):
    fields = {f.name: f for f in dataclasses.fields(UnlearningConfig)}
    for key in ("loss_normalization", "logging_steps", "precompute_ref_log_probs"):
        assert fields[key].default == SCHEMA[key].default and fields[key].metadata["help"] == SCHEMA[key].help
    bad = {"loss_normalization": "per_token"}
    with pytest.raises(ValueError) as err:
        UnlearningConfig(output_dir=str(tmp_path), use_cpu=True, **bad)
    assert _recipe_error("GradDiff", **bad) == str(err.value)


def test_build_training_args_copies_every_declared_training_key(tmp_path):
    values = {"learning_rate": 3e-4, "num_train_epochs": 2.0, "max_steps": 7, "weight_decay": 0.5, "seed": 11,
              "lr_scheduler_type": "cosine", "max_grad_norm": 0.5, "optim": "sgd", "bf16": False,
              "gradient_checkpointing": True, "loss_normalization": "micro_batch", "logging_steps": 3,
              "save_strategy": "steps", "save_steps": 9, "save_total_limit": 2, "report_to": "none",
              "effective_batch_size": 8, "per_device_train_batch_size": 4}  # fmt: skip
    recipe = Recipe.from_dict({"model": "m", "method": "NPO", "output_dir": str(tmp_path), **values})
    args = build_training_args(recipe, n_train=16)
    copied = [(key, arg) for key, spec in SCHEMA.items() for arg in spec.train_args]
    assert len(copied) >= 19
    normalised = {"report_to": []}  # TrainingArguments turns "none" into no integrations
    for key, arg in copied:
        assert getattr(args, arg) == normalised.get(key, recipe[key]), (key, arg)
    assert args.beta == recipe["beta"] and args.gradient_accumulation_steps == 2


@pytest.mark.parametrize("method", list(METHODS))
def test_every_method_cites_its_paper_and_the_card_prints_it(method, tmp_path):
    spec = METHODS[method]
    assert spec.paper.title and spec.paper.arxiv in spec.citation
    assert spec.citation in citations_for(get_benchmark("tofu"), method)
    recipe = {"model": "meta-llama/Llama-3.2-1B-Instruct", "method": method, "forget_split": "forget05"}
    run = load_run(make_run(tmp_path / "run", {**recipe, **REQUIRED.get(method, {})}))
    body = render_card(run, "me/m", OTHER)
    assert spec.citation in body
    assert f"[{spec.paper.title}](https://arxiv.org/abs/{spec.paper.arxiv})" in body
