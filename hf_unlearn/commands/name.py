"""`hf-unlearn name RECIPE.yaml [--key value ...] [--repo-id]`: print the run name without loading a model."""

from __future__ import annotations

import argparse

from hf_unlearn.recipe import RecipeError, load_recipe, parse_overrides


def add_parser(sub) -> None:
    p = sub.add_parser(
        "name",
        help="print a recipe's run name (and Hub repo id) without loading any model",
        description="Print the run name a recipe (with --key value overrides, as for train) gets; nothing loads.",
        epilog="examples:\n  hf-unlearn name RECIPE.yaml --learning_rate 2e-5\n  hf-unlearn name RECIPE.yaml --repo-id "
        "--hub-org my-org",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        usage="%(prog)s RECIPE.yaml [--key value ...] [--repo-id] [--hub-org ORG]",
    )
    p.add_argument("recipe", help="the recipe (YAML)")
    p.add_argument("--repo-id", action="store_true", help="also print the Hub repo id")
    p.add_argument("--hub-org", default=None, help="organisation for the repo id (default: the recipe's hub_org)")
    p.set_defaults(func=run, takes_overrides=True)


def run(args: argparse.Namespace, overrides: list[str]) -> int:
    recipe = load_recipe(args.recipe, parse_overrides(overrides))
    print(recipe.run_name)
    if args.repo_id:
        org = args.hub_org or recipe.get("hub_org")
        if not org:
            raise RecipeError("hub_org: needed for the repo id; set it in the recipe or pass --hub-org ORG")
        print(recipe.repo_id(org))
    return 0
