"""One recipe, end to end: train, then the later stages the recipe asks for. Used by `recipes/run.py` and
`hf-unlearn train`."""

from __future__ import annotations

import logging
from pathlib import Path

from hf_unlearn.recipe import Recipe

logger = logging.getLogger(__name__)


def run_recipe(recipe: Recipe, resume: bool = False) -> Path:
    """Train the recipe's model and return the run folder."""
    from hf_unlearn.pipeline import train

    result = train(recipe, resume=resume)
    logger.info("run %s finished in %.1fs: %s", recipe.run_name, result.wall_time_s, result.output_dir)
    print(f"[hf-unlearn] {recipe.run_name}: model saved to {result.output_dir}")
    return result.output_dir
