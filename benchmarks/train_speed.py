"""Benchmark: training cost of every unlearning method (step time, tokens/s, peak memory).

    python benchmarks/train_speed.py                     # tiny model on CPU (+ Llama-3.2-1B architecture on GPU)
    python benchmarks/train_speed.py --model llama-1b --steps 10 --methods NPO RMU
    python benchmarks/train_speed.py --json results.json

Each method runs in its own process, so peak memory is its own: peak RSS on CPU, `torch.cuda.max_memory_allocated`
on GPU. Same data (TOFU forget10 + retain90 from the bundled copy), batch and settings for every method: fp32 master
weights (bf16 autocast on GPU), AdamW, the method's default hyper-parameters. The first `--warmup` steps are not
timed. Tokens/s counts the tokens of the sub-batches a method runs its model on (forget, retain, refusal). The
Llama-3.2-1B-architecture model has random weights and the tiny tokenizer: its cost, not its knowledge, matters.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

#: (label, method, extra settings). "+pre" rows use precomputed reference log-probs.
RUNS = [
    ("GradAscent", "GradAscent", {}),
    ("GradDiff", "GradDiff", {}),
    ("GradDiff (KL)", "GradDiff", {"retain_loss_type": "KL"}),
    ("NPO", "NPO", {}),
    ("NPO +pre", "NPO", {"precompute_ref_log_probs": True}),
    ("SimNPO", "SimNPO", {}),
    ("IdkDPO", "IdkDPO", {}),
    ("IdkDPO +pre", "IdkDPO", {"precompute_ref_log_probs": True}),
    ("IdkNLL", "IdkNLL", {}),
    ("RMU", "RMU", {}),
    ("UNDIAL", "UNDIAL", {}),
    ("WGA", "WGA", {}),
    ("SatImp", "SatImp", {}),
    ("CEU", "CEU", {}),
    ("PDU", "PDU", {"retain_loss_eps": 0.3}),
]
#: Sub-batches each method runs the model on (default: all).
FORWARDED = {"GradAscent": ("forget",), "CEU": ("forget",), "UNDIAL": ("forget",)}
RMU_LAYER = {"tiny": r"model\.layers\.2", "llama-1b": r"model\.layers\.7"}


def _build_model(kind: str, tokenizer, device: str):
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM

    from hf_unlearn.tiny import LLAMA_3_2_1B_CONFIG, ensure_tiny

    if kind == "tiny":
        return AutoModelForCausalLM.from_pretrained(ensure_tiny(), dtype=torch.float32).to(device)
    config = LlamaConfig(pad_token_id=tokenizer.pad_token_id, **LLAMA_3_2_1B_CONFIG)
    torch.manual_seed(0)
    with torch.device(device):
        return LlamaForCausalLM(config)


class _Timer:
    """Trainer callback timing optimizer steps (synchronising CUDA)."""

    def __init__(self, device: str) -> None:
        from transformers import TrainerCallback

        timer = self
        self.device, self.times, self._start = device, [], 0.0

        class Callback(TrainerCallback):
            def on_step_begin(self, args, state, control, **kwargs):
                timer._sync()
                timer._start = time.perf_counter()

            def on_step_end(self, args, state, control, **kwargs):
                timer._sync()
                timer.times.append(time.perf_counter() - timer._start)

        self.callback = Callback()

    def _sync(self) -> None:
        if self.device == "cuda":
            import torch

            torch.cuda.synchronize()


def run_one(label: str, model_kind: str, device: str, steps: int, warmup: int, batch: int, accum: int) -> dict:
    """Train one method for warmup + steps optimizer steps in this process; return its measurements."""
    import torch
    from transformers import AutoTokenizer

    from hf_unlearn.data.collator import NestedPaddingCollator
    from hf_unlearn.data.formatting import ChatFormatter
    from hf_unlearn.data.pairing import ForgetRetainDataset
    from hf_unlearn.data.tofu import load_split
    from hf_unlearn.methods import METHODS
    from hf_unlearn.tiny import ensure_tiny
    from hf_unlearn.trainers.base import leaf_batches

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    _, method, extra = next(r for r in RUNS if r[0] == label)
    spec = METHODS[method]
    tokenizer = AutoTokenizer.from_pretrained(ensure_tiny())
    fmt = ChatFormatter(tokenizer)
    n_forget = min(400, (steps + warmup) * batch * accum)
    rows = {"forget": load_split("forget10", "bundled")[:n_forget], "retain": load_split("retain90", "bundled")[:400]}
    if spec.dataset_builder:
        dataset = spec.build_dataset({"seed": 0}, fmt, rows)
    else:
        dataset = ForgetRetainDataset(fmt.encode_rows(rows["forget"]), fmt.encode_rows(rows["retain"]), seed=0)
    forwarded = FORWARDED.get(method)
    tokens: list[int] = []
    collator = NestedPaddingCollator(fmt.pad_token_id)

    def counting_collator(items):
        out = collator(items)
        if "input_ids" not in items[0]:  # training batches only, not the reference precompute
            tokens.append(
                sum(int(leaf["attention_mask"].sum()) for path, leaf in leaf_batches(out) if _used(path, forwarded))
            )
        return out

    cls = spec.trainer_class()
    params = {k: p.default for k, p in spec.params.items() if p.default is not None}
    params.update(extra)
    if method == "RMU":
        params["module_regex"] = RMU_LAYER[model_kind]
    tmp = tempfile.mkdtemp(prefix="train_speed_")
    config = cls.config_class(
        output_dir=tmp,
        per_device_train_batch_size=batch,
        gradient_accumulation_steps=accum,
        max_steps=steps + warmup,
        learning_rate=1e-5,
        lr_scheduler_type="constant",
        weight_decay=0.01,
        bf16=device == "cuda",
        use_cpu=device == "cpu",
        report_to="none",
        save_strategy="no",
        logging_steps=10_000,
        disable_tqdm=True,
        seed=0,
        **params,
    )
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    model = _build_model(model_kind, tokenizer, device)
    ref = _build_model(model_kind, tokenizer, device) if cls.requires_reference(config) else None
    timer = _Timer(device)
    trainer = cls(
        model=model,
        args=config,
        ref_model=ref,
        train_dataset=dataset,
        data_collator=counting_collator,
        callbacks=[timer.callback],
    )
    del ref
    collator.keep_index = config.precompute_ref_log_probs  # the precomputed table is keyed by item index
    start = time.perf_counter()
    trainer.train()
    wall = time.perf_counter() - start
    timed = timer.times[warmup:] or timer.times
    step = statistics.median(timed)
    tokens_per_step = sum(tokens) / max(len(tokens), 1) * accum
    if device == "cuda":
        peak = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "label": label,
        "method": method,
        "model": model_kind,
        "device": torch.cuda.get_device_name(0) if device == "cuda" else "CPU",
        "steps_timed": len(timed),
        "step_time_s": step,
        "tokens_per_s": tokens_per_step / step,
        "peak_memory_mib": peak,
        "train_wall_s": wall,
        "effective_batch": batch * accum,
    }


def _used(path: str, forwarded) -> bool:
    return forwarded is None or path.split(".")[0] in forwarded


def _format(results: list[dict]) -> str:
    lines = [
        f"{'method':<16} {'step time (ms)':>15} {'tokens/s':>10} {'peak memory (MiB)':>18}   device",
        "-" * 80,
    ]
    for r in results:
        if "error" in r:
            lines.append(f"{r['label']:<16} failed: {r['error']}")
            continue
        lines.append(
            f"{r['label']:<16} {r['step_time_s'] * 1000:>15.1f} {r['tokens_per_s']:>10.0f} "
            f"{r['peak_memory_mib']:>18.0f}   {r['device']} ({r['model']}, batch {r['effective_batch']})"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["tiny", "llama-1b", "auto"], default="auto")
    parser.add_argument("--device", choices=["cpu", "cuda", "auto"], default="auto")
    parser.add_argument("--methods", nargs="*", default=None, help="labels from RUNS (default: all)")
    parser.add_argument("--steps", type=int, default=8, help="timed optimizer steps per method")
    parser.add_argument("--warmup", type=int, default=2, help="untimed optimizer steps first")
    parser.add_argument("--batch", type=int, default=8, help="per-device micro-batch")
    parser.add_argument("--accum", type=int, default=1, help="gradient accumulation steps")
    parser.add_argument("--json", default=None, help="also write the results here")
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.one:
        result = run_one(args.one, args.model, args.device, args.steps, args.warmup, args.batch, args.accum)
        print("RESULT " + json.dumps(result))
        return 0

    import torch

    cuda = torch.cuda.is_available()
    if args.device == "cuda" and not cuda:
        print("no CUDA device: nothing to run on cuda", file=sys.stderr)
        return 1
    if args.model == "auto":  # the tiny model on CPU, and the 1B architecture where there is a GPU
        settings = [("tiny", "cpu")] if args.device in ("cpu", "auto") else []
        settings += [("llama-1b", "cuda")] if cuda and args.device in ("cuda", "auto") else []
    else:  # the model asked for, on the device asked for (auto: the GPU if there is one)
        settings = [(args.model, args.device if args.device != "auto" else ("cuda" if cuda else "cpu"))]
    labels = args.methods or [label for label, _, _ in RUNS]
    unknown = [label for label in labels if label not in {r[0] for r in RUNS}]
    if unknown:
        print(f"unknown method label(s) {unknown}; choose from {[r[0] for r in RUNS]}", file=sys.stderr)
        return 2
    results = []
    for model_kind, device in settings:
        for label in labels:
            cmd = [sys.executable, __file__, "--one", label, "--model", model_kind, "--device", device]
            cmd += ["--steps", str(args.steps), "--warmup", str(args.warmup)]
            cmd += ["--batch", str(args.batch), "--accum", str(args.accum)]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
            if proc.returncode or not lines:
                error = (proc.stderr.strip().splitlines() or ["no output"])[-1]
                results.append({"label": label, "model": model_kind, "error": error})
            else:
                results.append(json.loads(lines[-1][len("RESULT ") :]))
            print(_format(results[-1:]).splitlines()[-1], flush=True)
    print()
    print(_format(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0 if all("error" not in r for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
