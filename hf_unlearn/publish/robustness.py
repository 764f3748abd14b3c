"""The card's "Robustness" section and the export's copy of the suite's results (`ROBUSTNESS.json`), without the
local paths the run folder's copy holds."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from hf_unlearn.layout import RELEARN_PLOT, ROBUSTNESS_DIR, ROBUSTNESS_FILE
from hf_unlearn.publish.results import format_value

#: settings shown in the card's sentence about each attack, in order
SHOWN_SETTINGS = {
    "relearn": ("steps", "epochs", "learning_rate", "effective_batch_size", "n_samples", "adapter", "optim", "seed"),
    "quantize": ("bits", "quant_type", "compute_dtype", "library"),
}


def _name(value) -> str | None:
    return Path(str(value)).name if value else None


def portable(result: dict) -> dict:
    """The results with model folders reduced to their names and the relearned models' folders dropped."""
    out = json.loads(json.dumps(result))
    out["model"], out["retain_model"] = _name(out.get("model")), _name(out.get("retain_model"))
    for record in out.get("attacks", {}).values():
        for run in (record.get("extra", {}).get("runs") or {}).values():
            run.pop("output_dir", None)
            run["model"] = _name(run.get("model"))
        change = record.get("extra", {}).get("code_change")
        if change:
            change["original_model"] = _name(change.get("original_model"))
    settings = out.get("settings") or {}
    for key in ("data_source", "holdout_file", "tokenizer", "gibberish_model"):
        if settings.get(key) and Path(str(settings[key])).is_absolute():
            settings[key] = _name(settings[key])
    return out


def export_robustness(run_path: Path, result: dict | None, staging: Path) -> str | None:
    """Write the portable results and the recovery plot into the export; returns the plot's name, if any."""
    if not result:
        return None
    (staging / ROBUSTNESS_FILE).write_text(json.dumps(portable(result), indent=2) + "\n", encoding="utf-8")
    source = relearn_plot(run_path, result)
    if source is None:
        return None
    shutil.copy2(source, staging / RELEARN_PLOT)
    return RELEARN_PLOT


def relearn_plot(run_path: Path, result: dict | None) -> Path | None:
    """The recovery-curve plot the relearning attack wrote, when it did."""
    plot = ((result or {}).get("attacks", {}).get("relearn", {}).get("extra") or {}).get("plot")
    source = run_path / ROBUSTNESS_DIR / plot if plot else None
    return source if source is not None and source.is_file() else None


def card_section(run_path: Path, result: dict | None) -> dict | None:
    """The template's `robustness` variable: the attacks with their settings, a table per knowledge metric, the
    plot (copied into the export by `export_robustness`)."""
    if not result:
        return None
    plot_file = RELEARN_PLOT if relearn_plot(run_path, result) else None
    attacks = result.get("attacks", {})
    rows = []
    for key, scores in result.get("robustness", {}).items():
        row = {"metric": key, "before": format_value(result.get("before", {}).get(key))}
        row["after"] = [format_value(attacks[a]["metrics"].get(key, {}).get("after")) for a in attacks]
        row["scores"] = [format_value(scores.get(s)) for s in ("R", "Q", "HM", "R_sym", "Q_sym")]
        rows.append(row)
    described = []
    for name, record in attacks.items():
        settings = record.get("settings", {})
        shown = SHOWN_SETTINGS.get(name, tuple(k for k, v in settings.items() if isinstance(v, (str, int, float))))
        described.append(
            {"name": name, "settings": ", ".join(f"{k} {settings[k]}" for k in shown if settings.get(k) is not None)}
        )
    change = (attacks.get("quantize", {}).get("extra") or {}).get("code_change")
    return {
        "attacks": described,
        "columns": list(attacks),
        "rows": rows,
        "plot_file": plot_file,
        "nf4_changed": format_value(change.get("nf4_changed_fraction")) if change else None,
        "changed": format_value(change.get("changed_fraction")) if change else None,
    }
