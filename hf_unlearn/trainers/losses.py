"""Pure loss functions over logits and labels. No model, no trainer: testable against hand-computed values.

`normalizer` arguments let the caller divide sums by a count taken over the whole effective batch (all
micro-batches and processes), so the gradient does not depend on how a batch is split.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from hf_unlearn.data.formatting import IGNORE_INDEX


def shifted_token_nll(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-position NLL of the next label token, [B, L-1], and the mask of scored positions.

    Computed in fp32 whatever the logits' dtype (bf16 log-softmax loses ~3 digits).
    """
    shift_logits = logits[:, :-1, :].float()
    shift_labels = labels[:, 1:]
    mask = shift_labels != IGNORE_INDEX
    nll = F.cross_entropy(
        shift_logits.reshape(-1, shift_logits.size(-1)),
        shift_labels.clamp_min(0).reshape(-1),
        reduction="none",
    ).view_as(shift_labels)
    return nll * mask, mask


def sequence_nll(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed NLL per sequence [B] and the number of scored tokens per sequence [B]."""
    nll, mask = shifted_token_nll(logits, labels)
    return nll.sum(-1), mask.sum(-1)


def label_token_count(labels: torch.Tensor) -> torch.Tensor:
    """Tokens a causal-LM loss scores in `labels` (shifted, so position 0 never counts)."""
    return (labels[:, 1:] != IGNORE_INDEX).sum()


def nll_loss(logits: torch.Tensor, labels: torch.Tensor, normalizer: torch.Tensor | float | None = None):
    """Token-level NLL: sum over scored tokens / `normalizer` (default: this batch's token count)."""
    nll, mask = shifted_token_nll(logits, labels)
    if normalizer is None:
        normalizer = mask.sum()
    return nll.sum() / torch.clamp(torch.as_tensor(normalizer, dtype=nll.dtype, device=nll.device), min=1)


def kl_ref_to_model(
    logits: torch.Tensor,
    ref_logits: torch.Tensor,
    attention_mask: torch.Tensor | None = None,
    normalizer: torch.Tensor | float | None = None,
) -> torch.Tensor:
    """KL(p_ref || p_theta), summed over the vocabulary, summed over positions, divided by `normalizer`.

    With `attention_mask`, only real (unpadded) positions count and the default normalizer is their number.
    Without it every position counts and the normalizer is B*L: open-unlearning's `batchmean` over the flattened
    tensor, padding included (kept as the compatibility path).
    """
    logp = F.log_softmax(logits.float(), dim=-1)
    logq = F.log_softmax(ref_logits.float(), dim=-1)
    per_position = (logq.exp() * (logq - logp)).sum(-1)
    if attention_mask is not None:
        per_position = per_position * attention_mask
        default = attention_mask.sum()
    else:
        default = per_position.numel()
    if normalizer is None:
        normalizer = default
    return per_position.sum() / torch.clamp(
        torch.as_tensor(normalizer, dtype=per_position.dtype, device=per_position.device), min=1
    )
