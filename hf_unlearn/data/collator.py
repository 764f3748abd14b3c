"""Padding of token features, flat or nested ({"forget": ..., "retain": ...})."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from hf_unlearn.data.formatting import IGNORE_INDEX


def pad_features(
    features: list[dict],
    pad_token_id: int,
    padding_side: str = "right",
    eos_as_pad: bool = False,
) -> dict[str, torch.Tensor]:
    """Pad `input_ids` (and `labels`, if present) to the longest row; per-row integers (an `index`, a `topic`)
    become [B] tensors.

    The attention mask hides padding only, from the row lengths. With `eos_as_pad` it is `input_ids != pad`, as in
    open-unlearning, which also hides every real end-of-turn token (kept only for numerical comparability).
    """
    if padding_side not in ("right", "left"):
        raise ValueError(f"padding_side must be 'right' or 'left', got {padding_side!r}")
    longest = max(len(f["input_ids"]) for f in features)
    n = len(features)
    ids = torch.full((n, longest), pad_token_id, dtype=torch.long)
    mask = torch.zeros((n, longest), dtype=torch.long)
    has_labels = "labels" in features[0]
    labels = torch.full((n, longest), IGNORE_INDEX, dtype=torch.long) if has_labels else None
    for row, feat in enumerate(features):
        length = len(feat["input_ids"])
        span = slice(0, length) if padding_side == "right" else slice(longest - length, longest)
        ids[row, span] = torch.tensor(feat["input_ids"], dtype=torch.long)
        mask[row, span] = 1
        if has_labels:
            labels[row, span] = torch.tensor(feat["labels"], dtype=torch.long)
    if eos_as_pad:
        mask = (ids != pad_token_id).long()
    batch = {"input_ids": ids, "attention_mask": mask}
    if has_labels:
        batch["labels"] = labels
    for key, value in features[0].items():  # per-row integers (`index`, a WMDP `topic`) travel as tensors
        if isinstance(value, int) and key not in batch:
            batch[key] = torch.tensor([f[key] for f in features], dtype=torch.long)
    return batch


@dataclass
class NestedPaddingCollator:
    """Collates items that are token features or dicts of them (any depth), padding each leaf batch on its own."""

    pad_token_id: int
    padding_side: str = "right"
    eos_as_pad: bool = False
    keep_index: bool = False

    def __call__(self, items: list[dict]) -> dict:
        first = items[0]
        if "input_ids" in first:
            feats = items if self.keep_index else [{k: v for k, v in it.items() if k != "index"} for it in items]
            return pad_features(feats, self.pad_token_id, self.padding_side, self.eos_as_pad)
        return {key: self([it[key] for it in items]) for key in first}
