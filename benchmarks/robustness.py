"""Benchmark: wall time of the robustness suite (measuring before, relearning with its control, 4-bit NF4).

    python benchmarks/robustness.py                              # two tiny models on CPU, small settings
    python benchmarks/robustness.py --model RUN_DIR --retain RETAIN_DIR --limit 40 --steps 13
    python benchmarks/robustness.py --json results.json

Without `--model`, two tiny models with different random weights stand in for the unlearned model and the retain
model (their cost, not their knowledge, matters). The times come from ROBUSTNESS.json (`wall_time_s` per attack)
and from the whole call, so "measure before" is the rest.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="unlearned model folder (default: a tiny model)")
    parser.add_argument("--retain", help="retain model folder (default: another tiny model)")
    parser.add_argument("--forget-split", default="forget01")
    parser.add_argument("--limit", type=int, default=8, help="items per evaluation set")
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--steps", type=int, default=4, help="relearning optimizer steps")
    parser.add_argument("--batch", type=int, default=4, help="relearning batch (no accumulation)")
    parser.add_argument("--attacks", default="relearn,quantize")
    parser.add_argument("--json", help="also write the timings here")
    args = parser.parse_args(argv)

    from hf_unlearn.benchmarks import get_benchmark
    from hf_unlearn.evaluation.settings import EvalSettings
    from hf_unlearn.robustness.suite import run_suite
    from hf_unlearn.tiny import save_tiny

    with tempfile.TemporaryDirectory() as tmp:
        model = args.model or str(save_tiny(Path(tmp) / "model", seed=1))
        retain = args.retain or str(save_tiny(Path(tmp) / "retain", seed=2))
        settings = EvalSettings(
            forget_split=args.forget_split, data_source="bundled", limit=args.limit, max_new_tokens=args.max_new_tokens
        )
        options = {"relearn": {"steps": args.steps, "batch_size": args.batch, "effective_batch_size": args.batch}}
        attacks = args.attacks.split(",")
        start = time.perf_counter()
        result = run_suite(
            get_benchmark("tofu"),
            model,
            attacks,
            Path(tmp) / "out",
            settings,
            retain_model=retain,
            options={k: v for k, v in options.items() if k in attacks},
            progress=False,
        )
        total = time.perf_counter() - start
    timings = {**result["wall_time_s"], "total": round(total, 2)}
    timings["measure_before"] = round(total - sum(result["wall_time_s"].values()), 2)
    for name, seconds in timings.items():
        print(f"{name:>16}: {seconds:8.2f} s")
    if args.json:
        Path(args.json).write_text(json.dumps({"settings": vars(args), "seconds": timings}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
