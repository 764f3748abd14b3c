"""The loss curves for the card: forget and retain loss over training steps, from trainer_state.json.

matplotlib is a dependency of hf-unlearn, so every card has its plot; should it fail to import (a broken
environment), the card says the plot was left out and why rather than failing the publish.
"""

from __future__ import annotations

import math
from pathlib import Path

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


def write_loss_plot(log_history: list[dict], path: str | Path, title: str = "") -> str | None:
    """Write the PNG and return None, or return why no plot was written (no matplotlib, nothing logged)."""
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

    fig = Figure(figsize=(6.4, 3.6), dpi=100)
    ax = fig.add_subplot()
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
