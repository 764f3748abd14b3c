"""What the README says about the robustness suite, checked against the program: the metrics each probe
re-measures, and a row of the scores table for every score column the printed table has."""

import re

from helpers import REPO

from hf_unlearn.benchmarks import get_benchmark
from hf_unlearn.benchmarks.tofu import probe_metrics
from hf_unlearn.evaluation.settings import EvalSettings
from hf_unlearn.robustness.suite import format_table

README = (REPO / "README.md").read_text(encoding="utf-8")


def bullet(start: str) -> str:
    """The README bullet that starts with `start`, up to the next bullet or blank line."""
    text = README[README.index(start) :]
    return re.split(r"\n(?:- |\n)", text[len(start) :], maxsplit=1)[0]


def test_each_probe_bullet_names_the_metrics_it_re_measures():
    tofu = get_benchmark("tofu")
    measured = tofu.robustness_settings(EvalSettings()).metrics
    for probe in tofu.probes:
        named = [n for n in re.findall(r"`(\w+)`", bullet(f"- **`{probe}`**")) if n in measured]
        assert named == list(probe_metrics(measured, probe)), probe


def test_the_scores_table_explains_every_score_the_printed_table_shows():
    empty = {"attacks": {}, "robustness": {}, "before": {}}
    printed = format_table(empty).splitlines()[0].strip("| ").split(" | ")[2:]
    scores = README[README.index("**Scores**") :].split("\n\n")[1]
    explained = [line.split("|")[1].strip() for line in scores.splitlines()[2:]]
    assert printed == explained
