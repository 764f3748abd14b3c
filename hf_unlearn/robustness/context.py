"""What every attack gets, and the shape of what it returns.

An attack is a function `attack(ctx: AttackContext) -> AttackRecord`. The suite builds the context once (the
benchmark, the evaluation settings before and after share, the models) and writes every record into
`ROBUSTNESS.json` under the attack's name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hf_unlearn.benchmarks.base import Benchmark


@dataclass
class AttackContext:
    benchmark: Benchmark
    #: the benchmark's evaluation settings for the knowledge metrics (`benchmark.robustness_settings`)
    settings: Any
    #: the unlearned model (Hub id or folder) and the retain model, the control of attacks that also teach
    model: str
    retain_model: str | None
    #: the attack's own working folder (relearned checkpoints, plots), under the suite's output folder
    output_dir: Path
    #: this attack's options (from `--attack-option` / the recipe's `eval.robustness_options.<attack>`)
    options: dict[str, Any] = field(default_factory=dict)
    seed: int = 42
    progress: bool = True
    #: summaries of the un-attacked models with `settings`, measured once and shared by every attack
    before: dict[str, float | None] = field(default_factory=dict)
    control_before: dict[str, float | None] | None = None


@dataclass
class AttackRecord:
    """One attack's entry in ROBUSTNESS.json."""

    #: everything that decides the numbers (steps, lr, seed, quantization type, library versions, prefix, ...)
    settings: dict[str, Any]
    #: per knowledge metric: {"before", "after", and for attacks with a control "control_before",
    #: "control_after"}, plus the scores the attack defines ("R", "R_sym", "Q", "Q_sym")
    metrics: dict[str, dict[str, float | None]]
    #: attack-specific results (recovery curves over steps, per-layer log-probs, bin-crossing fraction, ...)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"settings": self.settings, "metrics": self.metrics, "extra": self.extra}


Attack = Callable[[AttackContext], AttackRecord]
