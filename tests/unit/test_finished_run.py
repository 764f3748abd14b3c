"""A finished run counts as this recipe's only when its recorded recipe equals the recipe: the rule, and
`hf-unlearn train` and the demo on a folder holding another recipe's run. No training: run folders are written as
training leaves them (recipe.yaml + run_info.json)."""

from pathlib import Path

import pytest
import yaml
from helpers.runs import RAW, finished_run, write_recipe

from hf_unlearn.cli import main
from hf_unlearn.demo import (
    RETAIN_RECIPE,
    TARGET_RECIPE,
    UNLEARN_RECIPE,
    placed_recipe,
    tiny_recipes_dir,
    train_demo_runs,
)
from hf_unlearn.finished_run import OtherRecipeError, differences, finished_with, prepare_run_folder
from hf_unlearn.recipe import Recipe


def test_a_key_outside_the_run_name_makes_another_recipe(tmp_path):
    out = str(tmp_path / "run")
    before = Recipe.from_dict({**RAW, "output_dir": out})
    after = Recipe.from_dict({**RAW, "output_dir": out, "max_steps": 3, "seed": 7})
    assert before.run_name == after.run_name  # the name cannot tell them apart
    finished_run(tmp_path / "run", before)
    assert finished_with(before, out)
    assert differences(after, out) == ["max_steps: 2 -> 3", "seed: 0 -> 7"]
    assert not finished_with(after, out)
    assert not finished_with(before, tmp_path / "elsewhere")


def test_paths_compare_by_where_they_point(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "models" / "target").mkdir(parents=True)
    recorded = Recipe.from_dict({**RAW, "model": "./models/target/", "output_dir": "runs/x"})
    finished_run(tmp_path / "runs" / "x", recorded)
    same = Recipe.from_dict(
        {**RAW, "model": str(tmp_path / "models" / "target"), "output_dir": str(tmp_path / "runs/x")}
    )
    assert differences(same, "runs/x") == []
    other = Recipe.from_dict({**RAW, "model": "models", "output_dir": "runs/x"})
    assert differences(other, "runs/x") == ["model: './models/target/' -> 'models'"]


def test_a_key_added_since_the_run_compares_with_its_default(tmp_path):
    recipe = Recipe.from_dict({**RAW, "output_dir": str(tmp_path / "run")})
    finished_run(tmp_path / "run", recipe)
    recorded = yaml.safe_load((tmp_path / "run" / "recipe.yaml").read_text())
    del recorded["sam_rho"], recorded["data"]["max_length"]  # as a recipe.yaml written before these keys existed
    recorded["a_key_since_removed"] = 1
    (tmp_path / "run" / "recipe.yaml").write_text(yaml.safe_dump(recorded))
    assert finished_with(recipe, tmp_path / "run")
    with_sam = Recipe.from_dict({**RAW, "output_dir": str(tmp_path / "run"), "sam_rho": 0.5})
    assert differences(with_sam, tmp_path / "run") == ["sam_rho: None -> 0.5"]


def test_train_refuses_another_recipes_finished_run_in_one_line(tmp_path, capsys):
    run_dir = finished_run(tmp_path / "run", Recipe.from_dict({**RAW, "output_dir": str(tmp_path / "run")}))
    recipe = write_recipe(tmp_path / "r.yaml", {**RAW, "output_dir": str(run_dir)})
    assert main(["train", str(recipe), "--max_steps", "3"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "holds a finished run of another recipe (max_steps: 2 -> 3)" in err
    assert "--overwrite" in err
    assert (run_dir / "checkpoint-2").is_dir()  # nothing touched
    assert main(["train", str(recipe), "--overwrite", "--resume"]) == 2
    assert "--overwrite and --resume: choose one" in capsys.readouterr().err


def test_overwrite_empties_the_folder_on_the_main_process_only(tmp_path, capsys):
    run_dir = finished_run(tmp_path / "run", Recipe.from_dict({**RAW, "output_dir": str(tmp_path / "run")}))
    changed = Recipe.from_dict({**RAW, "output_dir": str(run_dir), "max_steps": 1})
    with pytest.raises(OtherRecipeError):
        prepare_run_folder(changed)
    prepare_run_folder(changed, overwrite=True, main=False)
    assert (run_dir / "evals" / "TOFU_SUMMARY.json").is_file()
    prepare_run_folder(changed, overwrite=True)
    assert not run_dir.exists()  # old checkpoints, evals and recipe all gone
    assert "--overwrite: deleting" in capsys.readouterr().out


def test_overwrite_never_deletes_what_is_not_a_run_folder(tmp_path, monkeypatch):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    prepare_run_folder(Recipe.from_dict({**RAW, "output_dir": str(mine)}), overwrite=True)
    assert (mine / "notes.txt").is_file()  # no checkpoint, recipe or run info: not a run's folder
    finished_run(tmp_path / "here", Recipe.from_dict({**RAW, "output_dir": str(tmp_path / "here")}))
    monkeypatch.chdir(tmp_path / "here")
    with pytest.raises(Exception, match="holds the working directory"):
        prepare_run_folder(Recipe.from_dict({**RAW, "output_dir": "."}), overwrite=True)
    assert (tmp_path / "here" / "run_info.json").is_file()


def test_overwrite_never_deletes_the_model_it_starts_from(tmp_path):
    run_dir = tmp_path / "run"
    (run_dir / "start").mkdir(parents=True)
    recipe = Recipe.from_dict({**RAW, "model": str(run_dir / "start"), "output_dir": str(run_dir)})
    finished_run(run_dir, Recipe.from_dict({**RAW, "output_dir": str(run_dir)}))
    with pytest.raises(OtherRecipeError, match="model"):
        prepare_run_folder(recipe)
    with pytest.raises(Exception, match=r"model: .* lies inside"):
        prepare_run_folder(recipe, overwrite=True)
    assert (run_dir / "start").is_dir()


def test_same_recipe_and_unfinished_runs_are_left_to_training(tmp_path):
    recipe = Recipe.from_dict({**RAW, "output_dir": str(tmp_path / "run")})
    finished_run(tmp_path / "run", recipe)
    prepare_run_folder(recipe)  # trained again in place, as before
    interrupted = Recipe.from_dict({**RAW, "output_dir": str(tmp_path / "cut"), "max_steps": 5})
    finished_run(tmp_path / "cut", recipe, finished=False)
    prepare_run_folder(interrupted, resume=True)  # an unfinished run's checkpoints are the trainer's business
    assert (tmp_path / "cut" / "checkpoint-2").is_dir()


def test_demo_stops_on_another_recipes_run_before_training(tmp_path):
    """The demo's reuse follows the same rule: its target folder holding a run of other settings is not reused, and
    not retrained over silently."""
    target = placed_recipe(tiny_recipes_dir() / TARGET_RECIPE, tmp_path, {})
    older = placed_recipe(tiny_recipes_dir() / TARGET_RECIPE, tmp_path, {"num_train_epochs": 20})
    finished_run(Path(target.output_dir), older)
    with pytest.raises(OtherRecipeError, match=r"num_train_epochs: 20.0 -> 25.0"):
        train_demo_runs(tmp_path, (TARGET_RECIPE, RETAIN_RECIPE, UNLEARN_RECIPE))
