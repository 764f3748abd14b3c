"""Distinct (question, answer) sequences -> tokenised once -> grouped behind their question's prompt.

TOFU scores up to 7 answers per question (answer, paraphrase, 5 perturbed). Scored separately, the prompt is
recomputed for each. Here the prompt of a question is run once, and its KV cache is shared by all its answers,
which continue it as rows of their own; the prefix every prompt shares (chat header, system prompt, date) is run
once for the whole evaluation. Each answer sees exactly the keys and positions of its own forward, so the numbers
are those of separate forwards (up to float summation order).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hf_unlearn.data.formatting import IGNORE_INDEX

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
class PromptGroup:
    """The answers of one prompt: `tails[j]` belongs to sequence `members[j]`."""

    prompt: list[int]
    tails: list[list[int]] = field(default_factory=list)
    members: list[int] = field(default_factory=list)

    @property
    def tokens(self) -> int:
        return len(self.prompt) + sum(len(t) for t in self.tails)


def group_by_prompt(sequences: list[EncodedSequence]) -> list[PromptGroup]:
    """One group per distinct prompt, in order of first appearance."""
    groups: dict[tuple, PromptGroup] = {}
    for i, seq in enumerate(sequences):
        group = groups.setdefault(tuple(seq.prompt), PromptGroup(list(seq.prompt)))
        group.tails.append(seq.tail)
        group.members.append(i)
    return list(groups.values())


def batch_groups(groups: list[PromptGroup], max_answers: int) -> list[list[int]]:
    """Group indices per forward, biggest first (memory peaks early, similar sizes share a batch, little padding),
    at most `max_answers` answers a batch (a bigger group still gets a batch of its own)."""
    order = sorted(range(len(groups)), key=lambda i: groups[i].tokens, reverse=True)
    batches, current, count = [], [], 0
    for i in order:
        n = len(groups[i].tails)
        if current and count + n > max_answers:
            batches.append(current)
            current, count = [], 0
        current.append(i)
        count += n
    if current:
        batches.append(current)
    return batches


def encode_prompts(formatter, questions: list[str]) -> list[list[int]]:
    """Generation prompts (ending with the assistant header), tokenised in one batched call."""
    tokenizer = formatter.tokenizer
    if not getattr(tokenizer, "chat_template", None):
        raise ValueError("the tokenizer has no chat template; TOFU formatting needs one")
    texts = [_render(tokenizer, formatter.messages(q), True, formatter.date_string) for q in questions]
    return _tokenize(tokenizer, texts)
