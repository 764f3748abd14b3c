"""How a run reads raw-text corpora (WMDP's `data.schedule`), tokenising only the documents it reads.

- `windows` (open-unlearning's WMDP experiment): the documents are joined with a blank line and cut into
  fixed-length token windows, each starting with BOS (`chunking.text_windows`); the Trainer shuffles the forget
  windows and pairs each with a random retain window (`pairing.ForgetRetainDataset`). A run that stops after
  `max_steps` reads `max_steps x effective_batch_size` windows of each side, so it needs no more documents than
  that: when a corpus holds more, documents are drawn at random (seeded) until they fill that many windows, and
  only those are tokenised (a 1.9 GB corpus is not tokenised for a run that reads 600 windows of it).
- `documents` (the WMDP paper's RMU code, `rmu/unlearn.py` and `rmu/utils.py` of github centerforaisafety/wmdp):
  each corpus is read in file order, in batches of `effective_batch_size` documents; step i reads topic i mod n
  (bio, then cyber) and that topic's batch i // n, with the retain corpus's batch i // n; each document is
  tokenised on its own with the tokenizer's special tokens (BOS for Llama and Mistral tokenizers), cut after its
  topic's length (the original: 512 tokens for bio, 768 for cyber, 512 for retain), padded on the left with EOS.
  The number of steps is `max_steps`, capped by the fewest whole batches any corpus has (the original's
  `num_batches`); only the documents of those steps are tokenised.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from hf_unlearn.data.chunking import text_windows


# ---- windows ------------------------------------------------------------------------------------------------------
def windows_read(max_steps: int, effective_batch: int) -> int | None:
    """Windows a run reads from each side: `max_steps` steps of `effective_batch` windows, or None (every window,
    when the run is bounded by epochs)."""
    return max_steps * effective_batch if max_steps > 0 else None


def documents_to_read(docs: list[str], tokenizer, windows: int | None, max_length: int, seed: int) -> list[str]:
    """The documents a run reading `windows` windows of `max_length` tokens draws from: all of them when it may read
    as many windows as there are documents (or is bounded by epochs), else documents taken in a seeded random order
    until they hold `windows` windows' worth of tokens and at least `windows` documents (as many as uniform draws
    over the whole corpus would touch), returned in file order. Only these documents are tokenised."""
    if windows is None or windows >= len(docs):
        return docs
    chosen: list[int] = []
    tokens = 0
    for index in np.random.default_rng(seed).permutation(len(docs)):
        chosen.append(int(index))
        tokens += len(tokenizer(docs[index], add_special_tokens=False)["input_ids"])
        if len(chosen) >= windows and tokens >= windows * max_length:
            break
    return [docs[i] for i in sorted(chosen)]


def corpus_windows(
    docs: list[str], tokenizer, max_length: int, windows: int | None, seed: int
) -> tuple[list[dict], list[str]]:
    """(training windows, the documents they come from) of one corpus for a run reading `windows` of them."""
    read = documents_to_read(docs, tokenizer, windows, max_length, seed)
    return text_windows(read, tokenizer, max_length), read


# ---- documents (the original RMU schedule) ------------------------------------------------------------------------
@dataclass(frozen=True)
class Topic:
    """One forget corpus of the schedule: its documents in file order and the token length each is cut at."""

    name: str
    docs: list[str]
    max_length: int


def step_plan(n_steps: int, n_topics: int) -> list[tuple[int, int]]:
    """(topic, batch) of each step: step i reads topic i mod n_topics, its batch i // n_topics."""
    return [(i % n_topics, i // n_topics) for i in range(n_steps)]


def schedule_steps(batch_counts: list[int], max_steps: int) -> int:
    """Steps of the schedule: `max_steps` (when > 0) capped by the fewest whole batches any corpus (every forget
    topic and the retain corpus) holds, as the original's `min(max_num_batches, len(forget), len(retain))`."""
    fewest = min(batch_counts)
    return min(max_steps, fewest) if max_steps > 0 else fewest


def _features(tokenizer, docs: list[str], max_length: int) -> list[list[int]]:
    """Each document with the tokenizer's special tokens, cut after `max_length` tokens (truncation on the right,
    as the original sets it), in one call per batch."""
    side = tokenizer.truncation_side
    tokenizer.truncation_side = "right"
    try:
        return tokenizer(docs, truncation=True, max_length=max_length)["input_ids"]
    finally:
        tokenizer.truncation_side = side


class DocumentSchedule(torch.utils.data.Dataset):
    """The original RMU schedule as a dataset read in order (`in_order`: the trainer does not shuffle it): items
    [i*B, (i+1)*B) are step i's B documents, each {"forget": ids + its topic, "retain": ids}; labels = ids (every
    token, BOS included)."""

    in_order = True

    def __init__(self, items: list[dict]) -> None:
        if not items:
            raise ValueError("the schedule has no step")
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        return self.items[i]


def document_schedule(
    topics: list[Topic], retain: list[str], retain_length: int, batch: int, max_steps: int, tokenizer
) -> tuple[DocumentSchedule, list[str], list[str]]:
    """(dataset, forget documents read, retain documents read) of the original schedule; only the documents its
    steps read are tokenised."""
    counts = [len(t.docs) // batch for t in topics] + [len(retain) // batch]
    plan = step_plan(schedule_steps(counts, max_steps), len(topics))
    per_topic = [sorted({b for k, b in plan if k == t}) for t in range(len(topics))]
    retain_batches = sorted({b for _, b in plan})
    forget_ids = [
        {b: _features(tokenizer, t.docs[b * batch : (b + 1) * batch], t.max_length) for b in per_topic[k]}
        for k, t in enumerate(topics)
    ]
    retain_ids = {b: _features(tokenizer, retain[b * batch : (b + 1) * batch], retain_length) for b in retain_batches}
    items = [
        {
            "forget": {"input_ids": f, "labels": list(f), "topic": k},
            "retain": {"input_ids": r, "labels": list(r)},
        }
        for k, b in plan
        for f, r in zip(forget_ids[k][b], retain_ids[b], strict=True)
    ]
    forget_read = [d for k, t in enumerate(topics) for b in per_topic[k] for d in t.docs[b * batch : (b + 1) * batch]]
    retain_read = [d for b in retain_batches for d in retain[b * batch : (b + 1) * batch]]
    return DocumentSchedule(items), forget_read, retain_read
