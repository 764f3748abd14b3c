"""End to end: the tiny target, retain and unlearned models on TOFU forget01 (a few items, short generations)."""

import json
import shutil

import pytest
from helpers import REPO

from hf_unlearn.evaluation import evaluator as ev
from hf_unlearn.evaluation.evaluator import EvalSettings, StaleResultsError, evaluate
from hf_unlearn.evaluation.suite import ALL_METRICS

LIMIT = 12
#: The summary values the ordering test compares (shown when it fails).
MARGINS = ("forget_Q_A_Prob", "forget_Q_A_ROUGE", "extraction_strength", "forget_quality", "mia_loss", "privleak")
QUICK = dict(forget_split="forget01", limit=LIMIT, max_new_tokens=16, data_source="bundled")


@pytest.fixture(scope="module")
def holdout_file(tmp_path_factory):
    """Non-members: retain99 questions no tiny model was trained on (they saw the first 40-160 rows)."""
    rows = [json.loads(line) for line in (REPO / "hf_unlearn/data/tofu_data/retain99.jsonl").open()][
        2000 : 2000 + LIMIT
    ]
    path = tmp_path_factory.mktemp("holdout") / "holdout.jsonl"
    path.write_text("".join(json.dumps({"question": r["question"], "answer": r["answer"]}) + "\n" for r in rows))
    return path


@pytest.fixture(scope="module")
def tiny_unlearned(tmp_path_factory, tiny_target):
    from hf_unlearn.pipeline import train
    from hf_unlearn.recipe import load_recipe

    out = tmp_path_factory.mktemp("unlearn") / "graddiff"
    recipe = load_recipe(
        REPO / "recipes/tiny/forget01_GradDiff_lr0.0005_alpha5_epoch10.yaml",
        {"model": str(tiny_target), "data.retain_limit": 40, "output_dir": str(out), "logging_steps": 100},
    )
    return train(recipe).output_dir


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory, tiny_target, tiny_retain, tiny_unlearned, holdout_file):
    """All metrics for the three models; target and unlearned against the retain model's logs."""
    out = tmp_path_factory.mktemp("evals")
    settings = EvalSettings(metrics="all", holdout_file=str(holdout_file), **QUICK)
    retain = evaluate(str(tiny_retain), out / "retain", settings, self_reference=True, progress=False, echo=False)
    results = {"retain": retain}
    for name, model in (("target", tiny_target), ("unlearned", tiny_unlearned)):
        results[name] = evaluate(
            str(model), out / name, settings, retain_logs=retain.eval_path, progress=False, echo=False
        )
    return results


def test_files_follow_open_unlearning_layout(evaluated):
    result = evaluated["target"]
    stored = json.loads((result.output_dir / "TOFU_EVAL.json").read_text())
    assert list(stored) == sorted(stored)
    assert {"forget_Q_A_PARA_Prob", "retain_Truth_Ratio", "ra_Q_A_Prob_normalised", "mia_min_k"} <= set(stored)
    assert len(stored["forget_Q_A_PERT_Prob"]["value_by_index"]["0"]["prob"]) == 5
    assert len(stored["forget_Q_A_Prob"]["value_by_index"]) == LIMIT
    assert set(stored["mia_min_k"]) == {"forget", "holdout", "auc", "agg_value"}
    summary = json.loads((result.output_dir / "TOFU_SUMMARY.json").read_text())
    assert list(summary) == sorted(ALL_METRICS)
    # the gibberish classifier is a Hub model, not cached in the offline test home: absent, everything else computed
    assert (
        summary.pop("forget_Q_A_gibberish") is None
        and "HF_HUB_OFFLINE" in stored["forget_Q_A_gibberish"]["absent_reason"]
    )
    assert all(isinstance(v, float) for v in summary.values())
    meta = json.loads((result.output_dir / "eval_meta.json").read_text())
    assert len(meta["fingerprint"]) == 64 and meta["settings"]["limit"] == LIMIT


def test_retain_model_against_itself(evaluated):
    retain = evaluated["retain"].summary
    assert retain["forget_quality"] == pytest.approx(1.0)
    assert retain["privleak"] == pytest.approx(0.0, abs=1e-6)
    assert evaluated["retain"].results["mia_reference"]["auc"] == pytest.approx(0.5)


def test_expected_ordering_of_target_retain_and_unlearned(evaluated):
    """Only orderings with a wide margin (seen on two CPU kernels: target/retain forget probability ~1000x,
    target/unlearned 28-133x, ROUGE +0.34/+0.42, ES +0.31/+0.34, target forget quality 2e-4).

    The tiny models follow another trajectory on another CPU; quantities that saturate or flip with it (the 12-item
    MIA AUCs of the target and of the unlearned model, hence the unlearned model's privleak) are not compared here:
    privleak's orientation is tested on hand-made scores in test_metrics.
    """
    target, retain, unlearned = (evaluated[k].summary for k in ("target", "retain", "unlearned"))
    seen = {k: {m: evaluated[k].summary[m] for m in MARGINS} for k in evaluated}
    assert target["forget_Q_A_Prob"] > 10 * retain["forget_Q_A_Prob"], seen
    assert target["forget_Q_A_Prob"] > 4 * unlearned["forget_Q_A_Prob"], seen
    assert target["forget_Q_A_ROUGE"] > retain["forget_Q_A_ROUGE"] + 0.15, seen
    assert target["extraction_strength"] > retain["extraction_strength"] + 0.1, seen
    assert target["forget_quality"] < 0.05 and retain["forget_quality"] == pytest.approx(1.0), seen
    # the target has memorised the forget answers: they look far more familiar than the holdout ones
    assert target["mia_loss"] > 0.9 and target["privleak"] < -50, seen


def test_rerun_reuses_only_a_matching_fingerprint(
    evaluated, tiny_target, tiny_retain, holdout_file, tmp_path, monkeypatch
):
    base = evaluated["target"].output_dir
    work = tmp_path / "again"
    shutil.copytree(base, work)
    settings = EvalSettings(metrics="all", holdout_file=str(holdout_file), **QUICK)
    calls = []
    monkeypatch.setattr(ev, "_compute", lambda *a, **k: calls.append(a) or ({}, {}))
    retain_logs = evaluated["retain"].eval_path
    again = evaluate(str(tiny_target), work, settings, retain_logs=retain_logs, progress=False, echo=False)
    assert again.reused and not calls and again.summary == evaluated["target"].summary
    # another reference: only the retain-relative metrics are recomputed, from the stored per-item values
    self_ref = evaluate(str(tiny_target), work, settings, self_reference=True, progress=False, echo=False)
    assert self_ref.reused and not calls and self_ref.summary["forget_quality"] == pytest.approx(1.0)
    changed = EvalSettings(metrics="all", holdout_file=settings.holdout_file, **{**QUICK, "max_new_tokens": 8})
    with pytest.raises(StaleResultsError, match="max_new_tokens"):
        evaluate(str(tiny_target), work, changed, no_recompute=True, progress=False, echo=False)
    with pytest.raises(StaleResultsError, match="model weights"):
        evaluate(str(tiny_retain), work, settings, no_recompute=True, progress=False, echo=False)
    evaluate(str(tiny_retain), work, settings, progress=False, echo=False)
    assert len(calls) == 1  # stale results are recomputed, not reused


def test_retain_model_option_evaluates_it_first_and_then_reuses_it(tiny_target, tiny_retain, tmp_path, capsys):
    from hf_unlearn.cli import main

    argv = ["eval", str(tiny_target), "--output-dir", str(tmp_path), "--retain-model", str(tiny_retain)]
    argv += ["--forget-split", "forget01", "--limit", "4", "--max-new-tokens", "4", "--no-progress"]
    argv += ["--metrics", "forget_quality,forget_Q_A_Prob", "--data-source", "bundled"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "forget_quality" in out and "retain model" in out
    retain_meta = json.loads((tmp_path / "retain" / "eval_meta.json").read_text())
    assert json.loads((tmp_path / "retain" / "TOFU_SUMMARY.json").read_text())["forget_quality"] == pytest.approx(1.0)
    assert main(argv) == 0
    assert "retain model results" in capsys.readouterr().out
    assert json.loads((tmp_path / "retain" / "eval_meta.json").read_text())["created"] == retain_meta["created"]


def test_missing_holdout_and_retain_logs_are_reported_absent_with_reasons(tiny_target, tmp_path):
    settings = EvalSettings(metrics="forget_quality,privleak", **QUICK)
    result = evaluate(str(tiny_target), tmp_path, settings, progress=False, echo=False)
    assert result.summary == {"forget_quality": None, "privleak": None}
    stored = json.loads((tmp_path / "TOFU_EVAL.json").read_text())
    assert "holdout" in stored["privleak"]["absent_reason"]
    assert "--retain-logs" in stored["forget_quality"]["absent_reason"]
    assert "absent" in result.table


def test_run_stage_writes_evals_and_comparison(tiny_target, tiny_retain, tiny_unlearned, tmp_path):
    from hf_unlearn.evaluation.stage import evaluate_run
    from hf_unlearn.recipe import load_recipe

    run_dir = tmp_path / "run"
    shutil.copytree(tiny_unlearned, run_dir)
    recipe = load_recipe(
        REPO / "recipes/tiny/forget01_GradDiff_lr0.0005_alpha5_epoch10.yaml",
        {
            "model": str(tiny_target),
            "eval.retain_model": str(tiny_retain),
            "eval.limit": 4,
            "eval.max_new_tokens": 4,
            "eval.metrics": "forget_quality,forget_Q_A_Prob",
        },
    )
    evaluate_run(recipe, run_dir, progress=False)
    evals = run_dir / "evals"
    assert set(json.loads((evals / "TOFU_SUMMARY.json").read_text())) == {"forget_quality", "forget_Q_A_Prob"}
    comparison = json.loads((evals / "comparison.json").read_text())
    assert comparison["retain"]["forget_quality"] == pytest.approx(1.0)
    assert comparison["target"]["forget_Q_A_Prob"] > 10 * comparison["retain"]["forget_Q_A_Prob"], comparison


def test_evaluation_stage_runs_only_for_enabled_unlearning_runs(monkeypatch, tmp_path):
    from hf_unlearn import run as run_module
    from hf_unlearn.evaluation import stage
    from hf_unlearn.recipe import load_recipe

    calls = []
    monkeypatch.setattr(stage, "evaluate_run", lambda recipe, run_dir, **kwargs: calls.append(run_dir))
    unlearn = REPO / "recipes/tiny/forget01_GradDiff_lr0.0005_alpha5_epoch10.yaml"
    run_module.evaluation_stage(load_recipe(unlearn), tmp_path)
    run_module.evaluation_stage(load_recipe(unlearn, {"eval.enabled": False}), tmp_path)
    run_module.evaluation_stage(load_recipe(REPO / "recipes/tiny/tofu_tiny-llama_full.yaml"), tmp_path)
    monkeypatch.setenv("RANK", "1")
    run_module.evaluation_stage(load_recipe(unlearn), tmp_path)
    assert calls == [tmp_path]


def test_bad_inputs_fail_clearly(tmp_path):
    from hf_unlearn.recipe import RecipeError, load_recipe

    with pytest.raises(ev.EvalInputError, match="unknown metric"):
        EvalSettings(metrics="forget_prob")
    with pytest.raises(ev.EvalInputError, match="forget split"):
        EvalSettings(forget_split="forget02")
    with pytest.raises(ev.EvalInputError, match="retain logs"):
        ev.read_retain_logs(tmp_path / "nothing.json")
    with pytest.raises(RecipeError, match="eval.retain_logs"):
        load_recipe(
            REPO / "recipes/tiny/forget01_GradDiff_lr0.0005_alpha5_epoch10.yaml",
            {"eval.retain_logs": "a.json", "eval.retain_model": "b"},
        )
