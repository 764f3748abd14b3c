"""What an evaluation prints: the table, its title and the speed line (the JSON files hold everything)."""

from __future__ import annotations

from hf_unlearn.evaluation.settings import EvalSettings
from hf_unlearn.evaluation.suite import SPECS

UTILITY_COMPONENTS = SPECS["model_utility"].children


def format_value(value) -> str:
    if value is None:
        return "absent"
    if isinstance(value, bool):
        return str(value)
    if value != 0 and abs(value) < 1e-3:
        return f"{value:.3e}"
    return f"{value:.4f}"


def _describe(name: str, entry: dict) -> str:
    text = format_value(entry.get("agg_value"))
    if name == "forget_quality" and entry.get("agg_value") is not None:
        log10 = entry.get("log10_agg_value")
        text += f" (log10 {log10:.2f})" if log10 is not None else ""
        if entry.get("at_ks_floor"):
            text += " [KS floor: fully separated]"
    return text


def render_table(results: dict, top: tuple[str, ...], title: str, retain: dict | None = None) -> str:
    """Top-level metrics (model utility with its 9 components), the retain model alongside when known."""
    names: list[tuple[str, str]] = []
    for name in top:
        names.append((name, name))
        if name == "model_utility":
            names.extend((c, f"  {c}") for c in UTILITY_COMPONENTS if c in results)
    width = max(len(label) for _, label in names)
    header = f"{'metric':<{width}}  {'value':<34}" + ("  retain model" if retain is not None else "")
    lines = [title, header, "-" * len(header)]
    notes: dict[str, list[str]] = {}
    for name, label in names:
        entry = results.get(name, {})
        line = f"{label:<{width}}  {_describe(name, entry):<34}"
        if retain is not None:
            line += "  " + _describe(name, retain.get(name, {}))
        lines.append(line.rstrip())
        if entry.get("absent_reason") and name in top:
            notes.setdefault(entry["absent_reason"], []).append(name)
    if notes:
        lines += ["absent:"] + [f"  {', '.join(metric_names)}: {reason}" for reason, metric_names in notes.items()]
    return "\n".join(lines)


def title(model: str, settings: EvalSettings, sets, reused: bool) -> str:
    sizes = ", ".join(f"{name} {len(rows)}" for name, rows in sets.rows.items())
    if "holdout" in sets.absent:
        sizes += ", holdout absent"
    return f"TOFU evaluation of {model} on {settings.forget_split} ({sizes}){' [reused stored results]' if reused else ''}"


def speed_line(stats: dict) -> str:
    parts = []
    if stats.get("sequences_scored"):
        rate = stats["sequences_scored"] / max(stats["scoring_s"], 1e-9)
        parts.append(f"scored {stats['sequences_scored']} sequences in {stats['scoring_s']:.1f}s ({rate:.1f}/s)")
    if stats.get("prompts_generated"):
        rate = stats["tokens_generated"] / max(stats["generation_s"], 1e-9)
        parts.append(
            f"generated {stats['tokens_generated']} tokens for {stats['prompts_generated']} prompts in "
            f"{stats['generation_s']:.1f}s ({rate:.1f} tokens/s)"
        )
    if stats.get("gradnorm_samples"):
        parts.append(f"GradNorm on {stats['gradnorm_samples']} samples in {stats['gradnorm_s']:.1f}s")
    return "[hf-unlearn] " + "; ".join(parts)
