"""Collect benchmark summaries of many runs into one table (Markdown + CSV) and a utility-vs-forget-quality plot.

Each run folder holds `evals/<summary file>` (TOFU: `TOFU_SUMMARY.json`, open-unlearning's layout) and, when
hf-unlearn trained it,
`run_info.json` and `recipe.yaml` for the name, method and hyper-parameters. Forget quality is a KS-test p-value
with a floor set by the sample sizes (complete separation of the two truth-ratio samples: 1.06e-239 for 400 vs 400
items); runs at the floor are flagged, since they can't be ranked against each other by forget quality.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from hf_unlearn.benchmarks import DEFAULT_BENCHMARK, Benchmark, get_benchmark
from hf_unlearn.errors import UserError
from hf_unlearn.layout import EVALS_DIR, RECIPE_FILE, ROBUSTNESS_DIR, ROBUSTNESS_FILE, RUN_INFO
from hf_unlearn.methods import METHODS
from hf_unlearn.naming import format_lr, format_number, parse_run_name
from hf_unlearn.robustness.scores import overall

logger = logging.getLogger(__name__)

SORT_RULES = ("forget_quality", "model_utility", "forget_truth_ratio", "privleak", "pareto", "name")
SORT_HELP = {
    "forget_quality": "forget quality, highest first (ties, e.g. at the KS floor, by model utility)",
    "model_utility": "model utility, highest first (ties by forget quality)",
    "forget_truth_ratio": "forget truth ratio, highest first",
    "privleak": "|privleak|, closest to 0 first",
    "pareto": "Pareto front of (log10 forget quality, model utility) first, then the next front, and so on",
    "name": "run name",
}


#: How a benchmark's own ranking rules (`Benchmark.leaderboard_goals`) order a metric: the sort key of a value.
GOAL_KEYS = {"high": lambda v: -v, "low": lambda v: v, "zero": abs}
GOAL_HELP = {"high": "highest first", "low": "lowest first", "zero": "closest to 0 first"}


def sort_rules(benchmark: str = DEFAULT_BENCHMARK) -> tuple[str, ...]:
    """The ranking rules of a benchmark: its own metric goals, or TOFU's rules for one that declares none."""
    goals = get_benchmark(benchmark).leaderboard_goals
    return (*goals, "name") if goals else SORT_RULES


def sort_help(rule: str, benchmark: str = DEFAULT_BENCHMARK) -> str:
    goal = get_benchmark(benchmark).leaderboard_goals.get(rule)
    return f"{rule}, {GOAL_HELP[goal]}" if goal else SORT_HELP[rule]


def utility_key(benchmark: str = DEFAULT_BENCHMARK) -> str:
    """The utility metric of the plot's y axis (TOFU: model utility), which `--min-utility` filters on."""
    return get_benchmark(benchmark).plot_axes[1]


class LeaderboardError(UserError, ValueError):
    """No runs to rank, or a summary file that can't be read."""


@cache
def ks_floor(n: int, m: int) -> float:
    """The smallest two-sample KS p-value possible for sizes n and m: two fully separated samples."""
    import numpy as np
    from scipy.stats import ks_2samp

    return float(ks_2samp(np.arange(n, dtype=float), np.arange(m, dtype=float) + n).pvalue)


@dataclass
class Entry:
    run_dir: Path
    run_name: str
    method: str
    hparams: dict
    metrics: dict
    ks_sizes: tuple[int, int] | None = None
    forget_split: str | None = None
    #: the model the run started from (the recipe's `model`)
    model: str | None = None
    #: "retain" or "target" for a reference point (see leaderboard_references), None for a run
    reference: str | None = None
    benchmark: str = DEFAULT_BENCHMARK

    @property
    def forget_quality(self) -> float | None:
        return self.metrics.get("forget_quality")

    @property
    def log10_forget_quality(self) -> float | None:
        fq = self.forget_quality
        if fq is None:
            return None
        return math.log10(fq) if fq > 0 else -math.inf

    @property
    def floor(self) -> float | None:
        return ks_floor(*self.ks_sizes) if self.ks_sizes else None

    @property
    def at_ks_floor(self) -> bool:
        fq, floor = self.forget_quality, self.floor
        return fq is not None and floor is not None and fq <= floor * (1 + 1e-6)


def _outermost(folders: list[Path]) -> list[Path]:
    """Drop folders inside another one: a run's `export/` folder holds a copy of its `evals/`, not another run."""
    return [f for f in folders if not any(other in f.parents for other in folders)]


def summary_path(benchmark: Benchmark) -> Path:
    """Where a run folder keeps the benchmark's summary."""
    return Path(EVALS_DIR) / benchmark.summary_file


def find_runs(paths: list[str | Path], benchmark: str = DEFAULT_BENCHMARK) -> list[Path]:
    """Run folders: each given folder that has evals/<summary file>, else every such folder below it that is not
    inside another one (each run counts once, not once more for its export folder)."""
    summary = summary_path(get_benchmark(benchmark))
    runs: list[Path] = []
    for path in map(Path, paths):
        if not path.is_dir():
            raise LeaderboardError(f"leaderboard: no such folder {path}")
        if (path / summary).is_file():
            found = [path]
        else:
            found = _outermost(sorted(p.parent.parent for p in path.rglob(summary.name) if p.parent.name == EVALS_DIR))
        if not found:
            raise LeaderboardError(f"leaderboard: no {summary} in or below {path}")
        runs += [r for r in found if r not in runs]
    return runs


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise LeaderboardError(f"leaderboard: cannot read {path}: {err}") from None
    if not isinstance(data, dict):
        raise LeaderboardError(f"leaderboard: {path} does not hold a JSON object")
    return data


def number(value) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def _hparams(method: str, recipe: dict, parsed: dict) -> dict:
    keys = ["learning_rate", "num_train_epochs"]
    spec = METHODS.get(method)
    if spec is not None:
        keys += list(spec.params)
    out = {}
    for key in keys:
        if key in recipe:
            out[key] = recipe[key]
        elif key in parsed:
            out[key] = parsed[key]
    return out


def ks_sizes(eval_dir: Path, forget_split: str | None, benchmark: str = DEFAULT_BENCHMARK) -> tuple[int, int] | None:
    """KS sample sizes: the model's per-item truth ratios in `eval_dir`'s eval file, else the forget split's size."""
    bench = get_benchmark(benchmark)
    eval_file = eval_dir / bench.eval_file
    if eval_file.is_file():
        try:
            scores = json.loads(eval_file.read_text(encoding="utf-8")).get("forget_truth_ratio", {})
            n = len(scores.get("value_by_index") or {})
        except (OSError, json.JSONDecodeError, AttributeError):
            n = 0
        if n:
            return n, n
    size = bench.forget_sizes.get(forget_split or "")
    return (size, size) if size else None


def read_entry(run_dir: str | Path, benchmark: str = DEFAULT_BENCHMARK) -> Entry:
    """One run's row: metrics from the summary; name, method and hyper-parameters from run_info/recipe/the name."""
    run_dir = Path(run_dir)
    bench = get_benchmark(benchmark)
    summary = _read_json(run_dir / summary_path(bench))
    info = _read_json(run_dir / RUN_INFO) if (run_dir / RUN_INFO).is_file() else {}
    recipe: dict = {}
    if (run_dir / RECIPE_FILE).is_file():
        try:
            loaded = yaml.safe_load((run_dir / RECIPE_FILE).read_text(encoding="utf-8"))
            recipe = loaded if isinstance(loaded, dict) else {}
        except yaml.YAMLError:
            logger.warning("leaderboard: %s/%s is not valid YAML; using the run name", run_dir, RECIPE_FILE)
    name = str(info.get("run_name") or run_dir.name)
    try:
        parsed = parse_run_name(name)
    except ValueError:
        parsed = {}
    method = str(info.get("method") or recipe.get("method") or parsed.get("method") or "?")
    forget_split = recipe.get("forget_split") or parsed.get("forget_split")
    metrics = {key: number(summary.get(key)) for key in bench.leaderboard_metrics}
    metrics.update(robustness_metrics(run_dir))
    return Entry(
        run_dir,
        name,
        method,
        _hparams(method, recipe, parsed),
        metrics,
        ks_sizes(run_dir / EVALS_DIR, forget_split, benchmark),
        forget_split,
        recipe.get("model"),
        benchmark=benchmark,
    )


def robustness_metrics(run_dir: Path) -> dict:
    """The robustness columns of an attacked run (none for a run without `robustness/ROBUSTNESS.json`)."""
    path = run_dir / ROBUSTNESS_DIR / ROBUSTNESS_FILE
    if not path.is_file():
        return {}
    scores = overall(_read_json(path).get("robustness") or {})
    return {f"robustness_{key}": scores[key] for key in ("R", "Q", "HM")}


def collect(paths: list[str | Path], benchmark: str = DEFAULT_BENCHMARK) -> list[Entry]:
    return [read_entry(run, benchmark) for run in find_runs(paths, benchmark)]


# ---- ranking ----------------------------------------------------------------------------------------------------
def _desc(value: float | None) -> float:
    """Sort key: larger first, missing last."""
    return -value if value is not None else math.inf


def pareto_ranks(entries: list[Entry]) -> dict[int, int]:
    """Front number (0 = non-dominated) of each entry over (log10 FQ, model utility); entries missing either: last."""
    points = {
        i: (e.log10_forget_quality, e.metrics["model_utility"])
        for i, e in enumerate(entries)
        if e.log10_forget_quality is not None and e.metrics.get("model_utility") is not None
    }
    ranks: dict[int, int] = {}
    remaining = dict(points)
    front = 0
    while remaining:
        current = [
            i
            for i, (fq, mu) in remaining.items()
            if not any(
                (fq2 >= fq and mu2 >= mu) and (fq2 > fq or mu2 > mu) for j, (fq2, mu2) in remaining.items() if j != i
            )
        ]
        for i in current:
            ranks[i] = front
            del remaining[i]
        front += 1
    for i in range(len(entries)):
        ranks.setdefault(i, front)
    return ranks


def sort_entries(
    entries: list[Entry], rule: str = "forget_quality", benchmark: str = DEFAULT_BENCHMARK
) -> list[Entry]:
    """Entries ordered by `rule` (see `sort_rules`); TOFU's ties broken by model utility, forget quality, then
    name; a benchmark's own goals by its utility, then name."""
    allowed = sort_rules(benchmark)
    if rule not in allowed:
        raise LeaderboardError(f"--sort: '{rule}' is not allowed; allowed: {', '.join(allowed)}")
    goals = get_benchmark(benchmark).leaderboard_goals
    if goals:
        return _sort_by_goal(entries, rule, goals, utility_key(benchmark))

    def fq(e: Entry) -> float:
        value = e.log10_forget_quality
        return math.inf if value is None else -value

    def mu(e: Entry) -> float:
        return _desc(e.metrics.get("model_utility"))

    ranks = pareto_ranks(entries) if rule == "pareto" else {}
    index = {id(e): i for i, e in enumerate(entries)}
    keys = {
        "forget_quality": lambda e: (fq(e), mu(e), e.run_name),
        "model_utility": lambda e: (mu(e), fq(e), e.run_name),
        "forget_truth_ratio": lambda e: (_desc(e.metrics.get("forget_truth_ratio")), mu(e), e.run_name),
        "privleak": lambda e: (
            abs(e.metrics["privleak"]) if e.metrics.get("privleak") is not None else math.inf,
            mu(e),
            e.run_name,
        ),
        "pareto": lambda e: (ranks[index[id(e)]], fq(e), mu(e), e.run_name),
        "name": lambda e: (e.run_name,),
    }
    return sorted(entries, key=keys[rule])


def _sort_by_goal(entries: list[Entry], rule: str, goals: dict[str, str], utility: str) -> list[Entry]:
    def by(e: Entry, key: str) -> float:
        value = e.metrics.get(key)
        return math.inf if value is None else GOAL_KEYS[goals[key]](value)

    if rule == "name":
        return sorted(entries, key=lambda e: e.run_name)
    return sorted(entries, key=lambda e: (by(e, rule), by(e, utility) if utility in goals else 0, e.run_name))


# ---- output -----------------------------------------------------------------------------------------------------
COLUMNS = (
    ("rank", "#"),
    ("run", "run"),
    ("method", "method"),
    ("hparams", "hyper-parameters"),
    ("forget_quality", "forget quality"),
    ("log10_forget_quality", "log10 FQ"),
    ("at_ks_floor", "at KS floor"),
    ("model_utility", "model utility"),
    ("forget_truth_ratio", "forget truth ratio"),
    ("privleak", "privleak"),
    ("forget_Q_A_ROUGE", "forget ROUGE-L"),
    ("forget_Q_A_Prob", "forget prob"),
    ("extraction_strength", "extraction strength"),
)
#: shown when a run was attacked (`hf-unlearn attack`): R, Q and HM(R, Q) averaged over the forget metrics
ROBUSTNESS_COLUMNS = (("robustness_R", "R (relearn)"), ("robustness_Q", "Q (4-bit)"), ("robustness_HM", "HM(R, Q)"))
_SHORT = {"learning_rate": "lr", "num_train_epochs": "epochs"}


def _fmt(value, digits: int = 3) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isinf(value):
            return "-inf" if value < 0 else "inf"
        return f"{value:.{digits}g}"
    return str(value)


def format_hparams(hparams: dict) -> str:
    parts = []
    for key, value in hparams.items():
        if key == "learning_rate":
            text = format_lr(value)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            text = format_number(value)
        else:
            text = str(value)
        parts.append(f"{_SHORT.get(key, key)}={text}")
    return " ".join(parts)


def rows(entries: list[Entry], references: list[Entry] = ()) -> list[dict]:
    """Table rows (raw values): the runs ranked in the given order, then the reference rows (rank "ref")."""
    out = []
    numbered = [(rank, e) for rank, e in enumerate(entries, 1)] + [("ref", e) for e in references]
    for rank, e in numbered:
        row = {
            "rank": rank,
            "run": e.run_name,
            "method": f"{e.reference} (reference)" if e.reference else e.method,
            "hparams": format_hparams(e.hparams),
            "log10_forget_quality": e.log10_forget_quality,
            "at_ks_floor": e.at_ks_floor,
            "reference": e.reference or "",
        }
        row.update(e.metrics)
        out.append(row)
    return out


def table_columns(entries: list[Entry]) -> tuple[tuple[str, str], ...]:
    """TOFU's columns; for another benchmark the run columns and that benchmark's `leaderboard_metrics`; the
    robustness columns when a run was attacked."""
    names = {e.benchmark for e in entries} or {DEFAULT_BENCHMARK}
    attacked = any("robustness_HM" in e.metrics for e in entries)
    extra = ROBUSTNESS_COLUMNS if attacked else ()
    if names == {"tofu"}:
        return COLUMNS + extra
    metrics = [key for name in sorted(names) for key in get_benchmark(name).leaderboard_metrics]
    return COLUMNS[:4] + tuple((key, key) for key in dict.fromkeys(metrics)) + extra


def to_csv(entries: list[Entry], references: list[Entry] = ()) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    columns = table_columns([*entries, *references])
    writer.writerow([key for key, _ in columns] + ["run_dir", "reference"])
    for e, row in zip([*entries, *references], rows(entries, references), strict=True):
        values = []
        for key, _ in columns:
            value = row.get(key)
            if isinstance(value, bool):
                values.append("true" if value else "false")
            elif isinstance(value, float):
                values.append(repr(value))
            else:
                values.append("" if value is None else str(value))
        writer.writerow(values + [str(e.run_dir), row["reference"]])
    return buffer.getvalue()


REFERENCE_NOTE = (
    "ref: reference rows, not ranked: the retain model (trained without the forget set, the ideal an unlearned "
    "model should come close to) and the target model (the model before unlearning)."
)


def to_markdown(entries: list[Entry], rule: str, references: list[Entry] = ()) -> str:
    columns = table_columns([*entries, *references])
    header = [title for _, title in columns if _ != "at_ks_floor"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for row in rows(entries, references):
        cells = []
        for key, _ in columns:
            if key == "at_ks_floor":
                continue
            value = row.get(key)
            if key == "log10_forget_quality":
                text = "" if value is None else ("-inf" if math.isinf(value) else f"{value:.2f}")
            else:
                text = _fmt(value)
            if key == "forget_quality" and row["at_ks_floor"]:
                text += " \\*"
            if key == "run" and row["reference"]:
                text = f"*{text}*"
            cells.append(text.replace("|", "\\|") or "–")
        lines.append("| " + " | ".join(cells) + " |")
    floors = sorted({(e.ks_sizes, e.floor) for e in [*entries, *references] if e.at_ks_floor})
    benchmarks = sorted({e.benchmark for e in entries}) or [DEFAULT_BENCHMARK]
    notes = [f"Sorted by {sort_help(rule, benchmarks[0])}."]
    if references:
        notes.append(REFERENCE_NOTE)
    if floors:
        sizes = ", ".join(f"{floor:.3g} for n={n}, m={m}" for (n, m), floor in floors)
        notes.append(
            "\\* at the KS floor: the smallest p-value the two-sample KS test can give for these sample sizes "
            f"({sizes}); the model's and the retain model's truth ratios do not overlap at all, so these runs are "
            "not ranked against each other by forget quality."
        )
    return "\n".join(lines) + "\n\n" + "\n\n".join(notes) + "\n"


#: How each reference kind is drawn: marker, size, face colour.
REFERENCE_STYLE = {"retain": ("*", 220, "gold"), "target": ("s", 70, "white")}


def _axes(entries: list[Entry]) -> tuple[str, str]:
    names = sorted({e.benchmark for e in entries}) or [DEFAULT_BENCHMARK]
    return get_benchmark(names[0]).plot_axes


def plot_series(entries: list[Entry], references: list[Entry] = ()) -> list[dict]:
    """What the plot draws: one series per method (runs), then one per reference point, each with its label,
    marker and points on the benchmark's `plot_axes` (TOFU: log10 forget quality, model utility); points
    without both values are left out."""
    x_key, y_key = _axes([*entries, *references])

    def x_of(e: Entry) -> float | None:
        return e.log10_forget_quality if x_key == "forget_quality" else e.metrics.get(x_key)

    def drawable(e: Entry) -> bool:
        x = x_of(e)
        return x is not None and math.isfinite(x) and e.metrics.get(y_key) is not None

    def xy(group: list[Entry]) -> dict:
        return {"x": [x_of(e) for e in group], "y": [e.metrics[y_key] for e in group]}

    points = [e for e in entries if drawable(e)]
    series = [
        {"label": method, "marker": "o", "size": 28, "color": None, "reference": None, **xy(group)}
        for method in sorted({e.method for e in points})
        for group in [[e for e in points if e.method == method]]
    ]
    for ref in filter(drawable, references):
        marker, size, color = REFERENCE_STYLE[ref.reference]
        series.append(
            {"label": ref.run_name, "marker": marker, "size": size, "color": color, "reference": ref.reference}
            | xy([ref])
        )
    return series


def plot(entries: list[Entry], path: str | Path, references: list[Entry] = ()) -> Path | None:
    """Scatter of model utility against log10 forget quality, one colour per method, the reference models as
    labelled stars (retain) and squares (target)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = plot_series(entries, references)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for s in series:
        if s["reference"]:
            ax.scatter(
                s["x"], s["y"], label=s["label"], marker=s["marker"], s=s["size"], c=s["color"],
                edgecolors="black", linewidths=0.8, zorder=3,
            )  # fmt: skip
            for x, y in zip(s["x"], s["y"], strict=True):
                ax.annotate(s["reference"], (x, y), textcoords="offset points", xytext=(6, 6), fontsize=7)
        else:
            ax.scatter(s["x"], s["y"], label=s["label"], marker=s["marker"], alpha=0.8, s=s["size"])
    for floor in sorted({e.floor for e in [*entries, *references] if e.floor}):
        ax.axvline(math.log10(floor), color="grey", linestyle="--", linewidth=0.8)
        ax.annotate("KS floor", (math.log10(floor), ax.get_ylim()[0]), fontsize=7, color="grey", va="bottom")
    x_key, y_key = _axes([*entries, *references])
    if x_key == "forget_quality":
        ax.set_xlabel("log10 forget quality (higher: closer to the retain model)")
        ax.set_ylabel("model utility")
        what = "model utility vs forget quality"
    else:
        ax.set_xlabel(x_key)
        ax.set_ylabel(y_key)
        what = f"{y_key} (utility) vs {x_key} (forgetting)"
    titles = sorted({get_benchmark(e.benchmark).title for e in [*entries, *references]})
    ax.set_title(f"{', '.join(titles) or 'Leaderboard'}: {what}")
    if series:
        ax.legend(fontsize=7, loc="best")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=150)
    plt.close(fig)
    return path
