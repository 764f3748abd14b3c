"""recipes/tiny's unlearning recipes start from the folders the demo writes and run as their headers say: after the
demo, the command in the header resolves every model the recipe names (no training: the demo's folders are stood in
for by the untrained tiny model)."""

import re
import shlex
from pathlib import Path

import pytest
import yaml
from helpers import REPO

from hf_unlearn import demo, demo_muse
from hf_unlearn.cli import build_parser
from hf_unlearn.models import check_model_folder, resolve_model_path
from hf_unlearn.recipe import load_recipe, parse_overrides

TINY = REPO / "recipes" / "tiny"
UNLEARN = [p for p in sorted(TINY.glob("*.yaml")) if yaml.safe_load(p.read_text()).get("task", "unlearn") == "unlearn"]
DEMOS = {"tofu": demo, "muse": demo_muse}  # each benchmark's demo: its TARGET_RECIPE and RETAIN_RECIPE
COMMAND = re.compile(r"`(hf-unlearn train [^`]+)`")


def header(path: Path) -> str:
    return " ".join(line.lstrip("# ") for line in path.read_text().splitlines() if line.startswith("#"))


def demo_layout(root: Path, tiny_dir: Path) -> dict[str, Path]:
    """The folders `hf-unlearn demo` (both benchmarks) leaves under demo_runs/, relative to `root`, each holding the
    tiny model; the MUSE corpus folder. Returns {recipe file: its run folder}."""
    folders = {}
    for module in DEMOS.values():
        for name in (module.TARGET_RECIPE, module.RETAIN_RECIPE):
            folder = Path(demo.placed_recipe(TINY / name, Path(demo.DEMO_DIR), {}).output_dir)
            (root / folder).parent.mkdir(parents=True, exist_ok=True)
            (root / folder).symlink_to(tiny_dir, target_is_directory=True)
            folders[name] = folder
    (root / demo.DEMO_DIR / demo_muse.CORPUS_DIR).mkdir()
    (root / "recipes").symlink_to(REPO / "recipes", target_is_directory=True)
    return folders


def test_every_unlearning_recipe_is_checked():
    assert {p.name for p in UNLEARN} >= {demo.UNLEARN_RECIPE, demo_muse.UNLEARN_RECIPE}
    assert len(UNLEARN) == 5


@pytest.mark.parametrize("path", UNLEARN, ids=lambda p: p.stem)
def test_tiny_unlearning_recipes_run_as_their_header_says(path, tmp_path, tiny_dir, monkeypatch):
    text = header(path)
    assert "make demo" in text or "hf-unlearn demo" in text
    commands = COMMAND.findall(text)
    assert len(commands) == 1, text
    monkeypatch.chdir(tmp_path)
    folders = demo_layout(tmp_path, tiny_dir)
    args, extra = build_parser().parse_known_args(shlex.split(commands[0])[1:])
    assert Path(args.recipe) == path.relative_to(REPO)
    recipe = load_recipe(args.recipe, parse_overrides(extra))
    module = DEMOS[recipe["benchmark"]]
    assert Path(recipe["model"]) == folders[module.TARGET_RECIPE]
    assert recipe["eval.retain_model"] in (None, str(folders[module.RETAIN_RECIPE]))
    for key in ("model", "eval.retain_model"):
        if recipe[key]:
            check_model_folder(resolve_model_path(recipe[key], key), key)
