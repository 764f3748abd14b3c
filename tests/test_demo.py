"""The embedded default end to end (a smaller setting): the acceptance ratios hold, and finished runs are reused."""

from conftest import small_target_overrides

from hf_unlearn.demo import MAX_FORGET_RATIO, MIN_RETAIN_RATIO, format_table, run_demo

SMALL_UNLEARN = {"data.retain_limit": 40, "eval.max_new_tokens": 32, "eval.limit": 40}


def test_demo_forgets_and_keeps(demo_dir, tiny_dir, tiny_target, tiny_retain, capsys):
    result = run_demo(demo_dir, target_overrides=small_target_overrides(tiny_dir), unlearn_overrides=SMALL_UNLEARN)
    # the session's target and retain runs were reused, not retrained
    assert (result.target_dir, result.retain_dir) == (tiny_target, tiny_retain)
    print(format_table(result))
    p = result.probabilities
    assert p["target"]["forget"] > 0.2, "the target did not learn the forget set"
    assert result.forget_ratio <= MAX_FORGET_RATIO, format_table(result)
    assert result.retain_ratio >= MIN_RETAIN_RATIO, format_table(result)
    assert result.passed
    assert (result.unlearned_dir / "model.safetensors").exists()
    assert "reusing the finished run" in capsys.readouterr().out
    summary = result.summary  # evaluated against the retain model: forget quality is a number
    assert summary is not None and summary["forget_quality"] is not None
    assert 0.0 <= summary["model_utility"] <= 1.0
    assert (result.unlearned_dir / "export" / "README.md").is_file()
