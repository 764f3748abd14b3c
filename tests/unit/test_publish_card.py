"""The model card and its inputs, without a model: metrics, model-index, plot, licence, redaction, templates."""

import json
import sys
from pathlib import Path

import pytest
from helpers import REPO
from helpers.runs import LOGS, OTHER, make_run
from huggingface_hub import ModelCard

from hf_unlearn.benchmarks import get_benchmark
from hf_unlearn.methods import TOFU_PAPER
from hf_unlearn.publish.card import render_card
from hf_unlearn.publish.errors import PublishError, redact
from hf_unlearn.publish.hub_record import hub_base_model
from hf_unlearn.publish.license import LicenseInfo, resolve_license
from hf_unlearn.publish.plot import loss_series, write_loss_plot
from hf_unlearn.publish.portable_recipe import portable_recipe_text
from hf_unlearn.publish.results import collect_metrics, eval_results, format_value, results_table
from hf_unlearn.publish.run_folder import load_run
from hf_unlearn.recipe import Recipe

TOFU = get_benchmark("tofu")

LLAMA = "meta-llama/Llama-3.2-1B-Instruct"
UNLEARN = {"model": LLAMA, "method": "GradDiff", "forget_split": "forget05", "alpha": 2, "learning_rate": 2e-5,
           "num_train_epochs": 5, "hub_org": "me", "output_dir": "/somewhere/private"}  # fmt: skip


def card_of(text: str, tmp_path: Path) -> ModelCard:
    path = tmp_path / "README_parsed.md"
    path.write_text(text)
    return ModelCard.load(path)


# ---- metrics -------------------------------------------------------------------------------------------------------
def test_only_finite_numbers_become_metrics():
    summary = {"forget_quality": 1e-20, "model_utility": None, "privleak": float("nan"), "forget_Q_A_Prob": True,
               "forget_truth_ratio": 0.5, "not_a_catalogued_metric": 3.0}  # fmt: skip
    full = {"model_utility": {"agg_value": 0.3}, "retain_Q_A_ROUGE": {"agg_value": 0.7}, "forget_Q_A_ROUGE": {}}
    assert collect_metrics(TOFU, summary, full) == {
        "forget_quality": 1e-20,
        "forget_truth_ratio": 0.5,
        "model_utility": 0.3,
        "retain_Q_A_ROUGE": 0.7,
    }
    assert collect_metrics(TOFU, None, None) == {}


def test_number_formatting():
    assert format_value(1.94e-119) == "1.940e-119"
    assert format_value(0.5) == "0.5000"
    assert format_value(0.0) == "0.0000"
    assert format_value(-12.5) == "-12.5000"
    assert format_value(None) == "n/a"


def test_each_result_names_its_tofu_config_and_split():
    results = eval_results(
        TOFU, {"forget_quality": 0.1, "model_utility": 0.2, "privleak": -3.0}, "forget05", "holdout05"
    )
    rows = [(r.metric_type, r.dataset_type, r.dataset_config, r.dataset_split, r.metric_value) for r in results]
    assert rows == [
        ("forget_quality", "locuslab/TOFU", "forget05_perturbed", "train", 0.1),
        ("model_utility", "locuslab/TOFU", "retain_perturbed", "train", 0.2),
        ("privleak", "locuslab/TOFU", "forget05_perturbed", "train", -3.0),
    ]
    assert results[2].dataset_args == {"holdout": "holdout05"} and results[0].dataset_args is None


def test_results_table_rows_and_columns():
    rows = results_table(
        TOFU, {"forget_quality": 0.2}, {"forget_quality": 1e-6, "model_utility": 0.6}, None, "forget01"
    )
    assert [(r["label"], r["dataset"], r["value"], r["target"], r["retain"]) for r in rows] == [
        ("Forget quality (KS-test p-value)", "forget01_perturbed", "0.2000", "1.000e-06", "n/a"),
        ("Model utility", "retain_perturbed", "n/a", "0.6000", "n/a"),
    ]


# ---- the loss plot -----------------------------------------------------------------------------------------------
def test_loss_series_from_log_history():
    series = loss_series(LOGS)
    assert list(series) == ["forget NLL (rises as the model forgets)", "retain loss"]
    assert series["forget NLL (rises as the model forgets)"] == ([1, 3], [2.0, 4.0])
    assert series["retain loss"] == ([1, 2, 3], [1.5, 1.25, 1.0])
    assert loss_series([{"step": 5, "loss": 2.0}, {"step": 5, "train_loss": 2.0}]) == {"training loss": ([5], [2.0])}
    assert loss_series([{"step": 9, "nll": 0.5}]) == {"training NLL": ([9], [0.5])}


def test_the_plot_is_a_png(tmp_path):
    assert write_loss_plot(LOGS, tmp_path / "p.png", title="t") is None
    assert (tmp_path / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "no losses" in write_loss_plot([{"step": 1, "train_runtime": 1.0}], tmp_path / "q.png")
    assert not (tmp_path / "q.png").exists()


def test_matplotlib_is_a_dependency():
    """The default install draws the card's loss plot (not only the former `plot` extra)."""
    from setuptools.config.setupcfg import read_configuration

    options = read_configuration(REPO / "setup.cfg")["options"]
    assert any(r.startswith("matplotlib") for r in options["install_requires"])
    assert not options["extras_require"].get("plot")


def test_a_broken_matplotlib_leaves_the_plot_out_and_says_why(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` now raises ImportError
    note = write_loss_plot(LOGS, tmp_path / "p.png")
    assert "could not be imported" in note and not (tmp_path / "p.png").exists()
    run = load_run(make_run(tmp_path / "run", UNLEARN))
    text = render_card(run, "me/m", OTHER, plot_file=None, plot_note=note)
    assert "No loss plot is included: matplotlib, a dependency of hf-unlearn, could not be imported" in text
    assert "![" not in text


# ---- the card ------------------------------------------------------------------------------------------------------
def test_the_hyperparameter_table_names_no_local_path(tmp_path, monkeypatch):
    """Relative (as `make demo` writes them) and absolute recipe paths appear as the published recipe has them."""
    monkeypatch.chdir(tmp_path)
    retain = Path("demo_runs") / "finetune" / "tofu_tiny-llama_retain99"
    retain.mkdir(parents=True)
    published = tmp_path / "models" / "target"
    published.mkdir(parents=True)
    (published / "hub.json").write_text(json.dumps({"repo_id": "me/tofu_tiny-llama_full"}))
    holdout = tmp_path / "elsewhere" / "holdout.jsonl"
    recipe = {
        **UNLEARN,
        "eval": {"retain_model": str(retain), "holdout_file": str(holdout)},
        "tokenizer": str(published),
    }
    run = load_run(make_run(tmp_path / "run", recipe))
    text = render_card(run, "me/m", OTHER, "loss_curves.png")
    assert "| `eval.retain_model` | ./tofu_tiny-llama_retain99 |" in text
    assert "| `eval.holdout_file` | ./holdout.jsonl |" in text
    assert "demo_runs" not in text and str(tmp_path) not in text and "/somewhere/private" not in text
    assert "tokenizer: me/tofu_tiny-llama_full" in text  # the card's copy of the recipe


def test_an_evaluated_unlearned_model_card(tmp_path):
    summary = {"forget_quality": 0.25, "model_utility": 0.5, "forget_truth_ratio": 0.6, "forget_Q_A_Prob": 0.1,
               "forget_Q_A_ROUGE": 0.3, "privleak": 4.5, "extraction_strength": None}  # fmt: skip
    comparison = {"target": {**summary, "forget_quality": 2e-10, "forget_Q_A_Prob": 0.9}, "retain": {**summary}}
    run = load_run(make_run(tmp_path / "run", UNLEARN, {"TOFU_SUMMARY.json": summary, "comparison.json": comparison}))
    repo_id = Recipe.from_dict(UNLEARN).repo_id("me")
    text = render_card(run, repo_id, LicenseInfo("llama3.2", "the model family"), "loss_curves.png")
    card = card_of(text, tmp_path)
    assert card.data.base_model == LLAMA and card.data.license == "llama3.2"
    assert card.data.library_name == "transformers" and card.data.pipeline_tag == "text-generation"
    assert set(card.data.tags) >= {"machine-unlearning", "tofu", "graddiff"}
    assert card.data.model_name == repo_id.split("/")[1]
    assert {r.metric_type: r.metric_value for r in card.data.eval_results} == {
        "forget_quality": 0.25,
        "model_utility": 0.5,
        "truth_ratio": 0.6,
        "probability": 0.1,
        "rouge": 0.3,
        "privleak": 4.5,
    }
    body = card.text
    assert "| Forget quality (KS-test p-value) | `forget05_perturbed` | 0.2500 | 2.000e-10 | 0.2500 |" in body
    assert "L = -gamma * NLL(forget) + alpha * L_retain(retain)" in body
    assert "`alpha = 2`" in body and "| `learning_rate` | 2e-05 |" in body
    assert "| `gradient_accumulation_steps (derived)` | 2 |" in body
    assert "hub_org" not in body.split("## Recipe")[0] and "output_dir`" not in body
    assert "NVIDIA H100 80GB HBM3 × 2 processes" in body and "12.6 min" in body
    assert "![forget and retain loss over training](loss_curves.png)" in body
    assert portable_recipe_text(run.recipe).strip() in body
    assert "maini2024tofu" in body and "dorna2025openunlearning" in body and "liu2022continual" in body
    assert "Unlearning is not deletion" in body


def test_an_unevaluated_card_invents_no_numbers(tmp_path):
    run = load_run(make_run(tmp_path / "run", UNLEARN))
    text = render_card(run, "me/m", OTHER)
    card = card_of(text, tmp_path)
    assert card.data.eval_results is None and "model-index" not in text
    assert "has not been evaluated yet" in card.text
    assert "could not be determined" in card.text


def test_a_retain_model_gets_the_finetuned_card(tmp_path):
    recipe = {"task": "finetune", "model": LLAMA, "finetune_splits": ["retain99"], "learning_rate": 1e-5}
    summary = {"forget_Q_A_Prob": 0.2, "model_utility": 0.6}
    run = load_run(make_run(tmp_path / "run", recipe, {"TOFU_SUMMARY.json": summary}))
    text = render_card(run, "me/tofu_Llama-3.2-1B-Instruct_retain99", OTHER)
    card = card_of(text, tmp_path)
    assert "retain-model" in card.data.tags and "finetune" in card.data.tags
    assert {r.dataset_config for r in card.data.eval_results} == {"forget01_perturbed", "retain_perturbed"}
    assert "It is a **retain model**: it never saw the `forget01` authors" in card.text
    assert "L = NLL(train)" in card.text and "| `retain99` | 3960 | `cc` |" in card.text
    assert "alpha" not in card.text.split("## Recipe")[0]


def test_the_evaluated_forget_split_comes_from_eval_meta(tmp_path):
    recipe = {"task": "finetune", "model": LLAMA, "finetune_splits": ["full"]}
    evals = {
        "TOFU_SUMMARY.json": {"forget_quality": 0.5},
        "eval_meta.json": {"settings": {"forget_split": "forget05"}},
    }
    run = load_run(make_run(tmp_path / "run", recipe, evals))
    card = card_of(render_card(run, "me/tofu_Llama-3.2-1B-Instruct_full", OTHER), tmp_path)
    assert [r.dataset_config for r in card.data.eval_results] == ["forget05_perturbed"]
    assert "target-model" in card.data.tags and "It is a **target model**" in card.text


def test_missing_templates_refuse(tmp_path):
    run = load_run(make_run(tmp_path / "run", UNLEARN))
    with pytest.raises(PublishError, match="template"):
        render_card(run, "me/m", OTHER, templates_dir=tmp_path / "nowhere")


def test_base_model_metadata_is_a_hub_id_or_nothing(tmp_path):
    assert hub_base_model(LLAMA) == LLAMA
    assert hub_base_model("tiny") is None and hub_base_model("a/b/c") is None
    local = tmp_path / "target"
    local.mkdir()
    assert hub_base_model(str(local)) is None
    (local / "hub.json").write_text(json.dumps({"repo_id": "me/tofu_x_full"}))
    assert hub_base_model(str(local)) == "me/tofu_x_full"


# ---- licence -------------------------------------------------------------------------------------------------------
class _UnreachableHub:
    def model_info(self, repo_id):
        raise ConnectionError("no network")


def test_licence_from_a_local_base_and_its_lineage(tmp_path):
    base = tmp_path / "base"
    base.mkdir()
    (base / "README.md").write_text("---\nlicense: apache-2.0\ntags: [x]\n---\n# base\n")
    assert resolve_license([str(base)]) == LicenseInfo("apache-2.0", f"the card of {base}")
    target = tmp_path / "target"
    target.mkdir()
    (target / "run_info.json").write_text(json.dumps({"base_model": str(base)}))
    assert resolve_license([str(target)]).license == "apache-2.0"


def test_licence_without_network(monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    found = resolve_license(["open-unlearning/tofu_Llama-3.2-1B-Instruct_full"], _UnreachableHub())
    assert found.license == "llama3.2" and "model family" in found.source
    unknown = resolve_license(["someone/mystery-model", None], _UnreachableHub())
    assert unknown.license == "other" and "could not be determined" in unknown.note


# ---- secrets -------------------------------------------------------------------------------------------------------
def test_redaction():
    token = "hf_abcdefghijklmnopqrstuvwxyz"
    assert redact(f"bad token {token}!", [token]) == "bad token ***!"
    assert redact("Authorization: Bearer sk-secret-value", []) == "Authorization: Bearer ***"
    assert redact("leaked hf_ABCDEFGH12345678 here") == "leaked hf_*** here"
    assert redact("nothing secret", [None, ""]) == "nothing secret"


def test_hub_errors_are_described_without_the_token():
    import httpx2
    from huggingface_hub.errors import HfHubHTTPError

    from hf_unlearn.publish.hub import describe_error

    token = "hf_zyxwvutsrqponmlkjihgfedcba"
    request = httpx2.Request("POST", "http://hub.test/api/repos/create")
    server_error = HfHubHTTPError(f"500 Server Error: echo {token}", response=httpx2.Response(500, request=request))
    message = describe_error(server_error, "me/m", "http://hub.test", token)
    assert "500" in message and token not in message and "***" in message
    refused = HfHubHTTPError(f"401 {token}", response=httpx2.Response(401, request=request))
    message = describe_error(refused, "me/m", "http://hub.test", token)
    assert "HF_TOKEN" in message and "hf auth login" in message and token not in message


def test_citations():
    from hf_unlearn.publish.citations import OPEN_UNLEARNING, citations_for

    tofu = TOFU_PAPER.bibtex

    assert citations_for(TOFU, None) == [tofu, OPEN_UNLEARNING]
    assert citations_for(TOFU, "IdkNLL") == [tofu, OPEN_UNLEARNING]
    npo = citations_for(TOFU, "NPO")
    assert len(npo) == 3 and "zhang2024negative" in npo[2] and "2404.05868" in npo[2]
    assert citations_for(TOFU, "NoSuchMethod") == [tofu, OPEN_UNLEARNING]


@pytest.mark.parametrize(
    ("method", "extra", "settings"),
    [("IdkDPO", {"dpo", "idk"}, {}), ("GRU", {"gru", "graddiff"}, {"variant": "gd_gru"})],  # UNLEARN has alpha 2
)
def test_card_tags_are_the_method_specs(tmp_path, method, extra, settings):
    run = load_run(make_run(tmp_path / "run", {**UNLEARN, "method": method, **settings}))
    tags = card_of(render_card(run, "me/m", OTHER), tmp_path).data.tags
    assert set(tags) >= {"machine-unlearning", "tofu", method.lower(), "hf-unlearn", *extra}
    assert len(tags) == len(set(tags))


@pytest.mark.parametrize(("corpus", "dataset"), [("news", "muse-bench/MUSE-News"), ("books", "muse-bench/MUSE-Books")])
def test_a_muse_card_names_the_runs_corpus(tmp_path, corpus, dataset):
    recipe = {"benchmark": "muse", "model": "meta-llama/Llama-2-7b-hf", "method": "NPO", "data": {"corpus": corpus}}
    summary = {"forget_verbmem_ROUGE": 0.2, "forget_knowmem_ROUGE": 0.3, "retain_knowmem_ROUGE": 0.4}
    run = load_run(make_run(tmp_path / "run", recipe, {"MUSE_SUMMARY.json": summary}))
    text = render_card(run, Recipe.from_dict(recipe).repo_id("me"), LicenseInfo("llama2", "the model family"), None)
    card = card_of(text, tmp_path)
    assert card.data.datasets == [dataset]
    assert {r.dataset_type for r in card.data.eval_results} == {dataset}
    assert dataset in card.text
