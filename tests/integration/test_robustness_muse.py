"""The robustness suite on MUSE, through `hf-unlearn attack --benchmark muse`: the command takes MUSE's options
(corpus, data source, in-context shots), the suite re-measures MUSE's knowledge metrics, and the relearning recipe
finetunes both models on the forget documents of the corpus being evaluated.

Untrained tiny models (two seeds) stand in for the unlearned and the retain model: the test checks the mechanics
and the records, not which model is more robust, so it asserts no trained outcome."""

import json

import pytest

from hf_unlearn import cli
from hf_unlearn.benchmarks import get_benchmark
from hf_unlearn.data.muse_synthetic import write_synthetic_muse
from hf_unlearn.robustness.suite import RESULT_FILE

try:
    import bitsandbytes  # noqa: F401

    HAS_BNB = True
except ImportError:  # the quant extra is optional: relearning is still tested
    HAS_BNB = False

MUSE = get_benchmark("muse")
KEYS = [m.key for m in MUSE.knowledge_metrics]


@pytest.fixture(scope="module")
def attacked(tmp_path_factory, tiny_dir):
    from hf_unlearn.tiny import save_tiny

    root = tmp_path_factory.mktemp("robustness_muse")
    data = write_synthetic_muse(root / "muse_news")
    retain = save_tiny(root / "retain", seed=1)
    out = root / "robustness"
    attacks = "relearn,quantize" if HAS_BNB else "relearn"
    args = ["attack", str(tiny_dir), "--benchmark", "muse", "--corpus", "news", "--data-source", str(data)]
    args += ["--attacks", attacks, "--retain-model", str(retain), "--output-dir", str(out), "--seed", "7"]
    args += ["--limit", "2", "--icl-shots", "1", "--no-progress"]
    for option in ("steps=2", "batch_size=2", "effective_batch_size=2", "curve_points=1"):
        args += ["--attack-option", f"relearn.{option}"]
    assert cli.main(args) == 0
    return data, retain, json.loads((out / RESULT_FILE).read_text())


def test_muse_knowledge_metrics_are_measured_before_and_after(attacked):
    _, _, result = attacked
    assert result["benchmark"] == "muse" and result["settings"]["corpus"] == "news"
    assert list(result["robustness"]) == KEYS
    for values in (result["before"], result["control_before"]):
        assert set(values) == {*KEYS, MUSE.utility_metric}
        assert all(values[k] is not None for k in KEYS)
    for entry in result["attacks"]["relearn"]["metrics"].values():
        assert None not in (entry["before"], entry["after"], entry["control_before"], entry["control_after"])
        assert 0.0 <= entry["R"] <= 1.0
    assert result["attacks"]["relearn"]["extra"]["utility"]["after"] is not None


def test_relearn_trains_both_models_on_the_evaluated_forget_documents(attacked):
    data, retain, result = attacked
    record = result["attacks"]["relearn"]
    model, control = record["extra"]["runs"]["model"], record["extra"]["runs"]["control"]
    assert model["recipe"] == control["recipe"] and model["model"] != control["model"] == str(retain)
    recipe = model["recipe"]
    assert recipe["benchmark"] == "muse" and recipe["finetune_splits"] == ["forget"]
    assert recipe["data.corpus"] == "news" and recipe["data.source"] == str(data)
    assert recipe["seed"] == 7 and recipe["max_steps"] == 2
    forget_documents = MUSE.load_split("forget", str(data), "news")
    assert model["data_sizes"] == control["data_sizes"] == {"train": len(forget_documents)}
    assert model["data_fingerprint"] == control["data_fingerprint"]
    assert model["global_steps"] == control["global_steps"] == 2
    for curve in record["extra"]["curves"].values():
        assert [p["step"] for p in curve] == [0, 1, 2]


@pytest.mark.skipif(not HAS_BNB, reason="the quant extra (bitsandbytes) is not installed")
def test_quantize_re_measures_muse_metrics(attacked):
    _, _, result = attacked
    record = result["attacks"]["quantize"]
    assert record["settings"]["quant_type"] == "nf4"
    for key in KEYS:
        entry = record["metrics"][key]
        assert entry["before"] == result["before"][key] and entry["after"] is not None
        assert 0.0 <= entry["Q"] <= 1.0
    assert record["extra"]["utility"]["after"] is not None
