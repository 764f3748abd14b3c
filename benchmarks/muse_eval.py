"""Benchmark: the MUSE evaluation, hf_unlearn's engine vs a straightforward per-metric implementation.

    python benchmarks/muse_eval.py                    # the untrained tiny model on a synthetic MUSE-News corpus
    python benchmarks/muse_eval.py --model PATH --people 25 --verbmem-tokens 128

The baseline computes the same definitions the way open-unlearning does: metric by metric, each tokenising its
dataset again, prompts one text at a time; `model.generate` in fixed batches in dataset order (16 KnowMem prompts,
8 VerbMem prompts, left-padded, each full 10-shot prompt recomputed); teacher-forced passes in fixed right-padded
batches of 8 with a full-vocabulary log-softmax, VerbMem scored once per metric. The metric maths are the
package's pure functions, so any difference comes from how the model quantities were obtained. Both run in this
process on the same model, one after the other; the script prints both timings, the speed-up, and whether the
numbers are the same (generations of an untrained model can flip on near ties between two float paths).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402

from hf_unlearn.evaluation import metrics as M  # noqa: E402
from hf_unlearn.evaluation.generation import stop_token_ids  # noqa: E402
from hf_unlearn.evaluation.muse import engine  # noqa: E402, F401  (imported before the clock starts)
from hf_unlearn.evaluation.muse import metrics as MM  # noqa: E402
from hf_unlearn.evaluation.muse.evaluator import _run_loaded, load_sets  # noqa: E402
from hf_unlearn.evaluation.muse.settings import MuseEvalSettings, closure  # noqa: E402
from hf_unlearn.evaluation.muse.suite import needs, reference_metrics  # noqa: E402
from hf_unlearn.evaluation.suite import mia_result  # noqa: E402

HERE = Path(__file__).resolve().parent
KNOWMEM_BATCH, VERBMEM_BATCH, SCORE_BATCH = 16, 8, 8


class Baseline:
    """One model and its eval sets; each metric method does its own model passes."""

    def __init__(self, model, tokenizer, sets: dict, settings: MuseEvalSettings) -> None:
        self.model, self.tok, self.sets, self.s = model, tokenizer, sets, settings
        self.device = next(model.parameters()).device
        self.pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self.stops = sorted(stop_token_ids(model, tokenizer))

    def _ids(self, text: str) -> list[int]:
        return MM.with_bos(self.tok(text, add_special_tokens=False)["input_ids"], self.tok.bos_token_id)

    def _decode(self, ids) -> str:
        return self.tok.decode(ids, skip_special_tokens=True)

    def _generate(self, prompts: list[list[int]], batch: int, max_new: int) -> list[list[int]]:
        out = []
        for start in range(0, len(prompts), batch):
            chunk = prompts[start : start + batch]
            width = max(len(p) for p in chunk)
            ids = torch.tensor([[self.pad] * (width - len(p)) + p for p in chunk], device=self.device)
            mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in chunk], device=self.device)
            with torch.no_grad():
                gen = self.model.generate(
                    input_ids=ids, attention_mask=mask, max_new_tokens=max_new, do_sample=False,
                    pad_token_id=self.pad, eos_token_id=self.stops,
                )  # fmt: skip
            for row in gen[:, width:].tolist():
                kept = []
                for tok in row:
                    if tok in self.stops:
                        break
                    kept.append(tok)
                out.append(kept)
        return out

    def _token_detail(self, seqs: list[tuple[list[int], list[int]]]) -> list[tuple[list[float], list[bool]]]:
        """Per (prompt, tail): log-probs and argmax matches over the tail tokens except the last."""
        out = []
        for start in range(0, len(seqs), SCORE_BATCH):
            chunk = seqs[start : start + SCORE_BATCH]
            full = [p + t for p, t in chunk]
            width = max(len(f) for f in full)
            ids = torch.tensor([f + [self.pad] * (width - len(f)) for f in full], device=self.device)
            mask = torch.tensor([[1] * len(f) + [0] * (width - len(f)) for f in full], device=self.device)
            with torch.no_grad():
                logp = torch.log_softmax(self.model(input_ids=ids, attention_mask=mask).logits.float(), -1)
            for row, (p, t) in enumerate(chunk):
                pos = torch.arange(len(p) - 1, len(p) + len(t) - 2, device=self.device)
                target = torch.tensor(t[:-1], device=self.device)
                lp = logp[row, pos].gather(-1, target[:, None]).squeeze(-1)
                out.append((lp.tolist(), (logp[row, pos].argmax(-1) == target).tolist()))
        return out

    def knowmem(self, ds: str) -> dict:
        shots = [(r["question"], r["answer"]) for r in self.sets[f"{ds}_icl"]]
        rows = self.sets[ds]
        prompts = [self._ids(MM.icl_prompt(shots, r["question"]))[: self.s.knowmem_max_length] for r in rows]
        gens = self._generate(prompts, KNOWMEM_BATCH, self.s.knowmem_max_new_tokens)
        items = [
            MM.rouge_item(
                r["answer"].strip(),
                MM.clean_generation(self._decode(g), self.tok.eos_token, MM.KNOWMEM_STOP_WORDS),
                self._decode(p),
            )
            for r, p, g in zip(rows, prompts, gens, strict=True)
        ]
        return MM.rouge_result(items)

    def _verbmem_pairs(self) -> list[tuple[list[int], list[int]]]:
        pairs = []
        for r in self.sets["verbmem"]:
            prompt = self._ids(r["prompt"])
            pairs.append(MM.completion_tail(len(prompt), self._ids(r["prompt"] + " " + r["gt"]), self.s.max_length))
        return pairs

    def verbmem(self) -> dict:
        prompts = [self._ids(r["prompt"]) for r in self.sets["verbmem"]]
        gens = self._generate(prompts, VERBMEM_BATCH, self.s.verbmem_max_new_tokens)
        items = []
        for p, g, (_, tail) in zip(prompts, gens, self._verbmem_pairs(), strict=True):
            prompt_text = self._decode(p)
            truth = MM.ground_truth(self._decode(tail), prompt_text)
            items.append(MM.rouge_item(truth, MM.clean_generation(self._decode(g), self.tok.eos_token), prompt_text))
        return MM.rouge_result(items)

    def extraction_strength(self) -> dict:
        detail = self._token_detail(self._verbmem_pairs())
        return MM.scores_result([M.extraction_strength(m, self.s.es_one_over_n) for _, m in detail])

    def mia_min_k(self) -> dict:
        scores = {}
        for ds in ("privleak_forget", "privleak_holdout"):
            docs = [
                MM.document_ids(self.tok(r["text"], add_special_tokens=False)["input_ids"], self.tok.bos_token_id,
                                self.s.max_length)
                for r in self.sets[ds]
            ]  # fmt: skip
            detail = self._token_detail([(d[:1], d[1:]) for d in docs])
            scores[ds] = [M.min_k_score(lp, self.s.min_k_ratio) for lp, _ in detail]
        return mia_result(scores["privleak_forget"], scores["privleak_holdout"])

    def evaluate(self) -> dict:
        results = {
            "forget_knowmem_ROUGE": self.knowmem("forget_qa"),
            "retain_knowmem_ROUGE": self.knowmem("retain_qa"),
            "forget_verbmem_ROUGE": self.verbmem(),
            "mia_min_k": self.mia_min_k(),
            "extraction_strength": self.extraction_strength(),
        }
        results.update(reference_metrics(["mia_min_k", "privleak"], results, {"mia_min_k": {"agg_value": 0.5}}))
        return results


def _differences(ours: dict, base: dict) -> tuple[float, int]:
    """Largest |difference| of any number, and how many generations differ."""
    worst, generations = 0.0, 0

    def walk(a, b):
        nonlocal worst, generations
        if isinstance(a, dict):
            for key in a.keys() | b.keys():
                walk(a.get(key), b.get(key))
        elif isinstance(a, str) or a is None:
            generations += a != b
        else:
            worst = max(worst, abs(float(a) - float(b)))

    walk(ours, base)
    return worst, generations


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="tiny", help="'tiny' (untrained), 'llama-1b' (random, GPU) or a folder")
    parser.add_argument("--people", type=int, default=25, help="synthetic people per fold (forget QAs: 3 each)")
    parser.add_argument("--icl", type=int, default=10, help="in-context examples per KnowMem side")
    parser.add_argument("--verbmem-tokens", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--generation-batch-size", type=int, help="default: 32 on CUDA, 128 on CPU")
    args = parser.parse_args()
    from hf_unlearn.data.muse_synthetic import write_synthetic_muse
    from hf_unlearn.models import load_eval_model, load_tokenizer
    from hf_unlearn.tiny import save_tiny

    device = "cuda" if torch.cuda.is_available() else "cpu"
    with tempfile.TemporaryDirectory() as tmp:
        # a fresh folder name: the datasets cache of a local folder does not notice that its files changed
        data = write_synthetic_muse(Path(tmp) / f"muse-{time.time_ns()}", fold_size=args.people, icl=args.icl)
        if args.model == "tiny":
            model_dir = save_tiny(Path(tmp) / "tiny")
        elif args.model == "llama-1b":
            sys.path.insert(0, str(HERE))
            from eval_speed import build_llama_1b

            model_dir = build_llama_1b(Path(tmp) / "llama-1b")
        else:
            model_dir = Path(args.model)
        settings = MuseEvalSettings(
            data_source=str(data), verbmem_max_new_tokens=args.verbmem_tokens, batch_size=args.batch_size,
            generation_batch_size=args.generation_batch_size,
        )  # fmt: skip
        names = closure(settings.metrics)
        sets = load_sets(settings, needs(names).datasets)
        model = load_eval_model(model_dir, settings.resolved_dtype(), device)
        tokenizer = load_tokenizer(str(model_dir))
        timings, results = {}, {}
        for impl in ("baseline", "ours"):
            if device == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            if impl == "ours":
                with torch.no_grad():
                    results[impl], stats = _run_loaded(model, tokenizer, settings, sets, names, progress=False)
                ref = {"mia_min_k": {"agg_value": 0.5}}
                results[impl].update(reference_metrics(names, results[impl], ref))
            else:
                results[impl] = Baseline(model, tokenizer, sets, settings).evaluate()
            if device == "cuda":
                torch.cuda.synchronize()
            timings[impl] = time.perf_counter() - start
    sizes = ", ".join(f"{k} {len(v)}" for k, v in sets.items())
    print(f"MUSE evaluation of {args.model} on {device} ({settings.resolved_dtype()}): {sizes}")
    for impl in ("baseline", "ours"):
        print(f"  {impl:<9} {timings[impl]:8.2f} s")
    print(f"  speed-up  {timings['baseline'] / timings['ours']:8.2f}x")
    print(f"  engine passes: {stats}")
    worst, differing = _differences(results["ours"], results["baseline"])
    tolerance = 1e-4 if settings.resolved_dtype() == "float32" else 5e-2
    print(f"  max |difference| of any number: {worst:.2e}; differing texts: {differing}")
    for key in sorted(results["ours"]):
        print(
            f"    {key:<22} ours {results['ours'][key]['agg_value']!s:<22} baseline {results['baseline'][key]['agg_value']}"
        )
    print(f"  identical numbers (tolerance {tolerance:g}): {'yes' if worst <= tolerance and not differing else 'NO'}")


if __name__ == "__main__":
    main()
