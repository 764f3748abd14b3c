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


# ---- method losses (each method's paper; open-unlearning's implementation where it differs) -----------------------
# Per-sequence losses (NPO, SimNPO, DPO, RMU) sum over sequences and divide by `normalizer` (the effective-batch
# sequence count; default: this batch's); token losses divide a sum over scored tokens by the token count.


def _divide(total: torch.Tensor, normalizer, default) -> torch.Tensor:
    if normalizer is None:
        normalizer = default
    return total / torch.clamp(torch.as_tensor(normalizer, dtype=total.dtype, device=total.device), min=1)


def npo_loss(log_ratio: torch.Tensor, beta: float, normalizer: torch.Tensor | float | None = None) -> torch.Tensor:
    """NPO: sum over sequences of -(2/beta) * logsigmoid(-beta * r) / normalizer.

    `log_ratio` r = log pi_theta(y|x) - log pi_ref(y|x), log-probs summed over the answer tokens, one per sequence.
    Equal to (2/beta) * log(1 + (pi_theta/pi_ref)^beta): the original NPO form.
    """
    per_seq = -(2.0 / beta) * F.logsigmoid(-beta * log_ratio.float())
    return _divide(per_seq.sum(), normalizer, per_seq.numel())


def simnpo_loss(
    nll_sum: torch.Tensor,
    n_tokens: torch.Tensor,
    beta: float,
    delta: float = 0.0,
    normalizer: torch.Tensor | float | None = None,
) -> torch.Tensor:
    """SimNPO: sum over sequences of -(2/beta) * logsigmoid(beta * (NLL_sum/|y| - delta)) / normalizer.

    Reference-free: the length-normalised NLL replaces NPO's log-ratio. `delta` sits inside the beta scaling
    (the paper's gamma equals beta * delta).
    """
    ell = nll_sum.float() / torch.clamp(n_tokens.float(), min=1) - delta
    per_seq = -(2.0 / beta) * F.logsigmoid(beta * ell)
    return _divide(per_seq.sum(), normalizer, per_seq.numel())


def dpo_loss(
    chosen_log_ratio: torch.Tensor,
    rejected_log_ratio: torch.Tensor,
    beta: float,
    normalizer: torch.Tensor | float | None = None,
) -> torch.Tensor:
    """open-unlearning's DPO: sum over pairs of -(2/beta) * logsigmoid(beta * (r_w - r_l)) / normalizer.

    r = log pi_theta(y|x) - log pi_ref(y|x) with summed log-probs; w = preferred (refusal), l = original answer.
    The 2/beta factor (not in standard DPO) keeps open-unlearning's scale.
    """
    margin = chosen_log_ratio.float() - rejected_log_ratio.float()
    per_seq = -(2.0 / beta) * F.logsigmoid(beta * margin)
    return _divide(per_seq.sum(), normalizer, per_seq.numel())


def token_probability_weights(nll: torch.Tensor, beta: float, beta2: float | None = None) -> torch.Tensor:
    """Detached token weights from the token NLL l: WGA p^beta, or SatImp p^beta * (1-p)^beta2, with p = exp(-l)."""
    p = torch.exp(-nll.detach().float())
    weights = p.pow(beta)
    if beta2 is not None:
        weights = weights * (1.0 - p).pow(beta2)
    return weights


def weighted_forget_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    beta: float,
    beta2: float | None = None,
    normalizer: torch.Tensor | float | None = None,
) -> torch.Tensor:
    """WGA / SatImp forget loss: -sum_t w_t * l_t / normalizer over scored tokens, weights detached."""
    nll, mask = shifted_token_nll(logits, labels)
    weights = token_probability_weights(nll, beta, beta2) * mask
    return _divide(-(weights * nll).sum(), normalizer, mask.sum())


def undial_loss(
    logits: torch.Tensor,
    ref_logits: torch.Tensor,
    labels: torch.Tensor,
    beta: float,
    normalizer: torch.Tensor | float | None = None,
) -> torch.Tensor:
    """UNDIAL: soft-label CE towards softmax(z_ref - beta * onehot(y)) at every position predicting an answer token.

    Sum over scored positions / normalizer. open-unlearning averages over all positions, prompt and padding
    included (where label -100 indexes vocab id V-100); here only the answer positions count.
    """
    shift_logits = logits[:, :-1, :].float()
    shift_ref = ref_logits[:, :-1, :].float()
    shift_labels = labels[:, 1:]
    mask = shift_labels != IGNORE_INDEX
    onehot = F.one_hot(shift_labels.clamp_min(0), num_classes=shift_ref.size(-1)).to(shift_ref.dtype)
    target = F.softmax(shift_ref - beta * onehot, dim=-1)
    ce = -(target * F.log_softmax(shift_logits, dim=-1)).sum(-1) * mask
    return _divide(ce.sum(), normalizer, mask.sum())


def mask_first_answer_tokens(labels: torch.Tensor, n: int) -> torch.Tensor:
    """A copy of `labels` with the first `n` scored (non -100) positions of every row set to -100."""
    if n <= 0:
        return labels
    valid = labels != IGNORE_INDEX
    rank = torch.cumsum(valid.long(), dim=-1)
    out = labels.clone()
    out[valid & (rank <= n)] = IGNORE_INDEX
    return out


def ceu_loss(logits: torch.Tensor, labels: torch.Tensor, normalizer: torch.Tensor | float | None = None):
    """CE-U: CE of the model against its own detached distribution with the true label's logit set to -inf.

    At every position predicting an answer token, q = softmax(stopgrad(z)) renormalised without the label (q(y)=0);
    loss = sum_t -sum_v q(v) log softmax(z)(v) / normalizer.
    """
    shift_logits = logits[:, :-1, :].float()
    shift_labels = labels[:, 1:]
    mask = shift_labels != IGNORE_INDEX
    target_logits = shift_logits.detach().scatter(-1, shift_labels.clamp_min(0).unsqueeze(-1), float("-inf"))
    target = F.softmax(target_logits, dim=-1)
    log_probs = F.log_softmax(shift_logits, dim=-1)
    ce = -(target * log_probs.masked_fill(target == 0, 0.0)).sum(-1) * mask
    return _divide(ce.sum(), normalizer, mask.sum())


def logit_margin_loss(logits: torch.Tensor, labels: torch.Tensor, normalizer: torch.Tensor | float | None = None):
    """PDU's forget loss: (max_v z_t - mean_v z_t)^2 summed over positions predicting an answer token / normalizer.

    open-unlearning applies the unshifted label mask (the answer positions themselves); here the shifted mask, the
    positions whose output is an answer token, like every other loss.
    """
    shift_logits = logits[:, :-1, :].float()
    mask = labels[:, 1:] != IGNORE_INDEX
    margin = (shift_logits.max(-1).values - shift_logits.mean(-1)).pow(2) * mask
    return _divide(margin.sum(), normalizer, mask.sum())


def pdu_dual_update(preference: float, retain_loss: float, eps: float, step_size: float) -> float:
    """PDU's projected dual ascent on the retain constraint: max(0, lambda + step * (L_retain - eps))."""
    return max(0.0, float(preference) + float(step_size) * (float(retain_loss) - float(eps)))


def rmu_control_vector(dim: int, steering_coeff: float, seed: int = 0, topic: int = 0) -> torch.Tensor:
    """RMU's random direction: c = coeff * u / ||u||, u ~ Uniform[0,1)^dim, shape [1, 1, dim].

    Drawn from a generator seeded with `seed` (open-unlearning uses the global RNG state at the first step). Topic k
    gets the (k+1)-th draw of that generator: the original RMU code draws one vector per forget topic, in topic
    order, and topic 0's is the vector of a single-topic run.
    """
    generator = torch.Generator().manual_seed(int(seed))
    for _ in range(int(topic) + 1):
        u = torch.rand(1, 1, dim, generator=generator)
    return steering_coeff * u / u.norm()


def masked_activation_loss(
    hidden: torch.Tensor,
    target: torch.Tensor,
    labels: torch.Tensor | None,
    normalizer: torch.Tensor | float | None = None,
) -> torch.Tensor:
    """RMU's activation loss: per sequence, mean over answer positions of mean_d (h - target)^2; summed / normalizer.

    The mask is the unshifted labels (hidden states *at* the answer tokens); `labels=None` counts every position of
    the padded batch, padding included (the original RMU code's unmasked mean squared error: with every sequence
    padded to the same length, the mean of per-sequence means is the mean over all positions). `target` broadcasts
    ([1,1,d] control vector, [B,1,d] one per sequence, or the reference's [B,L,d] activations).
    """
    if labels is None:
        mask = torch.ones(hidden.shape[:-1], dtype=torch.float32, device=hidden.device)
    else:
        mask = (labels != IGNORE_INDEX).to(torch.float32)
    per_position = (hidden.float() - target.float()).pow(2).mean(-1)
    per_seq = (per_position * mask).sum(-1) / torch.clamp(mask.sum(-1), min=1)
    return _divide(per_seq.sum(), normalizer, per_seq.numel())
