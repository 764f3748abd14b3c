"""`hf-unlearn demo [--output-dir DIR]`: the embedded default, offline on CPU."""

from __future__ import annotations

import argparse


def add_parser(sub) -> None:
    p = sub.add_parser("demo", help="finetune the tiny model on a TOFU subset, unlearn it, print before/after")
    p.add_argument("--output-dir", default="demo_runs", help="where the target and unlearned models go")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, overrides: list[str]) -> int:
    from hf_unlearn.demo import format_table, run_demo

    result = run_demo(args.output_dir)
    print()
    print(f"target model:    {result.target_dir}")
    print(f"unlearned model: {result.unlearned_dir}")
    print()
    print(format_table(result))
    print()
    print("PASS: forgotten, retain knowledge kept" if result.passed else "FAIL: acceptance ratios not met")
    return 0 if result.passed else 1
