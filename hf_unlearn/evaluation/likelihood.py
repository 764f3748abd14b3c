"""Batched, length-sorted teacher-forced scoring of token features.

Each distinct (question, answer) sequence is scored once; metrics share the per-sequence results. Sorting by
length cuts padding; `torch.inference_mode()` skips autograd bookkeeping.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch

from hf_unlearn.data.collator import pad_features
from hf_unlearn.evaluation.metrics import MIN_VARIANCE
from hf_unlearn.evaluation.packing import (
    MIN_SHARED_PREFIX,
    EncodedSequence,
    additive_mask,
    batch_rows,
    collate_packed,
    common_prefix_length,
    pack_sequences,
)
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


@dataclass
class SequenceScore:
    """Teacher-forced quantities of one (question, answer) sequence, shared by every metric that needs them.

    `nll_sum` / `n_tokens` cover the answer tokens and the end-of-turn token (open-unlearning's probability).
    The per-token lists (only for sequences asked for in detail) cover the answer tokens without the final
    end-of-turn label, as open-unlearning's MIA and memorisation metrics do: the token log-prob, whether the
    argmax prediction equals the true token, and the Min-K%++ z-score.
    """

    nll_sum: float
    n_tokens: int
    logprobs: list[float] | None = None
    matches: list[bool] | None = None
    zscores: list[float] | None = None

    @property
    def avg_loss(self) -> float:
        return self.nll_sum / self.n_tokens

    @property
    def prob(self) -> float:
        return math.exp(-self.avg_loss)


#: Vocabulary-wide statistics are computed for this many logit rows at a time (bounds fp32 memory).
STATS_CHUNK = 1024


def _row_statistics(logits: torch.Tensor, moments: bool) -> dict[str, torch.Tensor]:
    """Per logit row: log-sum-exp, argmax and (for Min-K%++) mean and variance of log p under p."""
    lse, amax, mu, var = [], [], [], []
    for start in range(0, logits.size(0), STATS_CHUNK):
        x = logits[start : start + STATS_CHUNK].float()
        row_lse = torch.logsumexp(x, dim=-1)
        lse.append(row_lse)
        amax.append(x.argmax(dim=-1))
        if moments:
            logp = x - row_lse[:, None]
            p = logp.exp()
            first = (p * logp).sum(-1)
            mu.append(first)
            var.append((p * logp * logp).sum(-1) - first * first)
    out = {"lse": torch.cat(lse), "argmax": torch.cat(amax)}
    if moments:
        out["mu"], out["var"] = torch.cat(mu), torch.cat(var)
    return out


def _prefix_cache(model, prefix: list[int], mask_token_id: int | None, device):
    """KV cache of the prefix every row shares, and which of its tokens later tokens may attend to."""
    ids = torch.tensor([prefix], device=device)
    visible = torch.ones_like(ids, dtype=torch.bool) if mask_token_id is None else ids != mask_token_id
    cache = model(input_ids=ids, attention_mask=visible.long(), use_cache=True).past_key_values
    return cache, visible[0]


def _packed_logits(model, batch: dict, keep: torch.Tensor, device, prefix=None) -> torch.Tensor:
    """Logits at the kept positions only, [n_kept, V]: the LM head never sees prompt positions.

    `prefix` = (cache, visible) from `_prefix_cache`: the rows continue it (each row gets a copy of the cache).
    """
    dtype = next(model.parameters()).dtype
    allowed = batch["allowed"].to(device)
    kwargs = dict(input_ids=batch["input_ids"].to(device), position_ids=batch["position_ids"].to(device))
    if prefix is None:
        kwargs["use_cache"] = False
    else:
        cache, visible = prefix
        cache = copy.deepcopy(cache)
        cache.batch_repeat_interleave(allowed.size(0))
        shape = (allowed.size(0), 1, allowed.size(2), visible.numel())
        allowed = torch.cat([visible.expand(shape), allowed], dim=-1)
        kwargs.update(past_key_values=cache, use_cache=True)
    kwargs["attention_mask"] = additive_mask(allowed, dtype)
    keep = keep.to(device)
    try:
        logits = model(**kwargs, logits_to_keep=keep).logits
    except TypeError:  # a model without `logits_to_keep`
        logits = model(**kwargs).logits
    if logits.dim() == 3:
        logits = logits[keep]
    return logits


@torch.inference_mode()
def score_sequences(
    model,
    sequences: list[EncodedSequence],
    pad_token_id: int,
    batch_size: int = 32,
    mask_token_id: int | None = None,
    detail: set[int] | None = None,
    progress: bool = False,
) -> list[SequenceScore]:
    """Score each sequence once, packing the answers of one question behind a single copy of its prompt.

    `batch_size` counts answers per forward. `mask_token_id` hides every key with that id (eos_as_pad mode).
    Sequences in `detail` also get per-token log-probs, argmax matches and Min-K%++ z-scores, computed in the
    same forward from vocabulary statistics at the answer positions (never a full [B, L, V] log-softmax).
    """
    detail = detail or set()
    rows = pack_sequences(sequences)
    batches = batch_rows(rows, batch_size)
    device = next(model.parameters()).device
    shared = common_prefix_length([row.prompt for row in rows]) if len(rows) > 1 else 0
    prefix = None
    if shared >= MIN_SHARED_PREFIX:
        prefix = _prefix_cache(model, rows[0].prompt[:shared], mask_token_id, device)
    else:
        shared = 0
    results: list[SequenceScore | None] = [None] * len(sequences)
    iterator = batches
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(batches, desc="scoring", unit="batch")
    for batch_idx in iterator:
        layouts = [rows[i].layout(skip=shared) for i in batch_idx]
        batch = collate_packed(layouts, pad_token_id, mask_token_id)
        keep = torch.zeros(batch["input_ids"].shape, dtype=torch.bool)
        for b, lay in enumerate(layouts):
            for preds in lay["predictors"]:
                keep[b, preds] = True
        flat = (keep.flatten().cumsum(0) - 1).view(keep.shape)
        tgt_rows, tgt_tokens, spans = [], [], []
        for b, (i, lay) in enumerate(zip(batch_idx, layouts, strict=True)):
            for member, tail, preds in zip(rows[i].members, rows[i].tails, lay["predictors"], strict=True):
                spans.append((member, len(tgt_rows), len(tail)))
                tgt_rows.extend(flat[b, preds].tolist())
                tgt_tokens.extend(tail)
        logits = _packed_logits(model, batch, keep, device, prefix)
        want_detail = any(member in detail for member, _, _ in spans)
        stats = _row_statistics(logits, moments=want_detail)
        rows_t = torch.tensor(tgt_rows, device=logits.device)
        tokens_t = torch.tensor(tgt_tokens, device=logits.device)
        logprob = logits[rows_t, tokens_t].float() - stats["lse"][rows_t]
        nll = (-logprob).double().cpu()
        if want_detail:
            match = (stats["argmax"][rows_t] == tokens_t).cpu()
            z = ((logprob - stats["mu"][rows_t]) / stats["var"][rows_t].clamp_min(MIN_VARIANCE).sqrt()).cpu()
            lp_cpu = logprob.cpu()
        for member, start, length in spans:
            score = SequenceScore(float(nll[start : start + length].sum()), length)
            if member in detail:
                answer = slice(start, start + length - 1)
                score.logprobs = lp_cpu[answer].tolist()
                score.matches = match[answer].tolist()
                score.zscores = z[answer].tolist()
            results[member] = score
    return results
