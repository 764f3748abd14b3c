"""Measuring a model for the suite: every "before" and "after" goes through here, so they differ only by the
attack (same settings, dtype, device and attention implementation)."""

from __future__ import annotations

from hf_unlearn.benchmarks.base import Benchmark
from hf_unlearn.models import load_eval_model, load_tokenizer, local_model_dir


def measure(benchmark: Benchmark, model: str, settings) -> dict:
    """The summary of a saved model (Hub id or folder) with the robustness settings."""
    folder = local_model_dir(model)
    loaded = load_eval_model(folder, settings.resolved_dtype(), settings.resolved_device())
    return benchmark.evaluate_in_memory(loaded, load_tokenizer(str(folder), "model"), settings)


def knowledge_values(benchmark: Benchmark, summary: dict) -> dict[str, float | None]:
    """The knowledge metrics and the utility metric of a summary (None where it has no value)."""
    keys = [m.key for m in benchmark.knowledge_metrics]
    if benchmark.utility_metric:
        keys.append(benchmark.utility_metric)
    return {key: summary.get(key) for key in keys}
