"""The straightforward TOFU evaluation: the benchmark's baseline (not part of the package).

It computes the same definitions as `hf_unlearn.evaluation` the way open-unlearning does: metric by metric, each
re-tokenising its dataset; fixed batches of 32 in dataset order, right-padded to the batch's longest row; one
forward per perturbed-answer slot; a full-vocabulary log-softmax for Min-K / extraction strength; generation
with `model.generate` in fixed batches per dataset. The metric maths (truth ratio, KS, ROUGE, AUC, ...) are the
package's pure functions, so any difference in numbers comes from how the model quantities were obtained.
"""

from __future__ import annotations

import math
import time

import torch

from hf_unlearn.data.collator import pad_features
from hf_unlearn.evaluation import metrics as M
from hf_unlearn.evaluation.generation import stop_token_ids
from hf_unlearn.evaluation.suite import SPECS, closure, compute_reference_metrics, mia_result

BATCH = 32


class BaselineEvaluator:
    """One model, one set of evaluation rows; `evaluate(names)` fills an open-unlearning style results dict."""

    def __init__(self, model, formatter, rows: dict, absent: dict, max_new_tokens=200, eos_as_pad=False):
        self.model = model
        self.formatter = formatter
        self.tokenizer = formatter.tokenizer
        self.rows = rows
        self.absent = absent
        self.max_new_tokens = max_new_tokens
        self.eos_as_pad = eos_as_pad
        self.device = next(model.parameters()).device
        self.cache: dict[str, dict] = {}
        self.stats = {
            "sequences_scored": 0,
            "scoring_s": 0.0,
            "prompts_generated": 0,
            "tokens_generated": 0,
            "generation_s": 0.0,
        }

    # ---- model passes, done again by every metric that needs them ------------------------------------------
    def _features(self, ds: str, field: str, slot: int | None = None) -> list[dict]:
        feats = []
        for row in self.rows[ds]:
            answer = row[field] if slot is None else row[field][slot]
            feats.append(self.formatter.encode(row["question"], answer))
        return feats

    def _forward(self, feats: list[dict]):
        start = time.perf_counter()
        batch = pad_features(feats, self.formatter.pad_token_id, "right", self.eos_as_pad)
        with torch.no_grad():
            logits = self.model(
                input_ids=batch["input_ids"].to(self.device), attention_mask=batch["attention_mask"].to(self.device)
            ).logits
        self.stats["sequences_scored"] += len(feats)
        self.stats["scoring_s"] += time.perf_counter() - start
        return logits.float(), batch["labels"].to(self.device)

    def _avg_losses(self, feats: list[dict]) -> list[float]:
        out = []
        for start in range(0, len(feats), BATCH):
            logits, labels = self._forward(feats[start : start + BATCH])
            shift_logits, shift_labels = logits[:, :-1], labels[:, 1:]
            mask = shift_labels != -100
            nll = torch.nn.functional.cross_entropy(
                shift_logits.transpose(1, 2), shift_labels.clamp_min(0), reduction="none"
            )
            out += ((nll * mask).sum(-1).double() / mask.sum(-1)).tolist()
        return out

    def _token_stats(self, feats: list[dict]) -> list[dict]:
        """Full-vocabulary log-softmax; per answer token (final label excluded): log-prob, argmax match, z."""
        out = []
        for start in range(0, len(feats), BATCH):
            logits, labels = self._forward(feats[start : start + BATCH])
            logp = torch.log_softmax(logits[:, :-1], dim=-1)
            probs = logp.exp()
            mu = (probs * logp).sum(-1)
            var = (probs * logp * logp).sum(-1) - mu * mu
            targets = labels[:, 1:]
            for b in range(logp.size(0)):
                pos = (targets[b] != -100).nonzero().squeeze(-1)[:-1]
                tok = targets[b, pos]
                lp = logp[b, pos, tok]
                out.append(
                    {
                        "logprobs": lp.tolist(),
                        "matches": (logp[b, pos].argmax(-1) == tok).tolist(),
                        "zscores": ((lp - mu[b, pos]) / var[b, pos].clamp_min(M.MIN_VARIANCE).sqrt()).tolist(),
                    }
                )
        return out

    def _generate(self, ds: str) -> list[dict]:
        stops = stop_token_ids(self.model, self.tokenizer)
        cleanup = self.eos_as_pad
        results = []
        rows = self.rows[ds]
        for start in range(0, len(rows), BATCH):
            chunk = rows[start : start + BATCH]
            prompts = [self.formatter.encode_prompt(r["question"]) for r in chunk]
            batch = pad_features(
                [{"input_ids": p} for p in prompts], self.formatter.pad_token_id, "left", self.eos_as_pad
            )
            start_time = time.perf_counter()
            with torch.no_grad():
                out = self.model.generate(
                    input_ids=batch["input_ids"].to(self.device),
                    attention_mask=batch["attention_mask"].to(self.device),
                    max_new_tokens=self.max_new_tokens,
                    do_sample=False,
                    pad_token_id=self.formatter.pad_token_id,
                    eos_token_id=sorted(stops),
                )
            self.stats["generation_s"] += time.perf_counter() - start_time
            width = batch["input_ids"].shape[1]
            for row, prompt, seq in zip(chunk, prompts, out[:, width:].tolist(), strict=True):
                tokens = []
                for tok in seq:
                    if tok in stops:
                        break
                    tokens.append(tok)
                self.stats["prompts_generated"] += 1
                self.stats["tokens_generated"] += len(tokens)
                prompt_text = self.tokenizer.decode(
                    prompt, skip_special_tokens=True, clean_up_tokenization_spaces=cleanup
                )
                if self.eos_as_pad:
                    full = self.formatter.encode(row["question"], row["answer"])["input_ids"]
                    truth = (
                        self.tokenizer.decode(full, skip_special_tokens=True, clean_up_tokenization_spaces=True)
                        .replace(prompt_text, "")
                        .strip()
                    )
                else:
                    truth = row["answer"].strip()
                generation = self.tokenizer.decode(
                    tokens, skip_special_tokens=True, clean_up_tokenization_spaces=cleanup
                ).strip()
                results.append({"input": prompt_text, "ground_truth": truth, "generation": generation})
        return results

    # ---- metrics ----------------------------------------------------------------------------------------------
    def _prob(self, spec) -> dict:
        rows = self.rows[spec.dataset]
        if isinstance(rows[0][spec.field], list):
            k = len(rows[0][spec.field])
            per_slot = [self._avg_losses(self._features(spec.dataset, spec.field, j)) for j in range(k)]
            by_index, means = {}, []
            for i in range(len(rows)):
                losses = [per_slot[j][i] for j in range(k)]
                probs = [math.exp(-x) for x in losses]
                by_index[str(i)] = {"prob": probs, "avg_loss": losses}
                means.append(sum(probs) / k)
            return {"agg_value": M.mean(means), "value_by_index": by_index}
        losses = self._avg_losses(self._features(spec.dataset, spec.field))
        by_index = {str(i): {"prob": math.exp(-x), "avg_loss": x} for i, x in enumerate(losses)}
        return {"agg_value": M.mean([v["prob"] for v in by_index.values()]), "value_by_index": by_index}

    def _rouge(self, spec) -> dict:
        by_index = {}
        for i, gen in enumerate(self._generate(spec.dataset)):
            by_index[str(i)] = {**M.rouge(gen["ground_truth"], gen["generation"]), **gen}
        return {"agg_value": M.mean([v["rougeL_recall"] for v in by_index.values()]), "value_by_index": by_index}

    def _truth_ratio(self, spec) -> dict:
        correct, wrong = (self.cache[c]["value_by_index"] for c in spec.children)
        by_index = {}
        for key, item in correct.items():
            c = item["avg_loss"] if isinstance(item["avg_loss"], list) else [item["avg_loss"]]
            by_index[key] = {"score": M.truth_ratio(c, wrong[key]["avg_loss"], spec.aggregator)}
        ratios = [v["score"] for v in by_index.values()]
        return {"agg_value": M.aggregate_truth_ratio(ratios, spec.aggregator), "value_by_index": by_index}

    def _normalised(self, spec) -> dict:
        correct, wrong = (self.cache[c]["value_by_index"] for c in spec.children)
        by_index = {k: {"prob": M.normalised_probability(v["prob"], wrong[k]["prob"])} for k, v in correct.items()}
        return {"agg_value": M.mean([v["prob"] for v in by_index.values()]), "value_by_index": by_index}

    def _mia(self, spec) -> dict:
        if "holdout" in self.absent:
            return {"agg_value": None, "absent_reason": self.absent["holdout"]}
        scores = {}
        for ds in ("forget", "holdout"):
            feats = self._features(ds, "answer")
            if spec.attack == "loss":
                scores[ds] = self._avg_losses(feats)
            elif spec.attack == "zlib":
                losses = self._avg_losses(feats)
                scores[ds] = [
                    M.zlib_score(x, self._zlib_text(r, f))
                    for x, r, f in zip(losses, self.rows[ds], feats, strict=True)
                ]
            elif spec.attack == "gradnorm":
                scores[ds] = [self._gradnorm(f) for f in feats]
            else:
                stats = self._token_stats(feats)
                if spec.attack == "min_k":
                    scores[ds] = [M.min_k_score(s["logprobs"]) for s in stats]
                else:
                    scores[ds] = [M.min_k_plus_plus_score(s["zscores"]) for s in stats]
        return mia_result(scores["forget"], scores["holdout"])

    def _zlib_text(self, row: dict, feat: dict) -> str:
        if self.eos_as_pad:
            return self.tokenizer.decode([t for t in feat["labels"] if t != -100], skip_special_tokens=True)
        return row["answer"].strip()

    def _gradnorm(self, feat: dict) -> float:
        ids = torch.tensor([feat["input_ids"]], device=self.device)
        mask = (ids != self.formatter.eos_token_id).long() if self.eos_as_pad else torch.ones_like(ids)
        self.model.zero_grad(set_to_none=True)
        with torch.enable_grad():
            logits = self.model(input_ids=ids, attention_mask=mask).logits[0, :-1].float()
            labels = torch.tensor(feat["labels"][1:], device=self.device)
            pos = (labels != -100).nonzero().squeeze(-1)[:-1]
            logp = torch.log_softmax(logits[pos], -1).gather(-1, labels[pos][:, None])
            (-logp.mean()).backward()
        norms = [float(p.grad.float().norm(2)) for p in self.model.parameters() if p.grad is not None]
        self.model.zero_grad(set_to_none=True)
        return M.mean_gradient_norm(norms)

    def _memorisation(self, spec) -> dict:
        stats = self._token_stats(self._features("forget", "answer"))
        if spec.kind == "es":
            scores = [M.extraction_strength(s["matches"], one_over_n_floor=self.eos_as_pad) for s in stats]
        else:
            scores = [M.exact_memorization(s["matches"]) for s in stats]
        return {"agg_value": M.mean(scores), "value_by_index": {str(i): {"score": s} for i, s in enumerate(scores)}}

    def _hmean(self, spec) -> dict:
        values = [self.cache[c]["agg_value"] for c in spec.children]
        return {"agg_value": M.harmonic_mean(values)}

    def evaluate(self, top: tuple[str, ...], reference: dict | None = None, self_reference: bool = False) -> dict:
        """Metric by metric, children first, reusing a child only by name (as open-unlearning's cache does)."""
        handlers = {
            "prob": self._prob,
            "rouge": self._rouge,
            "truth_ratio": self._truth_ratio,
            "normalised": self._normalised,
            "hmean": self._hmean,
            "mia": self._mia,
            "es": self._memorisation,
            "em": self._memorisation,
        }
        names = closure(top)
        for name in names:
            spec = SPECS[name]
            if name in self.cache or spec.uses_reference:
                continue
            self.cache[name] = handlers[spec.kind](spec)
        self.cache.update(compute_reference_metrics(names, self.cache, self.cache if self_reference else reference))
        return self.cache
