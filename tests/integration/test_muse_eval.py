"""The MUSE evaluator end to end: the untrained tiny model on a synthetic corpus, through the real data loader."""

import json

import pytest

from hf_unlearn.evaluation import metrics as M
from hf_unlearn.evaluation.muse import EVAL_FILE, SUMMARY_FILE, MuseEvalSettings, evaluate, retain_summary
from hf_unlearn.evaluation.store import StaleResultsError
from hf_unlearn.layout import EVAL_META


@pytest.fixture(scope="module")
def muse_data(tmp_path_factory):
    from hf_unlearn.data.muse_synthetic import write_synthetic_muse

    # a folder name of its own: the datasets cache of a local folder is keyed by its name, not its contents
    return write_synthetic_muse(tmp_path_factory.mktemp("muse") / "MUSE-News-eval-test", fold_size=4)


def _settings(muse_data, **extra):
    base = dict(data_source=str(muse_data), limit=3, verbmem_max_new_tokens=8, knowmem_max_new_tokens=8)
    return MuseEvalSettings(**{**base, **extra})


def test_files_reuse_and_privleak_without_reference(tiny_dir, muse_data, tmp_path):
    settings = _settings(muse_data)
    out = tmp_path / "evals"
    first = evaluate(str(tiny_dir), out, settings, progress=False, echo=False)
    assert not first.reused
    results = json.loads((out / EVAL_FILE).read_text())
    assert list(results) == sorted(results)  # keys sorted, as open-unlearning writes them
    assert set(results) == {
        "extraction_strength", "forget_knowmem_ROUGE", "forget_verbmem_ROUGE", "mia_min_k", "privleak",
        "retain_knowmem_ROUGE",
    }  # fmt: skip
    summary = json.loads((out / SUMMARY_FILE).read_text())
    assert set(summary) == set(results) - {"mia_min_k"} and summary == first.summary
    assert summary["privleak"] is None and "--retain-logs" in results["privleak"]["absent_reason"]
    verbmem = results["forget_verbmem_ROUGE"]["value_by_index"]
    assert list(verbmem) == ["0", "1", "2"]
    assert set(verbmem["0"]) == {"rouge1_recall", "rougeL_f1", "rougeL_recall", "input", "ground_truth", "generation"}
    assert results["forget_knowmem_ROUGE"]["value_by_index"]["0"]["input"].startswith("Question: ")
    mia = results["mia_min_k"]
    assert set(mia) == {"forget", "holdout", "auc", "agg_value"} and len(mia["forget"]["value_by_index"]) == 3
    assert 0 <= mia["auc"] <= 1
    meta = json.loads((out / EVAL_META).read_text())
    assert meta["settings"]["corpus"] == "news" and meta["fingerprint"]

    again = evaluate(str(tiny_dir), out, settings, progress=False, echo=False)
    assert again.reused and again.summary == first.summary

    changed = _settings(muse_data, icl_shots=1)
    with pytest.raises(StaleResultsError, match="icl_shots"):
        evaluate(str(tiny_dir), out, changed, no_recompute=True, progress=False, echo=False)

    # the model's own logs as the reference: privleak follows the formula from the two AUCs (here 0)
    with_ref = evaluate(str(tiny_dir), out, settings, retain_logs=out / EVAL_FILE, progress=False, echo=False)
    assert with_ref.reused
    assert with_ref.summary["privleak"] == pytest.approx(M.privleak(mia["auc"], mia["auc"]))
    assert retain_summary(with_ref, settings) == with_ref.summary  # the MUSE_SUMMARY.json next to the logs it read


def test_retain_model_is_the_reference(tiny_dir, muse_data, tmp_path):
    settings = _settings(muse_data, metrics="privleak,mia_loss,exact_memorization")
    result = evaluate(
        str(tiny_dir), tmp_path / "evals", settings, retain_model=str(tiny_dir), progress=False, echo=False
    )
    assert result.retain is not None and result.retain.summary["privleak"] == pytest.approx(0.0)
    assert result.summary["privleak"] == pytest.approx(0.0)
    assert set(result.summary) == {"privleak", "mia_loss", "exact_memorization"}
    assert retain_summary(result, settings) == result.retain.summary


def test_model_in_memory_gives_the_same_summary(tiny_dir, muse_data, tmp_path):
    from hf_unlearn.evaluation.muse import evaluate_loaded
    from hf_unlearn.models import load_eval_model, load_tokenizer

    settings = _settings(muse_data, metrics="forget_knowmem_ROUGE,extraction_strength,privleak")
    stored = evaluate(str(tiny_dir), tmp_path / "evals", settings, progress=False, echo=False)
    model = load_eval_model(tiny_dir, "float32", "cpu").train()
    reference = {"mia_min_k": {"agg_value": 0.5}}
    summary = evaluate_loaded(model, load_tokenizer(str(tiny_dir)), settings, reference)
    assert model.training  # given back in the mode it came in
    mia = json.loads((tmp_path / "evals" / EVAL_FILE).read_text())["mia_min_k"]["agg_value"]
    assert summary == {**stored.summary, "privleak": pytest.approx(M.privleak(mia, 0.5))}


def test_gibberish_without_its_classifier_is_absent_with_the_reason(tiny_dir, muse_data, tmp_path):
    settings = _settings(muse_data, metrics="forget_gibberish", gibberish_model=str(tmp_path / "no-classifier"))
    result = evaluate(str(tiny_dir), tmp_path / "evals", settings, progress=False, echo=False)
    assert result.summary["forget_gibberish"] is None
    assert "no-classifier" in result.results["forget_gibberish"]["absent_reason"]
    assert result.results["forget_verbmem_ROUGE"]["agg_value"] is not None  # the generations it would classify
