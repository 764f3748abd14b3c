"""Benchmarks by name: the one interface (`base.Benchmark`) and its implementations.

Light to import (no torch), so recipe validation can list the benchmark names.
"""

from __future__ import annotations

from hf_unlearn.benchmarks.base import Benchmark, CardMetric, KnowledgeMetric, TrainData
from hf_unlearn.benchmarks.muse import MUSE
from hf_unlearn.benchmarks.tofu import TOFU
from hf_unlearn.benchmarks.wmdp import WMDP

BENCHMARKS: dict[str, Benchmark] = {b.name: b for b in (TOFU(), WMDP(), MUSE())}
DEFAULT_BENCHMARK = "tofu"

__all__ = [
    "BENCHMARKS",
    "DEFAULT_BENCHMARK",
    "Benchmark",
    "CardMetric",
    "KnowledgeMetric",
    "TrainData",
    "get_benchmark",
]


def get_benchmark(name: str) -> Benchmark:
    """The benchmark called `name`; a KeyError whose message names the allowed values otherwise."""
    if name not in BENCHMARKS:
        raise KeyError(f"benchmark: unknown benchmark '{name}'; allowed: {', '.join(sorted(BENCHMARKS))}")
    return BENCHMARKS[name]
