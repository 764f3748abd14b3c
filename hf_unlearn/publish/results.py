"""Evaluation numbers for the card: the benchmark's metrics, on which dataset config, and the model-index.

Values come only from the evaluation files of the run; a metric that was not computed (missing or null) is left
out of the metadata and shown as "n/a" in the table, never guessed.
"""

from __future__ import annotations

import math

from hf_unlearn.benchmarks import Benchmark

TASK_TYPE = "text-generation"


def _finite(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def collect_metrics(benchmark: Benchmark, summary: dict | None, eval_full: dict | None = None) -> dict[str, float]:
    """{metric key: value} for every catalogued metric with a finite value.

    The summary holds the top-level metrics; per-split numbers such as retain ROUGE only exist as `agg_value`s of
    the full evaluation file, so they are read from there when the summary lacks them.
    """
    out: dict[str, float] = {}
    for metric in benchmark.card_metrics:
        value = _finite((summary or {}).get(metric.key))
        if value is None and isinstance((eval_full or {}).get(metric.key), dict):
            value = _finite(eval_full[metric.key].get("agg_value"))
        if value is not None:
            out[metric.key] = value
    return out


def format_value(value: float | None) -> str:
    """Numbers as a reader wants them: tiny p-values in scientific notation, others to 4 decimals."""
    if value is None:
        return "n/a"
    if value != 0 and abs(value) < 1e-3:
        return f"{value:.3e}"
    return f"{value:.4f}"


def results_table(
    benchmark: Benchmark, metrics: dict, target: dict | None, retain: dict | None, forget_split: str
) -> list[dict]:
    """Rows for the card: label, dataset config, this model's value and, where known, the target's and retain's."""
    rows = []
    for metric in benchmark.card_metrics:
        values = (metrics.get(metric.key), (target or {}).get(metric.key), (retain or {}).get(metric.key))
        if all(v is None for v in values):
            continue
        rows.append(
            {
                "label": metric.label,
                "dataset": metric.dataset.format(forget=forget_split),
                "value": format_value(values[0]),
                "target": format_value(values[1]),
                "retain": format_value(values[2]),
                "goal": metric.goal,
            }
        )
    return rows


def eval_results(
    benchmark: Benchmark,
    metrics: dict[str, float],
    forget_split: str,
    holdout_split: str | None = None,
    dataset_id: str | None = None,
) -> list:
    """`huggingface_hub.EvalResult`s for the model-index: each names its dataset (the run's, `dataset_id`; the
    benchmark's by default), config and split."""
    from huggingface_hub import EvalResult

    results = []
    for metric in benchmark.card_metrics:
        if metric.key not in metrics:
            continue
        config = metric.dataset.format(forget=forget_split)
        args = {"holdout": holdout_split} if metric.key == "privleak" and holdout_split else None
        results.append(
            EvalResult(
                task_type=TASK_TYPE,
                task_name=f"Machine unlearning ({benchmark.title})",
                dataset_type=dataset_id or benchmark.dataset_id,
                dataset_name=f"{benchmark.title} {config}",
                dataset_config=config,
                dataset_split="train",
                dataset_args=args,
                metric_type=metric.metric_type,
                metric_name=metric.label,
                metric_value=metrics[metric.key],
            )
        )
    return results
