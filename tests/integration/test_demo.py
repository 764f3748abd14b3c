"""The embedded default end to end (a smaller setting), and its acceptance rule on hand-made probabilities."""

from pathlib import Path

import pytest
from conftest import small_target_overrides
from helpers.export_paths import absolute_paths

from hf_unlearn.demo import MAX_FORGET_RATIO, MIN_RETAIN_RATIO, DemoResult, format_table, run_demo

#: Wide-margin bounds for the trained test (seen: forget ratio 0.02, retain ratio 0.87-1.2): unlearning clearly
#: lowered the forget probability, and the retain probability stayed well above half the target's.
FORGETS, KEEPS = 0.3, 0.5
SMALL_UNLEARN = {"data.retain_limit": 40, "eval.max_new_tokens": 32, "eval.limit": 40}


def test_demo_forgets_and_keeps(demo_dir, tiny_dir, tiny_target, tiny_retain, capsys):
    """Wide margins only: the tiny models follow another trajectory on another CPU, so the demo's own acceptance
    (forget <= 0.5, retain >= 0.8 of the target's) is not asserted on this smaller setting; its rule is tested below."""
    result = run_demo(demo_dir, target_overrides=small_target_overrides(tiny_dir), unlearn_overrides=SMALL_UNLEARN)
    # the session's target and retain runs were reused, not retrained
    assert (result.target_dir, result.retain_dir) == (tiny_target, tiny_retain)
    reused = capsys.readouterr().out
    table = format_table(result)
    with capsys.disabled():
        print(table)
    p = result.probabilities
    assert p["target"]["forget"] > 0.2, "the target did not learn the forget set"
    assert result.forget_ratio < FORGETS, table
    assert result.retain_ratio > KEEPS, table
    assert (result.unlearned_dir / "model.safetensors").exists()
    assert "reusing the finished run" in reused
    summary = result.summary  # evaluated against the retain model: forget quality is a number
    assert summary is not None and summary["forget_quality"] is not None
    assert 0.0 <= summary["model_utility"] <= 1.0
    assert (result.unlearned_dir / "export" / "README.md").is_file()
    # no path of this machine in what would be published (a real TOFU evaluation's absent reasons included)
    assert absolute_paths(result.unlearned_dir / "export") == []


@pytest.mark.parametrize(
    ("unlearned", "passed"),
    [
        ({"forget": 0.25, "retain": 0.4}, True),  # ratios 0.5 and 0.8: both bounds included
        ({"forget": 0.26, "retain": 0.5}, False),  # forget ratio 0.52
        ({"forget": 0.1, "retain": 0.39}, False),  # retain ratio 0.78
        ({"forget": 0.0, "retain": 0.6}, True),  # retain above the target's is fine
    ],
)
def test_acceptance_rule(unlearned, passed):
    target = {"forget": 0.5, "retain": 0.5}
    result = DemoResult(Path("t"), Path("r"), Path("u"), {"target": target, "unlearned": unlearned})
    assert result.forget_ratio == pytest.approx(unlearned["forget"] / 0.5)
    assert result.retain_ratio == pytest.approx(unlearned["retain"] / 0.5)
    assert result.passed is passed
    assert (MAX_FORGET_RATIO, MIN_RETAIN_RATIO) == (0.5, 0.8)
    assert f"want <= {MAX_FORGET_RATIO}" in format_table(result)
