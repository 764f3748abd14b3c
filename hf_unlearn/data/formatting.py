"""QA -> chat-formatted features with answer-only labels.

Layout (open-unlearning's TOFU chat formatting): system prompt + user question + assistant answer through the model's chat template
with a fixed `date_string`; labels are the answer tokens plus the end-of-turn token, everything before is -100.
Tokenisation happens once per example (open-unlearning re-tokenises three times per access, every epoch).
"""

from __future__ import annotations

from dataclasses import dataclass

SYSTEM_PROMPT = "You are a helpful assistant."
DATE_STRING = "10 Apr 2025"
IGNORE_INDEX = -100
#: Llama-3's reserved padding token: a real vocabulary entry that never occurs in text.
LLAMA3_PAD_TOKEN = "<|finetune_right_pad_id|>"


@dataclass
class ChatFormatter:
    """Turns (question, answer) pairs into token features for one tokenizer.

    `eos_as_pad` reproduces open-unlearning exactly: pad = end-of-turn token and the attention mask hides every
    end-of-turn token (its issue #128). Off by default: a dedicated pad token and a mask that hides padding only.
    """

    tokenizer: object
    system_prompt: str = SYSTEM_PROMPT
    date_string: str = DATE_STRING
    eos_as_pad: bool = False

    def __post_init__(self) -> None:
        eos = self.tokenizer.eos_token_id
        if isinstance(eos, list):
            eos = eos[0]
        if eos is None:
            raise ValueError("the tokenizer has no eos_token: cannot mark the end of an answer")
        self.eos_token_id = int(eos)
        self.pad_token_id = self._choose_pad_id()

    def _choose_pad_id(self) -> int:
        if self.eos_as_pad:
            return self.eos_token_id
        pad = self.tokenizer.pad_token_id
        if pad is not None and pad != self.eos_token_id:
            return int(pad)
        vocab = self.tokenizer.get_vocab()
        if LLAMA3_PAD_TOKEN in vocab:
            return int(vocab[LLAMA3_PAD_TOKEN])
        # No spare token: padding still never leaks into attention, because masks come from lengths.
        return self.eos_token_id

    def messages(self, question: str, answer: str | None = None) -> list[dict]:
        msgs = []
        if self.system_prompt:
            msgs.append({"role": "system", "content": self.system_prompt})
        msgs.append({"role": "user", "content": question})
        if answer is not None:
            msgs.append({"role": "assistant", "content": answer})
        return msgs

    def _template_ids(self, messages: list[dict], add_generation_prompt: bool) -> list[int]:
        if getattr(self.tokenizer, "chat_template", None):
            out = self.tokenizer.apply_chat_template(
                messages,
                tokenize=True,
                add_generation_prompt=add_generation_prompt,
                return_dict=True,
                date_string=self.date_string,
            )
            return list(out["input_ids"])
        raise ValueError("the tokenizer has no chat template; TOFU formatting needs one")

    def encode_prompt(self, question: str) -> list[int]:
        """Prompt ids ending with the assistant header: the input for generation."""
        return self._template_ids(self.messages(question), add_generation_prompt=True)

    def encode(self, question: str, answer: str) -> dict[str, list[int]]:
        """`input_ids` of the whole conversation and `labels` covering only answer + end-of-turn."""
        chat = self._template_ids(self.messages(question, answer), add_generation_prompt=False)
        prompt = self.encode_prompt(question)
        if chat[: len(prompt)] != prompt:
            raise ValueError("the chat template does not render the prompt as a prefix of the conversation")
        if chat[-1] != self.eos_token_id:
            chat = chat + [self.eos_token_id]
        if len(chat) == len(prompt):
            raise ValueError(f"empty answer for question {question!r}: no tokens to score")
        labels = [IGNORE_INDEX] * len(prompt) + chat[len(prompt) :]
        return {"input_ids": chat, "labels": labels}

    def encode_rows(self, rows: list[dict], question_key: str = "question", answer_key: str = "answer") -> list[dict]:
        """Encode every row once; the row's position is kept as `index`."""
        feats = []
        for i, row in enumerate(rows):
            feat = self.encode(row[question_key], row[answer_key])
            feat["index"] = i
            feats.append(feat)
        return feats
