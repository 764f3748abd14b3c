"""`hf-unlearn demo [--benchmark tofu|muse] [--output-dir DIR]`: the embedded default, offline on CPU."""

from __future__ import annotations

import argparse

from hf_unlearn import demo, demo_muse
from hf_unlearn.errors import file_system_errors
from hf_unlearn.layout import EVALS_DIR, EXPORT_DIR


def add_parser(sub) -> None:
    p = sub.add_parser(
        "demo",
        help="finetune the tiny model on a TOFU subset (or a synthetic MUSE corpus), unlearn it, print before/after",
        description="The whole product on a tiny model, offline on CPU: finetune target and retain models, unlearn "
        "with GradDiff, evaluate, write an export folder. Finished runs of the same recipes in the output folder are "
        "reused; a finished run of another recipe there stops the demo (--overwrite replaces it). "
        "--benchmark muse does the same on a synthetic MUSE News corpus (fictitious people).",
        epilog="examples:\n  hf-unlearn demo --output-dir demo_runs\n  hf-unlearn demo --benchmark muse",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--output-dir", default=demo.DEMO_DIR, help="where the target and unlearned models go (default: %(default)s)"
    )
    p.add_argument("--benchmark", default="tofu", choices=("tofu", "muse"), help="default: %(default)s")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="retrain over finished runs of other recipes in the output folder (default: stop and say which)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace, overrides: list[str]) -> int:
    if getattr(args, "benchmark", "tofu") == "muse":
        return run_muse(args)
    with file_system_errors(args.output_dir):
        result = demo.run_demo(args.output_dir, overwrite=args.overwrite)
    print()
    print(f"target model:    {result.target_dir}")
    print(f"retain model:    {result.retain_dir}")
    print(f"unlearned model: {result.unlearned_dir}")
    if (result.unlearned_dir / EXPORT_DIR).is_dir():
        print(
            f"export folder:   {result.unlearned_dir / 'export'}  (publish it: hf-unlearn publish RUN_DIR --org ORG)"
        )
    print()
    print(demo.format_table(result))
    if result.summary:
        print()
        print("TOFU evaluation of the unlearned model (" + str(result.unlearned_dir / EVALS_DIR) + "):")
        for key, value in sorted(result.summary.items()):
            print(f"  {key:22s} {value if value is None else f'{value:.4g}'}")
    print()
    print("PASS: forgotten, retain knowledge kept" if result.passed else "FAIL: acceptance ratios not met")
    return 0 if result.passed else 1


def run_muse(args: argparse.Namespace) -> int:
    with file_system_errors(args.output_dir):
        result = demo_muse.run_muse_demo(args.output_dir, overwrite=args.overwrite)
    print()
    print(f"synthetic corpus: {result.data_dir}")
    print(f"target model:     {result.target_dir}")
    print(f"retrained model:  {result.retain_dir}")
    print(f"unlearned model:  {result.unlearned_dir}  (evaluation: {result.unlearned_dir / EVALS_DIR})")
    print()
    print(demo_muse.format_table(result))
    print()
    print("PASS: forgotten, retain knowledge kept" if result.passed else "FAIL: acceptance ratios not met")
    return 0 if result.passed else 1
