"""`hf-unlearn eval MODEL --forget-split forget10 --output-dir DIR [...]`: the TOFU evaluation suite."""

from __future__ import annotations

import argparse

from hf_unlearn.data.tofu import FORGET_SPLITS, HOLDOUT_SPLITS
from hf_unlearn.errors import file_system_errors
from hf_unlearn.evaluation.evaluator import DTYPES, EvalSettings, evaluate
from hf_unlearn.evaluation.gibberish import DEFAULT_GIBBERISH_MODEL

DESCRIPTION = """\
Evaluate a causal LM (Hub id or local folder) on TOFU. Writes DIR/TOFU_EVAL.json (every metric with per-item
values), DIR/TOFU_SUMMARY.json (top-level values) and DIR/eval_meta.json (fingerprint), and prints a table.
Stored results are reused only when their fingerprint matches. Forget quality and privleak need a reference:
the retain model (--retain-model) or its stored results (--retain-logs)."""

EPILOG = """\
examples:
  hf-unlearn eval saves/unlearn/RUN --forget-split forget10 --output-dir evals/run \\
      --retain-model open-unlearning/tofu_Llama-3.2-1B-Instruct_retain90
  hf-unlearn eval tiny --forget-split forget01 --data-source bundled --limit 4 --output-dir /tmp/quick
  hf-unlearn eval MODEL --output-dir DIR --holdout-file my_holdout.jsonl   # lines: {"question": ..., "answer": ...}"""


def add_parser(sub) -> None:
    p = sub.add_parser(
        "eval",
        help="evaluate a causal LM on TOFU (open-unlearning's metrics and file layout)",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", help="Hub id or local folder of the model to evaluate ('tiny': the tiny model)")
    p.add_argument("--forget-split", default="forget10", choices=FORGET_SPLITS)
    p.add_argument("--output-dir", required=True, help="folder for TOFU_EVAL.json, TOFU_SUMMARY.json, eval_meta.json")
    ref = p.add_mutually_exclusive_group()
    ref.add_argument("--retain-logs", help="the retain model's TOFU_EVAL.json (or its folder)")
    ref.add_argument(
        "--retain-model", help="retain model (Hub id or folder): evaluated first into DIR/retain/, or reused"
    )
    p.add_argument(
        "--holdout-split", choices=HOLDOUT_SPLITS, help="MIA non-members (default: matches the forget split)"
    )
    p.add_argument("--holdout-file", help="your own holdout set: JSON Lines with question and answer")
    p.add_argument(
        "--eos-as-pad",
        action="store_true",
        help="open-unlearning compatibility: pad = end-of-turn, masked everywhere (its numbers, its quirks)",
    )
    p.add_argument(
        "--metrics", default="default", help="'default', 'all', or comma-separated metric names (default: default)"
    )
    p.add_argument("--batch-size", type=int, default=32, help="answers scored per forward (default 32)")
    p.add_argument(
        "--generation-batch-size", type=int, help="prompts generated together (default: 512 on CUDA, 128 on CPU)"
    )
    p.add_argument("--max-new-tokens", type=int, default=200)
    p.add_argument("--limit", type=int, help="use only the first N items of each evaluation set (quick checks)")
    p.add_argument("--tokenizer", help="tokenizer id/folder (default: the model's)")
    p.add_argument("--data-source", default="auto", help="TOFU data: auto | hub | bundled | a folder of JSONL")
    p.add_argument("--dtype", default="auto", choices=DTYPES, help="auto: bfloat16 on CUDA, float32 on CPU")
    p.add_argument("--device", help="torch device (default: cuda when available, else cpu)")
    p.add_argument(
        "--gibberish-model",
        default=DEFAULT_GIBBERISH_MODEL,
        help="classifier (Hub id or folder) of the optional forget_Q_A_gibberish metric (default: %(default)s)",
    )
    es = p.add_mutually_exclusive_group()
    es.add_argument(
        "--es-one-over-n",
        dest="es_one_over_n",
        action="store_true",
        default=None,
        help="extraction strength floors at 1/n like open-unlearning (default with --eos-as-pad)",
    )
    es.add_argument("--no-es-one-over-n", dest="es_one_over_n", action="store_false", help="ES can reach 0")
    p.add_argument(
        "--no-recompute", action="store_true", help="fail instead of recomputing when stored results are stale"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, overrides: list[str]) -> int:
    settings = EvalSettings(
        forget_split=args.forget_split,
        metrics=args.metrics,
        holdout_split=args.holdout_split,
        holdout_file=args.holdout_file,
        data_source=args.data_source,
        eos_as_pad=args.eos_as_pad,
        es_one_over_n=args.es_one_over_n,
        max_new_tokens=args.max_new_tokens,
        limit=args.limit,
        dtype=args.dtype,
        tokenizer=args.tokenizer,
        batch_size=args.batch_size,
        generation_batch_size=args.generation_batch_size,
        device=args.device,
        gibberish_model=args.gibberish_model,
    )
    with file_system_errors(args.output_dir):
        evaluate(
            args.model,
            args.output_dir,
            settings,
            retain_logs=args.retain_logs,
            retain_model=args.retain_model,
            no_recompute=args.no_recompute,
            progress=not args.no_progress,
        )
    return 0
