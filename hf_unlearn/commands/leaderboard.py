"""`hf-unlearn leaderboard RUNS_DIR... [--benchmark tofu] [--sort RULE] [--out DIR]`: rank runs by their summaries."""

from __future__ import annotations

import argparse
from pathlib import Path

from hf_unlearn.benchmarks import BENCHMARKS, DEFAULT_BENCHMARK, get_benchmark
from hf_unlearn.leaderboard import SORT_RULES, collect, plot, sort_entries, to_csv, to_markdown, utility_key
from hf_unlearn.leaderboard_references import collect_references


def add_parser(sub) -> None:
    p = sub.add_parser(
        "leaderboard",
        help="rank runs of one benchmark by their summaries: a Markdown/CSV table and a trade-off plot",
        epilog="examples:\n  hf-unlearn leaderboard saves/unlearn --out leaderboard\n"
        "  hf-unlearn leaderboard saves/unlearn --sort model_utility --min-utility 0.5 --top 10",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("runs", nargs="+", help="run folders, or folders holding run folders (any depth)")
    p.add_argument(
        "--benchmark",
        default=DEFAULT_BENCHMARK,
        choices=sorted(BENCHMARKS),
        help="whose summaries to rank (default: %(default)s)",
    )
    p.add_argument(
        "--sort",
        help=f"ranking rule (TOFU: {', '.join(SORT_RULES)}; default forget_quality); another benchmark's: one of "
        "its metrics or name (MUSE default: forget_verbmem_ROUGE)",
    )
    p.add_argument(
        "--min-utility", type=float, default=None, help="drop runs whose utility (TOFU: model utility) is below this"
    )
    p.add_argument("--top", type=int, default=None, help="keep only the first N rows")
    p.add_argument("--out", default=".", help="folder for leaderboard.md, .csv and .png (default: %(default)s, here)")
    p.add_argument("--no-plot", action="store_true", help="skip the PNG scatter plot")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, overrides: list[str]) -> int:
    entries = collect(args.runs, args.benchmark)
    references = collect_references(entries)  # from every run found, whatever the filters below keep
    rule = args.sort or get_benchmark(args.benchmark).default_sort
    counts = [f"{len(entries)} runs found"]
    if args.min_utility is not None:
        utility = utility_key(args.benchmark)
        kept = [e for e in entries if (e.metrics.get(utility) or 0.0) >= args.min_utility]
        counts.append(f"{len(entries) - len(kept)} removed by --min-utility {args.min_utility} ({utility} below it)")
        entries = kept
    entries = sort_entries(entries, rule, args.benchmark)
    if args.top is not None and len(entries) > max(args.top, 0):
        counts.append(f"{len(entries) - max(args.top, 0)} beyond --top {args.top}")
        entries = entries[: max(args.top, 0)]
    counts.append(f"{len(entries)} shown")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    markdown = to_markdown(entries, rule, references)
    (out / "leaderboard.md").write_text(markdown, encoding="utf-8")
    (out / "leaderboard.csv").write_text(to_csv(entries, references), encoding="utf-8")
    print(markdown)
    written = [out / "leaderboard.md", out / "leaderboard.csv"]
    if not args.no_plot:
        png = plot(entries, out / "leaderboard.png", references)
        if png is not None:
            written.append(png)
    print(f"{', '.join(counts)}, {len(references)} reference models; wrote {', '.join(str(p) for p in written)}")
    return 0
