"""Run the chosen attacks on one unlearned model and write `ROBUSTNESS.json` and a table.

The un-attacked model (and the retain model, the control of attacks that also teach) is measured once with the
benchmark's robustness settings; every attack starts from that shared "before". The aggregate per metric is
open-unlearning's robustness: the harmonic mean of R (relearning) and Q (quantization), with the symmetric
variant beside it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from tqdm.auto import tqdm

from hf_unlearn.benchmarks.base import Benchmark
from hf_unlearn.errors import UserError
from hf_unlearn.layout import ROBUSTNESS_FILE, ROBUSTNESS_TABLE
from hf_unlearn.robustness.attacks import ATTACKS, needs_control, parse_attacks
from hf_unlearn.robustness.context import AttackContext
from hf_unlearn.robustness.measure import knowledge_values, measure
from hf_unlearn.robustness.scores import harmonic_mean

RESULT_FILE = ROBUSTNESS_FILE
SCORES = ("R", "Q", "R_sym", "Q_sym")
#: open-unlearning's relearning seed: the protocol's, not the attacked run's
DEFAULT_SEED = 42


def check_request(
    benchmark: Benchmark,
    attacks: list[str],
    retain_model: str | None,
    options: dict,
    keys: tuple[str, str, str] = ("--attacks", "--retain-model", "--attack-option"),
) -> None:
    """Everything checkable before a model loads: the benchmark has forget metrics, the names are attacks, the
    control is there for attacks that need it, options go to chosen attacks. `keys` name the settings in errors."""
    if not benchmark.knowledge_metrics:
        raise UserError(f"attack: the {benchmark.title} benchmark has no forget metrics to re-measure")
    parse_attacks(attacks, keys[0])
    for name in attacks:
        if needs_control(ATTACKS[name]) and not retain_model:
            raise UserError(f"{keys[1]}: the {name} attack needs the retain model as its control")
    for name in attacks:
        check_options = getattr(ATTACKS[name], "check_options", None)
        if check_options is not None:
            check_options(options.get(name) or {})
    for name in options:
        if name not in attacks:
            raise UserError(f"{keys[2]}: '{name}' is not among the chosen attacks ({', '.join(attacks)})")


def aggregate(benchmark: Benchmark, records: dict) -> dict:
    """Per knowledge metric: R and Q of whichever attacks define them, and HM(R, Q) (plain and symmetric)."""
    out = {}
    for metric in benchmark.knowledge_metrics:
        found: dict = {}
        for record in records.values():
            for score in SCORES:
                value = record["metrics"].get(metric.key, {}).get(score)
                if value is not None and score not in found:
                    found[score] = value
        found["HM"] = harmonic_mean(found.get("R"), found.get("Q"))
        found["HM_sym"] = harmonic_mean(found.get("R_sym"), found.get("Q_sym"))
        out[metric.key] = found
    return out


def format_table(result: dict) -> str:
    """A markdown table: per metric, before and after each attack, and the scores; below it, what attacks found
    beside the metrics (their `notes`)."""
    attacks = list(result["attacks"])
    head = ["metric", "before"] + [f"{a} after" for a in attacks] + ["R", "Q", "HM", "R_sym", "Q_sym", "HM_sym"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for key, scores in result["robustness"].items():
        row = [key, _fmt(result["before"].get(key))]
        row += [_fmt(result["attacks"][a]["metrics"].get(key, {}).get("after")) for a in attacks]
        row += [_fmt(scores.get(s)) for s in ("R", "Q", "HM", "R_sym", "Q_sym", "HM_sym")]
        lines.append("| " + " | ".join(row) + " |")
    notes = []
    for name in attacks:
        describe = getattr(ATTACKS.get(name), "notes", None)
        notes += describe(result["attacks"][name]["extra"]) if describe else []
    return "\n".join(lines + ([""] + notes if notes else []))


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.4f}"


def run_suite(
    benchmark: Benchmark,
    model: str,
    attacks: list[str],
    output_dir: str | Path,
    settings,
    retain_model: str | None = None,
    options: dict | None = None,
    seed: int = DEFAULT_SEED,
    progress: bool = True,
) -> dict:
    """Measure, attack, score; write `<output_dir>/ROBUSTNESS.json` (and the table as ROBUSTNESS.md) and return
    the results."""
    options = options or {}
    check_request(benchmark, attacks, retain_model, options)
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    settings = benchmark.robustness_settings(settings)
    control_wanted = any(needs_control(ATTACKS[a]) for a in attacks)
    before = knowledge_values(benchmark, measure(benchmark, model, settings))
    control_before = (
        knowledge_values(benchmark, measure(benchmark, retain_model, settings)) if control_wanted else None
    )
    records, timings = {}, {}
    for name in _progress(attacks, progress):
        ctx = AttackContext(
            benchmark=benchmark,
            settings=settings,
            model=model,
            retain_model=retain_model,
            output_dir=output_dir / name,
            options=dict(options.get(name, {})),
            seed=seed,
            progress=progress,
            before=before,
            control_before=control_before,
        )
        ctx.output_dir.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        records[name] = ATTACKS[name](ctx).to_json()
        timings[name] = round(time.perf_counter() - start, 2)
    result = {
        "benchmark": benchmark.name,
        "model": str(model),
        "retain_model": str(retain_model) if retain_model else None,
        "seed": seed,
        "settings": _jsonable(settings),
        "before": before,
        "control_before": control_before,
        "attacks": records,
        "robustness": aggregate(benchmark, records),
        "wall_time_s": timings,
    }
    (output_dir / RESULT_FILE).write_text(json.dumps(result, indent=2, default=str) + "\n")
    (output_dir / ROBUSTNESS_TABLE).write_text(format_table(result) + "\n")
    return result


def _progress(items: list[str], enabled: bool):
    if not enabled:
        return items
    return tqdm(items, desc="attacks", unit="attack")


def _jsonable(settings) -> dict:
    fields = getattr(settings, "__dataclass_fields__", None)
    return {k: getattr(settings, k) for k in fields} if fields else dict(vars(settings))
