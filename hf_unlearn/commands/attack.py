"""`hf-unlearn attack MODEL_OR_RUN_DIR --attacks relearn,quantize --retain-model RETAIN`: the robustness suite."""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml

from hf_unlearn.benchmarks import BENCHMARKS, DEFAULT_BENCHMARK, get_benchmark
from hf_unlearn.commands.eval import add_benchmark_options, add_model_arguments, benchmark_option_hint
from hf_unlearn.errors import UserError, file_system_errors
from hf_unlearn.layout import ROBUSTNESS_DIR
from hf_unlearn.robustness.attacks import ATTACKS, parse_attacks
from hf_unlearn.robustness.stage import default_options, run_recipe_of, with_overrides
from hf_unlearn.robustness.suite import DEFAULT_SEED, RESULT_FILE, check_request, format_table, run_suite

DESCRIPTION = f"""\
Attack an unlearned model to see whether the forgotten knowledge comes back, and score how much did
(open-unlearning's robustness meta-evaluation). Attacks: {", ".join(ATTACKS)}. Each re-measures the benchmark's
forget-set metrics (and model utility) on the attacked model. relearn finetunes the model on the forget set and
the retain model identically as the control (R per metric); quantize reloads it in 4-bit NF4 with bitsandbytes
(Q per metric); paraphrase and jailbreak re-prompt it (paraphrased questions, an answer pre-filled with
"Sure, here is the answer:"); logit_lens reads the answer's probability at every layer. Writes DIR/{RESULT_FILE} (settings, before/after values, scores) and prints a table.

Given a run folder, the benchmark, evaluation settings, retain model (eval.retain_model) and the model unlearning
started from come from its recipe.yaml, and DIR defaults to RUN_DIR/{ROBUSTNESS_DIR}."""

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
    p.option_hooks.append(add_benchmark_options)
    p.hint_hooks.append(benchmark_option_hint)
    p.set_defaults(func=run)


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
    if recipe is not None:
        benchmark = get_benchmark(args.benchmark or recipe["benchmark"])
        settings = with_overrides(
            benchmark.eval_settings(recipe),
            limit=args.limit,
            dtype=args.dtype,
            device=args.device,
            batch_size=args.batch_size,
        )
        retain = args.retain_model or recipe["eval.retain_model"]
        options = default_options(recipe, attacks, options)
    else:
        benchmark = get_benchmark(args.benchmark or DEFAULT_BENCHMARK)
        settings = benchmark.eval_settings_from_args(args)
        retain = args.retain_model
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
