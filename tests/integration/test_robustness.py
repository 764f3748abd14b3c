"""The robustness suite end to end on the tiny models: relearning with its control (identical recorded settings,
data and seed; curves, plot and R written), and 4-bit NF4 quantization on CPU with before/after recorded.

The finetuned tiny target stands in for the unlearned model: the test checks the mechanics and the records, not
which model is more robust."""

import json

import pytest

from hf_unlearn.benchmarks import get_benchmark
from hf_unlearn.evaluation.settings import EvalSettings
from hf_unlearn.robustness.suite import RESULT_FILE, format_table, run_suite

try:
    import bitsandbytes  # noqa: F401

    HAS_BNB = True
except ImportError:  # the quant extra is optional: relearning is still tested
    HAS_BNB = False
needs_bnb = pytest.mark.skipif(not HAS_BNB, reason="the quant extra (bitsandbytes) is not installed")

SETTINGS = EvalSettings(
    forget_split="forget01", data_source="bundled", limit=2, max_new_tokens=4, batch_size=4, generation_batch_size=4
)
OPTIONS = {
    "relearn": {"steps": 2, "batch_size": 2, "effective_batch_size": 2, "n_samples": 4, "curve_points": 1},
}


@pytest.fixture(scope="module")
def suite(tmp_path_factory, tiny_target, tiny_retain, tiny_dir):
    out = tmp_path_factory.mktemp("robustness")
    options = {**OPTIONS, "quantize": {"original_model": str(tiny_dir)}}
    result = run_suite(
        get_benchmark("tofu"),
        str(tiny_target),
        ["relearn", "quantize"] if HAS_BNB else ["relearn"],
        out,
        SETTINGS,
        retain_model=str(tiny_retain),
        options=options,
        seed=7,
        progress=False,
    )
    return out, result


def test_results_file_is_what_the_suite_returned(suite):
    out, result = suite
    assert json.loads((out / RESULT_FILE).read_text()) == json.loads(json.dumps(result, default=str))
    keys = [m.key for m in get_benchmark("tofu").knowledge_metrics]
    assert list(result["robustness"]) == keys
    assert set(result["before"]) == set(keys) | {"model_utility"}
    assert "| extraction_strength |" in format_table(result)
    assert (out / "ROBUSTNESS.md").read_text() == format_table(result) + "\n"


def test_relearn_trains_model_and_control_identically(suite):
    out, result = suite
    record = result["attacks"]["relearn"]
    runs = record["extra"]["runs"]
    model, control = runs["model"], runs["control"]
    assert model["recipe"] == control["recipe"]  # same generated finetune: data, steps, lr, batch, seed
    assert model["recipe"]["seed"] == 7 and model["recipe"]["max_steps"] == 2
    assert model["recipe"]["finetune_splits"] == ["forget01"] and model["recipe"]["data.forget_limit"] == 4
    assert model["data_fingerprint"] == control["data_fingerprint"]
    assert model["global_steps"] == control["global_steps"] == 2
    assert model["model"] != control["model"]
    assert record["settings"]["learning_rate"] == 2e-5 and record["settings"]["adapter"] == "none"
    for curve in record["extra"]["curves"].values():
        assert [p["step"] for p in curve] == [0, 1, 2]
    assert record["extra"]["curves"]["model"][0]["extraction_strength"] == result["before"]["extraction_strength"]
    assert (out / record["extra"]["plot"]).is_file()
    for key, entry in record["metrics"].items():
        assert set(entry) == {"before", "after", "control_before", "control_after", "R", "R_sym"}
        assert entry["before"] == result["before"][key] and entry["control_before"] == result["control_before"][key]
        if entry["after"] is not None:
            assert 0.0 <= entry["R"] <= 1.0 and 0.0 <= entry["R_sym"] <= 1.0


@needs_bnb
def test_quantize_records_nf4_settings_before_after_and_code_change(suite):
    _, result = suite
    record = result["attacks"]["quantize"]
    settings = record["settings"]
    assert (settings["bits"], settings["quant_type"], settings["compute_dtype"]) == (4, "nf4", "bfloat16")
    assert settings["versions"]["bitsandbytes"]
    for key, entry in record["metrics"].items():
        assert entry["before"] == result["before"][key]
        if entry["after"] is not None:
            assert 0.0 <= entry["Q"] <= 1.0
    assert record["metrics"]["forget_Q_A_Prob"]["after"] is not None
    assert record["extra"]["utility"]["after"] is not None
    change = record["extra"]["code_change"]
    # the target was finetuned from the tiny model: its weights moved, and so do some of their NF4 codes
    assert change["weights"] > 0 and 0.0 < change["nf4_changed_fraction"] <= change["changed_fraction"] <= 1.0
    scores = result["robustness"]["forget_Q_A_Prob"]
    assert scores["Q"] == record["metrics"]["forget_Q_A_Prob"]["Q"] and "HM" in scores


@needs_bnb
def test_nf4_model_runs_forward_and_generate_on_cpu(tiny_target):
    import torch
    from bitsandbytes.nn import Linear4bit
    from transformers import AutoTokenizer

    from hf_unlearn.robustness.quantize import load_quantized, quant_settings

    model = load_quantized(tiny_target, quant_settings({}), "float32", "cpu")
    assert any(isinstance(m, Linear4bit) for m in model.modules())
    tokenizer = AutoTokenizer.from_pretrained(tiny_target)
    ids = tokenizer("Who wrote it?", return_tensors="pt").input_ids
    with torch.no_grad():
        assert torch.isfinite(model(ids).logits).all()
        out = model.generate(ids, max_new_tokens=3, min_new_tokens=3, do_sample=False)
    assert out.shape[1] == ids.shape[1] + 3


@needs_bnb
def test_attack_command_reads_a_run_folder(tiny_target, tmp_path, capsys):
    import shutil

    import yaml

    from hf_unlearn import cli

    run = tmp_path / "run"
    shutil.copytree(tiny_target, run, ignore=shutil.ignore_patterns("checkpoint-*", "export"))
    started_from = yaml.safe_load((run / "recipe.yaml").read_text())["model"]
    args = ["attack", str(run), "--attacks", "quantize", "--limit", "2", "--no-progress"]
    assert cli.main(args) == 0
    result = json.loads((run / "robustness" / RESULT_FILE).read_text())
    assert result["attacks"]["quantize"]["extra"]["code_change"]["original_model"] == started_from
    assert result["settings"]["limit"] == 2 and result["model"] == str(run)
    assert "| forget_Q_A_Prob |" in capsys.readouterr().out
    assert result["seed"] == 42  # the protocol's seed, not the run's


@needs_bnb
def test_eval_robustness_runs_the_suite_on_the_run_folder(tiny_target, tmp_path):
    import shutil

    import yaml

    from hf_unlearn.recipe import Recipe
    from hf_unlearn.robustness.stage import robustness_stage

    run = tmp_path / "run"
    shutil.copytree(tiny_target, run, ignore=shutil.ignore_patterns("checkpoint-*", "export"))
    raw = yaml.safe_load((run / "recipe.yaml").read_text())
    raw["eval"].update(robustness=["quantize"], robustness_options={"quantize": {"bits": 8}}, limit=2)
    raw["eval"]["max_new_tokens"] = 4
    result = robustness_stage(Recipe.from_dict(raw), run, progress=False)
    assert json.loads((run / "robustness" / RESULT_FILE).read_text())["attacks"] == result["attacks"]
    assert (
        result["attacks"]["quantize"]["settings"]["bits"] == 8
        and "code_change" in result["attacks"]["quantize"]["extra"]
    )
