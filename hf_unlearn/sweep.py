"""Hyper-parameter grids -> one recipe file per grid point, named after its run.

A grid file holds `base` (keys every point shares), `grid` (key -> list of values; the cartesian product is taken)
an optional `description` (first line of each recipe's header comment) and an optional `chain: true` (a sequential
experiment, such as MUSE's sustainability: each point after the first starts from the model the previous point's
run leaves in its output folder). Every generated recipe is validated
and its run name must parse back into the values it came from, so a grid can't silently produce clashing or
unparseable names. Numbers keep the type the grid gives them (`1` stays an int, `1.0` a float) and exponent floats
are written with a mantissa dot (`2.0e-5`), which YAML reads as a number (`2e-5` would be a string).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from hf_unlearn.naming import parse_run_name
from hf_unlearn.recipe import SCHEMA, Recipe, RecipeError, read_yaml_mapping

#: Keys printed first, in this order; then the method's parameters, then the rest in schema order.
HEAD_KEYS = ("task", "model", "tokenizer", "model_name", "method", "forget_split", "retain_split", "holdout_split")
TRAIN_KEYS = ("learning_rate", "num_train_epochs")


@dataclass
class Grid:
    base: dict
    grid: dict[str, list]
    description: str = ""
    source: Path | None = None
    chain: bool = False
    points: list[dict] = field(default_factory=list)


def load_grid(path: str | Path) -> Grid:
    """Read and check a grid file (a mapping with `base` and `grid`)."""
    path = Path(path)
    raw = read_yaml_mapping(path, "grid", "a mapping with 'base' and 'grid'")
    unknown = sorted(set(raw) - {"base", "grid", "description", "chain"})
    if unknown:
        raise RecipeError(f"grid: unknown key '{unknown[0]}' in {path}; allowed: base, grid, description, chain")
    if not isinstance(raw.get("chain", False), bool):
        raise RecipeError(f"grid: 'chain' in {path} must be true or false")
    base, grid = raw.get("base") or {}, raw.get("grid") or {}
    if not isinstance(base, dict) or not isinstance(grid, dict):
        raise RecipeError(f"grid: 'base' and 'grid' in {path} must be mappings")
    grid = {key: values if isinstance(values, list) else [values] for key, values in grid.items()}
    for key, values in grid.items():
        if not values:
            raise RecipeError(f"grid.{key}: an empty list gives no grid points")
        if key in base:
            raise RecipeError(f"grid.{key}: also set in base; set it in one place")
    return Grid(base, grid, str(raw.get("description") or ""), path, bool(raw.get("chain", False)))


def expand(grid: Grid) -> list[dict]:
    """Every grid point as a raw recipe dict (base + one value per grid key), in a stable order."""
    keys = list(grid.grid)
    return [{**grid.base, **dict(zip(keys, combo, strict=True))} for combo in itertools.product(*grid.grid.values())]


def format_scalar(value) -> str:
    """A YAML scalar that reads back as the same value and type."""
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "null"}[value]
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise RecipeError(f"grid: {value} is not a finite number")
        text = repr(value)
        if "e" in text:
            mantissa, exponent = text.split("e")
            if "." not in mantissa:
                mantissa += ".0"
            exp = int(exponent)
            text = f"{mantissa}e{'-' if exp < 0 else '+'}{abs(exp)}"
        return text
    if isinstance(value, list):
        return "[" + ", ".join(format_scalar(v) for v in value) + "]"
    dumped = yaml.safe_dump({"k": value}, width=10_000, default_flow_style=True).strip()
    return dumped[len("{k: ") : -1]


def _ordered_keys(raw: dict, method_params: list[str]) -> list[str]:
    order = [k for k in HEAD_KEYS if k in raw]
    order += [k for k in method_params if k in raw]
    order += [k for k in TRAIN_KEYS if k in raw]
    schema_top = [k for k in SCHEMA if "." not in k]
    order += [k for k in schema_top if k in raw and k not in order]
    order += [k for k in raw if k not in order]
    return order


def render_recipe(raw: dict, recipe: Recipe, header: list[str]) -> str:
    """The recipe file text: header comment, then keys in a fixed order (nested sections as blocks)."""
    lines = [f"# {line}" if line else "#" for line in header]
    for key in _ordered_keys(raw, list(recipe.method_spec.params) if recipe["task"] == "unlearn" else []):
        value = raw[key]
        if isinstance(value, dict):
            lines.append(f"{key}:")
            lines += [f"  {sub}: {format_scalar(v)}" for sub, v in value.items()]
        else:
            lines.append(f"{key}: {format_scalar(value)}")
    return "\n".join(lines) + "\n"


def _point_label(raw: dict, grid: Grid) -> str:
    return ", ".join(f"{key} {format_scalar(raw[key])}" for key in grid.grid)


def check_round_trip(recipe: Recipe) -> None:
    """The run name must parse back into the recipe's split, method, learning rate, epochs and named params."""
    name = recipe.run_name
    try:
        fields = parse_run_name(name)
    except ValueError as err:
        raise RecipeError(f"grid: run name '{name}' does not parse back: {err}") from None
    expected = {
        "forget_split": recipe.benchmark.run_label(recipe, recipe["forget_split"]),
        "method": recipe["method"],
        "learning_rate": recipe["learning_rate"],
        "num_train_epochs": recipe["num_train_epochs"],
    }
    expected.update({k: recipe[k] for k in fields if k in recipe.method_params})
    for key, value in expected.items():
        if fields.get(key) != value:
            raise RecipeError(f"grid: run name '{name}' parses {key}={fields.get(key)!r}, the recipe has {value!r}")


@dataclass
class SweepResult:
    files: dict[str, str]  # run name -> file text

    def write(self, out_dir: str | Path) -> tuple[list[Path], list[Path]]:
        """Write every recipe; returns (written, unchanged) paths."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        written, unchanged = [], []
        for name, text in self.files.items():
            path = out / f"{name}.yaml"
            if path.is_file() and path.read_text(encoding="utf-8") == text:
                unchanged.append(path)
                continue
            path.write_text(text, encoding="utf-8")
            written.append(path)
        return written, unchanged

    def stale(self, out_dir: str | Path) -> list[Path]:
        """Files that are missing or differ from what the grid generates."""
        out = Path(out_dir)
        return [
            out / f"{name}.yaml"
            for name, text in self.files.items()
            if not (out / f"{name}.yaml").is_file() or (out / f"{name}.yaml").read_text(encoding="utf-8") != text
        ]


def sweep(grid_paths: list[str | Path]) -> SweepResult:
    """Generate (not write) the recipes of every grid file; names must be unique across all of them."""
    files: dict[str, str] = {}
    origin: dict[str, str] = {}
    for grid_path in grid_paths:
        grid = load_grid(grid_path)
        previous: Recipe | None = None
        for raw in expand(grid):
            if grid.chain and previous is not None:
                raw = {**raw, "model": previous.output_dir}
            label = f"{grid.source.name}: {_point_label(raw, grid)}"
            try:
                recipe = Recipe.from_dict(raw)
            except RecipeError as err:
                raise RecipeError(f"grid point ({label}) is not a valid recipe: {err}") from None
            if recipe["task"] != "unlearn":
                raise RecipeError(f"grid point ({label}): sweeps generate unlearning recipes only")
            check_round_trip(recipe)
            previous = recipe
            name = recipe.run_name
            if name in files:
                raise RecipeError(
                    f"grid: points ({origin[name]}) and ({label}) both give run name '{name}'; "
                    "vary only parameters the run name shows"
                )
            header = [
                f"{grid.description} ({_point_label(raw, grid)})." if grid.description else name,
                f"Generated by `hf-unlearn sweep {_display(grid.source)}`: edit the grid, not this file.",
                f"Run: accelerate launch recipes/run.py recipes/{recipe['benchmark']}/{name}.yaml",
            ]
            text = render_recipe(raw, recipe, header)
            if yaml.safe_load(text) != raw:
                raise RecipeError(f"grid point ({label}): the written recipe would not read back as the same values")
            files[name] = text
            origin[name] = label
    return SweepResult(files)


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
