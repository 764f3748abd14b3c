"""IdkDPO: DPO with a refusal as the preferred answer and the original answer as the rejected one ."""

from __future__ import annotations

from hf_unlearn.trainers.base import UnlearningTrainer
from hf_unlearn.trainers.losses import dpo_loss, sequence_nll
from hf_unlearn.trainers.method_utils import as_local_mean, logits_of


class IdkDPOTrainer(UnlearningTrainer, method="IdkDPO"):
    """loss = gamma * mean_pairs[-(2/beta) logsigmoid(beta ((lw - lw_ref) - (ll - ll_ref)))] + alpha * L_retain.

    Batches: {"forget": {"original": loser, "alternate": refusal}, "retain": ...} from
    `hf_unlearn.data.idk.build_idk_dpo_dataset`. Log-probs are summed over answer tokens. The 2/beta factor follows
    open-unlearning (standard DPO has none). The refusal per item comes from (seed, epoch, index), not the global
    RNG; `precompute_ref_log_probs` scores every (question, refusal) pair training will use.
    """

    def _log_ratio(self, model, path: str, batch: dict):
        nll, _ = sequence_nll(logits_of(model, batch), batch["labels"])
        return -nll - self.reference_sequence_logps(path, batch)

    def forget_term(self, model, inputs):
        original, alternate = inputs["forget"]["original"], inputs["forget"]["alternate"]
        chosen = self._log_ratio(model, "forget.alternate", alternate)
        rejected = self._log_ratio(model, "forget.original", original)
        forget_loss = dpo_loss(chosen, rejected, self.args.beta, self.normalizer("forget.original", "seqs"))
        return self.args.gamma * forget_loss, {
            "forget_loss": as_local_mean(self, forget_loss, "forget.original", "seqs", original),
            "chosen_log_ratio": chosen.detach().mean(),
            "rejected_log_ratio": rejected.detach().mean(),
        }


class AltPOTrainer(IdkDPOTrainer, method="AltPO"):
    """IdkDPO's loss with the target model's own made-up alternate answer as the preferred one (Mekala et al.).

    Batches come from `hf_unlearn.data.altpo.build_altpo_dataset`: one item per alternate (several per forget
    question), as open-unlearning's AltPO, which runs its DPO trainer on such a dataset.
    """
