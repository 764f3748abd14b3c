"""Checkpoint selection: which evaluated point of a training run to keep, by a rule stated in the recipe.

Unlearning trades forgetting against utility at every step, so the last step is rarely the one to publish. The
during-training evaluation logs a trajectory (one entry per evaluation: step, epoch, metrics); a rule picks one
point of it, and the reason is written down with it (run_info.json, the card). Pure functions: no torch.

Rules:
- `max_forget_quality`: the highest forget quality among the points with model utility >= `min_utility`;
- `utility_ratio`: the same with the bound `min_utility_ratio` x the starting model's utility (MUSE's
  utility-preservation bound: unlearning may cost at most a stated fraction of the utility);
- `pareto_knee`: among the points no other point beats on both forget quality and utility, the one nearest the
  ideal corner once both axes are scaled to [0, 1] (forget quality on a log10 scale: it is a p-value).
Ties go to the earliest point (fewer steps, less damage).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

RULES = ("max_forget_quality", "utility_ratio", "pareto_knee")
KEEP = ("best", "last")
#: Prefix of the during-training metrics in the Trainer's log history (as the Trainer names evaluation metrics).
LOG_PREFIX = "eval_"
#: The metrics each rule reads.
RULE_METRICS = {
    "max_forget_quality": ("forget_quality", "model_utility"),
    "utility_ratio": ("forget_quality", "model_utility"),
    "pareto_knee": ("forget_quality", "model_utility"),
}
_FQ_FLOOR = 1e-300


@dataclass(frozen=True)
class Point:
    """One evaluation during training."""

    step: int
    epoch: float | None
    metrics: dict[str, float]


@dataclass(frozen=True)
class Selection:
    point: Point
    reason: str


def trajectory(log_history: list[dict]) -> list[Point]:
    """The evaluated points of a Trainer log history, in step order (the last entry wins for a repeated step)."""
    by_step: dict[int, Point] = {}
    for entry in log_history:
        metrics = {
            key[len(LOG_PREFIX) :]: float(value)
            for key, value in entry.items()
            if key.startswith(LOG_PREFIX) and isinstance(value, (int, float)) and not isinstance(value, bool)
        }
        if metrics:
            by_step[int(entry["step"])] = Point(int(entry["step"]), entry.get("epoch"), metrics)
    return [by_step[s] for s in sorted(by_step)]


def _value(point: Point, key: str) -> float:
    value = point.metrics.get(key)
    return value if value is not None and math.isfinite(value) else -math.inf


def _best_fq(points: list[Point]) -> Point:
    return max(points, key=lambda p: (_value(p, "forget_quality"), -p.step))


def _bounded(points: list[Point], bound: float, bound_text: str) -> Selection:
    allowed = [p for p in points if _value(p, "model_utility") >= bound]
    if not allowed:
        best = max(points, key=lambda p: (_value(p, "model_utility"), -p.step))
        return Selection(
            best,
            f"no evaluation kept {bound_text}; this one has the highest model utility ({_fmt(best, 'model_utility')})",
        )
    best = _best_fq(allowed)
    return Selection(
        best,
        f"highest forget quality ({_fmt(best, 'forget_quality')}) with {bound_text} ({_fmt(best, 'model_utility')})",
    )


def _pareto_knee(points: list[Point]) -> Selection:
    def coords(p: Point) -> tuple[float, float]:
        return math.log10(max(_value(p, "forget_quality"), _FQ_FLOOR)), _value(p, "model_utility")

    xy = {p.step: coords(p) for p in points}
    front = [
        p
        for p in points
        if not any(
            xy[q.step][0] >= xy[p.step][0] and xy[q.step][1] >= xy[p.step][1] and xy[q.step] != xy[p.step]
            for q in points
        )
    ]
    spans = []
    for axis in (0, 1):
        values = [xy[p.step][axis] for p in front]
        spans.append((min(values), max(values) - min(values) or 1.0))

    def distance(p: Point) -> float:
        scaled = [(xy[p.step][a] - spans[a][0]) / spans[a][1] for a in (0, 1)]
        return math.hypot(1 - scaled[0], 1 - scaled[1])

    best = min(front, key=lambda p: (distance(p), p.step))
    return Selection(
        best,
        f"Pareto knee of forget quality and model utility ({_fmt(best, 'forget_quality')}, "
        f"{_fmt(best, 'model_utility')}; {len(front)} of {len(points)} evaluations on the front)",
    )


def select(
    points: list[Point],
    rule: str,
    min_utility: float = 0.0,
    min_utility_ratio: float = 0.9,
    start_utility: float | None = None,
) -> Selection:
    """Apply `rule` to the evaluated points (the starting model's point, step 0, is not a candidate)."""
    candidates = [p for p in points if p.step > 0]
    if not candidates:
        raise ValueError("no evaluation during training to select from")
    if rule == "max_forget_quality":
        return _bounded(candidates, min_utility, f"model utility >= {min_utility:g}")
    if rule == "utility_ratio":
        if start_utility is None or not math.isfinite(start_utility):
            raise ValueError("utility_ratio needs the starting model's model_utility (the evaluation at step 0)")
        bound = min_utility_ratio * start_utility
        return _bounded(
            candidates, bound, f"model utility >= {min_utility_ratio:g} x the starting model's {start_utility:.4g}"
        )
    if rule == "pareto_knee":
        return _pareto_knee(candidates)
    raise ValueError(f"unknown selection rule '{rule}'; allowed: {', '.join(RULES)}")


def start_utility(points: list[Point]) -> float | None:
    """model_utility of the starting model (the step-0 evaluation), if it was evaluated."""
    first = [p for p in points if p.step == 0]
    return first[0].metrics.get("model_utility") if first else None


def describe(point: Point, final_step: int, epochs: float | None, reason: str) -> str:
    """'selected at epoch 3 of 10 because ...' (steps when the run is not counted in whole epochs)."""
    if point.epoch is not None and epochs and float(point.epoch).is_integer():
        where = f"epoch {int(point.epoch)} of {epochs:g}"
    else:
        where = f"step {point.step} of {final_step}"
    return f"selected at {where} because: {reason}"


def _fmt(point: Point, key: str) -> str:
    value = point.metrics.get(key)
    return f"{key} {value:.4g}" if value is not None else f"{key} absent"
