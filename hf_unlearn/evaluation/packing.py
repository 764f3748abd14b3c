"""Distinct (question, answer) sequences -> tokenised once -> packed rows that share their question's prompt.

TOFU scores up to 7 answers per question (answer, paraphrase, 5 perturbed). Scored separately, the ~50-100 token
prompt is recomputed for each. A packed row holds the prompt once followed by every answer of that question; a
block attention mask lets each answer see the prompt and itself only, and position ids restart after the prompt,
so every answer is scored exactly as in its own forward (same logits up to float summation order).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from hf_unlearn.data.formatting import IGNORE_INDEX

#: Longest packed row (tokens); a question with more answers than fit is split over several rows.
MAX_PACKED_TOKENS = 1024
#: A prefix shared by every prompt (chat header, system prompt, date) is computed once if at least this long.
MIN_SHARED_PREFIX = 8


@dataclass
class EncodedSequence:
    """One distinct (question, answer): the prompt ids and the scored tail (answer tokens + end-of-turn)."""

    question: str
    answer: str
    prompt: list[int]
    tail: list[int]

    @property
    def input_ids(self) -> list[int]:
        return self.prompt + self.tail

    @property
    def labels(self) -> list[int]:
        return [IGNORE_INDEX] * len(self.prompt) + self.tail


def _render(tokenizer, messages: list[dict], add_generation_prompt: bool, date_string: str) -> str:
    return tokenizer.apply_chat_template(
        messages, tokenize=False, add_generation_prompt=add_generation_prompt, date_string=date_string
    )


def encode_sequences(formatter, pairs: list[tuple[str, str]]) -> list[EncodedSequence]:
    """Tokenise (question, answer) pairs in one batched tokenizer call per kind (prompt, conversation).

    Same ids as `ChatFormatter.encode` (checked by a test): the template is rendered to text, then tokenised
    without extra special tokens, which is what `apply_chat_template(tokenize=True)` does one call at a time.
    """
    tokenizer = formatter.tokenizer
    questions = sorted({q for q, _ in pairs})
    prompt_ids = dict(zip(questions, encode_prompts(formatter, questions), strict=True))
    chat_texts = [_render(tokenizer, formatter.messages(q, a), False, formatter.date_string) for q, a in pairs]
    out = []
    for (question, answer), chat in zip(pairs, _tokenize(tokenizer, chat_texts), strict=True):
        prompt = prompt_ids[question]
        if chat[: len(prompt)] != prompt:
            raise ValueError("the chat template does not render the prompt as a prefix of the conversation")
        if chat[-1] != formatter.eos_token_id:
            chat = chat + [formatter.eos_token_id]
        if len(chat) == len(prompt):
            raise ValueError(f"empty answer for question {question!r}: no tokens to score")
        out.append(EncodedSequence(question, answer, prompt, chat[len(prompt) :]))
    return out


def _tokenize(tokenizer, texts: list[str]) -> list[list[int]]:
    if not texts:
        return []
    return [list(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]


def common_prefix_length(prompts: list[list[int]]) -> int:
    """Tokens every prompt starts with, leaving each prompt at least one token of its own."""
    first, n = prompts[0], min(len(p) for p in prompts) - 1
    for i in range(n):
        if any(p[i] != first[i] for p in prompts):
            return i
    return max(n, 0)


@dataclass
class PackedRow:
    """A prompt followed by several answer tails. `members[j]` is the sequence id of tail j (segment j + 1)."""

    prompt: list[int]
    tails: list[list[int]] = field(default_factory=list)
    members: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.prompt) + sum(len(t) for t in self.tails)

    def layout(self, skip: int = 0) -> dict[str, list]:
        """Token ids, position ids, segment ids and, per tail, the packed index predicting each tail token.

        `skip` leaves out the first tokens of the prompt (a prefix shared by every row, computed once and passed
        as a KV cache); positions stay absolute and indices are relative to what is left.
        """
        ids = list(self.prompt[skip:])
        positions = list(range(skip, len(self.prompt)))
        segments = [0] * len(ids)
        predictors = []
        last_prompt = len(ids) - 1
        for j, tail in enumerate(self.tails, start=1):
            start = len(ids)
            ids.extend(tail)
            positions.extend(range(len(self.prompt), len(self.prompt) + len(tail)))
            segments.extend([j] * len(tail))
            predictors.append([last_prompt] + list(range(start, start + len(tail) - 1)))
        return {"input_ids": ids, "position_ids": positions, "segments": segments, "predictors": predictors}


def pack_sequences(sequences: list[EncodedSequence], max_tokens: int = MAX_PACKED_TOKENS) -> list[PackedRow]:
    """Group sequences by prompt; fill rows up to `max_tokens` (a single long sequence still gets its own row)."""
    by_prompt: dict[tuple, list[int]] = {}
    for i, seq in enumerate(sequences):
        by_prompt.setdefault(tuple(seq.prompt), []).append(i)
    rows = []
    for prompt, members in by_prompt.items():
        row = PackedRow(list(prompt))
        for i in members:
            tail = sequences[i].tail
            if row.tails and len(row) + len(tail) > max_tokens:
                rows.append(row)
                row = PackedRow(list(prompt))
            row.tails.append(tail)
            row.members.append(i)
        rows.append(row)
    return rows


def batch_rows(rows: list[PackedRow], max_sequences: int) -> list[list[int]]:
    """Row indices per batch, longest rows first (memory peaks early), at most `max_sequences` answers a batch."""
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]), reverse=True)
    batches, current, count = [], [], 0
    for i in order:
        n = len(rows[i].tails)
        if current and count + n > max_sequences:
            batches.append(current)
            current, count = [], 0
        current.append(i)
        count += n
    if current:
        batches.append(current)
    return batches


def collate_packed(layouts: list[dict], pad_token_id: int, mask_token_id: int | None = None) -> dict:
    """Right-padded tensors for packed rows, with the block-causal attention mask as a boolean [B, 1, L, L].

    Query q may attend to key k iff k <= q and k is a prompt token or in q's own tail. `mask_token_id` also hides
    every key equal to it (open-unlearning's pad = end-of-turn masking, `eos_as_pad`). Padding keys are hidden;
    padding queries see the prompt, so no row of the mask is empty.
    """
    longest = max(len(lay["input_ids"]) for lay in layouts)
    n = len(layouts)
    ids = torch.full((n, longest), pad_token_id, dtype=torch.long)
    positions = torch.zeros((n, longest), dtype=torch.long)
    segments = torch.full((n, longest), -1, dtype=torch.long)
    for row, lay in enumerate(layouts):
        length = len(lay["input_ids"])
        ids[row, :length] = torch.tensor(lay["input_ids"])
        positions[row, :length] = torch.tensor(lay["position_ids"])
        segments[row, :length] = torch.tensor(lay["segments"])
    key_ok = segments >= 0
    if mask_token_id is not None:
        key_ok &= ids != mask_token_id
    causal = torch.ones(longest, longest, dtype=torch.bool).tril()
    same = segments[:, :, None] == segments[:, None, :]
    prompt_key = (segments == 0)[:, None, :]
    allowed = causal[None] & (same | prompt_key) & key_ok[:, None, :]
    return {"input_ids": ids, "position_ids": positions, "allowed": allowed[:, None]}


def additive_mask(allowed: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Boolean mask -> additive float mask (0 / dtype min), which every attention implementation accepts."""
    return torch.zeros(allowed.shape, dtype=dtype, device=allowed.device).masked_fill(~allowed, torch.finfo(dtype).min)


def encode_prompts(formatter, questions: list[str]) -> list[list[int]]:
    """Generation prompts (ending with the assistant header), tokenised in one batched call."""
    tokenizer = formatter.tokenizer
    if not getattr(tokenizer, "chat_template", None):
        raise ValueError("the tokenizer has no chat template; TOFU formatting needs one")
    texts = [_render(tokenizer, formatter.messages(q), True, formatter.date_string) for q in questions]
    return _tokenize(tokenizer, texts)
