"""The MUSE demo: the MUSE pipeline on CPU, offline, in a few minutes, on a synthetic News corpus.

Write the synthetic corpus (fictitious people, in MUSE-News's schema) -> finetune the tiny Llama on its `train`
splits (the target) and on the retain splits only (the retrained model) -> WGA-unlearn `raw/forget` -> MUSE
evaluation (KnowMem zero-shot) of the unlearned and target models against the retrained one -> export folder with its card -> a
before/after table of VerbMem and KnowMem.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from hf_unlearn.benchmarks import get_benchmark
from hf_unlearn.data.muse_synthetic import write_synthetic_muse
from hf_unlearn.demo import DEMO_DIR, train_demo_runs
from hf_unlearn.layout import COMPARISON_FILE, EVALS_DIR

TARGET_RECIPE = "muse_tiny-llama_News-full.yaml"
RETAIN_RECIPE = "muse_tiny-llama_News-retain.yaml"
UNLEARN_RECIPE = "News-forget_WGA_lr0.001_beta1_alpha5_epoch12.yaml"
#: The synthetic corpus, inside the demo's output folder.
CORPUS_DIR = "MUSE-News-synthetic"
#: The demo passes when forget VerbMem and KnowMem fall to at most this fraction of the target's ...
MAX_FORGET_RATIO = 0.5
#: ... while retain KnowMem keeps at least this fraction.
MIN_RETAIN_RATIO = 0.5
#: The tiny model cannot learn in context: KnowMem asks it zero-shot (the recipes say so too; kept when a user
#: points the demo at other recipes' settings).
ZERO_SHOT = {"eval.icl_shots": 0}
SHOWN = ("forget_verbmem_ROUGE", "forget_knowmem_ROUGE", "retain_knowmem_ROUGE", "privleak", "extraction_strength")


@dataclass
class MuseDemoResult:
    data_dir: Path
    target_dir: Path
    retain_dir: Path
    unlearned_dir: Path

    def _read(self, path: Path) -> dict:
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}

    @property
    def summary(self) -> dict:
        """The unlearned model's MUSE summary."""
        return self._read(self.unlearned_dir / EVALS_DIR / get_benchmark("muse").summary_file)

    @property
    def target_summary(self) -> dict:
        """The target model's summary, evaluated beside the unlearned one (`eval.compare_target`)."""
        return self._read(self.unlearned_dir / EVALS_DIR / COMPARISON_FILE).get("target") or {}

    def ratio(self, key: str) -> float | None:
        before, after = self.target_summary.get(key), self.summary.get(key)
        return after / before if before and after is not None else None

    @property
    def passed(self) -> bool:
        forget = [self.ratio(k) for k in ("forget_verbmem_ROUGE", "forget_knowmem_ROUGE")]
        retain = self.ratio("retain_knowmem_ROUGE")
        return all(r is not None and r <= MAX_FORGET_RATIO for r in forget) and (retain or 0.0) >= MIN_RETAIN_RATIO


def format_table(result: MuseDemoResult) -> str:
    def cell(value) -> str:
        return "n/a" if value is None else f"{value:.3f}"

    lines = ["| metric | target | unlearned | unlearned / target |", "|---|---|---|---|"]
    for key in SHOWN:
        before, after = result.target_summary.get(key), result.summary.get(key)
        lines.append(f"| {key} | {cell(before)} | {cell(after)} | {cell(result.ratio(key))} |")
    lines.append(
        f"\nwant: forget VerbMem and KnowMem ratios <= {MAX_FORGET_RATIO}, retain KnowMem ratio >= {MIN_RETAIN_RATIO}"
    )
    return "\n".join(lines)


def run_muse_demo(
    output_dir: str | Path = DEMO_DIR,
    target_overrides: dict | None = None,
    unlearn_overrides: dict | None = None,
    overwrite: bool = False,
) -> MuseDemoResult:
    out = Path(output_dir)
    data_dir = write_synthetic_muse(out / CORPUS_DIR, "news")
    data = {"data.source": str(data_dir)}
    target_dir, retain_dir, _, unlearned_dir = train_demo_runs(
        out,
        (TARGET_RECIPE, RETAIN_RECIPE, UNLEARN_RECIPE),
        {**data, **(target_overrides or {})},
        {**data, **ZERO_SHOT, **(unlearn_overrides or {})},
        overwrite,
    )
    return MuseDemoResult(data_dir, target_dir, retain_dir, unlearned_dir)
