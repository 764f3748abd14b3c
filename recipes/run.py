"""Run a recipe: `accelerate launch recipes/run.py RECIPE.yaml [--key value ...] [--resume]`.

Also works as `python recipes/run.py RECIPE.yaml`. Command-line `--key value` pairs override the recipe (and so
may change the run name).
"""

import sys

from hf_unlearn.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
