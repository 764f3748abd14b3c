"""NPO: negative preference optimisation on the forget set."""

from __future__ import annotations

from hf_unlearn.trainers.base import UnlearningTrainer
from hf_unlearn.trainers.losses import npo_loss, sequence_nll
from hf_unlearn.trainers.method_utils import as_local_mean, local_count, logits_of


class NPOTrainer(UnlearningTrainer, method="NPO"):
    """loss = gamma * mean_seq[-(2/beta) logsigmoid(-beta (log pi_theta(y|x) - log pi_ref(y|x)))] + alpha * L_retain.

    Log-probs are summed over each forget answer's tokens; the mean over sequences is taken over the whole effective
    batch. The reference's forget log-probs never change, so `precompute_ref_log_probs` can replace the live
    reference (not with a KL retain loss, which needs the reference's distributions on retain batches).
    """

    def forget_term(self, model, inputs):
        forget = inputs["forget"]
        nll, _ = sequence_nll(logits_of(model, forget), forget["labels"])
        log_ratio = -nll - self.reference_sequence_logps("forget", forget)
        forget_loss = npo_loss(log_ratio, self.args.beta, self.normalizer("forget", "seqs"))
        return self.args.gamma * forget_loss, {
            "forget_loss": as_local_mean(self, forget_loss, "forget", "seqs", forget),
            "forget_nll": nll.detach().sum() / local_count(forget, "tokens").clamp_min(1),
            "log_ratio": log_ratio.detach().mean(),
        }
