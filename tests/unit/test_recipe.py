"""Recipes: every shipped recipe validates, names follow the contract and parse back, bad input fails early."""

import subprocess
import sys

import pytest
from helpers import REPO

from hf_unlearn.cli import main
from hf_unlearn.naming import parse_run_name
from hf_unlearn.recipe import Recipe, RecipeError, load_recipe, parse_overrides

ALL_RECIPES = sorted(
    p for p in (REPO / "recipes").rglob("*.yaml") if not {"accelerate", "grids"} & set(p.relative_to(REPO).parts)
)
TOFU_RECIPES = sorted((REPO / "recipes" / "tofu").glob("*.yaml"))
REFERENCE = REPO / "recipes" / "tofu" / "forget10_GradDiff_lr2e-05_alpha5_epoch5.yaml"
BASE = {"model": "some/model", "method": "GradDiff", "learning_rate": 2e-5, "alpha": 5, "num_train_epochs": 5}


@pytest.mark.parametrize("path", ALL_RECIPES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_recipe_validates(path):
    recipe = load_recipe(path)
    assert recipe.run_name


def test_tofu_grid_is_complete():
    names = {p.stem for p in TOFU_RECIPES}
    for lr in ("1e-05", "2e-05", "5e-05"):
        for alpha in (1, 2, 5):
            for epochs in (5, 10):
                assert f"forget10_GradDiff_lr{lr}_alpha{alpha}_epoch{epochs}" in names


@pytest.mark.parametrize("path", TOFU_RECIPES, ids=lambda p: p.name)
def test_tofu_file_name_is_run_name_and_round_trips(path):
    recipe = load_recipe(path)
    assert path.stem == recipe.run_name
    fields = parse_run_name(recipe.run_name)
    assert fields["method"] == recipe["method"]
    assert fields["forget_split"] == recipe["forget_split"]
    assert fields["learning_rate"] == recipe["learning_rate"]
    assert fields["num_train_epochs"] == recipe["num_train_epochs"]
    for key, value in fields.items():
        if key in recipe.method_params:
            assert value == recipe[key]


def test_reference_run():
    recipe = load_recipe(REFERENCE)
    assert recipe.run_name == "forget10_GradDiff_lr2e-05_alpha5_epoch5"
    assert recipe.repo_id("org") == "org/unlearn_tofu_Llama-3.2-1B-Instruct_forget10_GradDiff_lr2e-05_alpha5_epoch5"
    assert recipe["model"] == "open-unlearning/tofu_Llama-3.2-1B-Instruct_full"
    assert (recipe["retain_split"], recipe["alpha"], recipe["gamma"], recipe["retain_loss_type"]) == (
        "retain90",
        5.0,
        1.0,
        "NLL",
    )
    assert (recipe["effective_batch_size"], recipe["weight_decay"], recipe["warmup_epochs"], recipe["seed"]) == (
        32,
        0.01,
        1.0,
        0,
    )
    assert recipe["bf16"] is True


@pytest.mark.parametrize(
    ("lr", "alpha", "epochs", "expected"),
    [
        (1e-5, 5, 10, "forget10_GradDiff_lr1e-05_alpha5_epoch10"),
        (1e-4, 0.5, 3.5, "forget10_GradDiff_lr0.0001_alpha0.5_epoch3.5"),
        (5e-5, 2.0, 5.0, "forget10_GradDiff_lr5e-05_alpha2_epoch5"),
    ],
)
def test_name_formatting_and_parse(lr, alpha, epochs, expected):
    recipe = Recipe.from_dict({**BASE, "learning_rate": lr, "alpha": alpha, "num_train_epochs": epochs})
    assert recipe.run_name == expected
    fields = parse_run_name(expected)
    assert (fields["learning_rate"], fields["alpha"], fields["num_train_epochs"]) == (lr, alpha, epochs)


def test_gradascent_name_has_no_alpha():
    recipe = Recipe.from_dict({"model": "m", "method": "GradAscent", "learning_rate": 1e-5, "num_train_epochs": 5})
    assert recipe.run_name == "forget10_GradAscent_lr1e-05_epoch5"
    assert parse_run_name(recipe.run_name)["method"] == "GradAscent"


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({}, "forget10_GRU_lr1e-05_alpha1_epoch5"),  # the default (ga_gru, moving_avg 0.8): the name it always had
        ({"variant": "gd_gru", "alpha": 2}, "forget10_GRU_lr1e-05_alpha2_epoch5_gd_gru"),
        ({"variant": "ga_gru+KL"}, "forget10_GRU_lr1e-05_alpha1_epoch5_ga_gru-KL"),  # "+" is no Hub repo character
        ({"moving_avg": 1}, "forget10_GRU_lr1e-05_alpha1_epoch5_ema1"),
        ({"variant": "ga_KL_gru", "moving_avg": 0.5}, "forget10_GRU_lr1e-05_alpha1_epoch5_ga_KL_gru_ema0.5"),
    ],
)
def test_gru_name_carries_the_variant_and_average_when_not_default(settings, expected):
    recipe = Recipe.from_dict({"model": "m", "method": "GRU", **settings})
    assert recipe.run_name == expected
    fields = parse_run_name(expected)
    assert {k: fields[k] for k in ("variant", "moving_avg", "alpha")} == {
        k: recipe[k] for k in ("variant", "moving_avg", "alpha")
    }


def test_override_changes_name():
    recipe = load_recipe(REFERENCE, parse_overrides(["--learning_rate", "1e-5"]))
    assert recipe.run_name == "forget10_GradDiff_lr1e-05_alpha5_epoch5"
    assert recipe["learning_rate"] == 1e-5


def test_yaml_string_floats_are_coerced():
    recipe = Recipe.from_dict({**BASE, "learning_rate": "1e-5"})
    assert recipe["learning_rate"] == 1e-5


def test_parse_overrides_forms():
    assert parse_overrides(["--alpha=2", "--data.source", "bundled", "--bf16"]) == {
        "alpha": 2,
        "data.source": "bundled",
        "bf16": True,
    }


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"alpah": 1}, "alpah: unknown recipe key (did you mean 'alpha'?)"),
        ({"learning_rate": "fast"}, "learning_rate: expected a number"),
        ({"num_train_epochs": [5]}, "num_train_epochs: expected a number"),
        ({"bf16": "maybe"}, "bf16: expected true or false"),
        ({"method": "Forgetful"}, "method: unknown method 'Forgetful'; allowed: "),
        (
            {"forget_split": "forget20"},
            "forget_split: 'forget20' is not allowed; allowed: forget01, forget05, forget10",
        ),
        ({"retain_split": "retain99"}, "retain_split: 'retain99' overlaps forget10; allowed: retain90"),
        ({"alpha": -1}, "alpha: must be >= 0"),
        ({"learning_rate": 0}, "learning_rate: must be > 0"),
        ({"learning_rate": -1e-5}, "learning_rate: must be > 0"),
        ({"retain_loss_type": "L2"}, "retain_loss_type: 'L2' is not allowed; allowed: NLL, KL"),
        ({"data": {"source": "nowhere"}}, "data.source: 'nowhere' is not allowed"),
        ({"per_device_train_batch_size": 7}, "per_device_train_batch_size: must divide effective_batch_size"),
    ],
)
def test_bad_recipes_name_the_key(change, message):
    with pytest.raises(RecipeError) as err:
        Recipe.from_dict({**BASE, **change})
    assert message in str(err.value)


def test_missing_model_is_an_error():
    with pytest.raises(RecipeError, match="model: required key is missing"):
        Recipe.from_dict({"method": "GradDiff"})


def test_gradascent_rejects_alpha():
    with pytest.raises(RecipeError, match="alpha: not a parameter of GradAscent"):
        Recipe.from_dict({"model": "m", "method": "GradAscent", "alpha": 1})


def test_tofu_file_name_must_match(tmp_path):
    folder = tmp_path / "recipes" / "tofu"
    folder.mkdir(parents=True)
    bad = folder / "forget10_GradDiff_lr2e-05_alpha1_epoch5.yaml"
    bad.write_text(REFERENCE.read_text())
    with pytest.raises(RecipeError, match="does not match its run name 'forget10_GradDiff_lr2e-05_alpha5_epoch5'"):
        load_recipe(bad)


def test_cli_name_and_repo_id(capsys):
    assert main(["name", str(REFERENCE), "--learning_rate", "1e-5", "--repo-id", "--hub-org", "me"]) == 0
    out = capsys.readouterr().out.split()
    assert out == [
        "forget10_GradDiff_lr1e-05_alpha5_epoch5",
        "me/unlearn_tofu_Llama-3.2-1B-Instruct_forget10_GradDiff_lr1e-05_alpha5_epoch5",
    ]


def test_cli_bad_recipe_is_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: m\nmethod: GradDiff\nalpha: -2\n")
    assert main(["train", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "error: alpha: must be >= 0, got -2"


def test_name_loads_no_model_or_torch():
    """`hf-unlearn name` answers from the recipe alone: torch and transformers are never imported."""
    code = (
        "import sys; from hf_unlearn.cli import main; "
        f"assert main(['name', {str(REFERENCE)!r}]) == 0; "
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules, 'heavy import'"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "forget10_GradDiff_lr2e-05_alpha5_epoch5"


def test_offline_real_recipe_fails_fast_in_one_line():
    result = subprocess.run(
        [sys.executable, str(REPO / "recipes" / "run.py"), str(REFERENCE)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "needs the Hugging Face Hub" in lines[0], result.stderr
    assert "Traceback" not in result.stderr
