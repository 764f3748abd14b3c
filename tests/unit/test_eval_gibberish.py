"""forget_Q_A_gibberish: a tiny offline BERT classifier stands in for open-unlearning's Hub classifier."""

import json
from pathlib import Path

import pytest
import torch
from helpers import REPO

from hf_unlearn.evaluation.evaluator import EvalSettings, StaleResultsError, evaluate, resolve_classifier
from hf_unlearn.evaluation.gibberish import (
    DEFAULT_GIBBERISH_MODEL,
    MAX_LENGTH,
    class_probabilities,
    gibberish_metric,
    gibberish_result,
    load_classifier,
)
from hf_unlearn.evaluation.suite import ALL_METRICS, DEFAULT_METRICS

QUICK = dict(forget_split="forget01", limit=3, max_new_tokens=6, data_source="bundled")
LONG_TEXT = " ".join(["The author was born in Paris and writes novels about the sea."] * 3)
TEXTS = ["Hello world.", "qzx vbnm kkkk jj", LONG_TEXT, ""]


def _build_classifier(folder: Path, tokenizer, seed: int) -> Path:
    """A 3-class BERT with the tiny model's tokenizer; a wide init so the classes get visibly different scores."""
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        num_labels=3,
        pad_token_id=tokenizer.pad_token_id,
        initializer_range=0.5,
    )
    BertForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def classifier_dir(tmp_path_factory, tokenizer) -> Path:
    return _build_classifier(tmp_path_factory.mktemp("gibberish") / "clf", tokenizer, seed=0)


def _by_hand(model, tokenizer, text: str, max_length: int | None = MAX_LENGTH) -> float:
    ids = tokenizer(text)["input_ids"][:max_length]
    with torch.inference_mode():
        logits = model(input_ids=torch.tensor([ids])).logits
    return torch.softmax(logits[0].float(), dim=-1)[0].item()


def test_score_is_the_class_0_probability_of_the_first_32_tokens(classifier_dir):
    model, tokenizer = load_classifier(classifier_dir, "float32", "cpu")
    assert len(tokenizer(LONG_TEXT)["input_ids"]) > MAX_LENGTH
    scores = class_probabilities(model, tokenizer, TEXTS, batch_size=3)  # two batches, padded
    expected = [_by_hand(model, tokenizer, text) for text in TEXTS]
    assert scores == pytest.approx(expected, abs=1e-5)
    assert scores[2] != pytest.approx(_by_hand(model, tokenizer, LONG_TEXT, max_length=None), abs=1e-4)
    result = gibberish_result(TEXTS, scores)
    assert result["agg_value"] == pytest.approx(sum(scores) / len(scores))
    assert result["value_by_index"]["2"] == {"score": scores[2], "generation": LONG_TEXT}


def test_end_to_end_reuses_the_rouge_generations(tiny_dir, classifier_dir, tokenizer, tmp_path):
    from hf_unlearn.cli import main

    argv = ["eval", str(tiny_dir), "--output-dir", str(tmp_path), "--forget-split", "forget01", "--limit", "3"]
    argv += ["--max-new-tokens", "6", "--data-source", "bundled", "--no-progress"]
    argv += ["--metrics", "forget_Q_A_gibberish", "--gibberish-model", str(classifier_dir)]
    assert main(argv) == 0
    stored = json.loads((tmp_path / "TOFU_EVAL.json").read_text())
    gib, rouge = stored["forget_Q_A_gibberish"]["value_by_index"], stored["forget_Q_A_ROUGE"]["value_by_index"]
    assert list(gib) == list(rouge) == ["0", "1", "2"]
    generations = [rouge[k]["generation"] for k in rouge]
    assert [gib[k]["generation"] for k in gib] == generations
    scores = [gib[k]["score"] for k in gib]
    assert stored["forget_Q_A_gibberish"]["agg_value"] == pytest.approx(sum(scores) / len(scores))
    model, clf_tokenizer = load_classifier(classifier_dir, "float32", "cpu")
    assert scores == pytest.approx(class_probabilities(model, clf_tokenizer, generations), abs=1e-6)
    assert json.loads((tmp_path / "TOFU_SUMMARY.json").read_text()) == {
        "forget_Q_A_gibberish": stored["forget_Q_A_gibberish"]["agg_value"]
    }

    # the classifier is part of the fingerprint: the same one reuses the results, another one recomputes them
    settings = EvalSettings(metrics="forget_Q_A_gibberish", gibberish_model=str(classifier_dir), **QUICK)
    assert evaluate(str(tiny_dir), tmp_path, settings, no_recompute=True, progress=False, echo=False).reused
    other = _build_classifier(tmp_path.parent / "other_clf", tokenizer, seed=1)
    settings = EvalSettings(metrics="forget_Q_A_gibberish", gibberish_model=str(other), **QUICK)
    with pytest.raises(StaleResultsError, match="gibberish_model"):
        evaluate(str(tiny_dir), tmp_path, settings, no_recompute=True, progress=False, echo=False)


def test_offline_without_the_classifier_only_this_metric_is_absent(tiny_dir, tmp_path):
    settings = EvalSettings(metrics="forget_Q_A_gibberish,forget_Q_A_Prob", **QUICK)
    result = evaluate(str(tiny_dir), tmp_path, settings, progress=False, echo=False)
    assert result.summary["forget_Q_A_gibberish"] is None
    assert isinstance(result.summary["forget_Q_A_Prob"], float)
    assert isinstance(result.results["forget_Q_A_ROUGE"]["agg_value"], float)
    reason = result.results["forget_Q_A_gibberish"]["absent_reason"]
    assert "gibberish_model" in reason and "HF_HUB_OFFLINE" in reason and "\n" not in reason
    assert "absent" in result.table and reason in result.table
    assert result.meta["settings"]["gibberish_model"] == {"name": DEFAULT_GIBBERISH_MODEL, "sha256": "absent"}


def test_a_folder_that_is_no_classifier_makes_the_metric_absent(tmp_path):
    assert "no weight files" in resolve_classifier(str(tmp_path)).reason
    rouge = {"agg_value": 0.5, "value_by_index": {"0": {"generation": "text"}}}
    entry = gibberish_metric(rouge, tmp_path, None, "float32", "cpu")
    assert entry["agg_value"] is None and "could not be loaded" in entry["absent_reason"]
    no_rouge = {"agg_value": None, "absent_reason": "no forget set"}
    assert gibberish_metric(no_rouge, None, "offline", "float32", "cpu")["absent_reason"] == "no forget set"


def test_off_by_default_and_configurable_from_the_recipe():
    from hf_unlearn.recipe import load_recipe

    def settings_from_recipe(recipe):
        return recipe.benchmark.eval_settings(recipe)

    assert "forget_Q_A_gibberish" in ALL_METRICS and "forget_Q_A_gibberish" not in DEFAULT_METRICS
    recipe_file = REPO / "recipes/tiny/forget01_GradDiff_lr0.0005_alpha5_epoch10.yaml"
    assert settings_from_recipe(load_recipe(recipe_file)).gibberish_model == DEFAULT_GIBBERISH_MODEL
    custom = load_recipe(
        recipe_file, {"eval.gibberish_model": "org/clf", "eval.metrics": "default,forget_Q_A_gibberish"}
    )
    assert settings_from_recipe(custom).gibberish_model == "org/clf"
