"""Batched, length-sorted teacher-forced scoring of token features.

Each distinct (question, answer) sequence is scored once; metrics share the per-sequence results. Sorting by
length cuts padding; `torch.inference_mode()` skips autograd bookkeeping.
"""

from __future__ import annotations

import math

import torch

from hf_unlearn.data.collator import pad_features
from hf_unlearn.trainers.losses import sequence_nll


@torch.inference_mode()
def score_features(
    model,
    features: list[dict],
    pad_token_id: int,
    batch_size: int = 32,
    eos_as_pad: bool = False,
    progress: bool = False,
) -> list[dict]:
    """Per feature: {"nll_sum", "n_tokens", "avg_loss", "prob"} in input order. prob = exp(-mean token NLL)."""
    order = sorted(range(len(features)), key=lambda i: len(features[i]["input_ids"]))
    results: list[dict | None] = [None] * len(features)
    device = next(model.parameters()).device
    batches = range(0, len(order), batch_size)
    if progress:
        from tqdm.auto import tqdm

        batches = tqdm(batches, desc="scoring", unit="batch")
    for start in batches:
        idx = order[start : start + batch_size]
        batch = pad_features([features[i] for i in idx], pad_token_id, "right", eos_as_pad)
        logits = model(
            input_ids=batch["input_ids"].to(device), attention_mask=batch["attention_mask"].to(device)
        ).logits
        nll_sum, n_tok = sequence_nll(logits, batch["labels"].to(device))
        for j, i in enumerate(idx):
            n = int(n_tok[j])
            total = float(nll_sum[j])
            avg = total / n if n else float("nan")
            results[i] = {
                "nll_sum": total,
                "n_tokens": n,
                "avg_loss": avg,
                "prob": math.exp(-avg) if n else float("nan"),
            }
    return results


def mean_probability(scores: list[dict]) -> float:
    """Mean over items of exp(-mean token NLL): TOFU's answer probability."""
    values = [s["prob"] for s in scores if not math.isnan(s["prob"])]
    return sum(values) / len(values) if values else float("nan")
