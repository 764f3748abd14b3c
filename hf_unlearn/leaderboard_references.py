"""The leaderboard's reference points: the target (before unlearning) and retain (the ideal) models.

The evaluation stage leaves them in each run folder: `evals/comparison.json` holds both summaries, and
`evals/target/` and `evals/retain/` (when the retain model was evaluated there) hold each model's
benchmark summary and eval_meta.json, which names the model. Runs that share a target or retain model
give the same point, so identical ones are listed once.
"""

from __future__ import annotations

import json
from pathlib import Path

from hf_unlearn.benchmarks import get_benchmark
from hf_unlearn.layout import COMPARISON_FILE, EVAL_META, EVALS_DIR, RETAIN_SUBDIR, TARGET_SUBDIR
from hf_unlearn.leaderboard import Entry, ks_sizes, number

#: Reference kind -> the sub-folder of `evals/` its results are in.
KINDS = {"retain": RETAIN_SUBDIR, "target": TARGET_SUBDIR}


def _json_object(path: Path) -> dict:
    """A JSON object from `path`, or {} when it is missing or unreadable (references are optional extras)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _model_name(run: Entry, kind: str, folder: Path) -> str:
    """The reference model's name: what its eval_meta.json says was evaluated, else what the run points at."""
    model = _json_object(folder / EVAL_META).get("model")
    if not model and kind == "retain":
        logs = _json_object(run.run_dir / EVALS_DIR / EVAL_META).get("retain_logs")
        model = str(Path(logs).parent) if logs and str(logs).endswith(".json") else logs
    if not model and kind == "target":
        model = run.model
    return Path(str(model)).name if model else ""


def run_references(run: Entry) -> list[Entry]:
    """The target and retain points one run's evaluation recorded (none when it recorded neither)."""
    benchmark = get_benchmark(run.benchmark)
    evals = run.run_dir / EVALS_DIR
    comparison = _json_object(evals / COMPARISON_FILE)
    found = []
    for kind, subdir in KINDS.items():
        folder = evals / subdir
        summary = comparison.get(kind)
        if not isinstance(summary, dict):
            summary = _json_object(folder / benchmark.summary_file)
        if not summary:
            continue
        name = _model_name(run, kind, folder)
        split = f" ({run.forget_split})" if run.forget_split else ""
        found.append(
            Entry(
                run_dir=folder if folder.is_dir() else evals,
                run_name=f"{kind} model{': ' + name if name else ''}{split}",
                method=kind,
                hparams={},
                metrics={key: number(summary.get(key)) for key in benchmark.leaderboard_metrics},
                ks_sizes=ks_sizes(folder, run.forget_split, run.benchmark) if folder.is_dir() else run.ks_sizes,
                forget_split=run.forget_split,
                reference=kind,
                benchmark=run.benchmark,
            )
        )
    return found


def collect_references(runs: list[Entry]) -> list[Entry]:
    """Every distinct reference point of the runs: retain models first, then target models, each in run order."""
    found = [ref for run in runs for ref in run_references(run)]
    out: list[Entry] = []
    seen: set = set()
    for ref in sorted(found, key=lambda r: list(KINDS).index(r.reference)):  # stable: run order within a kind
        key = (ref.run_name, tuple(sorted(ref.metrics.items())))
        if key not in seen:
            seen.add(key)
            out.append(ref)
    return out
