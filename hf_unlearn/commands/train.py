"""`hf-unlearn train RECIPE.yaml [--key value ...] [--resume]`: the same as `recipes/run.py`."""

from __future__ import annotations

import argparse

from hf_unlearn import run as runner
from hf_unlearn.errors import file_system_errors
from hf_unlearn.recipe import load_recipe, parse_overrides

DESCRIPTION = """\
Run a recipe: train (finetune, or unlearn with the recipe's method), then the stages it asks for (the
benchmark's evaluation into RUN_DIR/evals/, the robustness attacks, an export folder, a push to the Hub). The
recipe is checked before any model loads: a bad key or value stops at once with one line naming it and the
allowed values.

Overrides: any recipe key can be set on the command line as --key value (or --key=value); keys of a YAML
section are dotted (data.source, eval.enabled, peft.r). Values are read as YAML (1e-5, true, [a, b]). An
override changes the run name, and so the run folder, when it changes a named hyper-parameter.

--resume continues from the newest complete checkpoint in the run folder (recipes with save_strategy epoch or
steps write them); without it an earlier run's checkpoints are ignored and training starts over.

A run folder that holds a finished run of another recipe (its recipe.yaml differs in any key, named or not: seed,
max_steps, data limits, eval settings) is not trained over: the command stops with one line naming the keys that
differ. --overwrite deletes the folder first (weights, checkpoints, evals, robustness results, export) and trains
there. A finished run of the same recipe is trained again in place."""

EPILOG = """\
examples:
  hf-unlearn train recipes/tofu/forget10_GradDiff_lr2e-05_alpha5_epoch5.yaml
  hf-unlearn train RECIPE.yaml --learning_rate 1e-5 --data.source bundled --eval.enabled false
  hf-unlearn train RECIPE.yaml --save_strategy epoch --resume
  hf-unlearn train RECIPE.yaml --max_steps 100 --overwrite"""


def add_parser(sub) -> None:
    p = sub.add_parser(
        "train",
        help="run a recipe: finetune, or unlearn with a method; then evaluate, attack, publish as it asks",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        usage="%(prog)s RECIPE.yaml [--key value ...] [--resume | --overwrite]",
    )
    p.add_argument("recipe", help="the recipe (YAML); see recipes/ for examples")
    p.add_argument("--resume", action="store_true", help="resume from the run folder's last complete checkpoint")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="delete what the run folder holds (a finished run of another recipe, checkpoints) before training "
        "(default: a finished run of another recipe stops the command)",
    )
    p.set_defaults(func=run, takes_overrides=True)


def run(args: argparse.Namespace, overrides: list[str]) -> int:
    recipe = load_recipe(args.recipe, parse_overrides(overrides))
    with file_system_errors(recipe.output_dir):
        runner.run_recipe(recipe, resume=args.resume, overwrite=args.overwrite)
    return 0
