"""Leaderboard: collect run summaries, KS-floor flag, sort rules, Markdown/CSV/PNG outputs and the CLI."""

import csv
import io
import json
import math

import pytest
import yaml

from hf_unlearn.cli import main
from hf_unlearn.leaderboard import (
    LeaderboardError,
    collect,
    find_runs,
    ks_floor,
    pareto_ranks,
    plot,
    plot_series,
    rows,
    sort_entries,
    to_csv,
    to_markdown,
)
from hf_unlearn.leaderboard_references import collect_references

FLOOR_400 = 1.0635896769518578e-239  # reference section 4.7: 1.06e-239 for 400 vs 400 items


def _summary(fq, mu, tr=0.6, rouge=0.4, prob=0.3, privleak=-50.0, es=0.1):
    return {
        "extraction_strength": es,
        "forget_Q_A_Prob": prob,
        "forget_Q_A_ROUGE": rouge,
        "forget_quality": fq,
        "forget_truth_ratio": tr,
        "model_utility": mu,
        "privleak": privleak,
    }


def _run(root, name, summary, recipe=None, info=True, eval_items=None):
    run = root / name
    (run / "evals").mkdir(parents=True)
    (run / "evals" / "TOFU_SUMMARY.json").write_text(json.dumps(summary))
    if recipe is not None:
        (run / "recipe.yaml").write_text(yaml.safe_dump(recipe))
        if info:
            (run / "run_info.json").write_text(json.dumps({"run_name": name, "method": recipe["method"]}))
    if eval_items is not None:
        scores = {str(i): {"score": 0.5} for i in range(eval_items)}
        (run / "evals" / "TOFU_EVAL.json").write_text(json.dumps({"forget_truth_ratio": {"value_by_index": scores}}))
    return run


@pytest.fixture
def runs(tmp_path):
    root = tmp_path / "saves" / "unlearn"
    base = {"forget_split": "forget10", "learning_rate": 2e-5, "num_train_epochs": 5}
    _run(
        root,
        "forget10_GradDiff_lr2e-05_alpha5_epoch5",
        _summary(FLOOR_400, 0.49, privleak=90.0),
        {**base, "method": "GradDiff", "alpha": 5, "gamma": 1, "retain_loss_type": "NLL"},
    )
    _run(
        root,
        "forget10_NPO_lr2e-05_beta0.1_alpha5_epoch5",
        _summary(0.02, 0.46, tr=0.7, privleak=-5.0),
        {**base, "method": "NPO", "beta": 0.1, "alpha": 5, "gamma": 1, "retain_loss_type": "NLL"},
    )
    _run(
        root / "nested" / "deeper",
        "forget10_RMU_lr2e-05_s2_alpha1_epoch5",
        _summary(3.15e-15, 0.59, privleak=20.0),
        {**base, "method": "RMU", "steering_coeff": 2, "alpha": 1},
    )
    _run(root, "forget10_SimNPO_lr2e-05_b3.5_a1_d0_g0.125_ep10", _summary(2.47e-203, 0.54, privleak=None))
    _run(root, "forget10_IdkNLL_lr1e-05_alpha2_epoch10", _summary(None, 0.5, privleak=-10.0))
    return tmp_path / "saves"


def test_ks_floor_is_computed_for_the_sample_sizes():
    assert ks_floor(400, 400) == pytest.approx(FLOOR_400, rel=1e-9)
    assert ks_floor(40, 40) == pytest.approx(1.86e-23, rel=1e-2)
    assert ks_floor(200, 200) == pytest.approx(1.94e-119, rel=1e-2)


def test_collect_reads_names_methods_and_hparams(runs):
    entries = {e.run_name: e for e in collect([runs])}
    assert len(entries) == 5
    npo = entries["forget10_NPO_lr2e-05_beta0.1_alpha5_epoch5"]
    assert npo.method == "NPO"
    assert npo.hparams == {
        "learning_rate": 2e-5,
        "num_train_epochs": 5,
        "beta": 0.1,
        "alpha": 5,
        "gamma": 1,
        "retain_loss_type": "NLL",
    }
    simnpo = entries["forget10_SimNPO_lr2e-05_b3.5_a1_d0_g0.125_ep10"]  # no recipe/run_info: from the name
    assert simnpo.method == "SimNPO"
    assert simnpo.hparams == {
        "learning_rate": 2e-5,
        "num_train_epochs": 10,
        "beta": 3.5,
        "alpha": 1,
        "gamma": 0.125,
        "delta": 0,
    }
    assert simnpo.metrics["privleak"] is None


def test_forget_quality_log10_and_floor_flag(runs):
    entries = {e.run_name: e for e in collect([runs])}
    graddiff = entries["forget10_GradDiff_lr2e-05_alpha5_epoch5"]
    assert graddiff.at_ks_floor
    assert graddiff.log10_forget_quality == pytest.approx(math.log10(FLOOR_400))
    assert not entries["forget10_SimNPO_lr2e-05_b3.5_a1_d0_g0.125_ep10"].at_ks_floor
    assert entries["forget10_NPO_lr2e-05_beta0.1_alpha5_epoch5"].log10_forget_quality == pytest.approx(
        math.log10(0.02)
    )
    idknll = entries["forget10_IdkNLL_lr1e-05_alpha2_epoch10"]
    assert idknll.forget_quality is None and idknll.log10_forget_quality is None and not idknll.at_ks_floor


def test_floor_uses_the_eval_file_sample_size(tmp_path):
    run = _run(tmp_path, "forget01_NPO_lr1e-05_beta0.1_alpha1_epoch5", _summary(1.86e-23, 0.5), eval_items=40)
    (entry,) = collect([run])
    assert entry.ks_sizes == (40, 40) and entry.at_ks_floor


def _order(runs, rule):
    return [e.run_name.split("_")[1] for e in sort_entries(collect([runs]), rule)]


def test_sort_rules(runs):
    assert _order(runs, "forget_quality") == ["NPO", "RMU", "SimNPO", "GradDiff", "IdkNLL"]
    assert _order(runs, "model_utility") == ["RMU", "SimNPO", "IdkNLL", "GradDiff", "NPO"]
    assert _order(runs, "privleak") == ["NPO", "IdkNLL", "RMU", "GradDiff", "SimNPO"]
    assert _order(runs, "pareto") == ["NPO", "RMU", "SimNPO", "GradDiff", "IdkNLL"]
    assert _order(runs, "name")[0] == "GradDiff"
    with pytest.raises(LeaderboardError, match="--sort: 'best' is not allowed"):
        sort_entries([], "best")


def test_pareto_fronts(runs):
    entries = sort_entries(collect([runs]), "name")
    ranks = {entries[i].method: r for i, r in pareto_ranks(entries).items()}
    assert ranks == {"NPO": 0, "RMU": 0, "SimNPO": 1, "GradDiff": 2, "IdkNLL": 3}


def test_csv_and_markdown(runs):
    entries = sort_entries(collect([runs]), "forget_quality")
    table = list(csv.DictReader(io.StringIO(to_csv(entries))))
    assert [r["rank"] for r in table] == ["1", "2", "3", "4", "5"]
    graddiff = table[3]
    assert graddiff["method"] == "GradDiff"
    assert float(graddiff["forget_quality"]) == FLOOR_400
    assert graddiff["at_ks_floor"] == "true" and table[0]["at_ks_floor"] == "false"
    assert float(graddiff["log10_forget_quality"]) == pytest.approx(-238.973, abs=1e-3)
    assert graddiff["hparams"] == "lr=2e-05 epochs=5 alpha=5 gamma=1 retain_loss_type=NLL"
    assert table[4]["forget_quality"] == "" and table[2]["privleak"] == ""
    md = to_markdown(entries, "forget_quality").splitlines()
    assert md[0].startswith("| # | run | method | hyper-parameters | forget quality | log10 FQ | model utility")
    assert len([line for line in md if line.startswith("| ")]) == 6
    assert "1.06e-239 \\*" in md[5]
    assert "-238.97" in md[5]
    text = "\n".join(md)
    assert "Sorted by forget quality" in text and "1.06e-239 for n=400, m=400" in text


def test_plot_writes_a_png(runs, tmp_path):
    pytest.importorskip("matplotlib")
    path = plot(collect([runs]), tmp_path / "board.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli(runs, tmp_path, capsys):
    out = tmp_path / "board"
    assert main(["leaderboard", str(runs), "--out", str(out), "--sort", "model_utility", "--min-utility", "0.5"]) == 0
    printed = capsys.readouterr().out
    assert (
        "5 runs found, 2 removed by --min-utility 0.5 (model_utility below it), 3 shown, 0 reference models" in printed
    )
    rows = list(csv.DictReader((out / "leaderboard.csv").open()))
    assert [r["method"] for r in rows] == ["RMU", "SimNPO", "IdkNLL"]
    assert (out / "leaderboard.md").read_text().startswith("| # |")
    assert (out / "leaderboard.png").is_file() or "matplotlib" in printed
    assert main(["leaderboard", str(runs), "--out", str(out), "--top", "1", "--no-plot"]) == 0
    assert len(list(csv.DictReader((out / "leaderboard.csv").open()))) == 1
    assert "5 runs found, 4 beyond --top 1, 1 shown" in capsys.readouterr().out


def test_a_filter_that_hides_every_run_says_so(runs, tmp_path, capsys):
    """`0 runs` alone read as "no runs found": the line says how many were found and how many the filter removed."""
    argv = ["leaderboard", str(runs), "--out", str(tmp_path), "--sort", "pareto", "--min-utility", "0.6", "--no-plot"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "5 runs found, 5 removed by --min-utility 0.6 (model_utility below it), 0 shown" in printed
    assert list(csv.DictReader((tmp_path / "leaderboard.csv").open())) == []


def test_missing_runs_are_user_errors(tmp_path, capsys):
    with pytest.raises(LeaderboardError, match="no such folder"):
        find_runs([tmp_path / "nope"])
    (tmp_path / "empty").mkdir()
    assert main(["leaderboard", str(tmp_path / "empty")]) == 2
    assert "no evals/TOFU_SUMMARY.json in or below" in capsys.readouterr().err


# ---- a run folder as the evaluation stage and `publish --dry-run` leave it: references and the export copy ----------
RETAIN = _summary(1.0, 0.52, tr=0.63, privleak=0.0)
TARGET = _summary(FLOOR_400, 0.55, tr=0.45, privleak=-99.0)


def _write(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


def _published_run(root, name, summary, meta=True):
    """A finished, evaluated run folder with a retain and a target model, and its export folder."""
    recipe = {"method": "NPO", "forget_split": "forget10", "model": "org/tofu_tiny_full", "learning_rate": 1e-5}
    run = _run(root, name, summary, recipe)
    evals = run / "evals"
    _write(evals / "comparison.json", {"target": TARGET, "retain": RETAIN})
    for kind, model, data in (("retain", "saves/finetune/tofu_tiny_retain90", RETAIN), ("target", None, TARGET)):
        _write(evals / kind / "TOFU_SUMMARY.json", data)
        if meta and model:
            _write(evals / kind / "eval_meta.json", {"model": model})
    export = run / "export"
    (export / "evals").mkdir(parents=True)
    for path in evals.glob("*.json"):
        (export / "evals" / path.name).write_text(path.read_text())
    (export / "recipe.yaml").write_text((run / "recipe.yaml").read_text())
    return run


def test_a_run_with_an_export_folder_is_listed_once(tmp_path, capsys):
    run = _published_run(tmp_path / "unlearn", "forget10_NPO_lr1e-05_beta0.1_alpha1_epoch5", _summary(0.01, 0.5))
    assert find_runs([tmp_path / "unlearn"]) == [run]
    assert find_runs([tmp_path]) == [run]
    assert main(["leaderboard", str(tmp_path / "unlearn"), "--out", str(tmp_path / "board"), "--no-plot"]) == 0
    assert "1 runs found, 1 shown, 2 reference models" in capsys.readouterr().out
    names = [r["run"] for r in csv.DictReader((tmp_path / "board" / "leaderboard.csv").open())]
    assert names == [
        "forget10_NPO_lr1e-05_beta0.1_alpha1_epoch5",
        "retain model: tofu_tiny_retain90 (forget10)",
        "target model: tofu_tiny_full (forget10)",
    ]


def test_reference_points_are_read_once_from_the_runs_evals(tmp_path):
    root = tmp_path / "unlearn"
    _published_run(root, "forget10_NPO_lr1e-05_beta0.1_alpha1_epoch5", _summary(0.01, 0.5))
    _published_run(root, "forget10_NPO_lr2e-05_beta0.1_alpha1_epoch5", _summary(0.2, 0.4))
    runs = collect([root])
    refs = collect_references(runs)
    assert [(r.reference, r.run_name) for r in refs] == [
        ("retain", "retain model: tofu_tiny_retain90 (forget10)"),
        ("target", "target model: tofu_tiny_full (forget10)"),
    ]
    retain, target = refs
    assert retain.forget_quality == 1.0 and retain.log10_forget_quality == 0.0
    assert retain.metrics["model_utility"] == 0.52 and retain.metrics["privleak"] == 0.0
    assert target.at_ks_floor and target.metrics["model_utility"] == 0.55
    assert (
        collect_references([collect([_run(tmp_path / "bare", "forget10_GradAscent_lr1e-05_epoch5", RETAIN)])[0]]) == []
    )


def test_references_without_eval_meta_are_named_from_the_run(tmp_path):
    run = _published_run(tmp_path, "forget10_NPO_lr1e-05_beta0.1_alpha1_epoch5", _summary(0.01, 0.5), meta=False)
    (run / "evals" / "eval_meta.json").write_text(json.dumps({"retain_logs": "/logs/tofu_x_retain90/TOFU_EVAL.json"}))
    names = [r.run_name for r in collect_references(collect([run]))]
    assert names == ["retain model: tofu_x_retain90 (forget10)", "target model: tofu_tiny_full (forget10)"]


def test_reference_rows_in_the_table_and_the_plot(tmp_path):
    root = tmp_path / "unlearn"
    _published_run(root, "forget10_NPO_lr1e-05_beta0.1_alpha1_epoch5", _summary(0.01, 0.5))
    runs = collect([root])
    refs = collect_references(runs)
    table = rows(runs, refs)
    assert [(r["rank"], r["reference"], r["method"]) for r in table] == [
        (1, "", "NPO"),
        ("ref", "retain", "retain (reference)"),
        ("ref", "target", "target (reference)"),
    ]
    parsed = list(csv.DictReader(io.StringIO(to_csv(runs, refs))))
    assert [r["reference"] for r in parsed] == ["", "retain", "target"]
    assert [r["rank"] for r in parsed] == ["1", "ref", "ref"]
    md = to_markdown(runs, "forget_quality", refs)
    assert "| ref | *retain model: tofu_tiny_retain90 (forget10)* | retain (reference) |" in md
    assert "ref: reference rows, not ranked" in md
    assert "ref: reference rows" not in to_markdown(runs, "forget_quality")

    series = {s["label"]: s for s in plot_series(runs, refs)}
    assert series["NPO"]["x"] == [pytest.approx(-2.0)] and series["NPO"]["reference"] is None
    retain = series["retain model: tofu_tiny_retain90 (forget10)"]
    assert (retain["marker"], retain["reference"], retain["x"], retain["y"]) == ("*", "retain", [0.0], [0.52])
    target = series["target model: tofu_tiny_full (forget10)"]
    assert target["marker"] == "s" and target["x"] == [pytest.approx(math.log10(FLOOR_400))] and target["y"] == [0.55]
    assert retain["marker"] != target["marker"] != series["NPO"]["marker"]

    pytest.importorskip("matplotlib")
    path = plot(runs, tmp_path / "board.png", refs)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_robustness_columns_appear_for_attacked_runs(runs):
    attacked = runs / "unlearn" / "forget10_NPO_lr2e-05_beta0.1_alpha5_epoch5" / "robustness"
    attacked.mkdir()
    per_metric = {"extraction_strength": {"R": 0.4, "Q": 0.8}, "forget_Q_A_Prob": {"R": 1.0, "Q": None}}
    (attacked / "ROBUSTNESS.json").write_text(json.dumps({"robustness": per_metric}))
    entries = sort_entries(collect([runs]), "name")
    table = {r["run"]: r for r in csv.DictReader(io.StringIO(to_csv(entries)))}
    npo = table["forget10_NPO_lr2e-05_beta0.1_alpha5_epoch5"]
    assert float(npo["robustness_R"]) == pytest.approx(0.7)  # mean over the metrics that have R
    assert float(npo["robustness_Q"]) == pytest.approx(0.8)
    assert float(npo["robustness_HM"]) == pytest.approx(2 * 0.7 * 0.8 / 1.5)
    assert table["forget10_IdkNLL_lr1e-05_alpha2_epoch10"]["robustness_HM"] == ""
    assert to_markdown(entries, "name").splitlines()[0].endswith("| R (relearn) | Q (4-bit) | HM(R, Q) |")
    (attacked / "ROBUSTNESS.json").unlink()
    assert "robustness_HM" not in to_csv(sort_entries(collect([runs]), "name"))
