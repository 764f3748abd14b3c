"""`hf-unlearn train RECIPE.yaml [--key value ...] [--resume]`: the same as `recipes/run.py`."""

from __future__ import annotations

import argparse

from hf_unlearn.recipe import load_recipe, parse_overrides


def add_parser(sub) -> None:
    p = sub.add_parser("train", help="run a recipe (train, and the stages it asks for)")
    p.add_argument("recipe")
    p.add_argument("--resume", action="store_true", help="resume from the run folder's last checkpoint")
    p.set_defaults(func=run, takes_overrides=True)


def run(args: argparse.Namespace, overrides: list[str]) -> int:
    from hf_unlearn.run import run_recipe

    recipe = load_recipe(args.recipe, parse_overrides(overrides))
    run_recipe(recipe, resume=args.resume)
    return 0
