"""The loss curves for the card: forget and retain loss over training steps, from trainer_state.json.

matplotlib is a dependency of hf-unlearn, so every card has its plot; should it fail to import (a broken
environment), the card says the plot was left out and why rather than failing the publish.
"""

from __future__ import annotations

import math
from pathlib import Path

from hf_unlearn.selection import trajectory

#: log_history keys worth plotting, in legend order, with their labels.
SERIES = {
    "forget_nll": "forget NLL (rises as the model forgets)",
    "retain_loss": "retain loss",
    "nll": "training NLL",
}


def loss_series(log_history: list[dict]) -> dict[str, tuple[list[int], list[float]]]:
    """{label: (steps, values)} for every known loss key logged at least once; the training-summary entry and
    non-finite values are skipped. A finetune run logs only `loss`, which is then plotted as the training NLL."""
    out: dict[str, tuple[list[int], list[float]]] = {}
    keys = [k for k in SERIES if any(k in entry for entry in log_history)]
    if not keys and any("loss" in entry for entry in log_history):
        keys = ["loss"]
    for key in keys:
        steps, values = [], []
        for entry in log_history:
            value = entry.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                steps.append(int(entry.get("step", len(steps) + 1)))
                values.append(float(value))
        if values:
            out[SERIES.get(key, "training loss")] = (steps, values)
    return out


def write_loss_plot(
    log_history: list[dict], path: str | Path, title: str = "", selected_step: int | None = None
) -> str | None:
    """Write the PNG and return None, or return why no plot was written (no matplotlib, nothing logged). Metrics
    evaluated during training get a panel of their own beside the losses, the selected checkpoint marked."""
    series = loss_series(log_history)
    if not series:
        return "no losses were logged during training (trainer_state.json has none)"
    try:
        import matplotlib

        matplotlib.use("Agg", force=True)
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator
    except ImportError as err:
        return f"matplotlib, a dependency of hf-unlearn, could not be imported ({err}); reinstall hf-unlearn"

    points = trajectory(log_history)
    fig = Figure(figsize=(11.5 if points else 6.4, 3.6), dpi=100)
    ax = fig.add_subplot(1, 2, 1) if points else fig.add_subplot()
    if points:
        _eval_panel(fig.add_subplot(1, 2, 2), points, selected_step)
    for label, (steps, values) in series.items():
        ax.plot(steps, values, marker="o" if len(steps) < 30 else None, markersize=3, label=label)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss")
    if title:
        ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(str(path), format="png")
    return None


def _eval_panel(ax, points, selected_step: int | None) -> None:
    """Every metric evaluated during training over the steps; forget quality (a p-value) as log10 on its own axis."""
    names = sorted({name for p in points for name in p.metrics})
    fq_ax = ax.twinx() if "forget_quality" in names else None
    for name in names:
        pts = [(p.step, p.metrics[name]) for p in points if name in p.metrics and math.isfinite(p.metrics[name])]
        if name == "forget_quality":
            pts = [(s, math.log10(max(v, 1e-300))) for s, v in pts]
            fq_ax.plot(
                [s for s, _ in pts],
                [v for _, v in pts],
                color="black",
                linestyle="--",
                marker="s",
                markersize=3,
                label="log10 forget quality",
            )
            continue
        ax.plot([s for s, _ in pts], [v for _, v in pts], marker="o", markersize=3, label=name)
    if selected_step is not None:
        ax.axvline(selected_step, color="red", alpha=0.5, label=f"selected (step {selected_step})")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("metric")
    ax.grid(alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    if fq_ax is not None:
        fq_ax.set_ylabel("log10 forget quality")
        more = fq_ax.get_legend_handles_labels()
        handles, labels = handles + more[0], labels + more[1]
    ax.legend(handles, labels, fontsize=7)
