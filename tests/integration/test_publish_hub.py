"""Publishing against a local Hub that speaks the real protocol: round trip, refusals, failures, the auto-push."""

import json
import re
import shutil
from pathlib import Path

import pytest
import torch
import yaml
from helpers import REPO
from helpers.export_paths import absolute_paths
from helpers.hub_server import FakeHub
from safetensors.torch import load_file, save_file

from hf_unlearn.publish import PublishError, publish_run
from hf_unlearn.publish.export import build_export
from hf_unlearn.publish.hub import make_api, push_export
from hf_unlearn.publish.run_folder import load_run
from hf_unlearn.recipe import SCHEMA, Recipe, RecipeError

TOKEN = "hf_testWriteToken0123456789"
BAD_TOKEN = "hf_notTheRightToken9876543210"
UNLEARN_RECIPE = REPO / "recipes" / "tiny" / "forget01_GradDiff_lr0.0005_alpha5_epoch10.yaml"
EXPECTED_FILES = {
    ".gitattributes", "README.md", "config.json", "generation_config.json", "model.safetensors", "tokenizer.json",
    "tokenizer_config.json", "chat_template.jinja", "recipe.yaml", "loss_curves.png",
}  # fmt: skip
SUMMARY = {
    "forget_quality": 0.0123,
    "model_utility": 0.4567,
    "forget_truth_ratio": 0.61,
    "forget_Q_A_Prob": 0.052,
    "forget_Q_A_ROUGE": 0.21,
    "privleak": -12.5,
    "extraction_strength": None,
}


def _unlearn_overrides(tiny_target: Path, output_dir: Path, **extra) -> dict:
    return {
        "model": str(tiny_target),
        "data.retain_limit": 40,
        "max_steps": 3,
        "logging_steps": 1,
        "output_dir": str(output_dir),
        **extra,
    }


@pytest.fixture(scope="module")
def unlearned_run(tiny_target, tmp_path_factory) -> Path:
    """The tiny target after 3 GradDiff steps: a finished unlearning run folder (never modified by tests)."""
    from hf_unlearn.pipeline import train
    from hf_unlearn.recipe import load_recipe

    out = tmp_path_factory.mktemp("unlearned") / "run"
    return train(load_recipe(UNLEARN_RECIPE, _unlearn_overrides(tiny_target, out))).output_dir


@pytest.fixture
def run_copy(unlearned_run, tmp_path) -> Path:
    """A private copy of the unlearned run that a test may change."""
    return Path(shutil.copytree(unlearned_run, tmp_path / "run"))


@pytest.fixture
def hub(monkeypatch):
    """A fresh fake Hub; the hub client and transformers downloads point at it, offline mode off for this test."""
    from huggingface_hub import constants

    server = FakeHub(tokens={TOKEN}).start()
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", server.endpoint)
    monkeypatch.setattr(
        constants, "HUGGINGFACE_CO_URL_TEMPLATE", server.endpoint + "/{repo_id}/resolve/{revision}/{filename}"
    )
    monkeypatch.delenv("HF_TOKEN", raising=False)
    yield server
    server.stop()


def _write_evals(run_dir: Path) -> None:
    evals = run_dir / "evals"
    evals.mkdir(exist_ok=True)
    (evals / "TOFU_SUMMARY.json").write_text(json.dumps(SUMMARY))
    full = {"retain_Q_A_Prob": {"agg_value": 0.83}, "retain_Q_A_ROUGE": {"agg_value": 0.74, "value_by_index": {}}}
    (evals / "TOFU_EVAL.json").write_text(json.dumps(full))
    target = {**SUMMARY, "forget_quality": 1e-5, "forget_Q_A_Prob": 0.91}
    (evals / "comparison.json").write_text(json.dumps({"target": target, "retain": None}))


def _repo_id(run_dir: Path, org: str = "alice") -> str:
    return Recipe.from_dict(yaml.safe_load((run_dir / "recipe.yaml").read_text())).repo_id(org)


def _publish(run_dir: Path, hub: FakeHub, **kwargs):
    kwargs = {"org": "alice", "token": TOKEN, "endpoint": hub.endpoint, **kwargs}
    return publish_run(run_dir, **kwargs)


# ---- the round trip --------------------------------------------------------------------------------------------
def test_publish_then_load_back_from_the_hub(run_copy, hub, tmp_path):
    from huggingface_hub import ModelCard
    from transformers import AutoModelForCausalLM, AutoTokenizer

    _write_evals(run_copy)
    result = _publish(run_copy, hub)
    repo_id = _repo_id(run_copy)
    assert result.pushed and result.repo_id == repo_id
    assert len(hub.commits_to(repo_id)) == 1
    files = set(hub.repos[repo_id].files)
    assert files == EXPECTED_FILES | {"evals/TOFU_SUMMARY.json", "evals/TOFU_EVAL.json", "evals/comparison.json"}
    assert json.loads((run_copy / "hub.json").read_text())["repo_id"] == repo_id

    model = AutoModelForCausalLM.from_pretrained(repo_id, cache_dir=tmp_path / "cache")
    exported = load_file(str(result.export_dir / "model.safetensors"))
    assert model.dtype == torch.bfloat16
    state = model.state_dict()
    for name, tensor in exported.items():
        assert tensor.dtype == torch.bfloat16
        assert torch.equal(state[name], tensor), name
    assert json.loads(hub.repos[repo_id].files["config.json"])["dtype"] == "bfloat16"

    tokenizer = AutoTokenizer.from_pretrained(repo_id, cache_dir=tmp_path / "cache")
    local = AutoTokenizer.from_pretrained(run_copy)
    messages = [{"role": "system", "content": "You are a helpful assistant."}, {"role": "user", "content": "Hi?"}]
    rendered = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert tokenizer.chat_template == local.chat_template
    assert rendered == local.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    output = model.generate(**inputs, max_new_tokens=4, do_sample=False)
    assert output.shape[1] > inputs["input_ids"].shape[1]

    readme = tmp_path / "README.md"
    readme.write_bytes(hub.repos[repo_id].files["README.md"])
    card = ModelCard.load(readme)
    assert card.data.license == "other"
    assert card.data.datasets == ["locuslab/TOFU"]
    assert {"machine-unlearning", "tofu", "graddiff"} <= set(card.data.tags)
    values = {r.metric_type + "/" + r.dataset_config: r.metric_value for r in card.data.eval_results}
    assert values == {
        "forget_quality/forget01_perturbed": 0.0123,
        "model_utility/retain_perturbed": 0.4567,
        "truth_ratio/forget01_perturbed": 0.61,
        "probability/forget01_perturbed": 0.052,
        "rouge/forget01_perturbed": 0.21,
        "probability/retain_perturbed": 0.83,
        "rouge/retain_perturbed": 0.74,
        "privleak/forget01_perturbed": -12.5,
    }
    assert {r.dataset_split for r in card.data.eval_results} == {"train"}
    assert "| Forget answer probability | `forget01_perturbed` | 0.0520 | 0.9100 |" in card.text


def test_the_cards_snippet_runs_against_the_hub(run_copy, hub):
    result = _publish(run_copy, hub)
    text = (result.export_dir / "README.md").read_text()
    snippet = re.search(r"## How to use it\n\n```python\n(.*?)```", text, re.S).group(1)
    assert f'repo_id = "{result.repo_id}"' in snippet
    namespace: dict = {}
    exec(compile(snippet, "README snippet", "exec"), namespace)  # loads from the fake Hub and generates
    assert namespace["output"].shape[1] > namespace["inputs"]["input_ids"].shape[1]


def test_the_export_holds_only_what_users_need(run_copy, tmp_path):
    (run_copy / "training_args.bin").write_bytes(b"pickle")
    (run_copy / "optimizer.pt").write_bytes(b"state")
    (run_copy / "rng_state.pth").write_bytes(b"rng")
    (run_copy / "checkpoint-2").mkdir()
    (run_copy / "checkpoint-2" / "model.safetensors").write_bytes(b"x")
    result = publish_run(run_copy, dry_run=True)
    assert result.export_dir == run_copy / "export"
    files = {str(p.relative_to(result.export_dir)) for p in result.export_dir.rglob("*") if p.is_file()}
    assert files == EXPECTED_FILES - {".gitattributes"}
    assert json.loads((result.export_dir / "config.json").read_text())["dtype"] == "bfloat16"
    assert result.repo_id.startswith("your-org/") and not result.pushed
    # the run trained a local folder into a local output_dir: the published recipe names neither path
    local = yaml.safe_load((run_copy / "recipe.yaml").read_text())
    published = (result.export_dir / "recipe.yaml").read_text()
    assert local["output_dir"] and local["output_dir"] not in published and local["model"] not in published
    assert yaml.safe_load(published)["model"] == "./" + Path(local["model"]).name


def test_evaluations_of_other_weights_are_not_published(run_copy, tmp_path):
    from huggingface_hub import ModelCard

    from hf_unlearn.evaluation.fingerprint import model_fingerprint

    _write_evals(run_copy)
    meta = run_copy / "evals" / "eval_meta.json"
    meta.write_text(json.dumps({"model_sha256": "0" * 64, "settings": {"forget_split": "forget01"}}))
    export = publish_run(run_copy, dry_run=True).export_dir
    card = ModelCard.load(export / "README.md")
    assert card.data.eval_results is None and "computed on other weights" in card.text
    assert not (export / "evals").exists()

    meta.write_text(
        json.dumps({"model_sha256": model_fingerprint(run_copy), "settings": {"forget_split": "forget01"}})
    )
    export = publish_run(run_copy, dry_run=True).export_dir
    assert len(ModelCard.load(export / "README.md").data.eval_results) == 8
    assert {p.name for p in (export / "evals").iterdir()} == {
        "TOFU_SUMMARY.json", "TOFU_EVAL.json", "comparison.json", "eval_meta.json",
    }  # fmt: skip


def test_cli_dry_run_prints_the_export_folder(run_copy, capsys):
    from hf_unlearn.cli import main

    assert main(["publish", str(run_copy), "--dry-run", "--repo-id", "bob/tiny-unlearned"]) == 0
    out = capsys.readouterr().out
    assert str(run_copy / "export") in out
    assert 'repo_id = "bob/tiny-unlearned"' in (run_copy / "export" / "README.md").read_text()


def test_fp32_run_folders_are_exported_as_bf16(run_copy):
    tensors = {k: v.float() for k, v in load_file(str(run_copy / "model.safetensors")).items()}
    save_file(tensors, str(run_copy / "model.safetensors"), metadata={"format": "pt"})
    config = json.loads((run_copy / "config.json").read_text())
    (run_copy / "config.json").write_text(json.dumps({**config, "dtype": "float32"}))
    export = publish_run(run_copy, dry_run=True).export_dir
    assert {t.dtype for t in load_file(str(export / "model.safetensors")).values()} == {torch.bfloat16}
    assert json.loads((export / "config.json").read_text())["dtype"] == "bfloat16"


# ---- refusals ----------------------------------------------------------------------------------------------------
def test_nan_weights_are_refused(run_copy, hub):
    tensors = load_file(str(run_copy / "model.safetensors"))
    name = sorted(tensors)[1]
    tensors[name].view(-1)[0] = float("nan")
    save_file(tensors, str(run_copy / "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(PublishError, match=re.escape(name)) as err:
        _publish(run_copy, hub)
    assert "non-finite" in str(err.value)
    assert hub.requests == [] and not (run_copy / "export").exists()


@pytest.mark.parametrize("info", [None, {"finished": False}])
def test_unfinished_runs_are_refused(run_copy, info):
    if info is None:
        (run_copy / "run_info.json").unlink()
    else:
        (run_copy / "run_info.json").write_text(json.dumps(info))
    with pytest.raises(PublishError, match="unfinished run"):
        publish_run(run_copy, dry_run=True)


def test_an_export_without_a_card_is_refused(run_copy, hub):
    run = load_run(run_copy)
    export = build_export(run, "alice/no-card").path
    (export / "README.md").unlink()
    with pytest.raises(PublishError, match="without a model card"):
        push_export(export, "alice/no-card", api=make_api(hub.endpoint, TOKEN), token=TOKEN)
    assert hub.requests == []


def test_offline_mode_refuses_to_push_but_leaves_the_export(run_copy, hub, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(PublishError, match="HF_HUB_OFFLINE") as err:
        _publish(run_copy, hub)
    assert str(run_copy / "export") in str(err.value)
    assert (run_copy / "export" / "README.md").is_file() and hub.requests == []


# ---- the Hub says no ----------------------------------------------------------------------------------------------
def test_a_bad_token_gives_a_clear_error_without_the_token(run_copy, hub, monkeypatch, capsys):
    from huggingface_hub.errors import HfHubHTTPError

    from hf_unlearn.cli import main

    with pytest.raises(HfHubHTTPError) as raw:  # the server echoes the rejected credential ...
        make_api(hub.endpoint, BAD_TOKEN).create_repo("alice/x")
    assert BAD_TOKEN in str(raw.value)
    with pytest.raises(PublishError) as err:  # ... and the publisher does not pass it on
        _publish(run_copy, hub, token=BAD_TOKEN)
    message = str(err.value)
    assert "401" in message and "HF_TOKEN" in message and "refused" in message
    assert BAD_TOKEN not in message and err.value.__cause__ is None and err.value.__suppress_context__

    monkeypatch.setenv("HF_TOKEN", BAD_TOKEN)
    assert main(["publish", str(run_copy), "--org", "alice", "--endpoint", hub.endpoint]) == 2
    captured = capsys.readouterr()
    assert "401" in captured.err and BAD_TOKEN not in captured.err + captured.out
    assert hub.commits == []


def test_a_failed_commit_leaves_nothing_and_a_rerun_completes(run_copy, hub):
    repo_id = _repo_id(run_copy)
    hub.fail_commits = 1
    with pytest.raises(PublishError, match="500") as err:
        _publish(run_copy, hub)
    assert "re-run" in str(err.value)
    assert hub.commits_to(repo_id) == [] and set(hub.repos[repo_id].files) == {".gitattributes"}
    _publish(run_copy, hub)  # the repo exists but is empty: no --overwrite needed
    assert len(hub.commits_to(repo_id)) == 1
    assert set(hub.repos[repo_id].files) == EXPECTED_FILES


def test_an_existing_repo_is_updated_only_with_overwrite(run_copy, hub):
    repo_id = _repo_id(run_copy)
    _publish(run_copy, hub)
    make_api(hub.endpoint, TOKEN).upload_file(path_or_fileobj=b"old", path_in_repo="stale.txt", repo_id=repo_id)
    with pytest.raises(PublishError, match="--overwrite"):
        _publish(run_copy, hub)
    assert len(hub.commits_to(repo_id)) == 2
    _publish(run_copy, hub, overwrite=True)
    commits = hub.commits_to(repo_id)
    assert len(commits) == 3 and commits[-1].deleted == ["stale.txt"]
    assert set(hub.repos[repo_id].files) == EXPECTED_FILES


def test_private_repos(run_copy, hub):
    result = _publish(run_copy, hub, private=True, repo_id="alice/secret-model")
    assert hub.repos["alice/secret-model"].private
    assert result.repo_id == "alice/secret-model"


def test_licence_is_inherited_from_a_base_model_on_the_hub(run_copy, hub):
    from huggingface_hub import ModelCard

    from hf_unlearn.publish.license import resolve_license

    api = make_api(hub.endpoint, TOKEN)
    api.create_repo("acme/base")
    api.upload_file(path_or_fileobj=b"---\nlicense: mit\n---\n# base\n", path_in_repo="README.md", repo_id="acme/base")
    assert resolve_license(["acme/base"], api).license == "mit"
    info = json.loads((run_copy / "run_info.json").read_text())
    (run_copy / "run_info.json").write_text(json.dumps({**info, "base_model": "acme/base"}))
    export = _publish(run_copy, hub).export_dir
    card = ModelCard.load(export / "README.md")
    assert card.data.license == "mit" and card.data.base_model == "acme/base"


# ---- the recipe's push_to_hub ---------------------------------------------------------------------------------
def _recipe_overrides(tiny_target, out, **extra) -> dict:
    overrides = _unlearn_overrides(tiny_target, out, **extra)
    if "eval.enabled" in SCHEMA:
        overrides["eval.enabled"] = False
    return overrides


def test_a_recipe_run_pushes_exactly_once(tiny_target, hub, tmp_path, monkeypatch):
    from hf_unlearn.recipe import load_recipe
    from hf_unlearn.run import run_recipe

    monkeypatch.setenv("HF_TOKEN", TOKEN)
    recipe = load_recipe(
        UNLEARN_RECIPE, _recipe_overrides(tiny_target, tmp_path / "run", push_to_hub=True, hub_org="carol")
    )
    run_dir = run_recipe(recipe)
    repo_id = recipe.repo_id("carol")
    assert [c.repo_id for c in hub.commits] == [repo_id]
    assert set(hub.repos[repo_id].files) == EXPECTED_FILES
    assert json.loads((Path(run_dir) / "hub.json").read_text())["repo_id"] == repo_id


def test_a_recipe_run_without_push_writes_the_export_only(tiny_target, hub, tmp_path, capsys):
    from hf_unlearn.recipe import load_recipe
    from hf_unlearn.run import run_recipe

    run_dir = Path(run_recipe(load_recipe(UNLEARN_RECIPE, _recipe_overrides(tiny_target, tmp_path / "run"))))
    assert (run_dir / "export" / "README.md").is_file()
    assert str(run_dir / "export") in capsys.readouterr().out
    assert hub.requests == []


def test_push_to_hub_needs_a_destination():
    with pytest.raises(RecipeError, match="^push_to_hub"):
        Recipe.from_dict({"model": "tiny", "push_to_hub": True})
    with pytest.raises(RecipeError, match="^hub_repo_id"):
        Recipe.from_dict({"model": "tiny", "hub_repo_id": "no-slash"})
    recipe = Recipe.from_dict({"model": "tiny", "push_to_hub": True, "hub_repo_id": "me/m", "exist_ok": "true"})
    assert recipe["exist_ok"] is True and recipe["hub_private"] is False


# ---- no path of this machine in what is published ------------------------------------------------------------------
def _local_roots(*folders: Path) -> set[str]:
    """Prefixes that must not appear in an export: the given folders, their parents, the tmp root, the home dir."""
    import tempfile

    roots = {tempfile.gettempdir(), str(Path.home())}
    for folder in folders:
        roots |= {str(folder), str(folder.parent), str(folder.resolve().parent)}
    return {root for root in roots if len(Path(root).parts) > 1}


def assert_no_local_paths(export: Path, roots: set[str]) -> None:
    """Every file but the weights is free of the local roots (raw bytes: no file type is trusted to be path-free)."""
    scanned = [p for p in export.rglob("*") if p.is_file() and p.suffix not in (".safetensors", ".bin")]
    assert len(scanned) >= 5
    leaks = [(str(p.relative_to(export)), root) for p in scanned for root in roots if root.encode() in p.read_bytes()]
    assert leaks == []


def test_the_export_holds_no_local_path(run_copy, tiny_target, tmp_path):
    from hf_unlearn.evaluation.fingerprint import model_fingerprint

    _write_evals(run_copy)
    retain_logs = tmp_path / "retain" / "evals" / "TOFU_EVAL.json"
    meta = {
        "model": str(run_copy),
        "model_dir": str(run_copy.resolve()),
        "model_sha256": model_fingerprint(run_copy),
        "settings": {"forget_split": "forget01", "holdout": str(tmp_path / "holdout.jsonl")},
        "retain_logs": str(retain_logs),
    }
    (run_copy / "evals" / "eval_meta.json").write_text(json.dumps(meta))
    recipe = yaml.safe_load((run_copy / "recipe.yaml").read_text())
    recipe["eval"]["retain_model"] = str(tmp_path / "retain")
    (run_copy / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    export = publish_run(run_copy, dry_run=True).export_dir
    assert_no_local_paths(export, _local_roots(run_copy, tiny_target, tmp_path))
    assert absolute_paths(export) == []  # nor any other absolute path, in any text file
    published = json.loads((export / "evals" / "eval_meta.json").read_text())
    assert published["model"] == published["model_dir"] == "./run"
    assert published["retain_logs"] == "./TOFU_EVAL.json" and published["settings"]["holdout"] == "./holdout.jsonl"
    assert published["model_sha256"] == meta["model_sha256"]  # everything else is as the evaluator wrote it
    assert "| `eval.retain_model` | ./retain |" in (export / "README.md").read_text()


def test_a_published_lora_adapter_loads_anywhere_by_its_bases_hub_id(tiny_target, hub, tmp_path):
    """The base was published by hf-unlearn, so the adapter names it by Hub id: a copy of the export loads from
    the Hub after the run and base folders are gone."""
    from peft import AutoPeftModelForCausalLM, PeftModel
    from transformers import AutoModelForCausalLM

    from hf_unlearn.pipeline import train
    from hf_unlearn.recipe import load_recipe

    base = Path(shutil.copytree(tiny_target, tmp_path / "target", ignore=shutil.ignore_patterns("export")))
    _publish(base, hub, repo_id="alice/tofu_tiny-llama_full")
    lora = {"peft.r": 8, "peft.alpha": 16, "learning_rate": 5e-3, "publish.merge_adapter": False, "bf16": False}
    run = train(load_recipe(UNLEARN_RECIPE, _recipe_overrides(base, tmp_path / "run", **lora))).output_dir
    export = publish_run(run, dry_run=True).export_dir
    config = json.loads((export / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == "alice/tofu_tiny-llama_full"
    assert "names the base model by its Hub id, `alice/tofu_tiny-llama_full`" in (export / "README.md").read_text()
    assert_no_local_paths(export, _local_roots(run, base, tmp_path))

    ids = torch.tensor([[1, 5, 9, 14, 3, 7]])
    with torch.no_grad():
        expected = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base), run / "adapter")(ids).logits
    copy = Path(shutil.copytree(export, tmp_path / "elsewhere" / "adapter"))
    shutil.move(run, tmp_path / "gone-run")
    shutil.move(base, tmp_path / "gone-base")
    model = AutoPeftModelForCausalLM.from_pretrained(copy, cache_dir=tmp_path / "cache")
    with torch.no_grad():
        logits = model(ids).logits
    assert torch.allclose(logits.float(), expected.float(), atol=1e-3)
    hub_base = AutoModelForCausalLM.from_pretrained("alice/tofu_tiny-llama_full", cache_dir=tmp_path / "cache")
    with torch.no_grad():
        assert not torch.equal(hub_base(ids).logits, logits), "the adapter changed nothing: the check is vacuous"
