"""Grids -> recipes: every generated recipe validates, its file name is its run name, and the name parses back."""

import pytest
import yaml
from helpers import REPO

from hf_unlearn import naming
from hf_unlearn.cli import main
from hf_unlearn.methods import METHODS
from hf_unlearn.recipe import RecipeError, load_recipe
from hf_unlearn.sweep import expand, format_scalar, load_grid, sweep

GRIDS = sorted((REPO / "recipes" / "grids").glob("*.yaml"))

GRID = """\
description: tiny sweep
base:
  model: some/model
  method: NPO
  forget_split: forget10
  gamma: 1
  data:
    source: bundled
  bf16: true
grid:
  learning_rate: [1.0e-5, 1.0e-4]
  beta: [0.1, 0.5]
  alpha: [1, 2.5]
  num_train_epochs: 5
"""


def _grid(tmp_path, text=GRID, name="grid.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "value", [2e-5, 1e-4, 3e-4, 5e-5, 1.0, 0.125, 1e20, 1.5e-300, 5, 0, True, False, "model\\.layers\\.7", ".*", None]
)
def test_scalars_read_back_with_their_type(value):
    text = format_scalar(value)
    loaded = yaml.safe_load(f"k: {text}")["k"]
    assert loaded == value and type(loaded) is type(value)


def test_lr_style_matches_the_reference_recipes():
    assert format_scalar(2e-5) == "2.0e-5"
    assert format_scalar(1e-4) == "0.0001"


def test_expand_is_the_cartesian_product(tmp_path):
    points = expand(load_grid(_grid(tmp_path)))
    assert len(points) == 8
    assert {(p["learning_rate"], p["beta"], p["alpha"]) for p in points} == {
        (lr, b, a) for lr in (1e-5, 1e-4) for b in (0.1, 0.5) for a in (1, 2.5)
    }
    assert all(p["num_train_epochs"] == 5 and p["data"] == {"source": "bundled"} for p in points)


def test_sweep_writes_valid_recipes_named_after_their_runs(tmp_path):
    out = tmp_path / "recipes" / "tofu"  # load_recipe checks file name == run name in recipes/tofu
    assert main(["sweep", str(_grid(tmp_path)), "--out", str(out)]) == 0
    files = sorted(out.glob("*.yaml"))
    assert len(files) == 8
    assert out / "forget10_NPO_lr0.0001_beta0.5_alpha2.5_epoch5.yaml" in files
    for path in files:
        recipe = load_recipe(path)
        assert recipe.run_name == path.stem
        fields = naming.parse_run_name(path.stem)
        assert (fields["learning_rate"], fields["beta"], fields["alpha"]) == (
            recipe["learning_rate"],
            recipe["beta"],
            recipe["alpha"],
        )
        assert recipe["gamma"] == 1 and recipe["data.source"] == "bundled" and recipe["bf16"] is True
        assert path.read_text().startswith("# tiny sweep (learning_rate ")


def test_check_and_dry_run(tmp_path, capsys):
    grid, out = _grid(tmp_path), tmp_path / "out"
    assert main(["sweep", str(grid), "--out", str(out), "--dry-run"]) == 0
    assert not out.exists()
    assert "8 recipes (dry run" in capsys.readouterr().out
    assert main(["sweep", str(grid), "--out", str(out), "--check"]) == 1
    main(["sweep", str(grid), "--out", str(out)])
    assert main(["sweep", str(grid), "--out", str(out), "--check"]) == 0
    victim = next(out.glob("*.yaml"))
    victim.write_text(victim.read_text().replace("gamma: 1", "gamma: 2"))
    assert main(["sweep", str(grid), "--out", str(out), "--check"]) == 1
    assert main(["sweep", str(grid), "--out", str(out)]) == 0
    assert "1 recipes written, 7 unchanged" in capsys.readouterr().out.splitlines()[-1]


def test_points_with_the_same_name_are_refused(tmp_path):
    text = GRID.replace("  num_train_epochs: 5\n", "  num_train_epochs: 5\n  retain_loss_type: [NLL, KL]\n")
    with pytest.raises(RecipeError, match="both give run name 'forget10_NPO_lr1e-05_beta0.1_alpha1_epoch5'"):
        sweep([_grid(tmp_path, text)])


def test_invalid_points_are_named(tmp_path):
    text = GRID.replace("beta: [0.1, 0.5]", "beta: [0.1, -1]")
    with pytest.raises(
        RecipeError, match=r"grid point \(grid.yaml: .*beta -1.*\) is not a valid recipe: beta: must be"
    ):
        sweep([_grid(tmp_path, text)])


def test_bad_grid_files(tmp_path):
    with pytest.raises(RecipeError, match="unknown key 'grids'"):
        sweep([_grid(tmp_path, "grids: {}\n")])
    with pytest.raises(RecipeError, match="grid.beta: also set in base"):
        sweep([_grid(tmp_path, GRID.replace("  gamma: 1\n", "  gamma: 1\n  beta: 0.1\n"))])
    with pytest.raises(RecipeError, match="grid.beta: an empty list"):
        sweep([_grid(tmp_path, GRID.replace("beta: [0.1, 0.5]", "beta: []"))])


def test_shipped_recipes_are_generated_from_the_shipped_grids():
    result = sweep(GRIDS)
    assert result.stale(REPO / "recipes" / "tofu") == []
    assert {load_grid(g).base["method"] for g in GRIDS} == set(METHODS) - {"GradDiff"}


@pytest.mark.parametrize(
    "name",
    [
        "forget10_NPO_lr1e-05_beta0.1_alpha2_epoch10",
        "forget10_NPO_lr5e-05_beta0.1_alpha5_epoch10",
        "forget10_IdkDPO_lr2e-05_beta0.1_alpha1_epoch10",
        "forget10_IdkNLL_lr2e-05_alpha2_epoch5",
        "forget10_UNDIAL_lr1e-05_beta10_alpha1_epoch10",
        "forget10_UNDIAL_lr0.0001_beta30_alpha2_epoch10",
        "forget10_SimNPO_lr5e-05_b3.5_a1_d1_g0.25_ep5",
        "forget10_SimNPO_lr2e-05_b3.5_a1_d0_g0.125_ep10",
        "forget10_SimNPO_lr1e-05_b4.5_a1_d1_g0.125_ep5",
    ],
)
def test_open_unlearning_published_names_are_in_the_grids(name):
    """Run names open-unlearning published on the Hub (reference section 6.2) come out of our grids."""
    assert (REPO / "recipes" / "tofu" / f"{name}.yaml").is_file()


def test_every_shipped_name_matches_exactly_one_method_pattern():
    for path in (REPO / "recipes" / "tofu").glob("*.yaml"):
        matching = [m for m in METHODS if naming.run_name_regex(m).match(path.stem)]
        assert len(matching) == 1, (path.stem, matching)
