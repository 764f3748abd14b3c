"""The GradNorm membership-inference attack: the only metric that needs gradients (one backward per sample)."""

from __future__ import annotations

import torch

from hf_unlearn.evaluation.metrics import mean_gradient_norm
from hf_unlearn.evaluation.packing import EncodedSequence


def gradient_norm(model, sequence: EncodedSequence, mask_token_id: int | None = None, p: float = 2.0) -> float:
    """Mean over parameter tensors of the p-norm of d(-mean answer-token log-prob)/d(parameter).

    Answer tokens exclude the final end-of-turn label, as in open-unlearning. The model stays in eval mode (no
    dropout), so the score is deterministic; open-unlearning switches to train mode, which only differs for
    models with dropout.
    """
    device = next(model.parameters()).device
    ids = torch.tensor([sequence.input_ids], device=device)
    mask = torch.ones_like(ids) if mask_token_id is None else (ids != mask_token_id).long()
    model.zero_grad(set_to_none=True)
    with torch.enable_grad():
        logits = model(input_ids=ids, attention_mask=mask, use_cache=False).logits[0]
        start = len(sequence.prompt) - 1
        answer = torch.tensor(sequence.tail[:-1], device=device)
        logp = torch.log_softmax(logits[start : start + len(answer)].float(), dim=-1)
        loss = -logp.gather(-1, answer[:, None]).mean()
        loss.backward()
    norms = [float(param.grad.detach().float().norm(p)) for param in model.parameters() if param.grad is not None]
    model.zero_grad(set_to_none=True)
    return mean_gradient_norm(norms)


def gradient_norms(
    model, sequences: list[EncodedSequence], mask_token_id: int | None = None, progress: bool = False
) -> list[float]:
    """GradNorm score of each sequence (batch size 1, as the per-sample gradient requires)."""
    iterator = sequences
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(sequences, desc="GradNorm", unit="sample")
    return [gradient_norm(model, seq, mask_token_id) for seq in iterator]
