"""Chat formatting: answer-only labels, prompt masked, dedicated pad, and the eos_as_pad compatibility mask."""

import torch

from hf_unlearn.data.collator import NestedPaddingCollator, pad_features
from hf_unlearn.data.formatting import IGNORE_INDEX, ChatFormatter

Q, A = "Who wrote The Silent Orchard?", "The Silent Orchard was written by Mara Quell."


def test_labels_cover_exactly_answer_and_end_of_turn(tokenizer):
    fmt = ChatFormatter(tokenizer)
    feat = fmt.encode(Q, A)
    labelled = [t for t, lab in zip(feat["input_ids"], feat["labels"], strict=True) if lab != IGNORE_INDEX]
    assert tokenizer.decode(labelled) == A + "<|eot_id|>"
    assert labelled[-1] == tokenizer.convert_tokens_to_ids("<|eot_id|>")
    n_prompt = feat["labels"].count(IGNORE_INDEX)
    assert feat["labels"][:n_prompt] == [IGNORE_INDEX] * n_prompt
    assert feat["input_ids"][:n_prompt] == fmt.encode_prompt(Q)


def test_prompt_uses_fixed_date_and_system_prompt(tokenizer):
    text = tokenizer.decode(ChatFormatter(tokenizer).encode_prompt(Q))
    assert "Today Date: 10 Apr 2025" in text
    assert "You are a helpful assistant." in text
    assert text.endswith("<|start_header_id|>assistant<|end_header_id|>\n\n")
    assert text.count("<|begin_of_text|>") == 1


def test_dedicated_pad_token(tokenizer):
    fmt = ChatFormatter(tokenizer)
    assert fmt.pad_token_id == tokenizer.convert_tokens_to_ids("<|finetune_right_pad_id|>")
    assert fmt.pad_token_id != fmt.eos_token_id
    assert ChatFormatter(tokenizer, eos_as_pad=True).pad_token_id == fmt.eos_token_id


def _two_rows(fmt):
    return [fmt.encode(Q, A), fmt.encode("Q?", "Short.")]


def test_default_mask_hides_padding_only(tokenizer):
    fmt = ChatFormatter(tokenizer)
    feats = _two_rows(fmt)
    batch = pad_features(feats, fmt.pad_token_id)
    for row, feat in enumerate(feats):
        n = len(feat["input_ids"])
        assert batch["attention_mask"][row, :n].tolist() == [1] * n
        assert batch["attention_mask"][row, n:].sum() == 0
        assert (batch["labels"][row, n:] == IGNORE_INDEX).all()
    eot = fmt.eos_token_id
    assert (batch["attention_mask"][batch["input_ids"] == eot] == 1).all()


def test_eos_as_pad_mask_matches_open_unlearning(tokenizer):
    """open-unlearning: pad = <|eot_id|> and attention_mask = input_ids != pad, so every end-of-turn is masked."""
    fmt = ChatFormatter(tokenizer, eos_as_pad=True)
    feats = _two_rows(fmt)
    batch = pad_features(feats, fmt.pad_token_id, eos_as_pad=True)
    expected = (batch["input_ids"] != fmt.eos_token_id).long()
    assert torch.equal(batch["attention_mask"], expected)
    # three real end-of-turn tokens per row (after system, user and the answer) are masked
    assert ((batch["input_ids"][0] == fmt.eos_token_id) & (batch["attention_mask"][0] == 0)).sum() == 3
    # the final end-of-turn is still a label
    assert batch["labels"][0, len(feats[0]["input_ids"]) - 1] == fmt.eos_token_id


def test_left_padding(tokenizer):
    fmt = ChatFormatter(tokenizer)
    feats = _two_rows(fmt)
    batch = pad_features(feats, fmt.pad_token_id, padding_side="left")
    short = len(feats[1]["input_ids"])
    assert batch["input_ids"][1, -short:].tolist() == feats[1]["input_ids"]
    assert batch["attention_mask"][1, :-short].sum() == 0


def test_nested_collator_pads_each_sub_batch(tokenizer):
    fmt = ChatFormatter(tokenizer)
    a, b = _two_rows(fmt)
    items = [{"forget": a, "retain": b}, {"forget": b, "retain": b}]
    batch = NestedPaddingCollator(fmt.pad_token_id)(items)
    assert batch["forget"]["input_ids"].shape == (2, len(a["input_ids"]))
    assert batch["retain"]["input_ids"].shape == (2, len(b["input_ids"]))
