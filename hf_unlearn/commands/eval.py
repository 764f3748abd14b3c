"""`hf-unlearn eval MODEL --output-dir DIR [--benchmark tofu] [...]`: a benchmark's evaluation suite."""

from __future__ import annotations

import argparse

from hf_unlearn.benchmarks import BENCHMARKS, DEFAULT_BENCHMARK, get_benchmark
from hf_unlearn.errors import file_system_errors
from hf_unlearn.evaluation.settings import DTYPES, setting_default

DESCRIPTION = """\
Evaluate a causal LM (Hub id or local folder) on a benchmark (default: TOFU). Writes the benchmark's result files
in open-unlearning's layout into DIR (TOFU: DIR/TOFU_EVAL.json with every metric and per-item values,
DIR/TOFU_SUMMARY.json with the top-level values) plus DIR/eval_meta.json (fingerprint), and prints a table.
Stored results are reused only when their fingerprint matches. Forget quality and privleak need a reference:
the retain model (--retain-model) or its stored results (--retain-logs)."""

EPILOG = (
    """\
examples:
  hf-unlearn eval saves/unlearn/RUN --forget-split forget10 --output-dir evals/run \\
      --retain-model open-unlearning/tofu_Llama-3.2-1B-Instruct_retain90
  hf-unlearn eval tiny --forget-split forget01 --data-source bundled --limit 4 --output-dir /tmp/quick
  hf-unlearn eval MODEL --output-dir DIR --holdout-file my_holdout.jsonl   # lines: {"question": ..., "answer": ...}
  hf-unlearn eval MODEL --benchmark muse --corpus books --output-dir DIR

Each benchmark has its own options; this help lists those of the chosen one (TOFU by default). See another's
with: hf-unlearn eval --benchmark """
    + "|".join(sorted(BENCHMARKS))
    + " --help"
)


def add_parser(sub) -> None:
    p = sub.add_parser(
        "eval",
        help=f"evaluate a causal LM on {', '.join(b.title for b in BENCHMARKS.values())} "
        "(open-unlearning's metrics and files)",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", help="Hub id or local folder of the model to evaluate ('tiny': the tiny model)")
    p.add_argument("--benchmark", default=DEFAULT_BENCHMARK, choices=sorted(BENCHMARKS), help="default: %(default)s")
    p.add_argument("--output-dir", required=True, help="folder for the result files and eval_meta.json")
    ref = p.add_mutually_exclusive_group()
    ref.add_argument("--retain-logs", help="the retain model's eval file (TOFU: TOFU_EVAL.json) or its folder")
    ref.add_argument(
        "--retain-model", help="retain model (Hub id or folder): evaluated first into DIR/retain/, or reused"
    )
    p.add_argument(
        "--no-recompute", action="store_true", help="fail instead of recomputing when stored results are stale"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_model_arguments(p)
    p.option_hooks.append(add_benchmark_options)
    p.hint_hooks.append(benchmark_option_hint)
    p.set_defaults(func=run)


def add_model_arguments(p) -> None:
    """The model and batching options every benchmark's evaluation takes (`eval`, `attack`)."""
    model = p.add_argument_group("model and batching (every benchmark)")
    model.add_argument("--tokenizer", help="tokenizer id/folder (default: the model's)")
    model.add_argument(
        "--dtype",
        default=setting_default("dtype"),
        choices=DTYPES,
        help="default: %(default)s, i.e. bfloat16 on CUDA, float32 on CPU",
    )
    model.add_argument("--device", help="torch device (default: cuda when available, else cpu)")
    model.add_argument(
        "--batch-size",
        type=int,
        default=setting_default("batch_size"),
        help="sequences scored per forward (default %(default)s)",
    )
    model.add_argument("--limit", type=int, help="use only the first N items of each evaluation set (quick checks)")


def chosen_benchmark(argv: list[str], default: str | None = DEFAULT_BENCHMARK) -> str | None:
    """The `--benchmark` of a command line (`default` when absent; an unknown name is left to the parser)."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--benchmark", default=default)
    return pre.parse_known_args(argv)[0].benchmark


def add_benchmark_options(parser: argparse.ArgumentParser, argv: list[str], name: str | None = None) -> None:
    """Only the chosen benchmark's options (`name`, else the command line's `--benchmark`), with its own defaults
    and help: benchmarks share option names (`--metrics`, `--data-source`, ...) that mean different things to
    each."""
    name = name or chosen_benchmark(argv)
    if name in BENCHMARKS and not getattr(parser, "benchmark_options", None):
        benchmark = BENCHMARKS[name]
        benchmark.add_eval_arguments(parser.add_argument_group(f"{benchmark.title} options (--benchmark {name})"))
        parser.benchmark_options = name


def benchmark_option_hint(parser: argparse.ArgumentParser, argv: list[str], unknown: list[str]) -> str | None:
    """An option of another benchmark than the one whose options the parser has (`--corpus` without
    `--benchmark muse`): which benchmark has it."""
    chosen = getattr(parser, "benchmark_options", None) or chosen_benchmark(argv)
    hints = []
    for item in unknown:
        option = item.split("=", 1)[0]
        owners = [name for name in sorted(BENCHMARKS) if name != chosen and option in _eval_options(name)]
        if option.startswith("--") and owners:
            choices = " or ".join(f"--benchmark {name}" for name in owners)
            hints.append(f"{option} is an option of {choices}, not of {chosen}: add {choices}")
    return "; ".join(hints) or None


def _eval_options(benchmark: str) -> set[str]:
    probe = argparse.ArgumentParser(add_help=False)
    BENCHMARKS[benchmark].add_eval_arguments(probe)
    return {option for action in probe._actions for option in action.option_strings}


def run(args: argparse.Namespace, overrides: list[str]) -> int:
    benchmark = get_benchmark(args.benchmark)
    settings = benchmark.eval_settings_from_args(args)
    with file_system_errors(args.output_dir):
        benchmark.evaluate(
            args.model,
            args.output_dir,
            settings,
            retain_logs=args.retain_logs,
            retain_model=args.retain_model,
            no_recompute=args.no_recompute,
            progress=not args.no_progress,
        )
    return 0
