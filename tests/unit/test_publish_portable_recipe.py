"""Published files without local paths: the recipe.yaml (nothing else changed) and JSON trees."""

import json

import yaml

from hf_unlearn.publish.portable_recipe import portable_recipe_text
from hf_unlearn.recipe import Recipe

HUB_RECIPE = {
    "model": "open-unlearning/tofu_Llama-3.2-1B-Instruct_full",
    "tokenizer": "meta-llama/Llama-3.2-1B-Instruct",
    "method": "GradDiff",
    "forget_split": "forget10",
    "retain_split": "retain90",
}


def test_hub_ids_are_kept_and_output_dir_reset(tmp_path):
    recipe = Recipe.from_dict({**HUB_RECIPE, "output_dir": str(tmp_path / "saves" / "mine")})
    text = portable_recipe_text(recipe)
    published = yaml.safe_load(text)
    assert published["model"] == HUB_RECIPE["model"] and published["tokenizer"] == HUB_RECIPE["tokenizer"]
    assert published["output_dir"] is None and str(tmp_path) not in text
    assert text.startswith("# hf-unlearn: this published copy differs")
    # everything else is the resolved recipe as the run saved it
    saved = recipe.to_yaml_dict()
    assert {k: v for k, v in published.items() if k != "output_dir"} == {
        k: v for k, v in saved.items() if k != "output_dir"
    }
    assert Recipe.from_dict(published).run_name == recipe.run_name


def test_local_folders_become_hub_ids_or_relative_names(tmp_path):
    published_target = tmp_path / "models" / "target"
    published_target.mkdir(parents=True)
    (published_target / "hub.json").write_text(json.dumps({"repo_id": "me/tofu_tiny-llama_full"}))
    retain = tmp_path / "models" / "retain"
    retain.mkdir()
    holdout = tmp_path / "holdout.jsonl"
    holdout.write_text("")
    recipe = Recipe.from_dict(
        {
            **HUB_RECIPE,
            "model": str(published_target),
            "tokenizer": str(published_target),
            "eval": {"retain_model": str(retain), "holdout_file": str(holdout)},
        }
    )
    text = portable_recipe_text(recipe)
    published = yaml.safe_load(text)
    assert published["model"] == "me/tofu_tiny-llama_full"
    assert published["eval"]["retain_model"] == "./retain"
    assert published["eval"]["holdout_file"] == "./holdout.jsonl"
    assert str(tmp_path) not in text
    assert "# - model: was the local copy of me/tofu_tiny-llama_full" in text
    assert "# - eval.retain_model: was a local path, now ./retain" in text


def test_nothing_to_change_means_no_header():
    text = portable_recipe_text(Recipe.from_dict(HUB_RECIPE))
    assert not text.startswith("#") and yaml.safe_load(text) == Recipe.from_dict(HUB_RECIPE).to_yaml_dict()


def test_a_relative_demo_path_is_replaced_even_from_another_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # demo_runs/ does not exist here
    recipe = Recipe.from_dict({**HUB_RECIPE, "eval": {"retain_model": "demo_runs/finetune/tofu_tiny-llama_retain99"}})
    published = yaml.safe_load(portable_recipe_text(recipe))
    assert published["eval"]["retain_model"] == "./tofu_tiny-llama_retain99"
    assert published["model"] == HUB_RECIPE["model"]


def test_json_trees_lose_local_paths_and_keep_everything_else(tmp_path):
    from hf_unlearn.publish.portable import portable_tree

    published = tmp_path / "target"
    published.mkdir()
    (published / "hub.json").write_text(json.dumps({"repo_id": "me/target"}))
    tree = {
        "model": str(published),
        "nested": [{"retain_logs": str(tmp_path / "r" / "TOFU_EVAL.json")}, "~/models/base"],
        "kept": ["/", "forget01", "me/target", "an answer / with a slash", "2.5", None, 3],
    }
    portable, notes = portable_tree(tree)
    assert portable == {
        "model": "me/target",
        "nested": [{"retain_logs": "./TOFU_EVAL.json"}, "./base"],
        "kept": tree["kept"],
    }
    assert notes == [
        "model: was the local copy of me/target",
        "nested[0].retain_logs: was a local path, now ./TOFU_EVAL.json",
        "nested[1]: was a local path, now ./base",
    ]


def test_wmdp_corpus_file_and_task_folder_are_published_by_name(tmp_path):
    bio, tasks = tmp_path / "data" / "bio-forget-corpus.jsonl", tmp_path / "my_tasks"
    bio.parent.mkdir()
    bio.write_text('{"text": "a"}\n')
    tasks.mkdir()
    recipe = Recipe.from_dict(
        {"benchmark": "wmdp", "model": "m/x", "method": "RMU", "forget_split": "bio",
         "data": {"forget_file": str(bio)}, "eval": {"include_path": str(tasks)}}
    )  # fmt: skip
    text = portable_recipe_text(recipe)
    published = yaml.safe_load(text)
    assert published["data"]["forget_file"] == "./bio-forget-corpus.jsonl"
    assert published["eval"]["include_path"] == "./my_tasks"
    assert str(tmp_path) not in text
