"""SimNPO: reference-free NPO with a length-normalised NLL."""

from __future__ import annotations

from hf_unlearn.trainers.base import UnlearningTrainer
from hf_unlearn.trainers.losses import sequence_nll, simnpo_loss
from hf_unlearn.trainers.method_utils import as_local_mean, local_count, logits_of


class SimNPOTrainer(UnlearningTrainer, method="SimNPO"):
    """loss = gamma * mean_seq[-(2/beta) logsigmoid(beta (NLL_sum/|y| - delta))] + alpha * L_retain.

    No reference model (unless the retain loss is KL). open-unlearning's yaml defaults: beta 4.5, delta 0,
    gamma 0.125, alpha 1.
    """

    def forget_term(self, model, inputs):
        forget = inputs["forget"]
        nll, n_tokens = sequence_nll(logits_of(model, forget), forget["labels"])
        forget_loss = simnpo_loss(nll, n_tokens, self.args.beta, self.args.delta, self.normalizer("forget", "seqs"))
        return self.args.gamma * forget_loss, {
            "forget_loss": as_local_mean(self, forget_loss, "forget", "seqs", forget),
            "forget_nll": nll.detach().sum() / local_count(forget, "tokens").clamp_min(1),
        }
