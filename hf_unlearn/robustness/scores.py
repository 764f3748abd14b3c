"""Robustness scores: how much knowledge an attack brought back, as open-unlearning's meta-evaluation defines it.

Every score reads a metric oriented so that higher means more forget-set knowledge (`orient`).

* Relearning, R = min(delta_control / delta_model, 1) with delta = after - before: the retain model (the control)
  gains what honest learning from scratch gives; an unlearned model that gains more was hiding knowledge.
  R = 1 when the model gains no more than max(delta_control, 0); a negative control gain gives 0.
* Quantization, Q = min(before / after, 1): only a rise of the knowledge metric is penalised; Q = 1 when the
  metric does not rise (both 0 included). For a metric mapped with -x (negative values) the ratio is taken on
  magnitudes, |after| / |before|, so a loss that halves gives Q = 0.5.
* The symmetric variants penalise both directions (a drop after quantization, a relearning gain below the
  control's): Q_sym = 1 - clip(|after - before| / (|before| + |after| + eps), 0, 1),
  R_sym = 1 - clip(|delta_model - delta_control| / (|delta_model| + |delta_control| + eps), 0, 1).
* robustness = the harmonic mean of the mean R and the mean Q over models (0 when both are 0).

A metric without a value (None) is skipped; the means report how many models they used.
"""

from __future__ import annotations

from collections.abc import Iterable

from hf_unlearn.benchmarks.base import KnowledgeMetric

EPS = 1e-10


def _clip(x: float, low: float = 0.0, high: float = 1.0) -> float:
    return min(max(x, low), high)


def orient(value: float | None, metric: KnowledgeMetric) -> float | None:
    """The metric's value with higher = more knowledge: `1 - x` for a bounded score pointing the other way,
    `-x` for an unbounded one."""
    if value is None or metric.higher_is_knowledge:
        return value
    return 1.0 - value if metric.bounded else -value


def relearn_score(before: float, after: float, control_before: float, control_after: float) -> float:
    """R: the share of the model's relearning gain that the control's gain explains."""
    delta_model, delta_control = after - before, control_after - control_before
    if delta_model <= max(delta_control, 0.0):
        return 1.0
    return _clip(delta_control / delta_model)


def quantize_score(before: float, after: float) -> float:
    """Q: 1 unless quantization raised the knowledge metric, then before / after."""
    if after <= before:
        return 1.0
    if before < 0:  # an unbounded metric mapped with -x (a loss): the ratio of magnitudes, |after| / |before|
        return _clip(after / before) if after < 0 else 0.0
    return _clip(before / after)


def relearn_score_sym(before: float, after: float, control_before: float, control_after: float) -> float:
    """R_sym: 1 when the model relearns exactly as much as the control, lower for more or less."""
    delta_model, delta_control = after - before, control_after - control_before
    return 1.0 - _clip(abs(delta_model - delta_control) / (abs(delta_model) + abs(delta_control) + EPS))


def quantize_score_sym(before: float, after: float) -> float:
    """Q_sym: 1 when quantization leaves the metric unchanged, lower for a rise or a drop."""
    return 1.0 - _clip(abs(after - before) / (abs(before) + abs(after) + EPS))


def harmonic_mean(a: float | None, b: float | None) -> float | None:
    """2ab / (a + b); 0 when both are 0, None when either is missing."""
    if a is None or b is None:
        return None
    return 0.0 if a + b == 0 else 2 * a * b / (a + b)


def mean_score(values: Iterable[float | None]) -> tuple[float | None, int]:
    """Mean over the models that have a value, and how many those are."""
    present = [v for v in values if v is not None]
    return (sum(present) / len(present) if present else None), len(present)


def relearn_entry(metric: KnowledgeMetric, before, after, control_before, control_after) -> dict:
    """One metric's record for an attack with a control: raw values, and R / R_sym on the oriented ones."""
    entry = {"before": before, "after": after, "control_before": control_before, "control_after": control_after}
    values = [orient(v, metric) for v in (before, after, control_before, control_after)]
    present = None not in values
    entry["R"] = relearn_score(*values) if present else None
    entry["R_sym"] = relearn_score_sym(*values) if present else None
    return entry


def quantize_entry(metric: KnowledgeMetric, before, after) -> dict:
    """One metric's record for an attack without a control: raw values, and Q / Q_sym on the oriented ones."""
    b, a = orient(before, metric), orient(after, metric)
    present = b is not None and a is not None
    return {
        "before": before,
        "after": after,
        "Q": quantize_score(b, a) if present else None,
        "Q_sym": quantize_score_sym(b, a) if present else None,
    }


def robustness(r_values: Iterable[float | None], q_values: Iterable[float | None]) -> dict:
    """Mean R and Q over models (one metric) and their harmonic mean."""
    r, n_r = mean_score(r_values)
    q, n_q = mean_score(q_values)
    return {"R": r, "Q": q, "robustness": harmonic_mean(r, q), "n_R": n_r, "n_Q": n_q}


def overall(per_metric: dict[str, dict]) -> dict:
    """One number per score for a whole model (a leaderboard row): R and Q averaged over the knowledge metrics
    that have them, and their harmonic mean."""
    r, _ = mean_score(scores.get("R") for scores in per_metric.values())
    q, _ = mean_score(scores.get("Q") for scores in per_metric.values())
    return {"R": r, "Q": q, "HM": harmonic_mean(r, q)}
