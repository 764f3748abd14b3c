"""`hf-unlearn attack MODEL_OR_RUN_DIR --attacks relearn,quantize --retain-model RETAIN`: the robustness suite."""

from __future__ import annotations

import argparse
from dataclasses import fields
from pathlib import Path

import yaml

from hf_unlearn.benchmarks import BENCHMARKS, DEFAULT_BENCHMARK, get_benchmark
from hf_unlearn.commands.eval import (
    add_benchmark_options,
    add_model_arguments,
    benchmark_option_hint,
    chosen_benchmark,
)
from hf_unlearn.errors import UserError, file_system_errors
from hf_unlearn.layout import RECIPE_FILE, ROBUSTNESS_DIR
from hf_unlearn.robustness.attacks import ATTACKS, parse_attacks
from hf_unlearn.robustness.stage import default_options, run_recipe_of, with_command_line
from hf_unlearn.robustness.suite import DEFAULT_SEED, RESULT_FILE, check_request, format_table, run_suite

DESCRIPTION = f"""\
Attack an unlearned model to see whether the forgotten knowledge comes back, and score how much did
(open-unlearning's robustness meta-evaluation). Attacks: {", ".join(ATTACKS)}. Each re-measures the benchmark's
forget-set metrics (and model utility) on the attacked model. relearn finetunes the model on the forget set and
the retain model identically as the control (R per metric); quantize reloads it in 4-bit NF4 with bitsandbytes
(Q per metric); paraphrase and jailbreak re-prompt it (paraphrased questions, an answer pre-filled with
"Sure, here is the answer:"); logit_lens reads the answer's probability at every layer. Writes DIR/{RESULT_FILE} (settings, before/after values, scores) and prints a table.

Given a run folder, the benchmark, evaluation settings, retain model (eval.retain_model) and the model unlearning
started from come from its recipe.yaml, and DIR defaults to RUN_DIR/{ROBUSTNESS_DIR}. Every option given on the
command line overrides the recipe's value; with --benchmark naming another benchmark than the run's, its recipe's
evaluation settings and retain model do not apply (that benchmark's options and their defaults do)."""

EPILOG = """\
examples:
  hf-unlearn attack demo_runs/unlearn/forget01_GradDiff_lr0.0005_alpha5_epoch10 --attacks relearn,quantize
  hf-unlearn attack saves/unlearn/RUN --attacks relearn --retain-model open-unlearning/tofu_Llama-3.2-1B-Instruct_retain90 \\
      --attack-option relearn.n_samples=10 --attack-option relearn.adapter=lora
  hf-unlearn attack MODEL --attacks quantize --attack-option quantize.quant_type=fp4 \\
      --attack-option quantize.compute_dtype=float32 --output-dir robustness/model"""


def add_parser(sub) -> None:
    p = sub.add_parser(
        "attack",
        help=f"robustness suite: attack an unlearned model ({', '.join(ATTACKS)}), score what comes back",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", help="run folder (recipe.yaml), model folder or Hub id of the unlearned model")
    p.add_argument("--attacks", required=True, help=f"comma-separated: {', '.join(ATTACKS)}")
    p.add_argument("--benchmark", choices=sorted(BENCHMARKS), help=f"default: the run's, else {DEFAULT_BENCHMARK}")
    p.add_argument("--retain-model", help="retain model (Hub id or folder), the control of relearn")
    p.add_argument("--original-model", help="the model unlearning started from, for quantize's NF4 code diagnostic")
    p.add_argument("--output-dir", help=f"where {RESULT_FILE} goes (default for a run folder: RUN/{ROBUSTNESS_DIR})")
    p.add_argument(
        "--attack-option",
        action="append",
        default=[],
        metavar="ATTACK.KEY=VALUE",
        help="an attack's setting, e.g. relearn.steps=13, relearn.adapter=lora, quantize.bits=8 (repeatable)",
    )
    p.add_argument(
        "--seed", type=int, help=f"seed of the attacks that train (default: {DEFAULT_SEED}, open-unlearning's)"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_model_arguments(p)
    p.option_hooks.append(add_run_benchmark_options)
    p.hint_hooks.append(benchmark_option_hint)
    p.set_defaults(func=run)


def add_run_benchmark_options(parser: argparse.ArgumentParser, argv: list[str]) -> None:
    """The options of `--benchmark`, else of the run folder's benchmark: `attack MUSE_RUN --corpus books` takes
    MUSE's options without repeating `--benchmark muse`."""
    name = chosen_benchmark(argv, default=None) or run_folder_benchmark(parser, argv) or DEFAULT_BENCHMARK
    add_benchmark_options(parser, argv, name)


def run_folder_benchmark(parser: argparse.ArgumentParser, argv: list[str]) -> str | None:
    """The benchmark of the run folder on a command line: the first argument holding a recipe.yaml that is not
    the value of an option the parser already has (`--retain-model RUN` is not the attacked run). None when there
    is none; a recipe that can't be read is left to the command, which reports it."""
    takes_value = {s for a in parser._actions if a.nargs != 0 for s in a.option_strings}
    after_option = False
    for item in argv:
        if after_option or item.startswith("-"):
            after_option = not after_option and item in takes_value
            continue
        path = Path(item) / RECIPE_FILE
        if path.is_file():
            try:
                recipe = yaml.safe_load(path.read_text(encoding="utf-8"))
            except (OSError, yaml.YAMLError):
                return None
            return recipe.get("benchmark", DEFAULT_BENCHMARK) if isinstance(recipe, dict) else None
    return None


def parse_options(items: list[str]) -> dict[str, dict]:
    """`ATTACK.KEY=VALUE` items into {attack: {key: value}} (values read as YAML scalars)."""
    out: dict[str, dict] = {}
    for item in items:
        name, _, value = item.partition("=")
        attack, _, key = name.partition(".")
        if not (attack and key and _):
            raise UserError(f"--attack-option: '{item}' is not of the form ATTACK.KEY=VALUE")
        out.setdefault(attack, {})[key] = yaml.safe_load(value)
    return out


def run(args: argparse.Namespace, overrides: list[str]) -> int:
    attacks = parse_attacks(args.attacks)
    options = parse_options(args.attack_option)
    recipe = run_recipe_of(args.model)
    run_benchmark = recipe["benchmark"] if recipe is not None else None
    benchmark = get_benchmark(args.benchmark or run_benchmark or DEFAULT_BENCHMARK)
    settings = benchmark.eval_settings_from_args(args)
    retain = args.retain_model
    if recipe is not None:
        options = default_options(recipe, attacks, options)
    if run_benchmark == benchmark.name:  # the run's own evaluation, with the command line's options over it
        settings = with_command_line(benchmark.eval_settings(recipe), settings, args.given)
        retain = retain or recipe["eval.retain_model"]
        recipe_values = {f.name for f in fields(settings)} - args.given  # errors name these as the recipe does
        args.error_options = {k: v for k, v in args.error_options.items() if k not in recipe_values}
    seed = DEFAULT_SEED if args.seed is None else args.seed
    if args.original_model:
        options.setdefault("quantize", {})["original_model"] = args.original_model
    if args.output_dir is None and recipe is None:
        raise UserError("--output-dir: needed for a model without a run folder (recipe.yaml)")
    output_dir = Path(args.output_dir) if args.output_dir else Path(args.model) / ROBUSTNESS_DIR
    check_request(benchmark, attacks, retain, options)
    with file_system_errors(output_dir):
        result = run_suite(
            benchmark, args.model, attacks, output_dir, settings, retain, options, seed, not args.no_progress
        )
    print(format_table(result))
    print(f"[hf-unlearn] {output_dir / RESULT_FILE}")
    return 0
