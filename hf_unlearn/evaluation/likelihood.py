"""Batched, length-sorted teacher-forced scoring of token features.

Each distinct (question, answer) sequence is scored once; metrics share the per-sequence results. Sorting by
length cuts padding; `torch.inference_mode()` skips autograd bookkeeping.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

import torch

from hf_unlearn.data.collator import pad_features
from hf_unlearn.evaluation.metrics import MIN_VARIANCE
from hf_unlearn.evaluation.packing import (
    MIN_SHARED_PREFIX,
    EncodedSequence,
    PromptGroup,
    batch_groups,
    common_prefix_length,
    group_by_prompt,
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


def _row_statistics(logits: torch.Tensor, argmax: bool, moments: bool) -> dict[str, torch.Tensor]:
    """Per logit row: log-sum-exp, and as asked the argmax and (Min-K%++) mean and variance of log p under p."""
    lse, amax, mu, var = [], [], [], []
    # at least one (possibly empty) chunk: a batch of one-token answers has no answer logit rows
    for start in range(0, max(logits.size(0), 1), STATS_CHUNK):
        x = logits[start : start + STATS_CHUNK].float()
        row_lse = torch.logsumexp(x, dim=-1)
        lse.append(row_lse)
        if argmax:
            amax.append(x.argmax(dim=-1))
        if moments:
            logp = x - row_lse[:, None]
            p = logp.exp()
            first = (p * logp).sum(-1)
            mu.append(first)
            var.append((p * logp * logp).sum(-1) - first * first)
    out = {"lse": torch.cat(lse)}
    if argmax:
        out["argmax"] = torch.cat(amax)
    if moments:
        out["mu"], out["var"] = torch.cat(mu), torch.cat(var)
    return out


def _visible(ids: torch.Tensor, valid: torch.Tensor, mask_token_id: int | None) -> torch.Tensor:
    """Keys later tokens may attend to: real tokens, minus `mask_token_id` tokens in eos_as_pad mode."""
    return valid if mask_token_id is None else valid & (ids != mask_token_id)


def _right_pad(seqs: list[list[int]], pad_token_id: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(x) for x in seqs)
    ids = torch.full((len(seqs), width), pad_token_id, dtype=torch.long)
    valid = torch.zeros((len(seqs), width), dtype=torch.bool)
    for row, x in enumerate(seqs):
        ids[row, : len(x)] = torch.tensor(x)
        valid[row, : len(x)] = True
    return ids.to(device), valid.to(device)


def _keeps_masked_logits(model) -> bool:
    """Whether the model takes a boolean [B, L] `logits_to_keep` (transformers' `slice_logits_to_keep`), checked
    once on a 2-token input: then the LM head only runs where a token is scored."""
    cached = getattr(model, "_hf_unlearn_masked_logits", None)
    if cached is None:
        device = next(model.parameters()).device
        ids = torch.zeros((1, 2), dtype=torch.long, device=device)
        keep = torch.tensor([[False, True]], device=device)
        try:
            cached = model(input_ids=ids, logits_to_keep=keep, use_cache=False).logits.dim() == 2
        except Exception:  # any failure means: compute all logits, select afterwards
            cached = False
        model._hf_unlearn_masked_logits = cached
    return cached


def _logits(model, keep: torch.Tensor, **kwargs) -> tuple[torch.Tensor, object]:
    """Logits at the kept positions only, [n_kept, V] (the LM head never sees prompt tokens), and the cache."""
    if _keeps_masked_logits(model):
        out = model(**kwargs, logits_to_keep=keep)
        return out.logits, out.past_key_values
    out = model(**kwargs)
    return out.logits[keep], out.past_key_values


class _SharedPrefix:
    """The prefix of every prompt, run once; each batch continues a copy of its KV cache."""

    def __init__(self, model, prefix: list[int], mask_token_id: int | None, device) -> None:
        ids = torch.tensor([prefix], device=device)
        self.visible = _visible(ids, torch.ones_like(ids, dtype=torch.bool), mask_token_id)[0]
        self.length = len(prefix)
        self.cache = model(input_ids=ids, attention_mask=self.visible[None].long(), use_cache=True).past_key_values

    def cache_for(self, rows: int):
        cache = copy.deepcopy(self.cache)
        cache.batch_repeat_interleave(rows)
        return cache


#: Prompts run `PROMPT_BATCH_FACTOR` x more answers' worth at a time than answers do, so the answers of many
#: questions can be sorted by length into answer batches with little padding.
PROMPT_BATCH_FACTOR = 8


@dataclass
class _Prompts:
    """Step 1 of a batch: the prompts after the shared prefix, run once."""

    logits: torch.Tensor  # [n_groups, V]: each prompt's last token, which predicts every answer's first token
    cache: object
    mask: torch.Tensor  # keys visible in the cache, per group
    lengths: torch.Tensor  # prompt lengths, per group
    stats: dict = field(default_factory=dict)  # _row_statistics of `logits`


def _run_prompts(model, groups: list[PromptGroup], skip: int, prefix, pad_token_id: int, mask_token_id, device):
    ids, valid = _right_pad([g.prompt[skip:] for g in groups], pad_token_id, device)
    lengths = torch.tensor([len(g.prompt) for g in groups], device=device)
    mask = _visible(ids, valid, mask_token_id)
    if prefix is not None:
        mask = torch.cat([prefix.visible.expand(len(groups), -1), mask], dim=-1)
    keep = torch.zeros_like(valid)
    keep[torch.arange(len(groups), device=device), lengths - skip - 1] = True
    logits, cache = _logits(
        model,
        keep,
        input_ids=ids,
        attention_mask=mask.long(),
        position_ids=skip + torch.arange(ids.size(1), device=device).expand(len(groups), -1),
        past_key_values=prefix.cache_for(len(groups)) if prefix is not None else None,
        use_cache=True,
    )
    return _Prompts(logits, cache, mask, lengths)


def _run_answers(model, prompts: _Prompts, owners: list[int], tails: list[list[int]], pad_token_id, mask_token_id):
    """Step 2: answers as rows continuing their prompt's cache. Returns their logits and, per answer, the rows
    predicting its tokens: row q < n_prompts is prompt q's last token, row n_prompts + r is answer logit row r."""
    device = prompts.lengths.device
    owner_t = torch.tensor(owners, device=device)
    cache = copy.deepcopy(prompts.cache)
    cache.batch_select_indices(owner_t)
    ids, valid = _right_pad(tails, pad_token_id, device)
    keep = valid.clone()
    keep[torch.arange(len(tails), device=device), torch.tensor([len(t) - 1 for t in tails], device=device)] = False
    logits, _ = _logits(
        model,
        keep,
        input_ids=ids,
        attention_mask=torch.cat([prompts.mask[owner_t], _visible(ids, valid, mask_token_id)], dim=-1).long(),
        position_ids=prompts.lengths[owner_t][:, None] + torch.arange(ids.size(1), device=device),
        past_key_values=cache,
        use_cache=True,
    )
    flat = (keep.flatten().cumsum(0) - 1).view(keep.shape).cpu() + len(prompts.logits)
    rows = [[q] + flat[n, : len(tail) - 1].tolist() for n, (q, tail) in enumerate(zip(owners, tails, strict=True))]
    return logits, rows


def _scores(
    prompts: _Prompts, logits, rows, tails, members, detail: set[int], moments: bool, final: bool = False
) -> list[SequenceScore]:
    """Per answer: summed NLL over its tokens, plus per-token detail (answer tokens without the final label, or
    with it when `final`)."""
    want_detail = any(m in detail for m in members)
    first = len(prompts.logits)
    stats = _row_statistics(logits, argmax=want_detail, moments=want_detail and moments)
    both = {k: torch.cat([prompts.stats[k], v]) for k, v in stats.items()}
    rows_t = torch.tensor([r for rr in rows for r in rr], device=logits.device)
    tokens_t = torch.tensor([t for tail in tails for t in tail], device=logits.device)
    from_prompt = rows_t < first
    picked = torch.empty(len(rows_t), dtype=torch.float32, device=logits.device)
    picked[from_prompt] = prompts.logits[rows_t[from_prompt], tokens_t[from_prompt]].float()
    picked[~from_prompt] = logits[rows_t[~from_prompt] - first, tokens_t[~from_prompt]].float()
    logprob = picked - both["lse"][rows_t]
    nll = (-logprob).double().cpu()
    if want_detail:
        match = (both["argmax"][rows_t] == tokens_t).cpu()
        lp_cpu = logprob.cpu()
        if moments:
            z = ((logprob - both["mu"][rows_t]) / both["var"][rows_t].clamp_min(MIN_VARIANCE).sqrt()).cpu()
    out, start = [], 0
    for member, tail in zip(members, tails, strict=True):
        score = SequenceScore(float(nll[start : start + len(tail)].sum()), len(tail))
        if member in detail:
            answer = slice(start, start + len(tail) - (0 if final else 1))
            score.logprobs = lp_cpu[answer].tolist()
            score.matches = match[answer].tolist()
            score.zscores = z[answer].tolist() if moments else None
        out.append(score)
        start += len(tail)
    return out


@torch.inference_mode()
def score_sequences(
    model,
    sequences: list[EncodedSequence],
    pad_token_id: int,
    batch_size: int = 32,
    mask_token_id: int | None = None,
    detail: set[int] | None = None,
    progress: bool = False,
    moments: bool = True,
    prompt_batch: int | None = None,
    detail_final: bool = False,
) -> list[SequenceScore]:
    """Score each sequence once: every prompt runs once and all its answers continue its KV cache.

    `batch_size` counts answers per forward; answers are sorted by length within a batch of prompts, so padding
    stays small. `mask_token_id` hides every key with that id (eos_as_pad mode; positions still count every
    token, as in open-unlearning's scoring forwards). Sequences in `detail` also get per-token log-probs, argmax
    matches and (with `moments`) Min-K%++ z-scores, computed in the same forward from vocabulary statistics at
    the answer positions (never a full [B, L, V] log-softmax). `prompt_batch` bounds the answers whose prompts
    run together (default `batch_size` x PROMPT_BATCH_FACTOR, for short prompts; MUSE's ~1000-token VerbMem
    prompts keep it at `batch_size`, so their KV cache stays small). `detail_final` keeps the last tail token in
    the per-token detail: for raw text, whose last token is text, not an end-of-turn label (RWKU's MIA).
    """
    detail = detail or set()
    groups = group_by_prompt(sequences)
    device = next(model.parameters()).device
    skip = common_prefix_length([g.prompt for g in groups]) if len(groups) > 1 else 0
    prefix = (
        _SharedPrefix(model, groups[0].prompt[:skip], mask_token_id, device) if skip >= MIN_SHARED_PREFIX else None
    )
    skip = skip if prefix is not None else 0
    results: list[SequenceScore | None] = [None] * len(sequences)
    outer = batch_groups(groups, prompt_batch or batch_size * PROMPT_BATCH_FACTOR)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(sequences), desc="scoring", unit="seq")
    for batch_idx in outer:
        chosen = [groups[i] for i in batch_idx]
        prompts = _run_prompts(model, chosen, skip, prefix, pad_token_id, mask_token_id, device)
        want_detail = any(m in detail for g in chosen for m in g.members)
        prompts.stats = _row_statistics(prompts.logits, argmax=want_detail, moments=want_detail and moments)
        answers = sorted(
            ((q, tail, member) for q, g in enumerate(chosen) for tail, member in zip(g.tails, g.members, strict=True)),
            key=lambda x: len(x[1]),
            reverse=True,
        )
        for start in range(0, len(answers), batch_size):
            owners, tails, members = zip(*answers[start : start + batch_size], strict=True)
            logits, rows = _run_answers(model, prompts, list(owners), list(tails), pad_token_id, mask_token_id)
            scores = _scores(prompts, logits, rows, tails, members, detail, moments, detail_final)
            for member, score in zip(members, scores, strict=True):
                results[member] = score
            if bar is not None:
                bar.update(len(members))
    if bar is not None:
        bar.close()
    return results
