"""`hf-unlearn attack` and `eval.robustness`: bad input fails in one line, exit 2, before any model loads."""

import pytest

from hf_unlearn import cli
from hf_unlearn.recipe import Recipe, RecipeError
from hf_unlearn.robustness.attacks import ATTACKS
from hf_unlearn.robustness.stage import check_recipe

MISSING = "/nonexistent/unlearned-model"


def run(capsys, *args) -> tuple[int, str]:
    code = cli.main(["attack", *args])
    return code, capsys.readouterr().err


def test_unknown_attack_names_the_allowed_ones(capsys):
    code, err = run(capsys, MISSING, "--attacks", "relearn,bogus", "--output-dir", "/tmp/x")
    assert code == 2
    assert err.strip() == f"error: --attacks: unknown attack 'bogus'; allowed: {', '.join(ATTACKS)}"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--attacks", "relearn", "--output-dir", "/tmp/x"], "--retain-model: the relearn attack needs"),
        (["--attacks", "quantize"], "--output-dir: needed for a model without a run folder"),
        (["--attacks", "quantize", "--output-dir", "/tmp/x", "--attack-option", "quantize.bits=3"], "bits must be"),
        (["--attacks", "quantize", "--output-dir", "/tmp/x", "--attack-option", "quantize"], "ATTACK.KEY=VALUE"),
        (
            ["--attacks", "quantize", "--output-dir", "/tmp/x", "--attack-option", "relearn.steps=2"],
            "--attack-option: 'relearn' is not among the chosen attacks",
        ),
        (
            [
                "--attacks",
                "relearn",
                "--retain-model",
                "r",
                "--output-dir",
                "/tmp/x",
                "--attack-option",
                "relearn.lr=1",
            ],
            "relearn: unknown option 'lr'",
        ),
    ],
)
def test_bad_requests_fail_before_loading(capsys, args, message):
    code, err = run(capsys, MISSING, *args)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_recipe_robustness_keys_are_checked_before_training():
    base = {"model": "tiny", "forget_split": "forget01"}
    check_recipe(Recipe.from_dict({**base, "eval": {"robustness": ["quantize"]}}))
    with pytest.raises(RecipeError, match="eval.robustness: unknown attack 'nope'"):
        check_recipe(Recipe.from_dict({**base, "eval": {"robustness": "quantize,nope"}}))
    with pytest.raises(RecipeError, match="eval.retain_model: the relearn attack needs"):
        check_recipe(Recipe.from_dict({**base, "eval": {"robustness": ["relearn"]}}))
    options = {"robustness": ["quantize"], "robustness_options": {"quantize": {"quant_type": "int3"}}}
    with pytest.raises(RecipeError, match="quant_type must be one of"):
        check_recipe(Recipe.from_dict({**base, "eval": options}))
    with pytest.raises(RecipeError, match="eval.robustness_options: expected a mapping"):
        Recipe.from_dict({**base, "eval": {"robustness_options": ["relearn"]}})


def test_recipe_robustness_round_trips_through_the_saved_yaml():
    values = {"robustness": ["relearn"], "retain_model": "r", "robustness_options": {"relearn": {"steps": 3}}}
    recipe = Recipe.from_dict({"model": "tiny", "eval": values})
    again = Recipe.from_dict(recipe.to_yaml_dict())
    assert again["eval.robustness"] == ["relearn"] and again["eval.robustness_options"] == {"relearn": {"steps": 3}}
