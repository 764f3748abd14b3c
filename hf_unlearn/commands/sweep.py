"""`hf-unlearn sweep GRID.yaml [GRID.yaml ...] --out recipes/tofu/`: one recipe per grid point, file name = run name."""

from __future__ import annotations

import argparse

from hf_unlearn.sweep import sweep


def add_parser(sub) -> None:
    p = sub.add_parser(
        "sweep",
        help="write one recipe per point of hyper-parameter grids (file name = run name)",
        epilog="examples:\n  hf-unlearn sweep recipes/grids/*.yaml --out recipes/tofu\n"
        "  hf-unlearn sweep recipes/grids/NPO.yaml --dry-run",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("grids", nargs="+", help="grid files (base: keys shared by every point, grid: key -> values)")
    p.add_argument("--out", default="recipes/tofu", help="folder for the recipes (default: recipes/tofu)")
    p.add_argument("--dry-run", action="store_true", help="print the run names, write nothing")
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 if a recipe is missing or differs")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, overrides: list[str]) -> int:
    result = sweep(args.grids)
    if args.dry_run:
        print("\n".join(result.files))
        print(f"{len(result.files)} recipes (dry run: nothing written)")
        return 0
    if args.check:
        stale = result.stale(args.out)
        for path in stale:
            print(f"out of date: {path}")
        print(f"{len(result.files) - len(stale)}/{len(result.files)} recipes up to date in {args.out}")
        return 1 if stale else 0
    written, unchanged = result.write(args.out)
    print(f"{len(written)} recipes written, {len(unchanged)} unchanged, in {args.out}")
    return 0
