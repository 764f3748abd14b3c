"""Greedy (or seeded sampled) generation for every ROUGE prompt as one length-sorted, left-padded stream.

open-unlearning generates per dataset in fixed batches of 32, and `generate` keeps computing rows that have
already ended until the whole batch has. Here all prompts are sorted by length (little padding), batched large,
and rows that hit a stop token are dropped from the batch (and its KV cache), so compute follows the live rows;
a batch ends as soon as every row has ended.
"""

from __future__ import annotations

import torch
from transformers.cache_utils import DynamicCache, DynamicLayer

from hf_unlearn.evaluation.packing import MIN_SHARED_PREFIX, common_prefix_length

#: Rows that have ended are removed from the batch once they are at least this fraction of it (removal copies the
#: KV cache, so it is batched rather than done at every single stop).
COMPACT_FRACTION = 0.5


def stop_token_ids(model, tokenizer) -> set[int]:
    """End-of-sequence ids from the model's generation config (all of them), else the tokenizer's eos."""
    ids = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    if ids is None:
        ids = tokenizer.eos_token_id
    ids = ids if isinstance(ids, (list, tuple)) else [ids]
    return {int(i) for i in ids if i is not None}


class GrowingLayer(DynamicLayer):
    """A KV-cache layer that appends in place, into buffers with room for `spare` more tokens.

    `DynamicLayer` appends with `torch.cat`, copying the whole cache for every generated token; for small models
    on CPU that copy cost more than the model's matmuls (40% of generation time for the tiny model).
    """

    def __init__(self, spare: int) -> None:
        super().__init__()
        self.spare = spare
        self.length = 0
        self.buffers: tuple[torch.Tensor, torch.Tensor] | None = None

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        new = key_states.shape[-2]
        if self.buffers is None or self.length + new > self.buffers[0].shape[-2]:
            self._grow(key_states, value_states, self.length + new + self.spare)
        end = self.length + new
        self.buffers[0][..., self.length : end, :] = key_states
        self.buffers[1][..., self.length : end, :] = value_states
        self.length = end
        self._expose()
        return self.keys, self.values

    def _grow(self, key_states: torch.Tensor, value_states: torch.Tensor, capacity: int) -> None:
        grown = []
        for i, states in enumerate((key_states, value_states)):
            buffer = states.new_empty((*states.shape[:-2], capacity, states.shape[-1]))
            if self.buffers is not None and self.length:
                buffer[..., : self.length, :] = self.buffers[i][..., : self.length, :]
            grown.append(buffer)
        self.buffers = (grown[0], grown[1])

    def _expose(self) -> None:
        self.keys = self.buffers[0][..., : self.length, :]
        self.values = self.buffers[1][..., : self.length, :]

    def _apply(self, fn) -> None:
        if self.buffers is not None:
            self.buffers = (fn(self.buffers[0]), fn(self.buffers[1]))
            self._expose()

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        self._apply(lambda b: b[indices])

    def batch_repeat_interleave(self, repeats: int) -> None:
        self._apply(lambda b: b.repeat_interleave(repeats, dim=0))

    def reorder_cache(self, beam_idx: torch.LongTensor) -> None:
        self._apply(lambda b: b.index_select(0, beam_idx.to(b.device)))

    def crop(self, tokens_to_remove: int) -> None:
        raise NotImplementedError("GrowingLayer is for greedy generation only")

    def reset(self) -> None:
        super().reset()
        self.buffers, self.length = None, 0


def generation_cache(model, spare: int) -> DynamicCache:
    """The model's dynamic cache, with its plain layers replaced by in-place growing ones."""
    cache = DynamicCache(config=model.config)
    cache.layers = [GrowingLayer(spare) if type(layer) is DynamicLayer else layer for layer in cache.layers]
    return cache


def _left_pad(prompts: list[list[int]], pad_token_id: int, mask_token_id: int | None):
    longest = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), longest), pad_token_id, dtype=torch.long)
    mask = torch.zeros((len(prompts), longest), dtype=torch.long)
    for row, prompt in enumerate(prompts):
        ids[row, longest - len(prompt) :] = torch.tensor(prompt)
        mask[row, longest - len(prompt) :] = 1
    if mask_token_id is not None:
        mask &= (ids != mask_token_id).long()
    return ids, mask


def _prefill(model, prompts: list[list[int]], pad_token_id: int, mask_token_id: int | None, device, spare: int):
    """Run the prompts; the prefix they all share (system header, date, ...) is computed once and broadcast.

    Returns the output of the last forward, the attention mask over everything in the cache and the positions of
    the last prompt tokens. Positions count attended tokens only, as `generate` does, so masked tokens (padding,
    and end-of-turn tokens in eos_as_pad mode) take no position.
    """
    shared = common_prefix_length(prompts)
    if shared < MIN_SHARED_PREFIX or len(prompts) == 1:
        ids, mask = _left_pad(prompts, pad_token_id, mask_token_id)
        ids, mask = ids.to(device), mask.to(device)
        positions = (mask.cumsum(-1) - 1).clamp_min(0)
        out = model(
            input_ids=ids,
            attention_mask=mask,
            position_ids=positions,
            past_key_values=generation_cache(model, spare),
            use_cache=True,
            logits_to_keep=1,
        )
        return out, mask, positions[:, -1:]
    prefix = torch.tensor([prompts[0][:shared]], device=device)
    prefix_mask = torch.ones_like(prefix) if mask_token_id is None else (prefix != mask_token_id).long()
    prefix_pos = (prefix_mask.cumsum(-1) - 1).clamp_min(0)
    # room for the longest suffix and the generated tokens, so the cache never reallocates after the prefill
    spare += max(len(p) for p in prompts) - shared
    cache = model(
        input_ids=prefix,
        attention_mask=prefix_mask,
        position_ids=prefix_pos,
        past_key_values=generation_cache(model, spare),
        use_cache=True,
    ).past_key_values
    cache.batch_repeat_interleave(len(prompts))
    ids, suffix_mask = _left_pad([p[shared:] for p in prompts], pad_token_id, mask_token_id)
    ids = ids.to(device)
    mask = torch.cat([prefix_mask.expand(len(prompts), -1), suffix_mask.to(device)], dim=-1)
    positions = (mask.cumsum(-1) - 1).clamp_min(0)[:, shared:]
    out = model(
        input_ids=ids,
        attention_mask=mask,
        position_ids=positions,
        past_key_values=cache,
        use_cache=True,
        logits_to_keep=1,
    )
    return out, mask, positions[:, -1:]


def filter_logits(logits: torch.Tensor, top_k: int = 0, top_p: float = 1.0) -> torch.Tensor:
    """Logits outside the sampling support set to -inf, as `generate`'s warpers do, in their order: top-k (the k
    largest), then top-p (the smallest set of largest-probability tokens whose mass reaches p: a token is dropped
    when the mass of the tokens at most as likely as it is <= 1 - p; the most likely token always stays).
    `top_k` 0 and `top_p` 1 leave the logits unchanged."""
    if top_k > 0 and top_k < logits.size(-1):
        kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        ascending, order = torch.sort(logits, dim=-1)
        mass = ascending.softmax(dim=-1).cumsum(dim=-1)
        drop = mass <= 1 - top_p
        drop[..., -1] = False
        logits = logits.masked_fill(drop.scatter(-1, order, drop), float("-inf"))
    return logits


def _next_token(
    logits: torch.Tensor,
    temperature: float,
    generator: torch.Generator | None,
    top_k: int = 0,
    top_p: float = 1.0,
) -> torch.Tensor:
    """Greedy (temperature 0), or a draw from softmax(logits / temperature) restricted to the top-k / top-p
    support, with the run's generator."""
    if temperature <= 0:
        return logits.argmax(-1)
    probs = torch.softmax(filter_logits(logits.float() / temperature, top_k, top_p), dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


@torch.inference_mode()
def _generate_batch(
    model,
    prompts: list[list[int]],
    pad_token_id: int,
    stop_ids: set[int],
    max_new_tokens: int,
    mask_token_id,
    temperature: float = 0.0,
    generator: torch.Generator | None = None,
    top_k: int = 0,
    top_p: float = 1.0,
) -> list[list[int]]:
    device = next(model.parameters()).device
    out, mask, last_pos = _prefill(model, prompts, pad_token_id, mask_token_id, device, max_new_tokens)
    cache = out.past_key_values
    next_pos = last_pos + 1
    stops = torch.tensor(sorted(stop_ids), device=device)
    live = torch.arange(len(prompts), device=device)  # original row of each row still in the batch
    ended = torch.zeros(len(prompts), dtype=torch.bool, device=device)
    generated = torch.full((len(prompts), max_new_tokens), -1, dtype=torch.long, device=device)
    logits = out.logits[:, -1]
    for step in range(max_new_tokens):
        token = _next_token(logits, temperature, generator, top_k, top_p)
        generated[live, step] = token
        ended |= torch.isin(token, stops)
        if step == max_new_tokens - 1 or bool(ended.all()):
            break
        if int(ended.sum()) >= max(1, int(COMPACT_FRACTION * len(live))):
            keep = (~ended).nonzero().squeeze(-1)
            cache.batch_select_indices(keep)
            live, mask, next_pos, token, ended = live[keep], mask[keep], next_pos[keep], token[keep], ended[keep]
        mask = torch.cat([mask, mask.new_ones((mask.size(0), 1))], dim=-1)
        out = model(
            input_ids=token[:, None], attention_mask=mask, position_ids=next_pos, past_key_values=cache, use_cache=True
        )
        cache = out.past_key_values
        next_pos = next_pos + 1
        logits = out.logits[:, -1]
    return [_until_stop(row, stop_ids) for row in generated.cpu().tolist()]


def _until_stop(tokens: list[int], stop_ids: set[int]) -> list[int]:
    """Tokens before the first stop token (-1 marks steps after the row left the batch)."""
    out = []
    for tok in tokens:
        if tok in stop_ids or tok < 0:
            break
        out.append(tok)
    return out


def generate_greedy(
    model,
    prompts: list[list[int]],
    pad_token_id: int,
    stop_ids: set[int],
    max_new_tokens: int = 200,
    batch_size: int = 128,
    mask_token_id: int | None = None,
    progress: bool = False,
    temperature: float = 0.0,
    seed: int = 0,
    top_k: int = 0,
    top_p: float = 1.0,
) -> list[list[int]]:
    """Greedy continuations (stop token excluded) of each prompt, in input order.

    `mask_token_id` also hides every prompt token with that id, reproducing open-unlearning's pad = end-of-turn
    masking (eos_as_pad); the masked tokens then take no position, as in its `generate` calls.
    `temperature` > 0 samples instead, from one generator seeded with `seed`: the same prompts, batch size and
    machine give the same tokens; `top_k` / `top_p` restrict the draw as `generate`'s warpers do (RWKU samples its
    forget corpus with top-p 0.9 and `generate`'s default top-k 50).
    """
    generator = None
    if temperature > 0:
        generator = torch.Generator(device=next(model.parameters()).device).manual_seed(int(seed))
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]), reverse=True)
    results: list[list[int] | None] = [None] * len(prompts)
    starts = range(0, len(order), batch_size)
    if progress:
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc="generating", unit="batch")
    for start in starts:
        idx = order[start : start + batch_size]
        generated = _generate_batch(
            model,
            [prompts[i] for i in idx],
            pad_token_id,
            stop_ids,
            max_new_tokens,
            mask_token_id,
            temperature,
            generator,
            top_k,
            top_p,
        )
        for i, tokens in zip(idx, generated, strict=True):
            results[i] = tokens
    return results
