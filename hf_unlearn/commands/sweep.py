"""`hf-unlearn sweep GRID.yaml [GRID.yaml ...] --out recipes/tofu/ [--run]`: one recipe per grid point, file name =
run name; with --run, train every point and write the leaderboard."""

from __future__ import annotations

import argparse
from pathlib import Path

from hf_unlearn.recipe import RecipeError
from hf_unlearn.sweep import sweep
from hf_unlearn.sweep_runner import LAUNCHERS, SlurmOptions, check_launcher, run_sweep


def add_parser(sub) -> None:
    p = sub.add_parser(
        "sweep",
        help="write one recipe per point of hyper-parameter grids (file name = run name), or train them all (--run)",
        epilog="examples:\n  hf-unlearn sweep recipes/grids/*.yaml --out recipes/tofu\n"
        "  hf-unlearn sweep recipes/grids/NPO.yaml --dry-run\n"
        "  hf-unlearn sweep recipes/grids/NPO.yaml --run --launcher slurm --partition gpu --time 240",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("grids", nargs="+", help="grid files (base: keys shared by every point, grid: key -> values)")
    p.add_argument("--out", default="recipes/tofu", help="folder for the recipes (default: recipes/tofu)")
    p.add_argument("--dry-run", action="store_true", help="print the run names, write nothing")
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 if a recipe is missing or differs")
    r = p.add_argument_group("running the points (--run)")
    r.add_argument(
        "--run",
        action="store_true",
        help="train every point (finished runs of the same recipe skipped, interrupted ones resumed, chained ones in "
        "order)",
    )
    r.add_argument(
        "--overwrite",
        action="store_true",
        help="rerun points whose folder holds a finished run of another recipe, deleting it first (default: stop "
        "before anything runs and list them)",
    )
    r.add_argument(
        "--launcher",
        default="local",
        choices=LAUNCHERS,
        help="local: here (default); slurm: one job per point via submitit; submitit-local: the slurm path here",
    )
    r.add_argument("--max-parallel", type=int, default=1, help="local: points at once, one GPU each (default 1)")
    r.add_argument("--partition", help="slurm partition")
    r.add_argument("--gpus-per-job", type=int, default=1, help="slurm: GPUs per point (default 1)")
    r.add_argument("--time", type=int, default=240, help="slurm: minutes per job (default 240)")
    r.add_argument("--accelerate-config", help="run each point under accelerate launch with this config file")
    r.add_argument("--logs", default="sweep_logs", help="folder for each point's log (default: sweep_logs)")
    r.add_argument("--leaderboard", default="leaderboard", help="folder for the leaderboard (default: leaderboard)")
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
    if args.run:
        if args.max_parallel < 1:
            raise RecipeError(f"--max-parallel: must be >= 1, got {args.max_parallel}")
        check_launcher(args.launcher)
    written, unchanged = result.write(args.out)
    print(f"{len(written)} recipes written, {len(unchanged)} unchanged, in {args.out}")
    if not args.run:
        return 0
    options = SlurmOptions(args.partition, args.gpus_per_job, args.time, args.accelerate_config)
    recipes = [Path(args.out) / f"{name}.yaml" for name in result.files]
    points = run_sweep(
        recipes, Path(args.logs), Path(args.leaderboard), args.launcher, args.max_parallel, options, args.overwrite
    )
    return 1 if any(p.state == "failed" for p in points) else 0
