"""Benchmark: the full TOFU evaluation, hf_unlearn's evaluator vs the straightforward per-metric baseline.

    python benchmarks/eval_speed.py               # the tiny target on CPU, full forget10 (+ a Llama-3.2-1B-
                                                  # architecture model on GPU when CUDA is available)
    python benchmarks/eval_speed.py --model tiny  # the untrained tiny model: every generation runs 200 tokens
    python benchmarks/eval_speed.py --model PATH --limit 100

The default CPU model is the embedded default's target: the tiny model finetuned by
`recipes/tiny/tofu_tiny-llama_full.yaml` (trained once, about a minute, then reused), a model that answers and
stops as evaluated models do. The untrained tiny model is the worst case for generation.

Each implementation runs in its own process (same model, data and settings), so peak memory is its own. Prints
wall time, sequences/s, generated tokens/s and peak memory per implementation, the speed-up, and checks that the
two produce the same numbers (max differences, and how many generations differ).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

HERE = Path(__file__).resolve().parent


def build_llama_1b(directory: Path) -> Path:
    """A randomly initialised Llama-3.2-1B-architecture model (bf16) with the tiny tokenizer, saved to a folder.

    Random weights rarely emit an end-of-turn token, so every generation runs the full max_new_tokens: the
    benchmark's worst case for generation.
    """
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    from hf_unlearn.tiny import BOS, EOT, EOT_TEXT, LLAMA_3_2_1B_CONFIG, PAD, build_tokenizer

    tok = build_tokenizer()
    vocab = tok.get_vocab()
    ids = dict(bos_token_id=vocab[BOS], eos_token_id=[vocab[EOT], vocab[EOT_TEXT]], pad_token_id=vocab[PAD])
    torch.manual_seed(0)
    with torch.device("cuda" if torch.cuda.is_available() else "cpu"):
        model = LlamaForCausalLM(LlamaConfig(**LLAMA_3_2_1B_CONFIG, **ids))
    model.generation_config = GenerationConfig(**ids, do_sample=False)
    tok.save_pretrained(directory)
    model.to(torch.bfloat16).save_pretrained(directory)
    return directory


def tiny_target() -> Path:
    """The embedded default's finetuned tiny target, trained on first use into the HF_HOME cache and reused."""
    from huggingface_hub import constants

    from hf_unlearn.demo import TARGET_RECIPE, placed_recipe, tiny_recipes_dir, train_or_reuse

    out = Path(constants.HF_HOME) / "hf_unlearn" / "benchmark"
    return Path(train_or_reuse(placed_recipe(tiny_recipes_dir() / TARGET_RECIPE, out, {})))


def _peak_memory(device: str) -> str:
    import torch

    if device.startswith("cuda"):
        return f"{torch.cuda.max_memory_allocated() / 2**30:.2f} GiB GPU"
    return f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB RSS"


def child(args: argparse.Namespace) -> None:
    """Run one implementation and write its results and timings as JSON."""
    import torch

    from hf_unlearn.data.formatting import ChatFormatter
    from hf_unlearn.evaluation.eval_sets import load_eval_sets
    from hf_unlearn.evaluation.runner import RunOptions, run_model
    from hf_unlearn.evaluation.suite import closure, compute_model_metrics, compute_reference_metrics, needs
    from hf_unlearn.models import load_eval_model, load_tokenizer

    torch.set_num_threads(args.threads)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    dtype = args.dtype or ("bfloat16" if device.startswith("cuda") else "float32")
    model = load_eval_model(Path(args.model_dir), dtype, device)
    formatter = ChatFormatter(load_tokenizer(args.model_dir), eos_as_pad=args.eos_as_pad)
    top = tuple(args.metrics.split(","))
    names = closure(top)
    need = needs(names)
    sets = load_eval_sets(need.datasets, args.forget_split, "auto", holdout_file=args.holdout_file, limit=args.limit)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    cpu_start = time.process_time()
    if args.child == "ours":
        options = RunOptions(
            batch_size=args.batch_size,
            generation_batch_size=args.generation_batch_size or (512 if device.startswith("cuda") else 128),
            max_new_tokens=args.max_new_tokens,
            eos_as_pad=args.eos_as_pad,
            es_one_over_n=args.eos_as_pad,
        )
        outputs, stats = run_model(model, formatter, sets, need, options)
        results = compute_model_metrics(names, outputs)
        results.update(compute_reference_metrics(names, results, None))
        stats = stats.as_dict()
    else:
        sys.path.insert(0, str(HERE))
        from eval_baseline import BaselineEvaluator

        baseline = BaselineEvaluator(model, formatter, sets.rows, sets.absent, args.max_new_tokens, args.eos_as_pad)
        results = baseline.evaluate(top)
        stats = baseline.stats
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    wall = time.perf_counter() - start
    report = {
        "wall_s": wall,
        "cpu_s": time.process_time() - cpu_start,
        "stats": stats,
        "peak_memory": _peak_memory(device),
        "device": device,
        "dtype": dtype,
    }
    Path(args.out).write_text(json.dumps({"report": report, "results": results}))


def _numbers(a, b, path=""):
    """Yield (path, |a-b| / max(1, |b|)) for numbers and (path, None) for differing strings, over two results trees."""
    if isinstance(a, dict):
        for key in a.keys() | b.keys():
            yield from _numbers(a.get(key), b.get(key), f"{path}/{key}")
    elif isinstance(a, list):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            yield from _numbers(x, y, f"{path}[{i}]")
    elif isinstance(a, bool) or a is None or isinstance(a, str):
        if a != b:
            yield path, None
    else:
        yield path, abs(float(a) - float(b)) / max(1.0, abs(float(b))) if b is not None else float("inf")


def compare(ours: dict, base: dict) -> dict:
    diffs = list(_numbers(ours, base))
    numeric = [(p, d) for p, d in diffs if d is not None]
    strings = [p for p, d in diffs if d is None]
    agg = [d for p, d in numeric if p.endswith("/agg_value")]
    generations = [p for p in strings if p.endswith("/generation")]
    worst = max(numeric, key=lambda x: x[1]) if numeric else ("", 0.0)
    return {
        "numbers": len(numeric),
        "max_abs_diff": worst[1],
        "max_abs_diff_at": worst[0],
        "max_abs_diff_aggregates": max(agg) if agg else 0.0,
        "differing_generations": len(generations),
        "other_differing_strings": [p for p in strings if not p.endswith(("/generation",))][:5],
    }


def run_case(label: str, model_dir: Path, args: argparse.Namespace, device: str | None) -> None:
    outputs = {}
    impls = ["baseline", "ours"] if args.impl == "both" else [args.impl]
    for impl in impls:
        with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as fh:
            out = fh.name
        cmd = [
            sys.executable,
            __file__,
            "--child",
            impl,
            "--model-dir",
            str(model_dir),
            "--out",
            out,
            "--forget-split",
            args.forget_split,
            "--max-new-tokens",
            str(args.max_new_tokens),
            "--metrics",
            args.metrics,
            "--batch-size",
            str(args.batch_size),
            "--threads",
            str(args.threads),
        ]
        cmd += ["--limit", str(args.limit)] if args.limit else []
        cmd += ["--generation-batch-size", str(args.generation_batch_size)] if args.generation_batch_size else []
        cmd += ["--device", device] if device else []
        cmd += ["--eos-as-pad"] if args.eos_as_pad else []
        cmd += ["--holdout-file", args.holdout_file] if args.holdout_file else []
        print(f"[{label}] running {impl} ...", flush=True)
        subprocess.run(cmd, check=True)
        outputs[impl] = json.loads(Path(out).read_text())
        Path(out).unlink()
    first = next(iter(outputs.values()))["report"]
    print(
        f"\n== {label}: {model_dir} on {first['device']} ({first['dtype']}), {args.forget_split}"
        f"{f' (first {args.limit} items per set)' if args.limit else ''}, max_new_tokens {args.max_new_tokens}, "
        f"metrics {args.metrics}"
    )
    print(
        f"{'impl':<9} {'wall_s':>8} {'cpu_s':>8} {'scored':>7} {'seq/s':>8} {'gen_tok':>8} {'tok/s':>8}  peak memory"
    )
    for impl, data in outputs.items():
        rep, st = data["report"], data["report"]["stats"]
        seq_rate = st["sequences_scored"] / max(st["scoring_s"], 1e-9)
        tok_rate = st["tokens_generated"] / max(st["generation_s"], 1e-9)
        print(
            f"{impl:<9} {rep['wall_s']:>8.1f} {rep['cpu_s']:>8.1f} {st['sequences_scored']:>7} {seq_rate:>8.1f} "
            f"{st['tokens_generated']:>8} {tok_rate:>8.1f}  {rep['peak_memory']}"
        )
    if len(outputs) == 2:
        speedup = outputs["baseline"]["report"]["wall_s"] / outputs["ours"]["report"]["wall_s"]
        cpu_speedup = outputs["baseline"]["report"]["cpu_s"] / outputs["ours"]["report"]["cpu_s"]
        cmp = compare(outputs["ours"]["results"], outputs["baseline"]["results"])
        print(
            f"speed-up: {speedup:.2f}x wall time, {cpu_speedup:.2f}x CPU time (the latter is steadier on a shared box)"
        )
        print(
            f"numbers: {cmp['numbers']} compared, max relative |diff| {cmp['max_abs_diff']:.2e} at {cmp['max_abs_diff_at']}, "
            f"aggregates max |diff| {cmp['max_abs_diff_aggregates']:.2e}; "
            f"differing generations: {cmp['differing_generations']}"
        )
        if cmp["other_differing_strings"]:
            print(f"other differing strings: {cmp['other_differing_strings']}")
        tolerance = 1e-4 if first["dtype"] == "float32" else 5e-2
        same = cmp["max_abs_diff"] <= tolerance and not cmp["other_differing_strings"]
        print(f"identical numbers (tolerance {tolerance:g}): {'yes' if same else 'NO'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--model",
        default="tiny-target",
        help="CPU case: 'tiny-target' (the finetuned tiny target), 'tiny' (untrained), 'llama-1b' (the GPU case's "
        "random Llama-3.2-1B architecture) or a model folder",
    )
    parser.add_argument("--forget-split", default="forget10")
    parser.add_argument("--limit", type=int, help="first N items per evaluation set (default: all)")
    parser.add_argument("--max-new-tokens", type=int, default=200)
    parser.add_argument("--metrics", default="default", help="comma-separated top-level metrics, or 'default'/'all'")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--generation-batch-size", type=int, help="default: 512 on CUDA, 128 on CPU")
    parser.add_argument("--impl", choices=("both", "ours", "baseline"), default="both")
    parser.add_argument("--eos-as-pad", action="store_true")
    parser.add_argument("--holdout-file", help="JSON Lines holdout set for the MIA metrics (offline has none)")
    parser.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "1")))
    parser.add_argument("--no-gpu", action="store_true", help="skip the GPU case even when CUDA is available")
    parser.add_argument("--gpu-only", action="store_true", help="only the GPU case")
    parser.add_argument("--child", choices=("ours", "baseline"), help=argparse.SUPPRESS)
    parser.add_argument("--model-dir", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--device", help=argparse.SUPPRESS)
    parser.add_argument("--dtype", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    from hf_unlearn.evaluation.suite import parse_metrics

    args.metrics = ",".join(parse_metrics(args.metrics))
    import torch

    from hf_unlearn.models import resolve_model_path

    if not args.gpu_only and args.model == "llama-1b":
        with tempfile.TemporaryDirectory() as tmp:
            run_case("CPU", build_llama_1b(Path(tmp) / "llama-3.2-1b-arch"), args, "cpu")
    elif not args.gpu_only:
        model_dir = tiny_target() if args.model == "tiny-target" else Path(resolve_model_path(args.model))
        run_case("CPU", model_dir, args, "cpu")
    if torch.cuda.is_available() and not args.no_gpu:
        with tempfile.TemporaryDirectory() as tmp:
            run_case("GPU", build_llama_1b(Path(tmp) / "llama-3.2-1b-arch"), args, "cuda")
    elif not args.no_gpu:
        print("\n(no CUDA device: the Llama-3.2-1B-architecture GPU case is skipped)")


if __name__ == "__main__":
    main()
