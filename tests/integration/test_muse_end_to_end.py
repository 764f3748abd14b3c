"""MUSE end to end on the synthetic News corpus (the `hf-unlearn demo --benchmark muse` path): the tiny target and
retrained models are finetuned on it, WGA unlearns `raw/forget`, the MUSE engine evaluates; the run folder has
open-unlearning's files, the card and the leaderboard render, verbatim memorisation and forget knowledge fall while
retain knowledge stays. The margins are wide: measured with 1 and 2 threads, AVX2 kernels and another corpus seed,
the unlearned / target ratios were <= 0.2 (forget VerbMem, KnowMem, extraction strength) and 0.71-1.25 (retain
KnowMem)."""

from __future__ import annotations

import json

import pytest

from hf_unlearn.demo_muse import run_muse_demo
from hf_unlearn.leaderboard import collect, plot_series, sort_entries, to_markdown


@pytest.fixture(scope="module")
def muse_run(tmp_path_factory, tiny_dir):
    return run_muse_demo(tmp_path_factory.mktemp("muse_demo"), target_overrides={"model": str(tiny_dir)})


def test_run_folder_holds_open_unlearnings_files(muse_run):
    evals = muse_run.unlearned_dir / "evals"
    for name in ("MUSE_EVAL.json", "MUSE_SUMMARY.json", "eval_meta.json", "comparison.json"):
        assert (evals / name).is_file(), name
    summary = json.loads((evals / "MUSE_SUMMARY.json").read_text())
    assert {"forget_verbmem_ROUGE", "forget_knowmem_ROUGE", "retain_knowmem_ROUGE"} <= set(summary)
    assert muse_run.unlearned_dir.name.startswith("News-forget_WGA_")
    assert (muse_run.unlearned_dir / "export" / "README.md").is_file()


def test_verbatim_memorisation_falls(muse_run):
    target, after = muse_run.target_summary, muse_run.summary
    assert target["forget_verbmem_ROUGE"] > 0.2, "the tiny target memorised its forget articles"
    assert target["extraction_strength"] > 0.4
    assert after["forget_verbmem_ROUGE"] < 0.5 * target["forget_verbmem_ROUGE"]
    assert after["extraction_strength"] < 0.5 * target["extraction_strength"]


def test_forget_knowledge_falls_and_retain_knowledge_stays(muse_run):
    """Zero-shot KnowMem (`eval.icl_shots: 0`): the target answers both sides' questions; the unlearned model no
    longer answers the forget ones and still answers the retain ones (people the retain loss never saw)."""
    target, after = muse_run.target_summary, muse_run.summary
    assert target["forget_knowmem_ROUGE"] > 0.4, "the tiny target learnt its forget facts"
    assert target["retain_knowmem_ROUGE"] > 0.3, "the tiny target learnt its retain facts"
    assert after["forget_knowmem_ROUGE"] < 0.5 * target["forget_knowmem_ROUGE"]
    assert after["retain_knowmem_ROUGE"] > 0.5 * target["retain_knowmem_ROUGE"]
    assert muse_run.passed


def test_card_names_corpus_metrics_and_terms(muse_run):
    card = (muse_run.unlearned_dir / "export" / "README.md").read_text()
    assert "MUSE" in card and "muse-bench/MUSE-News" in card and "`raw/forget`" in card
    assert "Forget VerbMem (ROUGE-L F1)" in card and "Retain KnowMem (ROUGE-L F1)" in card
    assert "What the metrics measure" in card and "Dataset terms" in card and "retrained" in card


def test_leaderboard_reads_muse_summaries(muse_run, tmp_path):
    entries = sort_entries(collect([muse_run.unlearned_dir], "muse"), "forget_verbmem_ROUGE", "muse")
    table = to_markdown(entries, "forget_verbmem_ROUGE")
    assert "| forget_verbmem_ROUGE | forget_knowmem_ROUGE | retain_knowmem_ROUGE |" in table
    assert entries[0].run_name in table and "forget_verbmem_ROUGE, lowest first" in table
    series = plot_series(entries)
    assert series and series[0]["y"] == [muse_run.summary["retain_knowmem_ROUGE"]]
